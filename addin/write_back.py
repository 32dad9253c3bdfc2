"""Show an engine report in the open workbook, and take it away again.

Validate fills the offending cells, writes the 検証結果 sheet (the same rows as the annotated
copy of ``shinsei validate --annotate``) and a hidden marks sheet that lists every cell it
filled with the fill the cell had before. Clear reads that list back and restores each fill,
then deletes the sheets the add-in added. The remote interpreter cannot read a cell's colour,
so "the fill it had before" is the template's fill for that cell (yellow input, grey
calculated, none), found through the form; a cell filled twice keeps its first original.

Every value written into a cell goes through ``pipeline.cellsafe.neutralise`` (as the exports do):
a sheet named ``=SUM(1,2) 経費`` is written into the marks sheet as text, never as a formula. Cells
are addressed by sheet position in the actions, never by a sheet-qualified address. The marks sheet
comes back from the workbook, so it is read as untrusted: only existing sheets, single cells and
``#RRGGBB`` fills are acted on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

import xlwings as xw

from pipeline.cellsafe import neutralise
from pipeline.findings import Report
from pipeline.packs import load_pack
from pipeline.result_sheet import (
    AMOUNT_COLUMN,
    AMOUNT_FORMAT,
    FILLS,
    HEADERS,
    RESULT_SHEET,
    WIDTHS,
    result_rows,
    worst_by_cell,
)
from pipeline.template_builder import template_fill

MARKS_SHEET = "shinsei_marks"      # hidden; one row per filled cell: sheet, cell, original fill ("#RRGGBB", "" = none)
EXPORT_SHEET = "JSON出力"
ADDED_SHEETS = (RESULT_SHEET, MARKS_SHEET, EXPORT_SHEET)
_MARKS_HEADER = ["sheet", "cell", "original_fill"]
_POINTS_PER_CHAR = 7.0             # Office.js column widths are in points
_ONE_CELL = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")
_FILL = re.compile(r"#[0-9A-Fa-f]{6}")


def _sheet_names(book: xw.Book) -> list[str]:
    return [s["name"] for s in book.api["sheets"]]


def safe(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows as they may be written into cells: text that would run as a formula is neutralised."""
    return [[neutralise(v) for v in row] for row in rows]


def _unprefixed(sheet: str) -> str:
    """A sheet name as the marks sheet held it: Excel keeps or drops neutralise's apostrophe; no sheet
    name starts with one (Excel forbids it), so a leading apostrophe is always neutralise's."""
    return sheet[1:] if sheet.startswith("'") else sheet


def _in_sheet(cell: str) -> bool:
    m = _ONE_CELL.fullmatch(cell)
    if not m:
        return False
    column = 0
    for ch in m.group(1):
        column = column * 26 + ord(ch) - 64
    return column <= 16_384 and int(m.group(2)) <= 1_048_576


def previous_marks(book: xw.Book) -> list[tuple[str, str, str]]:
    """The cells an earlier Validate filled, with their original fills, from the hidden marks sheet.

    Rows naming no existing sheet or not a single cell are skipped; a fill that is not ``#RRGGBB`` reads as none.
    """
    sheets = set(_sheet_names(book))
    for s in book.api["sheets"]:
        if s["name"] == MARKS_SHEET:
            marks = []
            for r in (s.get("values") or [])[1:]:
                if not isinstance(r, list) or len(r) < 3 or not r[0] or not r[1]:
                    continue
                sheet, cell, fill = _unprefixed(str(r[0])), str(r[1]).upper(), str(r[2] or "")
                if sheet in sheets and _in_sheet(cell):
                    marks.append((sheet, cell, fill if _FILL.fullmatch(fill) else ""))
            return marks
    return []


def _color(fill: str) -> str | None:
    return fill or None


def remove_marks(book: xw.Book, keep: Collection[tuple[str, str]] = ()) -> dict[tuple[str, str], str]:
    """Restore the original fill of every marked cell (except ``keep``) and delete the added sheets.

    Returns the original fills by (sheet, cell), for cells that are marked again.
    """
    sheets = _sheet_names(book)
    originals: dict[tuple[str, str], str] = {}
    for sheet, cell, original in previous_marks(book):
        originals[(sheet, cell)] = original
        if sheet in sheets and (sheet, cell) not in keep:
            book.sheets[sheet][cell].color = _color(original)
    for name in ADDED_SHEETS:
        if name in _sheet_names(book):
            book.sheets[name].delete()
    return originals


def show_report(book: xw.Book, report: Report, *, title_ja: str, title_en: str,
                extra_ja: str = "", extra_en: str = "") -> None:
    """Fill the offending cells, write the 検証結果 sheet and the marks, and alert a summary."""
    worst = worst_by_cell(report, _sheet_names(book))
    originals = remove_marks(book, keep=set(worst))
    pack = load_pack(report.program) if report.program else None
    marks: list[list[Any]] = [_MARKS_HEADER]
    for (sheet, cell), severity in worst.items():
        original = originals.get((sheet, cell))
        if original is None:
            fill = template_fill(pack, report.submission or {}, sheet, cell) if pack else None
            original = f"#{fill}" if fill else ""    # with "#", Excel never reads a colour as a number
        book.sheets[sheet][cell].color = f"#{FILLS[severity]}"
        marks.append([sheet, cell, original])
    _write_results(book, report)
    if len(marks) > 1:
        marks_sheet = book.sheets.add(MARKS_SHEET, after=book.sheets[len(book.sheets) - 1])
        marks_sheet["A1"].value = safe(marks)
        marks_sheet.visible = False
    book.sheets[RESULT_SHEET].activate()
    alert(book, report, title_ja=title_ja, title_en=title_en, extra_ja=extra_ja, extra_en=extra_en)


def _write_results(book: xw.Book, report: Report) -> None:
    """The 検証結果 sheet: the rows of ``shinsei validate --annotate`` (pipeline.result_sheet), the amount column
    shown as 7,700,000円. (Its location column is the address as text: xlwings' hyperlink action sends a URL
    address, and Office.js links into the workbook only through a document reference.)"""
    ws = book.sheets.add(RESULT_SHEET, before=book.sheets[0])
    rows = [HEADERS, *result_rows(report)]
    last = _column_letter(len(HEADERS))
    ws["A1"].value = safe(rows)
    ws[f"A1:{last}1"].font.bold = True
    for i, width in enumerate(WIDTHS, start=1):
        col = _column_letter(i)
        ws[f"{col}:{col}"].column_width = width * _POINTS_PER_CHAR
    if report.findings:
        amount = _column_letter(AMOUNT_COLUMN)
        ws[f"D2:F{len(rows)}"].wrap_text = True
        ws[f"{amount}2:{amount}{len(rows)}"].number_format = AMOUNT_FORMAT
        start = 0
        severities = [f.severity for f in report.findings]
        for i in range(1, len(severities) + 1):   # one colour action per run of equal severity
            if i == len(severities) or severities[i] != severities[start]:
                ws[f"A{start + 2}:A{i + 1}"].color = f"#{FILLS[severities[start]]}"
                start = i


def _column_letter(n: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[n - 1]


def summary(report: Report) -> tuple[str, str]:
    c = report.counts
    if not report.findings:
        return "指摘事項はありません。", "No findings."
    ja = (f"エラー {c['error']} 件、警告 {c['warning']} 件、情報 {c['info']} 件。"
          f"詳しくは「{RESULT_SHEET}」シートをご覧ください。")
    en = f"{c['error']} errors, {c['warning']} warnings, {c['info']} info. See the {RESULT_SHEET} sheet."
    return ja, en


def alert(book: xw.Book, report: Report, *, title_ja: str, title_en: str, extra_ja: str = "",
          extra_en: str = "") -> None:
    ja, en = summary(report)
    prompt = " ".join(filter(None, (ja, extra_ja))) + "\n\n" + " ".join(filter(None, (en, extra_en)))
    mode = "critical" if report.counts["error"] else "info"
    book.app.alert(prompt, title=f"{title_ja} {title_en}", buttons="ok", mode=mode, callback="")


def write_export(book: xw.Book, submission: dict[str, Any]) -> int:
    """Write the normalised JSON into the JSON出力 sheet, one line per row of column A; returns the lines."""
    if EXPORT_SHEET in _sheet_names(book):
        book.sheets[EXPORT_SHEET].delete()
    lines = json.dumps(submission, ensure_ascii=False, indent=1).splitlines()
    ws = book.sheets.add(EXPORT_SHEET, after=book.sheets[len(book.sheets) - 1])
    ws["A:A"].number_format = "@"      # text: a line such as ' true' must not become a boolean
    ws["A1"].value = safe([[line] for line in lines])
    ws["A:A"].column_width = 100 * _POINTS_PER_CHAR
    ws.activate()
    return len(lines)
