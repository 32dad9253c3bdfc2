"""Write an annotated copy of a workbook: offending cells filled and commented, plus a 検証結果 sheet.

The original file is never touched. openpyxl's full model is needed here (styles, comments,
data validation), which costs ~45 ms; it is only paid when a user asks for the copy.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import quote_sheetname
from openpyxl.workbook.workbook import Workbook

from pipeline.findings import Report
from pipeline.report_text import clause_text
from pipeline.result_sheet import FILLS, HEADERS, RESULT_SHEET, WIDTHS, finding_cells, result_row, worst_by_cell


def annotate_workbook(wb: Workbook, report: Report) -> None:
    """Fill, comment and list the findings of ``report`` in an open workbook."""
    worst = worst_by_cell(report, wb.sheetnames)
    notes: dict[tuple[str, str], list[str]] = {}
    for f in report.findings:
        for cell in finding_cells(f):
            if (f.location.sheet, cell) in worst:
                notes.setdefault((f.location.sheet, cell), []).append(
                    f"[{f.severity}] {f.code}\n{f.message_ja}\n{f.message_en}")
    for (sheet, cell), severity in worst.items():
        c = wb[sheet][cell]
        c.fill = PatternFill("solid", fgColor=FILLS[severity])
        c.comment = Comment("\n\n".join(notes[(sheet, cell)])[:30000], "shinsei", width=360, height=200)
    if RESULT_SHEET in wb.sheetnames:
        del wb[RESULT_SHEET]
    ws = wb.create_sheet(RESULT_SHEET, 0)
    ws.append(HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for f in report.findings:
        ws.append(result_row(f))
        row = ws.max_row
        ws.cell(row=row, column=1).fill = PatternFill("solid", fgColor=FILLS[f.severity])
        targets = finding_cells(f)
        if f.location.sheet and targets and f.location.sheet in wb.sheetnames:
            link = ws.cell(row=row, column=3)
            link.hyperlink = f"#{quote_sheetname(f.location.sheet)}!{targets[0]}"
            link.font = Font(color="0563C1", underline="single")
        for col in (4, 5, 6):
            ws.cell(row=row, column=col).alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[row].height = 15 * max(_lines(f.message_ja, 60), _lines(f.message_en, 60),
                                                 _lines(clause_text(f.clause), 40))
    for col, width in zip("ABCDEFGH", WIDTHS, strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:H{max(ws.max_row, 1)}"
    ws.page_setup.orientation = "landscape"          # printed: one page wide, as many pages down as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    wb.active = 0


def _lines(text: str, width: int) -> int:
    """Wrapped line count of ``text`` in a column ``width`` characters wide (CJK characters count two)."""
    cells = sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
    return max(1, -(-cells // width))


def write_annotated(source: str | Path, report: Report, out: str | Path) -> Path:
    """Save an annotated copy of ``source`` at ``out`` (atomically; never over the source)."""
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise ValueError("注釈付きの写しを元のファイルに上書きすることはできません / "
                         "the annotated copy must not overwrite the original file")
    keep_vba = source.suffix.lower() == ".xlsm"
    wb = load_workbook(source, keep_vba=keep_vba)
    annotate_workbook(wb, report)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=out.suffix, delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        wb.save(tmp_path)
        shutil.move(tmp_path, out)
    finally:
        tmp_path.unlink(missing_ok=True)
    return out
