"""Read a workbook's cells by defined name and Excel table, never by fixed coordinates.

python-calamine reads values (~1 ms a workbook); the few facts it does not expose
(defined names, the 1904 date system, the application that saved the file) come from
``xl/workbook.xml`` and ``docProps/app.xml`` read directly from the zip. Formula cells
give whatever the saving application cached (nothing for openpyxl): callers recompute.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from xml.parsers import expat

import python_calamine

from pipeline.record import Record
from pipeline.safety import ZIP_CENTRAL_RECORD, ZIP_END_RECORD, ZIP_LOCAL_RECORD, WorkbookRejected, judge_extent

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^!'\s][^!]*))!"
                  r"\$?([A-Z]{1,3})\$?([0-9]{1,7})(?::\$?[A-Z]{1,3}\$?[0-9]{1,7})?$")


class UnreadableWorkbook(WorkbookRejected):
    """The file is a zip but not a workbook this engine can read (corrupt, password, broken names)."""

    def __init__(self, code: str, message_ja: str, message_en: str, detail: str = "") -> None:
        super().__init__(code, message_ja, message_en, detail)  # fields and pickling: WorkbookRejected
        if detail:
            self.args = (f"{message_ja} / {message_en} ({detail})",)


def _refuse(name: str, detail: str = "", **values: Any) -> UnreadableWorkbook:
    """The catalogue's refusal ``name`` (packs/common/refusals.yaml) as the reader's exception."""
    from pipeline.refusals import reject  # on the way to a refusal only

    return reject(name, UnreadableWorkbook, detail=detail, **values)  # type: ignore[return-value]


class CellRef(NamedTuple):
    """Where a defined name points: sheet, column letters, row. A NamedTuple: immutable like the frozen
    dataclass it was, built at import in a third of the time (every ``shinsei validate`` imports it)."""

    sheet: str
    column: str
    row: int

    @property
    def a1(self) -> str:
        return f"{self.column}{self.row}"

    def __str__(self) -> str:
        return f"'{self.sheet}'!{self.column}{self.row}"


class RawTable(Record):
    """An Excel table as read: header texts and data rows with their Excel row numbers."""

    _fields = ("name", "sheet", "header_row", "first_column", "headers", "rows")
    __slots__ = _fields

    def __init__(self, name: str, sheet: str, header_row: int, first_column: int, headers: list[str],
                 rows: list[tuple[int, list[Any]]]) -> None:
        self.name = name
        self.sheet = sheet
        self.header_row = header_row
        self.first_column = first_column  # 0-based
        self.headers = headers
        self.rows = rows


class RawWorkbook(Record):
    """A workbook as read: defined names and their values, tables, sheets, and what calamine does not say."""

    _fields = ("path", "names", "values", "tables", "sheet_names", "date1904", "application", "broken_names",
               "errors")
    __slots__ = _fields

    def __init__(self, path: Path, names: dict[str, CellRef], values: dict[str, Any], tables: dict[str, RawTable],
                 sheet_names: list[str], date1904: bool = False, application: str = "",
                 broken_names: list[str] | None = None, errors: dict[tuple[str, str], str] | None = None) -> None:
        self.path = path
        self.names = names
        self.values = values
        self.tables = tables
        self.sheet_names = sheet_names
        self.date1904 = date1904
        self.application = application
        self.broken_names = [] if broken_names is None else broken_names
        # Cells holding an error value (#REF!, #NAME? …) by (sheet, "B12"): python-calamine reads them as ''.
        self.errors = {} if errors is None else errors


_A1 = re.compile(r"^\$?([A-Z]{1,3})\$?([0-9]{1,7})(?::\$?[A-Z]{1,3}\$?[0-9]{1,7})?$")


def split_cell(address: str | None) -> tuple[str, int] | None:
    """Column letters and row of an A1 address ("C9", "$C$9", or a range's first cell); None if not one."""
    m = _A1.match(address or "")
    return (m.group(1), int(m.group(2))) if m else None


def split_ref(ref: str) -> tuple[str, str]:
    """"'交流計画 Plan'!C9" (as CellRef prints it) -> ("交流計画 Plan", "C9")."""
    sheet, _, cell = ref.rpartition("!")
    return sheet.strip("'").replace("''", "'"), cell


def column_letter(index0: int) -> str:
    """0-based column index to Excel letters (0 -> A, 26 -> AA)."""
    out = ""
    n = index0 + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _workbook_xml(zf: zipfile.ZipFile | _Parts) -> tuple[dict[str, CellRef], list[str], bool]:
    try:
        pr, defined = _workbook_parts(zf.read("xl/workbook.xml"))
    except (KeyError, expat.ExpatError) as exc:
        raise _refuse("not-a-workbook", f"xl/workbook.xml: {exc}") from exc
    names: dict[str, CellRef] = {}
    broken: list[str] = []
    date1904 = pr is not None and pr.get("date1904", "").lower() in ("1", "true")
    for attrs, text in defined:
        name = attrs.get("name", "")
        if attrs.get("localSheetId") is not None or name.startswith("_xlnm"):
            continue
        m = _REF.match(text.strip())
        if not m:
            broken.append(name)
            continue
        sheet = (m.group(1) or "").replace("''", "'") or m.group(2)
        names[name] = CellRef(sheet, m.group(3), int(m.group(4)))
    return names, broken, date1904


_WORKBOOK_PR = f"{_NS[1:]}workbookPr"       # expat with "}" as separator: "<namespace>}<local name>"
_DEFINED_NAMES = f"{_NS[1:]}definedNames"


def _workbook_parts(data: bytes) -> tuple[dict[str, str] | None, list[tuple[dict[str, str], str]]]:
    """The attributes of workbook.xml's workbookPr, and of each child of its definedNames with its text.

    What ElementTree's ``root.find(...)`` gave (the first such child of the root; an element's text up
    to its first child element), read with expat itself: importing ElementTree and ElementPath took
    ~1.5 ms of every ``shinsei validate`` to read these two elements. Raises expat.ExpatError where
    ElementTree's parser (expat too) raised ParseError, with the same message.
    """
    parser = expat.ParserCreate(None, "}")
    parser.buffer_text = True
    depth = 0
    pr: dict[str, str] | None = None
    names_seen = in_names = False
    defined: list[tuple[dict[str, str], list[str]]] = []
    text: list[str] | None = None        # where the current defined name's text goes, until its first child

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth, pr, names_seen, in_names, text
        depth += 1
        text = None
        if depth == 2 and tag == _WORKBOOK_PR and pr is None:
            pr = attrs
        elif depth == 2 and tag == _DEFINED_NAMES and not names_seen:
            names_seen = in_names = True
        elif depth == 3 and in_names:
            text = []
            defined.append((attrs, text))

    def end(tag: str) -> None:
        nonlocal depth, in_names, text
        if depth == 2:
            in_names = False
        text = None
        depth -= 1

    def chars(data: str) -> None:
        if text is not None:
            text.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.Parse(data, True)
    return pr, [(attrs, "".join(parts)) for attrs, parts in defined]


_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*\bt="e"[^>]*?)(?<!/)>(.*?)</(?:\w+:)?c>', re.S)
_ATTR_R = re.compile(rb'\br="\$?([A-Z]{1,3})\$?([0-9]{1,7})"')
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]{0,32})</(?:\w+:)?v>")
_SHEET = re.compile(rb'<(?:\w+:)?sheet\b[^>]*>')
_REL = re.compile(rb'<(?:\w+:)?Relationship\b[^>]*>')


def _attr(tag: bytes, name: bytes) -> str | None:
    m = re.search(rb'\b' + name + rb'="([^"]*)"', tag)
    return m.group(1).decode("utf-8", "replace") if m else None


def _error_cells(read: Any, member_names: list[str]) -> dict[tuple[str, str], str]:
    """Cells of error type (t="e": #REF!, #NAME? …) by (sheet title, "B12").

    python-calamine hands them back as '' (a blank); a formula that no longer computes must be a
    finding, never a silent 0. Sheets without an error cell cost one bytes search each.
    """
    found: dict[str, list[tuple[str, str]]] = {}
    for name in member_names:
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            continue
        data = read(name)
        if b't="e"' not in data:
            continue
        for m in _ERROR_CELL.finditer(data):
            ref, value = _ATTR_R.search(m.group(1)), _VALUE.search(m.group(2))
            if ref:
                text = value.group(1).decode("utf-8", "replace").strip() if value else "#VALUE!"
                found.setdefault(name, []).append((ref.group(1).decode() + ref.group(2).decode(), text))
    if not found:
        return {}
    try:
        targets = {_attr(t, b"Id"): _attr(t, b"Target") for t in _REL.findall(read("xl/_rels/workbook.xml.rels"))}
        sheets = {_attr(t, b"name"): _attr(t, b"r:id") or _attr(t, b"id")
                  for t in _SHEET.findall(read("xl/workbook.xml"))}
    except KeyError:
        return {}
    out: dict[tuple[str, str], str] = {}
    for title, rid in sheets.items():
        target = targets.get(rid) or ""
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        for cell, text in found.get(member, []):
            if title is not None:
                out[(title, cell)] = text
    return out


def _application(zf: zipfile.ZipFile | _Parts) -> str:
    try:
        data = zf.read("docProps/app.xml")
    except KeyError:
        return ""
    m = re.search(rb"<(?:\w+:)?Application>([^<]{0,200})</", data)
    return m.group(1).decode("utf-8", "replace") if m else ""


class _Parts:
    """Members already taken from the zip (by safety.verified_members), read like ZipFile.read."""

    def __init__(self, parts: Mapping[str, bytes]) -> None:
        self.parts = parts

    def read(self, name: str) -> bytes:
        return self.parts[name]  # KeyError for a missing member, as ZipFile.read raises


def stored_zip(members: Mapping[str, bytes]) -> bytes:
    """A zip of ``members`` without compression, for python-calamine to parse from memory.

    The members were inflated once already (by the pre-check); stored, they are not inflated again,
    which takes a quarter off calamine's read of a typical workbook. Written by hand because
    zipfile's writer costs ~0.35 ms for the 27 members of a template, more than it saves.
    """
    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    crcs: dict[str, int] = getattr(members, "crcs", {})  # the pre-check's, verified: not summed again
    for name, data in members.items():
        raw_name = name.encode("utf-8")
        crc, size = crcs.get(name), len(data)
        if crc is None:
            crc = zlib.crc32(data)
        if size >= 0xFFFFFFFF or offset >= 0xFFFFFFFF:
            raise _refuse("corrupt-workbook", "a member or offset needs ZIP64 (the workbook is too large)")
        header = ZIP_LOCAL_RECORD.pack(b"PK\x03\x04", 20, _UTF8, 0, 0, 0, crc, size, size, len(raw_name), 0)
        local += (header, raw_name, data)
        central.append(ZIP_CENTRAL_RECORD.pack(b"PK\x01\x02", 20, 0, 20, 0, _UTF8, 0, 0, 0, crc, size, size,
                                               len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name)
        offset += len(header) + len(raw_name) + size
    directory = b"".join(central)
    end = ZIP_END_RECORD.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), offset, 0)
    return b"".join([*local, directory, end])  # one copy of the data, not three


_UTF8 = 0x800  # general purpose flag bit 11: names are UTF-8 (the records' layouts: pipeline.safety)


def _judge_extent(sheet: str, end: tuple[int, int] | None, how: str = "") -> None:
    """The pre-check's far-cell limits, judged on the extent python-calamine read (its last cell, 0-based).

    For a file pre-checked without the scan (safety.verified_members(scan=False)) this is the far-cell
    check; for one scanned, it never finds what the scan passed."""
    if end is not None:
        judge_extent(sheet, end[0] + 1, end[1] + 1, how=how)


def _judge_unread(book: Any, sheet: str) -> None:
    """The extent of a sheet that nothing else reads, parsed for it alone (see read_workbook's ``scanned``).

    A sheet python-calamine cannot parse is left as it is: nothing reads it, and the full pre-check, which
    this stands in for, would not have refused the file for it either."""
    try:
        end = book.get_sheet_by_name(sheet).end
    except python_calamine.CalamineError:
        return
    except BaseException as exc:
        if _panic(exc) is None:
            raise
        return
    _judge_extent(sheet, end)


def _panic(exc: BaseException) -> UnreadableWorkbook | None:
    """The refusal to raise when python-calamine panicked on the file's contents (a table whose header-row
    count runs past the sheet's last row: "invalid range bounds"): that file is damaged, not shinsei broken.
    None for any other exception, which goes on as it is.

    pyo3 raises a panic as ``pyo3_runtime.PanicException``, a BaseException that no module exports."""
    if type(exc).__name__ == "PanicException":
        return _refuse("corrupt-workbook", f"python-calamine panicked: {exc}")
    return None


def read_workbook(path: str | Path, wanted_names: set[str] | None = None, *,
                  members: Mapping[str, bytes] | None = None, scanned: bool = True) -> RawWorkbook:
    """Read defined-name cells and all tables of ``path``.

    ``wanted_names``: only these names' values are looked up (all names when None).
    ``members``: every member of the file, as ``safety.verified_members(path)`` returns them; the file
    is then not opened again, and the reader parses exactly the bytes that were checked.
    ``scanned=False``: the members were not scanned for far cells (``verified_members(scan=False)``), so
    a sheet that neither a name nor a table reads is parsed too, for its extent alone.
    The extent of every sheet and table read is judged against the pre-check's limits.
    Raises UnreadableWorkbook for files that are not readable workbooks, UnsafeWorkbook for a far cell.
    """
    path = Path(path)
    try:
        if members is not None:
            names, broken, date1904 = _workbook_xml(_Parts(members))
            application = _application(_Parts(members))
            errors = _error_cells(_Parts(members).read, list(members))
        else:
            with zipfile.ZipFile(path) as zf:
                names, broken, date1904 = _workbook_xml(zf)
                application = _application(zf)
                errors = _error_cells(zf.read, zf.namelist())
    except zipfile.BadZipFile as exc:
        raise _refuse("corrupt-zip", str(exc)) from exc
    try:
        if members is not None:
            book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(stored_zip(members)), load_tables=True)
        else:
            book = python_calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
    except python_calamine.PasswordError as exc:
        raise _refuse("encrypted-or-xls", "python-calamine: password-protected") from exc
    except (python_calamine.CalamineError, python_calamine.ZipError, python_calamine.XmlError, ValueError) as exc:
        raise _refuse("corrupt-workbook", str(exc)) from exc
    except BaseException as exc:
        if (refusal := _panic(exc)) is None:
            raise
        raise refusal from exc
    try:
        sheet_names = list(book.sheet_names)
        values: dict[str, Any] = {}
        grids: dict[str, list[list[Any]]] = {}
        for name, ref in names.items():
            if wanted_names is not None and name not in wanted_names:
                continue
            if ref.sheet not in sheet_names:
                broken.append(name)
                continue
            if ref.sheet not in grids:
                sheet = book.get_sheet_by_name(ref.sheet)
                _judge_extent(ref.sheet, sheet.end)
                grids[ref.sheet] = sheet.to_python(skip_empty_area=False)
            grid = grids[ref.sheet]
            r, c = ref.row - 1, column_index(ref.column)
            values[name] = grid[r][c] if r < len(grid) and c < len(grid[r]) else None
        tables: dict[str, RawTable] = {}
        for tname in book.table_names:
            t = book.get_table_by_name(tname)
            _judge_extent(t.sheet, t.end, f"(its table {tname})")
            start_row, start_col = t.start
            data = t.to_python()
            rows = [(start_row + 1 + i, list(row)) for i, row in enumerate(data)]
            tables[tname] = RawTable(tname, t.sheet, start_row, start_col, [str(h) for h in t.columns], rows)
        if not scanned:
            read = set(grids) | {t.sheet for t in tables.values()}
            for sheet_name in sheet_names:
                if sheet_name not in read:
                    _judge_unread(book, sheet_name)
    except (python_calamine.CalamineError, python_calamine.XmlError, python_calamine.ZipError) as exc:
        raise _refuse("corrupt-workbook", str(exc)) from exc
    except BaseException as exc:
        if (refusal := _panic(exc)) is None:
            raise
        raise refusal from exc
    finally:
        book.close()
    return RawWorkbook(path, names, values, tables, sheet_names, date1904, application, broken, errors)
