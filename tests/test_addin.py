"""The add-in on Linux, without Excel and without mocks: real template workbooks turned into the
payload xlwings' Office.js client sends, run through ``xw.Book(json=...)`` and through the
xlwings Server endpoint, asserting on the actions Excel would carry out."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
import xlwings as xw
import xlwings.server
from openpyxl import load_workbook

from addin import scripts
from addin.book_input import raw_from_payload
from addin.officejs_payload import payload_from_file
from addin.write_back import EXPORT_SHEET, MARKS_SHEET
from pipeline import schemas
from pipeline.cli import main as shinsei
from pipeline.findings import Finding, Location, Report
from pipeline.resources import samples_dir
from pipeline.result_sheet import FILLS, HEADERS, RESULT_SHEET, result_rows
from pipeline.validate import validate_file
from tests.officejs_emulator import apply_actions

SAMPLES = sorted(samples_dir().glob("*.xlsx"))
GOOD_NAME = "2025年度若手人材交流プログラム申請_交流計画書（東都大学）.xlsx"


@pytest.fixture(scope="module")
def client() -> Any:
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

    from addin.server import create_app

    return TestClient(create_app(), raise_server_exceptions=False)   # as a real server: errors become 5xx


def run_script(name: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a custom script the way xlwings Server does: on xw.Book(json=payload); returns its actions."""
    book = xw.Book(json=copy.deepcopy(payload))
    book = asyncio.run(xlwings.server.custom_scripts_call(scripts, name, None, typehint_to_value={xw.Book: book}))
    return book.json()["actions"]


def sheet_values(payload: dict[str, Any], name: str) -> list[list[Any]]:
    return next(s["values"] for s in payload["sheets"] if s["name"] == name)


def sheet_names(payload: dict[str, Any]) -> list[str]:
    return [s["name"] for s in payload["sheets"]]


def cli_report(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Report:
    """The report of ``shinsei validate --json --with-submission`` for the file on disk."""
    capsys.readouterr()
    shinsei(["validate", str(path), "--json", "--with-submission", *extra])
    out = json.loads(capsys.readouterr().out)
    findings = [Finding(**{**f, "location": Location(**f["location"])}) for f in out["findings"]]
    return Report(out["file"], out["program"], out["template"], findings, out.get("submission"))


def cli_findings(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[Finding]:
    """The findings of ``shinsei validate --json`` for the file on disk."""
    return cli_report(path, capsys, *extra).findings


def cli_rows(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[list[Any]]:
    """The 検証結果 rows (after the header) the CLI's report of the file on disk makes."""
    return result_rows(cli_report(path, capsys, *extra))


def shown_rows(actions: list[dict[str, Any]], payload: dict[str, Any]) -> list[list[Any]]:
    after = apply_actions(payload, actions)
    return sheet_values(after, RESULT_SHEET)


def _json_roundtrip(rows: list[list[Any]]) -> list[list[Any]]:
    return json.loads(json.dumps(rows, ensure_ascii=False))


# ---- the findings shown are exactly the CLI's -------------------------------------------------

@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_validate_shows_exactly_the_cli_findings(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = payload_from_file(path)
    actions = run_script("validate", payload)
    expected = [HEADERS, *cli_rows(path, capsys)]
    assert shown_rows(actions, payload) == _json_roundtrip(expected)
    alert = [a for a in actions if a["func"] == "alert"]
    has_errors = any(row[0] == "エラー ERROR" for row in expected[1:])
    assert len(alert) == 1 and alert[0]["args"][3] == ("critical" if has_errors else "info")


def test_engine_input_from_excel_equals_the_file_reader_after_libreoffice(libreoffice: Any, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """LibreOffice fills the cached formula results Excel would send; the findings still agree."""
    chosen = [p for p in SAMPLES if "clean" in p.stem or "over-cap" in p.stem or "tax-equivalent" in p.stem]
    for path in chosen:
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        saved = libreoffice(copy)
        payload = payload_from_file(saved)
        budget = sheet_values(payload, "経費 Budget")
        assert any(isinstance(v, int | float) and v > 0 for row in budget for v in row[6:7]), "no cached amounts"
        actions = run_script("validate", payload)
        expected = [HEADERS, *cli_rows(saved, capsys)]
        assert shown_rows(actions, payload) == _json_roundtrip(expected), saved.name


def test_payload_reader_types_values_like_calamine() -> None:
    path = samples_dir() / "nexus-ytec-youth-2025__clean.xlsx"
    from pipeline.workbook import read_workbook

    on_disk, from_excel = read_workbook(path), raw_from_payload(payload_from_file(path))
    assert from_excel.names == on_disk.names
    assert {k: (type(v), v) for k, v in from_excel.values.items()} == \
           {k: (type(v), v) for k, v in on_disk.values.items()}
    for name, table in on_disk.tables.items():
        other = from_excel.tables[name]
        assert (other.sheet, other.header_row, other.first_column, other.headers) == \
               (table.sheet, table.header_row, table.first_column, table.headers)
        assert other.rows == table.rows


# ---- what Validate does to the workbook -------------------------------------------------------

def test_validate_fills_cells_writes_results_marks_and_alerts() -> None:
    path = samples_dir() / "nexus-ytec-youth-2025__over-cap.xlsx"
    payload = payload_from_file(path)
    fills: dict[tuple[str, str], str | None] = {}
    actions = run_script("validate", payload)
    after = apply_actions(payload, actions, fills)
    report = validate_file(path)
    errors = [f for f in report.findings if f.severity == "error"]
    assert errors, "the over-cap sample must have errors"
    for f in errors:
        if f.location.cell:
            assert fills[(f.location.sheet, f.location.cell)] == f"#{FILLS['error']}"
    assert sheet_names(after)[0] == RESULT_SHEET
    marks_sheet = next(s for s in after["sheets"] if s["name"] == MARKS_SHEET)
    assert marks_sheet["visibility"] == "Hidden"
    marked = {(r[0], r[1]) for r in marks_sheet["values"][1:]}
    assert marked == {k for k, v in fills.items() if k[0] != RESULT_SHEET}
    alert = next(a for a in actions if a["func"] == "alert")
    prompt, title, buttons, mode = alert["args"][:4]
    c = report.counts
    assert f"エラー {c['error']} 件" in prompt and f"{c['error']} errors" in prompt
    assert (title, buttons, mode) == ("検証 Validate", "ok", "critical")
    activated = [a for a in actions if a["func"] == "activateSheet"]
    assert activated and activated[-1]["args"] == [0]


def test_clear_restores_the_template_fills_and_removes_exactly_what_validate_added() -> None:
    path = samples_dir() / "nexus-ytec-youth-2025__arithmetic-mismatch.xlsx"
    original = payload_from_file(path)
    validated = apply_actions(original, run_script("validate", original))
    fills: dict[tuple[str, str], str | None] = {}
    cleared_actions = run_script("clear", validated)
    cleared = apply_actions(validated, cleared_actions, fills)
    assert sheet_names(cleared) == sheet_names(original)
    assert [s["values"] for s in cleared["sheets"]] == [s["values"] for s in original["sheets"]]
    assert fills, "Clear restored no fill"
    wb = load_workbook(path)
    for (sheet, cell), colour in fills.items():
        fill = wb[sheet][cell].fill
        template = f"#{fill.fgColor.rgb[-6:]}" if fill.fill_type == "solid" else None
        assert colour == template, (sheet, cell)
    assert not [a for a in cleared_actions if a["func"] == "alert"]
    again = run_script("clear", cleared)
    assert [a["func"] for a in again] == ["alert"]          # nothing left: says so, changes nothing


def test_validating_twice_keeps_the_first_original_fill() -> None:
    path = samples_dir() / "nexus-ytec-youth-2025__over-cap.xlsx"
    payload = payload_from_file(path)
    once = apply_actions(payload, run_script("validate", payload))
    twice = apply_actions(once, run_script("validate", once))
    marks_once = sheet_values(once, MARKS_SHEET)
    marks_twice = sheet_values(twice, MARKS_SHEET)
    assert marks_twice == marks_once
    assert sheet_names(twice).count(RESULT_SHEET) == 1 and sheet_names(twice).count(MARKS_SHEET) == 1


# ---- Pre-submission check and Export ----------------------------------------------------------

def test_presubmission_adds_the_file_name_convention(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = samples_dir() / "nexus-ytec-youth-2025__clean.xlsx"
    payload = payload_from_file(path)
    actions = run_script("presubmission_check", payload)
    rows = shown_rows(actions, payload)
    assert [r[1] for r in rows[1:]] == ["submission.file-name"]
    assert rows[1:] == _json_roundtrip(cli_rows(path, capsys, "--presubmission"))
    alert = next(a for a in actions if a["func"] == "alert")["args"]
    assert alert[1] == "提出前チェック Pre-submission check" and "未記入の必須項目: 0 件" in alert[0]
    assert run_script("validate", payload) and not [r for r in shown_rows(run_script("validate", payload), payload)
                                                    if r[1] == "submission.file-name"]
    renamed = tmp_path / GOOD_NAME
    shutil.copy(path, renamed)
    good = payload_from_file(renamed)
    rows = shown_rows(run_script("presubmission_check", good), good)
    assert rows == [HEADERS]
    assert cli_findings(renamed, capsys, "--presubmission") == []


def test_presubmission_counts_required_fields_left_empty(make_workbook: Any, base: Any) -> None:
    data = base("nexus-ytec-youth-2025")
    data["plan"]["pi_name"] = None
    data["plan"]["field"] = None
    path = make_workbook("nexus-ytec-youth-2025", data)
    payload = payload_from_file(path)
    actions = run_script("presubmission_check", payload)
    alert = next(a for a in actions if a["func"] == "alert")["args"]
    assert "未記入の必須項目: 2 件" in alert[0] and "Required fields empty: 2." in alert[0]
    assert alert[3] == "critical"


def test_export_writes_the_schema_valid_submission() -> None:
    path = samples_dir() / "india-circulation-2025__clean.xlsx"
    payload = payload_from_file(path)
    after = apply_actions(payload, run_script("export_json", payload))
    lines = [row[0] for row in sheet_values(after, EXPORT_SHEET)]
    exported = json.loads("\n".join(lines))
    assert list(schemas.errors("submission", exported)) == []
    on_disk = validate_file(path).submission
    assert on_disk is not None
    for key in ("plan", "budget", "participants", "stated", "computed"):
        if key in on_disk:
            assert exported[key] == json.loads(json.dumps(on_disk[key], ensure_ascii=False)), key


def test_a_workbook_that_is_not_a_template_gets_an_alert_and_no_changes(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active["A1"] = "私の予算"
    path = tmp_path / "予算.xlsx"
    wb.save(path)
    for name in ("validate", "presubmission_check", "export_json"):
        actions = run_script(name, payload_from_file(path))
        assert [a["func"] for a in actions] == ["alert"]
        assert actions[0]["args"][3] == "critical" and "shinsei" in actions[0]["args"][0]


# ---- through xlwings Server's HTTP endpoint ---------------------------------------------------

def test_http_endpoint_returns_the_same_actions(client: Any) -> None:
    path = samples_dir() / "nexus-ytec-youth-2025__sightseeing-and-souvenirs.xlsx"
    payload = payload_from_file(path)
    for name in ("validate", "presubmission_check", "export_json"):
        response = client.post(f"/xlwings/custom-scripts-call/{name}", json=payload)
        assert response.status_code == 200, response.text
        assert response.json()["actions"] == json.loads(json.dumps(run_script(name, payload), ensure_ascii=False))
    validated = apply_actions(payload, client.post("/xlwings/custom-scripts-call/validate", json=payload)
                              .json()["actions"])
    response = client.post("/xlwings/custom-scripts-call/clear", json=validated)
    assert response.status_code == 200
    assert {a["func"] for a in response.json()["actions"]} == {"setRangeColor", "sheetDelete"}


def test_server_lists_the_four_buttons_and_serves_task_pane_and_manifest(client: Any) -> None:
    meta = client.get("/xlwings/custom-scripts-meta.json").json()
    assert sorted(m["function_name"] for m in meta) == ["clear", "export_json", "presubmission_check", "validate"]
    page = client.get("/taskpane.html")
    assert page.status_code == 200
    for script, label in (("validate", "検証 Validate"), ("presubmission_check", "提出前チェック"),
                          ("clear", "表示クリア Clear"), ("export_json", "JSON出力 Export")):
        assert f'xw-click="{script}"' in page.text and label in page.text
    manifest = client.get("/manifest.xml", headers={"X-Forwarded-Proto": "https"}).text
    from xml.etree import ElementTree

    root = ElementTree.fromstring(manifest.encode())
    functions = {e.text for e in root.iter() if e.tag.endswith("FunctionName")}
    ribbon_js = (Path(scripts.__file__).parent / "server_project" / "static" / "js" / "ribbon.js").read_text()
    assert functions == {"shinsei-validate", "shinsei-presubmission-check", "shinsei-clear", "shinsei-export-json"}
    for fn in functions:
        assert f'"{fn}"' in ribbon_js
    assert "https://testserver/taskpane.html" in manifest


def test_a_script_that_does_not_exist_is_refused(client: Any) -> None:
    payload = payload_from_file(SAMPLES[0])
    assert client.post("/xlwings/custom-scripts-call/delete_everything", json=payload).status_code >= 400


def test_text_that_looks_like_a_formula_is_written_as_text(make_workbook: Any, base: Any) -> None:
    data = base("nexus-ytec-youth-2025")
    data["budget"][0]["description"] = "=HYPERLINK(\"http://evil.example\",\"観光\")"
    path = make_workbook("nexus-ytec-youth-2025", data)
    payload = payload_from_file(path)
    values = [v for row in shown_rows(run_script("validate", payload), payload) for v in row]
    assert not [v for v in values if isinstance(v, str) and v.startswith(("=", "+", "-", "@"))]


def test_malformed_payloads_get_an_alert_not_a_crash(client: Any) -> None:
    """A client may send names without addresses, names on missing sheets, ragged or empty value grids
    and tables without ranges; the engine's answer is an alert or findings, never a server error."""
    payload = payload_from_file(samples_dir() / "nexus-ytec-youth-2025__clean.xlsx")
    broken = copy.deepcopy(payload)
    for n in broken["names"][3:8]:
        n["address"], n["sheet_index"] = None, None
    broken["names"][8]["sheet_index"] = 99
    broken["names"][9]["address"] = "A1:ZZZZ"
    for s in broken["sheets"]:
        s["values"] = [row[: i % 5] for i, row in enumerate(s["values"])]
        for t in s["tables"]:
            t["data_body_range_address"] = None
    no_meta = copy.deepcopy(payload)
    no_meta["names"] = []
    empty = copy.deepcopy(payload)
    for s in empty["sheets"]:
        s["values"], s["tables"] = [[]], []
    for bad in (broken, no_meta, empty):
        response = client.post("/xlwings/custom-scripts-call/validate", json=bad)
        assert response.status_code == 200, response.text
        funcs = [a["func"] for a in response.json()["actions"]]
        assert funcs.count("alert") == 1
