"""The findings sheet people read (検証結果): the same rows in the annotated copy and in the add-in, values
as people write them, the clause with the call's sentence, the amount involved, and a range finding
marked over its whole range in both."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.annotate import write_annotated
from pipeline.findings import Report
from pipeline.resources import samples_dir
from pipeline.result_sheet import AMOUNT_COLUMN, FILLS, HEADERS, RESULT_SHEET, finding_cells, result_rows
from pipeline.validate import validate_file

SAMPLES = sorted(samples_dir().glob("*.xlsx"))
_REPR = re.compile(r"[{}\[\]]|'verdict'|\bok\b|\bTrue\b|\bFalse\b|\bNone\b|\d\.0\b|\d{5,}(?![\d,])")


def rows_of(name: str) -> tuple[Report, list[list[Any]]]:
    report = validate_file(samples_dir() / f"{name}.xlsx", isolate=False)
    return report, result_rows(report)


def row_for(report: Report, rows: list[list[Any]], code: str) -> list[Any]:
    return next(r for f, r in zip(report.findings, rows, strict=True) if f.code == code)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_values_read_as_people_write_them(path: Path) -> None:
    report = validate_file(path, isolate=False)
    for f, row in zip(report.findings, result_rows(report), strict=True):
        assert len(row) == len(HEADERS)
        expected, actual = row[-2], row[-1]
        for text in (expected, actual):
            assert isinstance(text, str) and not _REPR.search(text), (f.code, text)
        amount = row[AMOUNT_COLUMN - 1]
        assert amount == "" or (isinstance(amount, int) and amount >= 0), (f.code, amount)
        clause = row[5]
        assert clause and "記入要領 記入要領" not in clause and "shinsei 様式" not in clause, clause
        if f.clause.get("quote"):
            assert f"「{f.clause['quote']}」" in clause


def test_money_days_people_and_labels() -> None:
    report, rows = rows_of("nexus-ytec-youth-2025__over-cap")
    row = row_for(report, rows, "budget.over-cap")
    assert row[6:] == [8_513_000, "7,700,000円", "8,513,000円"]
    assert "2.(1) 若手人材交流コース ※3" in row[5] and "「上記の1割を限度に" in row[5]
    report, rows = rows_of("nexus-ytec-youth-2025__visit-95-days")
    assert row_for(report, rows, "visit.days-exceeded")[6:] == ["", "90日", "95日"]
    report, rows = rows_of("nexus-ytec-instructor-2025__three-participants")
    assert row_for(report, rows, "participants.too-many")[6:] == ["", "2名", "3名"]
    report, rows = rows_of("nexus-ytec-instructor-2025__student-participant")
    row = row_for(report, rows, "participant.category-not-allowed")
    assert row[-1] == "大学院生 Graduate student" and "教員 Teaching staff" in row[-2]
    report, rows = rows_of("india-circulation-2025__military")
    assert row_for(report, rows, "invitee.military")[-2:] == ["いいえ No", "はい Yes"]
    report, rows = rows_of("india-circulation-2025__stay-rate-too-high")
    row = row_for(report, rows, "stay.rate-exceeded")
    assert row[6:] == [2_500_000, "200,000円", "250,000円"]      # the line's amount: 250,000円 x 10 months


def test_a_cost_lines_verdict_is_words_not_a_dict() -> None:
    report, rows = rows_of("nexus-ytec-youth-2025__sightseeing-and-souvenirs")
    row = row_for(report, rows, "cost.ineligible.sightseeing")
    assert row[6] == 60_000                                       # 15,000円 x 4 people
    assert row[7] == "対象 eligible"
    assert row[8].startswith("対象外 not eligible") and "観光" in row[8] and "「観光ツアー」" in row[8]


def test_a_form_rule_names_the_templates_own_instructions(base: Callable, check: Callable) -> None:
    data = base("nexus-ytec-youth-2025")
    del data["plan"]["title_ja"]
    report = check("nexus-ytec-youth-2025", data)
    rows = result_rows(report)
    clause = row_for(report, rows, "field.required")[5]
    assert "2025年度 NEXUS Y-tec 交流計画書・経費計画（若手人材交流コース）" in clause
    assert "nexus-ytec-youth-2025" in clause and "1.1" in clause and "Instructions of the template" in clause
    assert clause.count("記入要領") == 1


# ---- a range finding is marked over its whole range ----------------------------------------------

RANGE_SAMPLE = samples_dir() / "nexus-ytec-instructor-2025__three-participants.xlsx"


def test_a_range_finding_marks_its_whole_range_in_the_annotated_copy(tmp_path: Path) -> None:
    report = validate_file(RANGE_SAMPLE, isolate=False)
    f = next(f for f in report.findings if f.code == "participants.too-many")
    assert f.location.range == "A5:I7" and f.location.cell is None
    out = write_annotated(RANGE_SAMPLE, report, tmp_path / "annotated.xlsx", isolate=False)
    wb = openpyxl.load_workbook(out)
    ws = wb[f.location.sheet]
    cells = finding_cells(f)
    assert len(cells) == 27
    for ref in cells:
        assert ws[ref].fill.fgColor.rgb.endswith(FILLS["warning"]), ref
    assert not ws["A8"].fill.fgColor.rgb.endswith(FILLS["warning"])        # the next row is not marked
    assert ws["A5"].comment is not None and ws["B5"].comment is None       # commented once, at its start
    results = wb[RESULT_SHEET]
    link = next(r[2] for r in results.iter_rows(min_row=2) if r[1].value == "participants.too-many")
    assert link.hyperlink is not None and (link.hyperlink.target or "").endswith("Participants'!A5:I7")
    amount_cells = [r[AMOUNT_COLUMN - 1] for r in results.iter_rows(min_row=2)]
    assert all(c.number_format == '#,##0"円"' for c in amount_cells)


def test_a_range_finding_marks_its_whole_range_in_the_addin() -> None:
    import xlwings as xw
    import xlwings.server

    from addin import scripts
    from addin.officejs_payload import payload_from_file
    from tests.officejs_emulator import apply_actions

    payload = payload_from_file(RANGE_SAMPLE)
    book = xw.Book(json=copy.deepcopy(payload))
    book = asyncio.run(xlwings.server.custom_scripts_call(scripts, "validate", None, typehint_to_value={xw.Book: book}))
    fills: dict[tuple[str, str], str | None] = {}
    apply_actions(payload, book.json()["actions"], fills)
    report = validate_file(RANGE_SAMPLE, isolate=False)
    f = next(f for f in report.findings if f.code == "participants.too-many")
    for ref in finding_cells(f):
        assert fills[(f.location.sheet, ref)] == f"#{FILLS['warning']}", ref
    assert (f.location.sheet, "A8") not in fills


def test_the_printed_report_words_the_clause_as_the_findings_sheet_does() -> None:
    """``shinsei validate`` prints the call's quoted sentence, and names the template's instructions for the
    form's own rules (never "shinsei 様式 記入要領 記入要領 Instructions")."""
    import subprocess
    import sys

    from pipeline.resources import samples_dir

    cases = (("nexus-ytec-youth-2025__typed-as-text.xlsx", "の記入要領（交流計画 Planシート冒頭）"),
             ("nexus-ytec-youth-2025__over-cap.xlsx", "「上記の1割を限度に基本額を超えた申請を認めます。"))
    for sample, words in cases:
        res = subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", str(samples_dir() / sample)],
                             capture_output=True, text=True, timeout=120)
        assert words in res.stdout, sample
        assert "記入要領 記入要領" not in res.stdout
