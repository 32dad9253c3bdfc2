"""What the 検証結果 (results) sheet shows and which cells get which fill.

One definition for both writers: the annotated copy (openpyxl, ``shinsei validate
--annotate``) and the add-in's Validate button (xlwings actions), so the two show the same.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.cellsafe import neutralise
from pipeline.findings import Finding, Report
from pipeline.report_text import SEVERITY_LABEL, clause_text

RESULT_SHEET = "検証結果"
FILLS = {"error": "FFC7CE", "warning": "FFEB9C", "info": "DDEBF7"}   # Excel's bad / neutral / note colours
HEADERS = ["重要度 Severity", "コード Code", "場所 Location", "メッセージ（日本語）", "Message (English)",
           "根拠 Clause", "期待値 Expected", "実際 Actual"]
# Characters, per column of HEADERS. Printed one page wide on A4 landscape, 192 characters print at
# ~80 % (about 9 pt); the former 262 printed at ~55 %, too small to read. Long text wraps.
WIDTHS = (12, 26, 18, 40, 40, 32, 12, 12)
_ORDER = {"error": 0, "warning": 1, "info": 2}
MAX_RANGE_CELLS = 1000
_CELL = re.compile(r"\$?([A-Z]{1,3})\$?([1-9][0-9]{0,6})")


def finding_cells(f: Finding) -> list[str]:
    """The cells a finding points at: its cell, or every cell of its range (the top-left one first).

    A whole range is marked (a budget row is A5:I5, not only A5). A range of more than
    MAX_RANGE_CELLS cells (no finding of ours spans one) is marked by its top-left cell only.
    """
    if f.location.cell:
        return [f.location.cell]
    if not f.location.range:
        return []
    ends = [_CELL.fullmatch(end) for end in f.location.range.split(":")]
    if not ends[0]:                     # a whole column or row ("A:C"): no cell to point at
        return []
    if len(ends) != 2 or not ends[1]:
        return [ends[0].group(1) + ends[0].group(2)]
    (c1, r1), (c2, r2) = ((_column(m.group(1)), int(m.group(2))) for m in ends)
    c1, c2, r1, r2 = min(c1, c2), max(c1, c2), min(r1, r2), max(r1, r2)
    if (c2 - c1 + 1) * (r2 - r1 + 1) > MAX_RANGE_CELLS:
        return [_letters(c1) + str(r1)]
    letters = [_letters(c) for c in range(c1, c2 + 1)]
    return [f"{letter}{row}" for row in range(r1, r2 + 1) for letter in letters]


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _letters(column: int) -> str:
    out = ""
    while column:
        column, rest = divmod(column - 1, 26)
        out = chr(65 + rest) + out
    return out


def worse(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if _ORDER[a] <= _ORDER[b] else b


def worst_by_cell(report: Report, sheets: list[str]) -> dict[tuple[str, str], str]:
    """(sheet, cell) -> the most severe severity among the findings on that cell."""
    worst: dict[tuple[str, str], str] = {}
    known = set(sheets)
    for f in report.findings:
        if not f.location.sheet or f.location.sheet not in known:
            continue
        for cell in finding_cells(f):
            key = (f.location.sheet, cell)
            worst[key] = worse(worst[key], f.severity) if key in worst else f.severity
    return worst


def _plain(value: object) -> object:
    """A value as a cell shows it: a mapping (the classifier's verdict) as "verdict: ng, reason: …", not a repr."""
    if value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list | tuple):
        return ", ".join(str(_plain(v)) for v in value)
    return str(value)


def result_row(f: Finding) -> list[Any]:
    """One finding as a row under HEADERS; text is neutralised against formula injection."""
    where = str(f.location) or (f.location.path or "")
    return [SEVERITY_LABEL[f.severity], f.code, neutralise(where), neutralise(f.message_ja),
            neutralise(f.message_en), neutralise(clause_text(f.clause)),
            neutralise(_plain(f.expected)), neutralise(_plain(f.actual))]
