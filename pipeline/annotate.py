"""Write an annotated copy of a workbook: offending cells filled and commented, plus a 検証結果 sheet.

The original file is never touched. openpyxl's full model is needed here (styles, comments,
data validation), which costs ~45 ms; it is only paid when a user asks for the copy.

The copy is built from the bytes the pre-check verified (``safety.verified_members``), in a child
process under the per-file limits (``pipeline.sandbox``): openpyxl can spend minutes and gigabytes
on a styles bomb, and that must cost the copy, not the CLI. openpyxl refuses number cells Excel never
writes (``<v>NaN</v>``: ``int('NaN')``) and saves an infinite one as ``inf``, which Excel cannot open,
so such cells are handed to it as text. The copy is a plain .xlsx: the source's VBA project and
external links are left out (opening a reviewer's copy must not run an applicant's macro or
refresh its links). Its work is linear in the number of findings.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Mapping
from copy import copy
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.cell.cell import MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_ISO8601
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.findings import Report
from pipeline.result_sheet import (
    AMOUNT_COLUMN,
    AMOUNT_FORMAT,
    FILLS,
    HEADERS,
    RESULT_SHEET,
    WIDTHS,
    RowContext,
    finding_cells,
    link_target,
    result_row,
    worse,
)
from pipeline.safety import WorkbookRejected, verified_members
from pipeline.sandbox import run_isolated
from pipeline.settings import FILE_MEMORY_BYTES, FILE_TIMEOUT_SECONDS
from pipeline.tempfiles import output_temp_path
from pipeline.template_builder import print_layout, print_pack_sheets, table_title_rows
from pipeline.workbook import stored_zip

_COMMENT_MAX = 30_000                 # characters of one comment (Excel's limit is 32,767)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WIDE = re.compile("[\u2e80-\U0010ffff]")  # characters a column shows two units wide (CJK and beyond)


def annotate_workbook(wb: Workbook, report: Report) -> None:
    """Fill, comment and list the findings of ``report`` in an open workbook.

    A finding on a merged cell marks the merged range's top-left cell (the others cannot hold a
    comment); a range finding fills every cell of its range and comments its first. Every sheet of the
    copy prints on A4 one page wide: the template's sheets as the template prints them (the print area
    grown to the rows the applicant added), the 検証結果 sheet landscape with its header row repeated.
    """
    fills = {severity: PatternFill("solid", fgColor=color) for severity, color in FILLS.items()}
    marks = _marks(wb, report)
    for (sheet, cell), (severity, notes) in marks.items():
        c = wb[sheet][cell]
        c.fill = fills[severity]
        if notes:
            c.comment = Comment(_xml_safe("\n\n".join(notes)[:_COMMENT_MAX]), "shinsei", width=360, height=200)
    if RESULT_SHEET in wb.sheetnames:
        del wb[RESULT_SHEET]
    ws = wb.create_sheet(RESULT_SHEET, 0)
    ws.append(HEADERS)
    base = ws.cell(row=1, column=1).font          # the workbook's own font: a bare Font() prints in another
    bold = Font(name=base.name, size=base.size, bold=True)
    link_font = Font(name=base.name, size=base.size, color="0563C1", underline="single")
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    for cell in ws[1]:
        cell.font, cell.alignment = bold, wrap
    ws.row_dimensions[1].height = 30                # two lines: 重要度 / Severity in a narrow column
    styles: dict[tuple[int, str | bool], StyleArray] = {}   # each cell style built once, then copied
    sheets = set(wb.sheetnames)
    ctx = RowContext.of(report)
    row = 1
    for f in report.findings:
        values = [_xml_safe(v) for v in result_row(f, ctx)]
        ws.append(values)
        row += 1                      # counted: ws.max_row scans every cell, once per row it was quadratic
        target = link_target(f) if f.location.sheet in sheets else None
        linked = target is not None
        for col in range(1, len(HEADERS) + 1):
            c = ws.cell(row=row, column=col)
            key = (col, f.severity if col == 1 else linked if col == 3 else "")
            style = styles.get(key)
            if style is not None:
                c._style = copy(style)
                continue
            c.alignment = top if col in (1, AMOUNT_COLUMN) else wrap
            if col == AMOUNT_COLUMN:
                c.number_format = AMOUNT_FORMAT   # the money involved as people read it: 7,700,000円
            if col == 1:
                c.fill = fills[f.severity]
            elif col == 3 and linked:
                c.font = link_font
            styles[key] = copy(c._style)
        if target:   # "#'Sheet'!A5:I7": Excel and LibreOffice follow it inside the workbook
            ws.cell(row=row, column=3).hyperlink = f"#{target}"
        ws.row_dimensions[row].height = 15 * max((_lines(str(v), WIDTHS[i]) for i, v in enumerate(values) if v),
                                                 default=1)
    last = get_column_letter(len(HEADERS))
    for i, width in enumerate(WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{last}{row}"
    _print_copy(wb, report, ws, f"A1:{last}{row}")
    wb.active = 0
    for other in wb.worksheets:   # the sheet selected in the source too would open grouped with ours
        other.sheet_view.tabSelected = other is ws


def _print_copy(wb: Workbook, report: Report, results: Worksheet, area: str) -> None:
    """Every sheet of the copy prints on A4 one page wide, with the form title and the template in the
    header and footer: the template's own sheets as the template lays them out, any other visible sheet
    (an old template's, an applicant's own) one page wide in the orientation its width needs."""
    pack = RowContext.of(report).pack
    template = report.template or {}
    title = pack.title["ja"] if pack else (wb.properties.title or report.file)
    footer = (f"様式 Template {template.get('id', '-')} 版 v{template.get('version', '-')}"
              if template else "shinsei")
    done: set[str] = set()
    if pack is not None:
        print_pack_sheets(wb, pack)
        done = set(pack.sheets.values())
    for other in wb.worksheets:
        if other is results or other.title in done or other.sheet_state != "visible":
            continue
        wide = sum((other.column_dimensions[get_column_letter(c)].width or 9)
                   for c in range(1, min(other.max_column, 200) + 1)) > 100
        print_layout(other, orientation="landscape" if wide else "portrait", header=title, footer=footer,
                     title_rows=table_title_rows(other),
                     area=f"A1:{get_column_letter(other.max_column)}{other.max_row}")
    print_layout(results, orientation="landscape", header=f"{RESULT_SHEET} Validation report — {report.file}",
                 footer=f"{footer}  {title}", title_rows="1:1", area=area)


def _marks(wb: Workbook, report: Report) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(sheet, cell) -> (worst severity, notes): every finding's cells, merged cells moved to their top-left."""
    sheets = set(wb.sheetnames)
    anchors: dict[str, dict[tuple[int, int], str]] = {}
    marks: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for f in report.findings:
        sheet = f.location.sheet
        if not sheet or sheet not in sheets:
            continue
        ws = wb[sheet]
        for i, ref in enumerate(finding_cells(f)):
            cell = _anchor(ws, ref, anchors)
            severity, notes = marks.get((sheet, cell), (f.severity, []))
            if i == 0:
                notes.append(f"[{f.severity}] {f.code}\n{f.message_ja}\n{f.message_en}")
            marks[(sheet, cell)] = (worse(severity, f.severity), notes)
    return marks


def _anchor(ws: Worksheet, ref: str, anchors: dict[str, dict[tuple[int, int], str]]) -> str:
    """``ref``, or the top-left cell of the merged range it lies in (built once per sheet, when first needed)."""
    cell = ws[ref]
    if not isinstance(cell, MergedCell):
        return ref
    table = anchors.get(ws.title)
    if table is None:   # as many entries as openpyxl already made MergedCell objects for
        table = anchors[ws.title] = {}
        for rng in ws.merged_cells.ranges:
            top_left = f"{get_column_letter(rng.min_col)}{rng.min_row}"
            for rc in rng.cells:
                table.setdefault(rc, top_left)
    return table.get((cell.row, cell.column), ref)


def _xml_safe(value: Any) -> Any:
    """Text without the characters XML cannot hold (controls, lone surrogates), shown as U+FFFD.

    Messages quote the applicant's values; one such character would make openpyxl refuse the cell
    or write a file Excel cannot open.
    """
    return _NOT_XML.sub("\ufffd", value) if isinstance(value, str) else value


def _lines(text: str, width: int) -> int:
    """Wrapped line count of ``text`` in a column ``width`` characters wide (CJK characters count two)."""
    cells = len(text) + len(_WIDE.findall(text))
    return max(1, -(-cells // width))


# ---- the copy ----------------------------------------------------------------------------------

def write_annotated(source: str | Path, report: Report, out: str | Path, *, isolate: bool = True) -> Path:
    """Save an annotated copy of ``source`` at ``out`` (a plain .xlsx, atomically; never over the source).

    ``isolate``: openpyxl's work runs in a child process under the per-file time and memory limits;
    a child that fails raises WorkerFailed, and a file openpyxl cannot read raises WorkbookRejected
    (``annotate-unreadable``), both with a reason in Japanese and English. The pre-check's refusals
    (UnsafeWorkbook) come first, in this process.
    """
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise ValueError("注釈付きの写しを元のファイルに上書きすることはできません / "
                         "the annotated copy must not overwrite the original file")
    if out.suffix.lower() != ".xlsx":
        raise ValueError(f"注釈付きの写しはマクロなしの .xlsx です。名前を .xlsx で終えてください: {out.name} / "
                         f"the annotated copy is a plain .xlsx (no macros): give it a name ending in .xlsx")
    members = verified_members(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = output_temp_path(out.parent, ".xlsx")
    try:
        if isolate:
            run_isolated(_annotate_members, members, report, tmp_path,
                         timeout=FILE_TIMEOUT_SECONDS, memory_bytes=FILE_MEMORY_BYTES)
        else:
            _annotate_members(members, report, tmp_path)
        os.replace(tmp_path, out)
    finally:
        tmp_path.unlink(missing_ok=True)
    return out


def _annotate_members(members: Mapping[str, bytes], report: Report, dest: Path) -> None:
    """Load the verified members with openpyxl, annotate them and save a plain .xlsx at ``dest``."""
    try:
        with warnings.catch_warnings():   # openpyxl's remarks on the applicant's file (a date out of range...)
            warnings.simplefilter("ignore", UserWarning)
            wb = load_workbook(io.BytesIO(stored_zip(readable_members(members))), keep_vba=False, keep_links=False)
    except WorkbookRejected:
        raise
    except Exception as exc:  # openpyxl on a file python-calamine could read: refused, with the reason
        raise WorkbookRejected(
            "annotate-unreadable",
            "注釈付きの写しを作れませんでした。ファイルの一部を読み込めません。Excelで開けるか確かめ、"
            ".xlsx 形式で保存し直してください（検証結果そのものは有効です）",
            "The annotated copy could not be made: part of the file cannot be read. Check that it opens "
            "in Excel and save it again as .xlsx (the validation report itself stands)",
            f"{type(exc).__name__}: {exc}") from exc
    wb.template = False                               # an .xltx/.xltm source: the copy is still a workbook
    wb.vba_archive = None
    for names in [wb.defined_names, *(ws.defined_names for ws in wb.worksheets)]:
        for name in [n for n, d in names.items() if _EXTERNAL_REF.search(d.attr_text or "")]:
            del names[name]                           # names into external books would point at nothing
    annotate_workbook(wb, report)
    wb.save(dest)


# ---- cells openpyxl cannot take, handed over as text ---------------------------------------------

_P = rb"(?:[A-Za-z_][\w.-]*:)?"                  # an optional namespace prefix
_CELL_TAG = re.compile(rb"<(/?)(" + _P + rb")c(?=[\s/>])([^>]*)>")
_VALUE = re.compile(rb"<" + _P + rb"v(?:\s[^>]*)?>([^<]*)</" + _P + rb"v\s*>")
_FORMULA = re.compile(rb"<" + _P + rb"f[\s/>]")
_TYPE = re.compile(rb"""\st\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SST_ITEM = re.compile(rb"<" + _P + rb"si[\s/>]")
_EXTERNAL_REF = re.compile(r"\[\d+\]")
_TEXT_TYPES = frozenset((b"str", b"inlineStr", b"e"))


def readable_members(members: Mapping[str, bytes]) -> dict[str, bytes]:
    """``members`` with every cell openpyxl would refuse, or save as something Excel refuses, made a text cell.

    A number cell must hold a finite number (``NaN``, ``1e999``, 5,000 digits do not), a boolean an
    integer, a date an ISO 8601 date, a shared string an index into the table; an unknown type is
    read as text. The cell keeps its text, so the reviewer sees what the applicant's file holds.
    """
    strings = max((len(_SST_ITEM.findall(data)) for name, data in members.items()
                   if name.endswith(".xml") and b"<sst" in data[:1024]), default=0)
    out = dict(members)
    for name, data in members.items():
        if name.endswith(".xml") and b"sheetData" in data:
            out[name] = _readable_cells(data, strings)
    return out


def _readable_cells(xml: bytes, strings: int) -> bytes:
    """One pass over the cell tags of a sheet (linear whatever the XML: an unclosed cell is left alone)."""
    pieces: list[bytes] = []
    done = 0                                      # xml[:done] is in pieces
    opened: re.Match[bytes] | None = None         # the cell start tag waiting for its end tag
    for tag in _CELL_TAG.finditer(xml):
        if not tag.group(1):
            opened = None if tag.group(3).endswith(b"/") else tag
            continue
        if opened is None or opened.group(2) != tag.group(2):
            continue
        start, attrs, body = opened.start(), opened.group(3), xml[opened.end():tag.start()]
        opened = None
        if not _readable_cell(attrs, body, strings):
            pieces += [xml[done:start], b"<" + tag.group(2) + b"c" + _TYPE.sub(b"", attrs) + b' t="str">' + body]
            done = tag.start()
    if not pieces:
        return xml
    pieces.append(xml[done:])
    return b"".join(pieces)


def _readable_cell(attrs: bytes, body: bytes, strings: int) -> bool:
    found = _TYPE.search(attrs)
    kind = (found.group(1) if found.group(1) is not None else found.group(2)) if found else b"n"
    if kind in _TEXT_TYPES or _FORMULA.search(body):
        return True
    value = _VALUE.search(body)
    return value is None or _readable(kind, value.group(1).strip(), strings)


def _readable(kind: bytes, text: bytes, strings: int) -> bool:
    """Whether openpyxl reads ``text`` as a value of this cell type and writes it back as Excel can read it."""
    if kind in _TEXT_TYPES - {b"s"}:
        return True
    if not text:
        return True                                   # an empty <v/>: openpyxl reads no value
    try:
        if kind == b"n":                              # as openpyxl's reader casts it
            number = float(text) if re.search(rb"[.eE]", text) else int(text)
            return math.isfinite(number)
        if kind == b"b":
            int(text)
            return True
        if kind == b"s":
            return 0 <= int(text) < strings
        if kind == b"d":
            from_ISO8601(text.decode("ascii"))
            return True
    except (ValueError, OverflowError, UnicodeDecodeError):
        return False
    return False                                      # a type openpyxl would write back as it found it


__all__ = ["annotate_workbook", "readable_members", "write_annotated"]
