"""Refuse bad requests as bad requests, before any engine work: size, JSON, nesting, types, cells.

xlwings Server reads the whole body and parses it in a dependency (``parse_book_input``); a body of
any size, invalid JSON or the wrong shape there ends as ``500 An error occurred.`` with a traceback
in the log. So an ASGI middleware (``RequestGuard``) sits in front of the routes: it refuses a body
over ADDIN_MAX_BODY_BYTES from its Content-Length or while it streams in (never reading it whole),
and for the custom-script route parses the JSON once (orjson: strict, so NaN, infinite numbers,
lone surrogates and invalid UTF-8 are refused by the parser), checks nesting (ADDIN_MAX_DEPTH), the
types the scripts and xlwings' remote interpreter rely on, and the cells the payload holds or claims
(ADDIN_MAX_CELLS). Then the body goes on, unchanged, to xlwings' own route (authentication, the
script call), which parses it again: ~0.1 ms for a workbook, where a dependency override handing
over the parsed payload made FastAPI rebuild every route's dependencies on every request (~0.6 ms).

A refusal is a ``Refused`` exception turned into a JSON response: the status (400, 413, 5xx), an
xlwings ``alert`` action (Japanese first, English beside) for a client that runs actions, and the
same text as ``detail``, which xlwings' Office.js client shows in its alert for any non-2xx answer.
The log gets one warning line, never the payload's own text. The words and the status of every
refusal come from the catalogue of refusals (packs/common/refusals.yaml, ``Refused.of``), shared
with the command line and the ingest.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from pipeline import settings
from pipeline.workbook import split_cell

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("shinsei.addin")

TITLE = "申請チェック shinsei"
SCRIPT_ROUTE = "/xlwings/custom-scripts-call/"
_SCALARS = (str, int, float, bool, type(None))
_MAX_INT = int(sys.float_info.max)          # Office.js numbers are doubles; a larger integer is not from Excel
_SHEET_NAME_FORBIDDEN = set("[]:*?/\\")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class Refused(Exception):
    """A request answered with a bilingual alert instead of a script's actions."""

    def __init__(self, status: int, ja: str, en: str, reason: str = "", code: str = "") -> None:
        super().__init__(en)
        self.status, self.ja, self.en, self.reason, self.code = status, ja, en, reason or en, code

    @classmethod
    def of(cls, name: str, reason: str = "", **values: Any) -> Refused:
        """The catalogue's refusal ``name`` (packs/common/refusals.yaml), with its HTTP status."""
        from pipeline.refusals import refusal

        found = refusal(name, **values)
        return cls(found.status or 400, found.message_ja, found.message_en, reason, found.code)


@dataclass(frozen=True)
class CheckedRequest:
    """A script request that passed the guard: its body as received and the cells it holds or claims.

    addin.offload chooses the engine lane from these and hands the worker the body rather than the
    parsed payload: copying bytes costs the event loop's process far less than pickling a large dict.
    """

    body: bytes
    cells: int


current_request: ContextVar[CheckedRequest | None] = ContextVar("shinsei_checked_request", default=None)


def alert_action(prompt: str, title: str = TITLE, mode: str = "critical") -> dict[str, Any]:
    """The action ``book.app.alert(...)`` queues (xlwings' remote interpreter), without a book."""
    return {"func": "alert", "args": [prompt, title, "ok", mode, ""], "values": None, "sheet_position": None,
            "start_row": None, "start_column": None, "row_count": None, "column_count": None}


def refusal_body(exc: Refused) -> bytes:
    prompt = f"{exc.ja}\n\n{exc.en}"
    return json.dumps({"detail": prompt, "actions": [alert_action(prompt)]}, ensure_ascii=False).encode()


def log_refusal(exc: Refused, path: str) -> None:
    logger.warning("refused %s %s: %s", exc.status, path.replace("\n", "\\n")[:200], exc.reason)


async def refused_response(request: Request, exc: Exception) -> Response:
    """FastAPI exception handler: a Refused raised in a route (engine timeout, busy) becomes its alert."""
    if not isinstance(exc, Refused):
        raise exc
    log_refusal(exc, request.url.path)
    return Response(refusal_body(exc), status_code=exc.status, media_type="application/json")


# ---- the refusals -----------------------------------------------------------------------------

def malformed(where: str) -> Refused:
    return Refused.of("request-malformed", f"malformed payload: {where}", where=where)


def not_json(detail: str) -> Refused:
    return Refused.of("request-not-json", f"invalid JSON: {detail}")


def too_deep() -> Refused:
    limit = settings.ADDIN_MAX_DEPTH
    return Refused.of("request-too-deep", f"nesting deeper than {limit}", limit=limit)


def too_large(declared: int | None = None) -> Refused:
    """``declared``: the Content-Length; None when the body streamed past the limit without one."""
    limit = settings.ADDIN_MAX_BODY_BYTES
    if declared is None:
        ja, en, reason = f"上限 {limit:,} バイト超", f"over the {limit:,}-byte limit", "a streamed body"
    else:
        ja, en, reason = (f"{declared:,} バイト、上限 {limit:,} バイト", f"{declared:,} bytes; the limit is {limit:,}",
                          f"body of {declared:,} bytes")
    return Refused.of("request-too-large", f"{reason} over {limit:,}", size_ja=ja, size_en=en)


def too_many_cells(cells: int) -> Refused:
    limit = settings.ADDIN_MAX_CELLS
    return Refused.of("request-too-many-cells", f"{cells:,} cells over {limit:,}", cells=cells, limit=limit)


def internal_error() -> Refused:
    return Refused.of("server-error", "internal error")


# ---- the middleware ---------------------------------------------------------------------------

class RequestGuard:
    """Bounds every request body; parses and checks the custom-script payload before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        checked = None
        try:
            if SCRIPT_ROUTE in path:
                known_script(path)
            body = await read_body(scope, receive)
            if SCRIPT_ROUTE in path:
                checked = CheckedRequest(body, check_body(scope, body))
        except Refused as exc:
            log_refusal(exc, path)
            await send_refusal(send, exc)
            return
        except Exception as exc:   # a bug of the guard itself: the operator gets the traceback, the client an alert
            logger.error("the request guard failed on %s", path.replace("\n", "\\n")[:200], exc_info=exc)
            await send_refusal(send, internal_error())
            return
        token = current_request.set(checked)
        try:
            await self.app(scope, replay(body, receive), send)
        finally:
            current_request.reset(token)


def known_script(path: str) -> None:
    """An unknown script name is refused here (404), before its body is read; xlwings would raise a 500."""
    from addin import scripts

    name = path.rsplit("/", 1)[-1]
    if name not in scripts.__all__:
        raise Refused.of("unknown-script", "unknown script")


async def read_body(scope: Scope, receive: Receive) -> bytes:
    """The body, refused (413) from its Content-Length or as soon as it streams past the limit."""
    limit = settings.ADDIN_MAX_BODY_BYTES
    declared = _header(scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise malformed("Content-Length")
        if int(declared) > limit:
            raise too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refused.of("client-disconnected", "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then whatever the client sends next."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def send_refusal(send: Send, exc: Refused) -> None:
    body = refusal_body(exc)
    await send({"type": "http.response.start", "status": exc.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


# ---- the payload ------------------------------------------------------------------------------

def check_body(scope: Scope, body: bytes) -> int:
    """The cells the payload holds or claims, once it is parsed and checked; Refused (400/413) otherwise."""
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type in _FORM_TYPES:
        raise malformed("form data instead of JSON")
    if not body:
        raise not_json("empty body")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise (too_deep() if "depth" in str(exc) else not_json(str(exc)[:80])) from None
    check_nesting(payload)
    cells = check_payload(payload)
    if cells > settings.ADDIN_MAX_CELLS:
        raise too_many_cells(cells)
    return cells


def check_nesting(payload: Any) -> None:
    """Depth at most ADDIN_MAX_DEPTH; every number finite and one a double can hold (also for other parsers)."""
    limit = settings.ADDIN_MAX_DEPTH
    stack: list[tuple[Any, int]] = [(payload, 1)] if type(payload) in (dict, list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise too_deep()
        for value in node.values() if type(node) is dict else node:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif kind is float:
                if not math.isfinite(value):
                    raise malformed("a number is not finite")
            elif kind is int and abs(value) > _MAX_INT:
                raise malformed("a number is too large")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise malformed(f"{where}: not an object")
    return value


def _list(value: Any, where: str, *, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if type(value) is not list:
        raise malformed(f"{where}: not a list")
    return value


def _str(value: Any, where: str, *, optional: bool = False, max_len: int | None = None) -> str | None:
    if value is None and optional:
        return None
    if type(value) is not str:
        raise malformed(f"{where}: not text")
    if max_len is not None and len(value) > max_len:
        raise malformed(f"{where}: longer than {max_len} characters")
    return value


def _int(value: Any, where: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if type(value) is not int:
        raise malformed(f"{where}: not a whole number")
    return value


def _sheet_name(value: Any, where: str) -> str:
    """Excel's rules: 1-31 characters, none of []:*?/\\, not starting or ending with an apostrophe."""
    name = _str(value, where, max_len=31) or ""
    if not name or name[0] == "'" or name[-1] == "'" or _SHEET_NAME_FORBIDDEN & set(name):
        raise malformed(f"{where}: not a valid sheet name")
    return name


def _last_cell(address: Any) -> tuple[int, int] | None:
    """(row, 1-based column) of the last cell of an A1 address or range; None if not one."""
    if type(address) is not str:
        return None
    cell = split_cell(address.rsplit(":", 1)[-1])
    if cell is None:
        return None
    column = 0
    for ch in cell[0]:
        column = column * 26 + ord(ch) - 64
    return cell[1], column


def check_payload(payload: Any) -> int:
    """The types xlwings' remote interpreter and the scripts rely on; returns the cells held or claimed.

    Values must fit the rectangle the sheet states (Office.js sends ``A1:<last cell of the used
    range>``; without a used range, the first row's width); shorter rows are read as trailing empty
    cells, as the reader always did. Claimed cells count as much as sent
    ones: a table body claiming a million rows costs the reader a million rows.
    """
    p = _obj(payload, "payload")
    if p.get("client") != "Office.js":
        raise malformed("client: this add-in answers Excel (Office.js) only")
    _str(p.get("version"), "version")
    book = _obj(p.get("book"), "book")
    _str(book.get("name"), "book.name", max_len=255)
    _str(book.get("selection"), "book.selection", optional=True)
    active = _int(book.get("active_sheet_index"), "book.active_sheet_index")
    for i, n in enumerate(_list(p.get("names"), "names")):
        where = f"names[{i}]"
        n = _obj(n, where)
        _str(n.get("name"), f"{where}.name", max_len=255)
        _str(n.get("address"), f"{where}.address", optional=True)
        _int(n.get("sheet_index"), f"{where}.sheet_index", optional=True)
        _int(n.get("scope_sheet_index"), f"{where}.scope_sheet_index", optional=True)
        if type(n.get("book_scope", True)) is not bool:
            raise malformed(f"{where}.book_scope: not true or false")
    sheets = _list(p.get("sheets"), "sheets")
    if not sheets:
        raise malformed("sheets: empty")
    if not 0 <= (active or 0) < len(sheets):
        raise malformed("book.active_sheet_index: no such sheet")
    seen: set[str] = set()
    cells = 0
    for i, s in enumerate(sheets):
        where = f"sheets[{i}]"
        s = _obj(s, where)
        name = _sheet_name(s.get("name"), f"{where}.name").casefold()
        if name in seen:
            raise malformed(f"{where}.name: two sheets with the same name")
        seen.add(name)
        cells += _grid_cells(s, where)
        for j, t in enumerate(_list(s.get("tables"), f"{where}.tables", optional=True)):
            cells += _table_cells(_obj(t, f"{where}.tables[{j}]"), f"{where}.tables[{j}]")
    args = p.get("args")
    if args not in (None, []):
        raise malformed("args: the add-in's scripts take none")
    return cells


def _grid_cells(sheet: dict[str, Any], where: str) -> int:
    values = _list(sheet.get("values"), f"{where}.values")
    stated = _last_cell(sheet.get("used_range_address"))
    if stated is None:   # no used range stated: the first row is the width
        stated = (len(values), len(values[0]) if values and type(values[0]) is list else 0)
    rows, columns = max(1, stated[0]), max(1, stated[1])
    if len(values) > rows:
        raise malformed(f"{where}.values: more rows than the sheet's used range")
    sent = 0
    for r, row in enumerate(values):
        if type(row) is not list:
            raise malformed(f"{where}.values[{r}]: not a row")
        if len(row) > columns:
            raise malformed(f"{where}.values[{r}]: wider than the sheet's used range (not rectangular)")
        for value in row:
            if not isinstance(value, _SCALARS):
                raise malformed(f"{where}.values[{r}]: a cell that is not a value")
        sent += len(row)
    return max(sent, rows * columns)


def _table_cells(table: dict[str, Any], where: str) -> int:
    """The cells addin.book_input reads for this table (header row to the body's last row, every column)."""
    _str(table.get("name"), f"{where}.name", max_len=255)
    columns = _list(table.get("columns"), f"{where}.columns", optional=True)
    for c in columns:
        if not isinstance(c, _SCALARS):
            raise malformed(f"{where}.columns: a header that is not a value")
    for key in ("range_address", "header_row_range_address", "data_body_range_address"):
        _str(table.get(key), f"{where}.{key}", optional=True)
    top = split_cell(table.get("header_row_range_address") or table.get("range_address"))
    last = _last_cell(table.get("data_body_range_address"))
    if top is None or last is None:
        return 0                       # the reader skips such a table
    header_row = top[1] if table.get("header_row_range_address") else top[1] - 1
    return max(0, last[0] - header_row) * max(1, len(columns))
