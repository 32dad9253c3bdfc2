"""Impossible amounts are located errors, never a silent 0; fiscal years are read as people write them.

Every number the rules use has a plausible range in the form; a value outside it, a cell showing an
error value (#NAME?, #REF!) where a number belongs, or a defined name that no longer points at its
cell is an error finding with its cell. Each at and across its limit.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.normalise import NormaliseError, to_fiscal_year
from pipeline.packs import load_pack
from pipeline.validate import validate_file
from tests.conftest import PACKS, codes, only
from tests.hostile_workbooks import set_cell_xml

YOUTH, INDIA = "nexus-ytec-youth-2025", "india-circulation-2025"
BUDGET = "経費 Budget"


def out_of_range(report, column: str | None = None) -> list[str]:
    return [f.location.cell for f in only(report, "input.out-of-range")
            if column is None or (f.location.cell or "").startswith(column)]


# ---- plausible ranges, per field ------------------------------------------------------------------

def test_every_number_of_the_forms_has_a_range() -> None:
    for pack_id in PACKS:
        pack = load_pack(pack_id)
        specs = [*pack.fields.values(), *(c for t in pack.form["tables"] for c in t["columns"])]
        for spec in specs:
            if spec["type"] in ("yen", "int", "number", "fiscal_year") and not spec.get("formula"):
                assert "range" in spec, f"{pack_id}: {spec['key']} has no range"


@pytest.mark.parametrize(("change", "cells"), [
    (lambda d: d["budget"][0].update(unit_price=-98_000, quantity=-3), ["D", "E"]),   # -98,000 x -3: not +294,000
    (lambda d: d["budget"][0].update(unit_price=-1), ["D"]),
    (lambda d: d["budget"][0].update(quantity=0.009), ["E"]),
    (lambda d: d["budget"][0].update(quantity=1e-300), ["E"]),
    (lambda d: d["budget"][0].update(unit_price="9" * 4000), ["D"]),
    (lambda d: d["budget"][0].update(fiscal_year=2101), ["H"]),
])
def test_impossible_amounts_are_errors_on_their_cells(check: Callable, base: Callable, change: Callable,
                                                      cells: list[str]) -> None:
    data = base(YOUTH)
    change(data)
    report = check(YOUTH, data)
    assert not report.valid
    for column in cells:
        assert out_of_range(report, column), f"{column}: {codes(report)}"
    line = report.submission["budget"][0]
    assert line["amount"] is None or line["amount"] >= 0


@pytest.mark.parametrize("change", [
    lambda d: d["budget"][0].update(unit_price=0),
    lambda d: d["budget"][0].update(quantity=0.01),
    lambda d: d["budget"][0].update(fiscal_year=2100),
    lambda d: d["totals"].update(overhead=0),
])
def test_at_the_limits_nothing_is_out_of_range(check: Callable, base: Callable, change: Callable) -> None:
    data = base(YOUTH)
    change(data)
    assert "input.out-of-range" not in codes(check(YOUTH, data))


@pytest.mark.parametrize(("overhead", "valid"), [(-1, False), (0, True)])
def test_a_negative_overhead_is_not_read_as_zero(check: Callable, base: Callable, overhead: int,
                                                 valid: bool) -> None:
    """The overhead read as 0 made one workbook VALID; a negative one is an error on its cell."""
    data = base(INDIA)
    data["totals"]["overhead"] = overhead
    report = check(INDIA, data)
    assert report.valid is valid
    assert bool(out_of_range(report, "C")) is not valid


@pytest.mark.parametrize(("months", "flagged"), [(120, False), (121, True), (-1, True)])
def test_leave_months_have_a_range(check: Callable, base: Callable, months: int, flagged: bool) -> None:
    data = base(INDIA)
    data["participants"][0]["leave_months"] = months
    assert bool(out_of_range(check(INDIA, data), "H")) is flagged


# ---- error values where a number belongs -----------------------------------------------------------

def _cell(path: Path, column_header: str, table: str = "tblBudget") -> tuple[str, str]:
    import openpyxl

    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        if table in ws.tables:
            first = ws[ws.tables[table].ref.split(":")[0]]
            for cell in ws[first.row]:
                if isinstance(cell.value, str) and cell.value.startswith(column_header):
                    return ws.title, f"{cell.column_letter}{first.row + 1}"
    raise AssertionError(column_header)


def _named_cell(path: Path, name: str) -> tuple[str, str]:
    import openpyxl

    sheet, ref = next(iter(openpyxl.load_workbook(path).defined_names[name].destinations))
    return sheet, ref.replace("$", "")


@pytest.mark.parametrize("error", ["#NAME?", "#REF!"])
def test_an_error_value_in_a_number_cell_is_an_error_not_a_zero(make_workbook: Callable, base: Callable,
                                                                error: str) -> None:
    path = make_workbook(YOUTH, base(YOUTH))
    sheet, cell = _cell(path, "単価")
    set_cell_xml(path, sheet, cell, f'<c r="{cell}" t="e"><f>FOO()</f><v>{error}</v></c>')
    report = validate_file(path, isolate=False)
    f = [f for f in only(report, "input.formula-error") if f.location.cell == cell]
    assert f and f[0].severity == "error" and error in f[0].message_ja
    assert not report.valid


@pytest.mark.parametrize("error", ["#NAME?", "#REF!"])
def test_a_broken_formula_where_the_engine_computes_a_number(make_workbook: Callable, base: Callable,
                                                             error: str) -> None:
    """The amount's formula shows #REF! although its price and quantity are fine: the sheet is broken."""
    data = base(YOUTH)
    data["budget"][0].update(unit_price=98_000)
    path = make_workbook(YOUTH, data)
    sheet, cell = _cell(path, "金額")
    set_cell_xml(path, sheet, cell, f'<c r="{cell}" t="e"><f>#REF!*2</f><v>{error}</v></c>')
    report = validate_file(path, isolate=False)
    f = [f for f in only(report, "input.formula-error") if f.location.cell == cell]
    assert f and f[0].expected == 294_000 and f[0].actual == error
    assert report.submission["budget"][0]["amount"] == 294_000


def test_a_total_showing_an_error_is_a_finding(make_workbook: Callable, base: Callable) -> None:
    path = make_workbook(YOUTH, base(YOUTH))
    sheet, cell = _named_cell(path, "budget_direct_total")
    set_cell_xml(path, sheet, cell, f'<c r="{cell}" t="e"><f>SUM(#REF!)</f><v>#REF!</v></c>')
    report = validate_file(path, isolate=False)
    f = only(report, "input.formula-error")
    assert [x.location.cell for x in f] == [cell] and f[0].expected == report.submission["totals"]["direct_total"]


def _set_name(path: Path, name: str, target: str) -> None:
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    xml = parts["xl/workbook.xml"].decode()
    xml, n = re.subn(rf'(<definedName name="{name}"[^>]*>)[^<]*(</definedName>)',
                     lambda m: m.group(1) + target + m.group(2), xml)
    assert n == 1
    parts["xl/workbook.xml"] = xml.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in parts.items():
            zf.writestr(member, data)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("target", ["#REF!", "'交流計画 Plan'!$C$8"])
def test_a_broken_defined_name_is_an_error_not_a_zero(make_workbook: Callable, base: Callable, target: str) -> None:
    """budget_overhead no longer points at its cell (deleted, or moved to another sheet): not 0, an error."""
    path = make_workbook(YOUTH, base(YOUTH))
    _set_name(path, "budget_overhead", target)
    report = validate_file(path, isolate=False)
    f = only(report, "input.broken-name")
    assert len(f) == 1 and f[0].severity == "error" and f[0].location.sheet == BUDGET
    assert "budget_overhead" in f[0].message_ja and "一般管理費" in f[0].message_ja
    assert not report.valid


# ---- fiscal years as people write them -------------------------------------------------------------

@pytest.mark.parametrize("typed", ["2026", 2026, "2026年度", "２０２６年度", "令和8年度", "令和８年度", "R8", "r8",
                                   "R8年度", "FY2026", "2026年"])
def test_fiscal_years_as_people_write_them(check: Callable, base: Callable, typed: object) -> None:
    data = base(YOUTH)
    data["budget"][0]["fiscal_year"] = typed
    report = check(YOUTH, data)
    assert report.submission["budget"][0]["fiscal_year"] == 2026
    assert not [f for f in report.findings if f.code.startswith("input.")], codes(report)


@pytest.mark.parametrize("typed", ["来年度", "2026/27", "令和", "2026年度分"])
def test_what_is_not_a_year_is_refused(check: Callable, base: Callable, typed: str) -> None:
    data = base(YOUTH)
    data["budget"][0]["fiscal_year"] = typed
    f = only(check(YOUTH, data), "input.invalid-fiscal-year")
    assert f and f[0].location.cell.startswith("H") and typed in f[0].message_ja


@pytest.mark.parametrize(("text", "year"), [("令和元年度", 2019), ("平成30年度", 2018), ("H30", 2018),
                                            ("fy 2026", 2026), (" 2026 年度 ", 2026), (2026.0, 2026)])
def test_to_fiscal_year(text: object, year: int) -> None:
    assert to_fiscal_year(text) == year


@pytest.mark.parametrize("text", ["令和0年度", "年度", "R", True, 2026.5, "abc"])
def test_to_fiscal_year_refuses(text: object) -> None:
    with pytest.raises(NormaliseError):
        to_fiscal_year(text)
