"""The add-in server refuses bad requests as bad requests and never stalls (issue #10).

Every malformed payload gets 400 or 413 with a bilingual alert (Japanese first, English beside) and
one warning line in the log, never a 500 or a traceback; a body over the limit is refused before it
is read whole; a sheet named like a formula is written back as text; an engine call that runs too
long is cut off with an alert while other requests go on. Payloads are built from real sample
workbooks (addin.officejs_payload), as Excel's Office.js client would send them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import xlwings as xw

from addin import offload, scripts
from addin.limits import TITLE
from addin.officejs_payload import payload_from_file
from addin.write_back import MARKS_SHEET, previous_marks
from pipeline import settings
from pipeline.resources import samples_dir
from pipeline.result_sheet import RESULT_SHEET
from tests.officejs_emulator import apply_actions

URL = "/xlwings/custom-scripts-call/validate"
SAMPLE = "nexus-ytec-youth-2025__over-cap.xlsx"
BUDGET = "経費 Budget"
FORMULA_SHEET = "=SUM(1,2) 経費"
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def app() -> Any:
    from addin.server import create_app

    return create_app()


@pytest.fixture(scope="module")
def client(app: Any) -> Any:
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

    return TestClient(app, raise_server_exceptions=True)   # an exception anywhere fails the test


@pytest.fixture(scope="module")
def payload() -> dict[str, Any]:
    return payload_from_file(samples_dir() / SAMPLE)


def body(p: Any) -> bytes:
    return json.dumps(p, ensure_ascii=False).encode()


def changed(payload: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> bytes:
    p = copy.deepcopy(payload)
    change(p)
    return body(p)


def sheet(p: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in p["sheets"] if s["name"] == name)


def assert_refused(response: Any, status: int) -> str:
    """The status, and a bilingual alert both as ``detail`` (shown by xlwings' client) and as an action."""
    assert response.status_code == status, response.text
    out = response.json()
    prompt = out["detail"]
    ja, _, en = prompt.partition("\n\n")
    assert _JAPANESE.search(ja) and en.isascii() and en.strip(), prompt
    assert out["actions"] == [{"func": "alert", "args": [prompt, TITLE, "ok", "critical", ""], "values": None,
                               "sheet_position": None, "start_row": None, "start_column": None,
                               "row_count": None, "column_count": None}]
    assert "Traceback" not in response.text
    return prompt


def deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


# ---- every kind of malformed payload: 400 or 413, an alert, one warning line -------------------

def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets ``path`` ("book.name", "sheets.0.values.3") to ``value``."""
    def change(p: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = p
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    return change


def _table(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda p: change(sheet(p, BUDGET)["tables"][0])


MALFORMED: dict[str, tuple[Any, int]] = {
    # not JSON at all
    "invalid JSON": (b'{"client": "Office.js", "book": ', 400),
    "not UTF-8": (b'{"client": "\xff\xfe"}', 400),
    "empty body": (b"", 400),
    "NaN": (b'{"client": "Office.js", "version": NaN}', 400),
    "infinite number": (b'{"client": "Office.js", "version": 1e400}', 400),
    "lone surrogate": (b'{"client": "Office.js", "version": "\\ud800"}', 400),
    # JSON, but not an object
    "a list": (b"[1, 2, 3]", 400),
    "a string": (b'"Office.js"', 400),
    "null": (b"null", 400),
    "a number": (b"42", 400),
    # too deep
    "nested past the parser": (b"[" * 100_000 + b"]" * 100_000, 400),
    "nested past ADDIN_MAX_DEPTH": (lambda p: _set("sheets.0.values.0.0", deep(settings.ADDIN_MAX_DEPTH))(p), 400),
    # wrong types for the book
    "client not Office.js": (_set("client", "Google Apps Script"), 400),
    "book a string": (_set("book", "workbook.xlsx"), 400),
    "book a list": (_set("book", []), 400),
    "book name a number": (_set("book.name", 12), 400),
    "book name overlong": (_set("book.name", "x" * 10_000), 400),
    "active sheet a string": (_set("book.active_sheet_index", "0"), 400),
    "active sheet out of range": (_set("book.active_sheet_index", 99), 400),
    "names an object": (_set("names", {"a": 1}), 400),
    "a name's sheet index text": (_set("names.0.sheet_index", "6"), 400),
    "a name's scope not boolean": (_set("names.0.book_scope", "yes"), 400),
    "args given": (_set("args", ["delete everything"]), 400),
    # wrong types for the sheets
    "sheets an object": (_set("sheets", {"name": BUDGET}), 400),
    "sheets empty": (_set("sheets", []), 400),
    "a sheet a string": (_set("sheets.0", BUDGET), 400),
    "a sheet name a number": (_set("sheets.0.name", 1), 400),
    "a sheet name not allowed by Excel": (_set("sheets.0.name", "a/b"), 400),
    "a sheet name over 31 characters": (_set("sheets.0.name", "x" * 32), 400),
    "two sheets of one name": (_set("sheets.1.name", "交流計画 PLAN"), 400),
    "tables an object": (_set("sheets.4.tables", {}), 400),
    "a table's columns text": (_table(lambda t: t.__setitem__("columns", "A,B")), 400),
    "a table's address a number": (_table(lambda t: t.__setitem__("data_body_range_address", 52)), 400),
    # wrong types for the values
    "values a string": (_set("sheets.4.values", "A1"), 400),
    "values null": (_set("sheets.4.values", None), 400),
    "a row an object": (_set("sheets.4.values.3", {"A": 1}), 400),
    "a cell an object": (_set("sheets.4.values.3.0", {"formula": "=1"}), 400),
    "a number too large for a double": (_set("sheets.4.values.3.0", 10**400), 400),
    # not rectangular: wider or longer than the used range the sheet states
    "a row wider than the used range": (lambda p: sheet(p, BUDGET)["values"][3].extend(["x"] * 5), 400),
    "more rows than the used range": (lambda p: sheet(p, BUDGET)["values"].extend([[""]] * 5), 400),
    # huge claimed dimensions
    "a table claiming a million rows x 40 columns": (_table(lambda t: t.update(
        columns=[f"c{i}" for i in range(40)], data_body_range_address="A13:AN1000000")), 413),
    "a used range claiming a million rows": (_set("sheets.4.used_range_address", "A1:AN1000000"), 413),
}


@pytest.mark.parametrize("kind", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_payload_is_refused_with_a_bilingual_alert(kind: str, client: Any, payload: dict[str, Any],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    make, status = MALFORMED[kind]
    data = make if isinstance(make, bytes) else changed(payload, make)
    with caplog.at_level(logging.WARNING):
        response = client.post(URL, content=data, headers={"Content-Type": "application/json"})
    assert_refused(response, status)
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1 and records[0].getMessage().startswith(f"refused {status} ")
    assert records[0].exc_info is None and "\n" not in records[0].getMessage()


def test_every_script_is_guarded(client: Any) -> None:
    for name in ("validate", "presubmission_check", "clear", "export_json"):
        assert_refused(client.post(f"/xlwings/custom-scripts-call/{name}", content=b"[1]"), 400)


def test_an_unknown_script_is_refused(client: Any, payload: dict[str, Any]) -> None:
    assert_refused(client.post("/xlwings/custom-scripts-call/delete_everything", content=body(payload)), 404)
    assert_refused(client.post("/xlwings/custom-scripts-call/__init__", content=b"[1]"), 404)


def test_form_data_is_refused(client: Any, payload: dict[str, Any]) -> None:
    """xlwings would parse a ``bookData`` form field itself, past the guard: the add-in sends JSON only."""
    response = client.post(URL, data={"bookData": json.dumps(payload)})
    assert_refused(response, 400)


def test_more_cells_than_the_limit(client: Any, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "ADDIN_MAX_CELLS", 500)
    prompt = assert_refused(client.post(URL, content=body(payload)), 413)
    assert "500" in prompt


def test_ragged_rows_within_the_used_range_are_read_as_before(client: Any, payload: dict[str, Any]) -> None:
    """Shorter rows are trailing empty cells (the reader always took them so); only wider ones are refused."""
    data = changed(payload, lambda p: [s.__setitem__("values", [r[: i % 4] for i, r in enumerate(s["values"])])
                                       for s in p["sheets"]])
    response = client.post(URL, content=data)
    assert response.status_code == 200 and [a["func"] for a in response.json()["actions"]].count("alert") == 1


# ---- the body limit: refused from Content-Length, or as it streams in ---------------------------

def test_body_over_the_limit(client: Any, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "ADDIN_MAX_BODY_BYTES", 10_000)
    data = body(payload)
    assert len(data) > 10_000
    prompt = assert_refused(client.post(URL, content=data), 413)
    assert f"{len(data):,}" in prompt and "10,000" in prompt

    def chunks() -> Iterator[bytes]:            # no Content-Length: chunked transfer
        for i in range(0, len(data), 4096):
            yield data[i:i + 4096]

    assert_refused(client.post(URL, content=chunks()), 413)


def _asgi_post(app: Any, headers: list[tuple[bytes, bytes]], chunks: Iterator[bytes]) -> tuple[int, int]:
    """POST to the ASGI app directly; (status, how many body messages the app asked for)."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": URL, "raw_path": URL.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "headers": [(b"host", b"test"), *headers]}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], asked


def test_a_streamed_body_is_refused_before_it_is_read_whole(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "ADDIN_MAX_BODY_BYTES", 100_000)
    endless = iter(lambda: b"[" * 65_536, None)                      # 64 KiB chunks, forever
    status, asked = _asgi_post(app, [(b"content-type", b"application/json")], endless)
    assert status == 413 and asked <= 2
    status, asked = _asgi_post(app, [(b"content-length", b"1000000000")], iter(lambda: b"[", None))
    assert status == 413 and asked == 0                              # refused from the header alone
    status, asked = _asgi_post(app, [(b"content-length", b"lots")], iter([b"{}"]))
    assert status == 400 and asked == 0


# ---- formula injection: a sheet named like a formula ------------------------------------------

def _renamed(payload: dict[str, Any]) -> dict[str, Any]:
    """The sample with its budget sheet renamed ``=SUM(1,2) 経費`` (names and tables follow the sheet)."""
    p = copy.deepcopy(payload)
    sheet(p, BUDGET)["name"] = FORMULA_SHEET
    return p


def _written(actions: list[dict[str, Any]]) -> list[Any]:
    return [v for a in actions if a["func"] == "setValues" for row in a["values"] for v in row]


def test_a_sheet_named_like_a_formula_is_written_as_text(client: Any, payload: dict[str, Any]) -> None:
    p = _renamed(payload)
    response = client.post(URL, content=body(p))
    assert response.status_code == 200, response.text
    actions = response.json()["actions"]
    written = _written(actions)
    assert not [v for v in written if isinstance(v, str) and v.startswith(_TRIGGERS)]
    assert f"'{FORMULA_SHEET}" in written                             # the marks sheet: neutralised, not dropped
    assert any(isinstance(v, str) and v.startswith(f"'{FORMULA_SHEET}!") for v in written)   # 検証結果's location
    # cells are addressed by the sheet's position, never by an address naming the sheet
    index = [s["name"] for s in p["sheets"]].index(FORMULA_SHEET)
    colours = [a for a in actions if a["func"] == "setRangeColor"]
    assert colours and all(FORMULA_SHEET not in json.dumps(a, ensure_ascii=False) for a in actions
                           if a["func"] != "setValues")
    assert any(a["sheet_position"] == index for a in colours)
    after = apply_actions(p, actions)
    assert f"'{FORMULA_SHEET}" in {row[0] for row in sheet(after, MARKS_SHEET)["values"][1:]}
    assert sheet(after, RESULT_SHEET)


@pytest.mark.parametrize("excel_keeps_the_apostrophe", [True, False])
def test_clear_finds_a_formula_named_sheet_again(client: Any, payload: dict[str, Any],
                                                 excel_keeps_the_apostrophe: bool) -> None:
    """Excel shows neutralise's apostrophe as a text prefix and may send the value without it: both work."""
    p = _renamed(payload)
    validated = apply_actions(p, client.post(URL, content=body(p)).json()["actions"])
    if not excel_keeps_the_apostrophe:
        for row in sheet(validated, MARKS_SHEET)["values"][1:]:
            row[0] = row[0].removeprefix("'")
    fills: dict[tuple[str, str], str | None] = {}
    cleared_actions = client.post("/xlwings/custom-scripts-call/clear", content=body(validated)).json()["actions"]
    cleared = apply_actions(validated, cleared_actions, fills)
    marked = {(r[0].removeprefix("'"), r[1]) for r in sheet(validated, MARKS_SHEET)["values"][1:]}
    assert set(fills) == marked and any(s == FORMULA_SHEET for s, _ in fills)
    assert [s["name"] for s in cleared["sheets"]] == [s["name"] for s in p["sheets"]]
    # what a second Validate keeps as originals: the marks, read back under the sheet's real name
    book = xw.Book(json=copy.deepcopy(validated))
    assert {(s, c) for s, c, _ in previous_marks(book)} == marked


def test_a_forged_marks_sheet_is_read_as_untrusted(client: Any, payload: dict[str, Any]) -> None:
    """The marks sheet comes back from the workbook: only existing sheets, single cells and #RRGGBB count."""
    p = copy.deepcopy(payload)
    forged = [["sheet", "cell", "original_fill"], [BUDGET, "C13", "#FFF9E5"], [BUDGET, "A1:XFD1048576", "#FFFFFF"],
              [BUDGET, "ZZZZ1", ""], [BUDGET, "C14", "javascript:alert(1)"], ["no such sheet", "A1", ""],
              [BUDGET, "=1+1", ""]]
    p["sheets"].append({**copy.deepcopy(sheet(p, "様式情報 Meta")), "name": MARKS_SHEET, "values": forged,
                        "used_range_address": "A1:C7", "tables": []})
    response = client.post("/xlwings/custom-scripts-call/clear", content=body(p))
    assert response.status_code == 200, response.text
    fills: dict[tuple[str, str], str | None] = {}
    apply_actions(p, response.json()["actions"], fills)
    assert fills == {(BUDGET, "C13"): "#FFF9E5", (BUDGET, "C14"): None}


# ---- the engine runs off the event loop, with a time limit ------------------------------------

def _slow_when_named_slow(real: Callable[..., Any]) -> Callable[..., Any]:
    def validate_raw(raw: Any, *args: Any, **kwargs: Any) -> Any:
        if "slow" in raw.path.name:
            time.sleep(20)
        return real(raw, *args, **kwargs)
    return validate_raw


@pytest.fixture
def fresh_workers() -> Iterator[None]:
    """Workers are forked when first needed: stopping them makes the next ones see this test's patches."""
    offload.shutdown()
    yield
    offload.shutdown()


def test_an_engine_call_over_the_time_limit_gets_an_alert_and_others_go_on(
        app: Any, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fresh_workers: None,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(settings, "ADDIN_ENGINE_TIMEOUT_SECONDS", 2.0)
    monkeypatch.setattr(scripts, "validate_raw", _slow_when_named_slow(scripts.validate_raw))
    slow = changed(payload, _set("book.name", "slow.xlsx"))
    normal = body(payload)

    async def scenario() -> tuple[Any, list[tuple[str, float, int]]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
            started = time.perf_counter()
            slow_call = asyncio.create_task(c.post(URL, content=slow))
            await asyncio.sleep(0.2)
            done = []
            for label, call in (("page", c.get("/xlwings/custom-scripts-meta.json")),
                                ("validate", c.post(URL, content=normal))):
                response = await call
                done.append((label, time.perf_counter() - started, response.status_code))
            return await slow_call, done

    with caplog.at_level(logging.WARNING):
        slow_response, done = asyncio.run(scenario())
    prompt = assert_refused(slow_response, 503)
    assert "処理に時間がかかりすぎました" in prompt and "took too long" in prompt
    assert [(label, status) for label, _, status in done] == [("page", 200), ("validate", 200)]
    assert all(at < 2.0 for _, at, _ in done), done          # answered while the slow call was running
    assert not [r for r in caplog.records if r.exc_info]

    monkeypatch.undo()
    offload.shutdown()
    from fastapi.testclient import TestClient

    later = TestClient(app).post(URL, content=normal)
    assert later.status_code == 200 and [a["func"] for a in later.json()["actions"]].count("alert") == 1


def _failing(raw: Any, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("xyzzy detail /srv/shinsei/internal.py")


def test_an_engine_failure_is_a_bilingual_500_without_its_traceback(
        client: Any, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fresh_workers: None,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(scripts, "validate_raw", _failing)
    with caplog.at_level(logging.WARNING):
        response = client.post(URL, content=body(payload))
    prompt = assert_refused(response, 500)
    assert "xyzzy" not in response.text and "internal.py" not in response.text and "RuntimeError" not in prompt
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "xyzzy detail" in str(logged[0].exc_info[1])   # the operator sees it, the client does not


def test_heavy_requests_have_their_own_lane(client: Any, payload: dict[str, Any],
                                            monkeypatch: pytest.MonkeyPatch, fresh_workers: None) -> None:
    monkeypatch.setattr(offload, "HEAVY_BYTES", 1_000)
    response = client.post(URL, content=body(payload))
    assert response.status_code == 200
    assert offload._HEAVY._threads and not offload._ORDINARY._threads
