"""One typed-over amount, one finding: the totals that follow from it are not three more errors.

A workbook saved by Excel caches what its formulas computed from the cells as they are. When an
applicant types over one line's amount, the template's total, overhead-rate and grand-total formulas
are right given the amounts column: the line is the root (an error), the totals follow (one info).
A total typed over itself is an error of its own. Rates show as percentages, money with separators.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.formulas import amount
from pipeline.normalise import to_yen
from pipeline.validate import validate_file
from tests.conftest import codes, only
from tests.test_roundtrip_libreoffice import typed_as_excel_stores

YOUTH, INDIA = "nexus-ytec-youth-2025", "india-circulation-2025"
BUDGET = "経費 Budget"
RAW_FLOAT = re.compile(r"\d\.\d{5,}")


def as_excel_computes(pack: str, data: dict[str, Any], typed: dict[int, int] | None = None) -> dict[str, Any]:
    """``data`` with the amounts and totals Excel caches: each line's formula result (or the amount typed
    over it, ``typed`` by line), and the totals computed from those cells."""
    data = typed_as_excel_stores(pack, data)
    amounts = []
    for i, line in enumerate(data["budget"]):
        value = (typed or {}).get(i, amount(to_yen(line["unit_price"]), line["quantity"]))
        line["amount"] = value
        amounts.append(value)
    direct = sum(amounts)
    overhead = to_yen(data["totals"]["overhead"])
    data["totals"].update(direct_total=direct, overhead_rate=float(Fraction(overhead, direct)),
                          total=direct + overhead)
    if pack == INDIA:
        data["totals"]["included_tax"] = (direct + overhead) * 10 // 110
    return data


@pytest.mark.parametrize("pack", [YOUTH, INDIA])
def test_a_typed_over_amount_is_one_error_and_the_totals_follow(check: Callable, base: Callable, pack: str) -> None:
    data = base(pack)
    right = amount(to_yen(data["budget"][0]["unit_price"]), data["budget"][0]["quantity"])
    report = check(pack, as_excel_computes(pack, data, typed={0: right + 1_000}))
    assert codes(report, "error") == ["budget.amount-mismatch"], [(f.code, f.message_en) for f in report.findings]
    root = only(report, "budget.amount-mismatch")[0]
    assert root.location.sheet == BUDGET and root.location.cell.startswith("G")
    follow = only(report, "budget.totals-follow")
    assert len(follow) == 1 and follow[0].severity == "info"
    assert f"{BUDGET}!{root.location.cell}" in follow[0].message_ja
    assert "直接経費 合計" in follow[0].message_ja and "Total JST support" in follow[0].message_en
    assert "budget.total-mismatch" not in codes(report)
    for f in report.findings:
        assert not RAW_FLOAT.search(f.message_ja + f.message_en), f.message_en


@pytest.mark.parametrize("pack", [YOUTH, INDIA])
def test_at_the_limit_the_amount_as_computed_gives_nothing(check: Callable, base: Callable, pack: str) -> None:
    data = base(pack)
    right = amount(to_yen(data["budget"][0]["unit_price"]), data["budget"][0]["quantity"])
    report = check(pack, as_excel_computes(pack, data, typed={0: right}))
    assert not {"budget.amount-mismatch", "budget.totals-follow", "budget.total-mismatch"} & set(codes(report))
    assert codes(report, "error") == []


def test_a_total_typed_over_is_its_own_error_with_separators(check: Callable, base: Callable) -> None:
    data = as_excel_computes(YOUTH, base(YOUTH))
    data["totals"]["total"] += 1
    report = check(YOUTH, data)
    f = only(report, "budget.total-mismatch")
    assert len(f) == 1 and f[0].severity == "error" and f[0].location.cell == "C9"
    total = report.submission["totals"]["total"]
    assert f"{total + 1:,}円" in f[0].message_ja and f"{total:,} yen" in f[0].message_en
    assert "budget.totals-follow" not in codes(report)


def test_a_rate_typed_over_shows_as_a_percentage(check: Callable, base: Callable) -> None:
    data = as_excel_computes(YOUTH, base(YOUTH))
    data["totals"]["overhead_rate"] = 0.0998415213946117
    report = check(YOUTH, data)
    f = only(report, "budget.total-mismatch")[0]
    rate = report.submission["totals"]["overhead_rate"]
    assert "9.98%" in f.message_ja and f"{round(rate * 100, 2):g}%" in f.message_en
    assert not RAW_FLOAT.search(f.message_ja + f.message_en)
    assert f.actual == "9.98%"


def test_a_total_that_follows_a_total_typed_over(check: Callable, base: Callable) -> None:
    """The direct total typed over: it is the root; the rate and the grand total computed from it follow."""
    data = as_excel_computes(YOUTH, base(YOUTH))
    direct = data["totals"]["direct_total"] + 5_000
    overhead = to_yen(data["totals"]["overhead"])
    data["totals"].update(direct_total=direct, overhead_rate=overhead / direct, total=direct + overhead)
    report = check(YOUTH, data)
    mismatches = only(report, "budget.total-mismatch")
    assert [f.location.cell for f in mismatches] == ["C6"]        # the direct total only
    follow = only(report, "budget.totals-follow")[0]
    assert f"{BUDGET}!C6" in follow.message_ja and "JST支援金 総額" in follow.message_ja


def test_excel_like_roundtrip_one_typed_over_amount(base: Callable, make_workbook: Callable,
                                                   libreoffice: Callable[[Path], Path]) -> None:
    """After a real spreadsheet application computed the template's formulas: one error, one info."""
    data = typed_as_excel_stores(YOUTH, base(YOUTH))
    data["budget"][1]["amount"] = 1
    report = validate_file(libreoffice(make_workbook(YOUTH, data)), isolate=False)
    assert codes(report, "error") == ["budget.amount-mismatch"]
    assert codes(report, "info") == ["budget.totals-follow"]


def test_text_typed_numbers_are_one_warning_each_not_formula_errors(base: Callable, make_workbook: Callable,
                                                                  libreoffice: Callable[[Path], Path]) -> None:
    """"200,000円" typed as text: the engine reads it; the sheet's amount and totals show #VALUE!. The text
    cell is the root (a warning on it), not four formula errors."""
    data = base(INDIA)   # its first unit price, transaction amount and date typed as text (pasted):
    data["budget"][0]["unit_price"] = "200,000円"
    data["tax_items"][0].update(transaction_amount="110,000", transaction_date="令和8年5月10日")
    report = validate_file(libreoffice(make_workbook(INDIA, data)), isolate=False)
    assert codes(report, "error") == []
    warned = {f.location.cell for f in only(report, "input.typed-as-text")}
    assert "D13" in warned            # 単価 200,000円
    assert "input.formula-error" not in codes(report)


@settings(max_examples=500, deadline=None)
@given(total=st.integers(0, 10**13), ratio=st.one_of(st.floats(0, 3, allow_nan=False), st.integers(0, 3),
                                                     st.sampled_from([0.1, 0.3, 0.8, 1.1, 0.15])))
def test_a_ratio_of_whole_yen_is_floored_exactly(total: int, ratio: float) -> None:
    """ratio_floor in integers is the Fraction formula it replaced, for every amount and rate."""
    from pipeline.formulas import _to_fraction, ratio_floor

    assert ratio_floor(total, ratio) == math.floor(Fraction(total) * _to_fraction(ratio))


@settings(max_examples=500, deadline=None)
@example(allowed=32092035539, direct=44300735412, overhead=64633963676, cap=None)  # floats lose the last yen here
@given(allowed=st.integers(-10**3, 10**12), direct=st.integers(-10**3, 10**12), overhead=st.integers(0, 10**11),
       cap=st.one_of(st.none(), st.sampled_from([0.1, 0.3, 0.15])))
def test_the_overhead_on_what_is_allowed_is_floored_exactly(allowed: int, direct: int, overhead: int,
                                                            cap: float | None) -> None:
    from pipeline.finance.totals import overhead_on
    from pipeline.formulas import _to_fraction

    expected = 0
    if direct > 0 and allowed > 0:
        expected = int(Fraction(overhead) * allowed // direct)
        if cap is not None:
            expected = min(expected, math.floor(Fraction(allowed) * _to_fraction(cap)))
    assert overhead_on(allowed, direct, overhead, cap) == expected
