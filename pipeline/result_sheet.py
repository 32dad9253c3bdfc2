"""What the 検証結果 (results) sheet shows and which cells get which fill.

One definition for both writers: the annotated copy (openpyxl, ``shinsei validate
--annotate``) and the add-in's Validate button (xlwings actions), so the two show the same.
"""

from __future__ import annotations

from typing import Any

from pipeline.cellsafe import neutralise
from pipeline.findings import Finding, Report
from pipeline.report_text import SEVERITY_LABEL, clause_text

RESULT_SHEET = "検証結果"
FILLS = {"error": "FFC7CE", "warning": "FFEB9C", "info": "DDEBF7"}   # Excel's bad / neutral / note colours
HEADERS = ["重要度 Severity", "コード Code", "場所 Location", "メッセージ（日本語）", "Message (English)",
           "根拠 Clause", "期待値 Expected", "実際 Actual"]
WIDTHS = (14, 30, 26, 60, 60, 40, 16, 16)   # characters, per column of HEADERS
_ORDER = {"error": 0, "warning": 1, "info": 2}


def finding_cells(f: Finding) -> list[str]:
    """The cell a finding points at (a row range points at its first cell)."""
    if f.location.cell:
        return [f.location.cell]
    if f.location.range:
        return [f.location.range.split(":")[0]]
    return []


def worst_by_cell(report: Report, sheets: list[str]) -> dict[tuple[str, str], str]:
    """(sheet, cell) -> the most severe severity among the findings on that cell."""
    worst: dict[tuple[str, str], str] = {}
    for f in report.findings:
        if not f.location.sheet or f.location.sheet not in sheets:
            continue
        for cell in finding_cells(f):
            key = (f.location.sheet, cell)
            if key not in worst or _ORDER[f.severity] < _ORDER[worst[key]]:
                worst[key] = f.severity
    return worst


def _plain(value: object) -> object:
    if value is None or isinstance(value, int | float | str):
        return value
    return str(value)


def result_row(f: Finding) -> list[Any]:
    """One finding as a row under HEADERS; text is neutralised against formula injection."""
    where = str(f.location) or (f.location.path or "")
    return [SEVERITY_LABEL[f.severity], f.code, neutralise(where), neutralise(f.message_ja),
            neutralise(f.message_en), neutralise(clause_text(f.clause)),
            neutralise(_plain(f.expected)), neutralise(_plain(f.actual))]
