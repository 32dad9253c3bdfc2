"""Every India circulation rule: a workbook that breaks it and one at the limit that does not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import assert_rule, codes, only

INDIA = "india-circulation-2025"
PEOPLE = "招へい者 Invitees"
STAYS = "滞在 Stays"
BUDGET = "経費 Budget"
TAX = "消費税相当額 Tax"


def line(data: dict[str, Any], sub: str) -> dict[str, Any]:
    return next(b for b in data["budget"] if str(b.get("subcategory", "")).startswith(sub))


def only_stay(data: dict[str, Any], start: dt.date) -> None:
    """The invitee's only stay starts on ``start`` (the other stays of the invitee removed)."""
    data["visits"] = [v for v in data["visits"] if v["participant_no"] != 1]
    data["visits"].insert(0, {"participant_no": 1, "start": start, "end": start + dt.timedelta(days=100)})


def test_clean_sample_has_no_errors(check: Callable, base: Callable) -> None:
    report = check(INDIA, base(INDIA))
    assert codes(report, "error") == [], [(f.code, f.message_en) for f in report.findings]
    assert codes(report, "warning") == []


CASES: list[tuple[str, Callable, Callable | None, str, str, str | None, str]] = [
    ("invitee.count",
     lambda d: d["participants"].append({**d["participants"][0], "no": 3, "name": "Second Invitee"}),
     None, "error", PEOPLE, None, "1.5(1)"),
    ("invitee.count", lambda d: d["participants"][0].update(role="インド側実施主担当者 Indian PI"), None,
     "error", PEOPLE, None, "1.5(1)"),
    ("invitee.too-old",   # 「原則40歳以下」: a principle, so a warning
     lambda d: d["participants"][0].update(birth_date=dt.date(1984, 11, 30)),     # 41 on 2025-11-30
     lambda d: d["participants"][0].update(birth_date=dt.date(1984, 12, 1)),      # 40 on 2025-11-30
     "warning", PEOPLE, "G", "1.4(1)"),
    ("invitee.too-old",   # 12 months of childcare leave: 41 is the limit, 42 is not
     lambda d: d["participants"][0].update(birth_date=dt.date(1983, 11, 30), leave_months=12),
     lambda d: d["participants"][0].update(birth_date=dt.date(1984, 11, 30), leave_months=12),
     "warning", PEOPLE, "G", "1.4(1)"),
    ("invitee.category-not-allowed", lambda d: d["participants"][0].update(category="修士課程学生 Master's student"),
     lambda d: d["participants"][0].update(category="ポストドクター Postdoc"), "error", PEOPLE, "F", "1.4(1)"),
    ("invitee.country-not-india", lambda d: d["participants"][0].update(country="Bangladesh"), None,
     "error", PEOPLE, "D", "1.4(1)"),
    ("invitee.military", lambda d: d["participants"][0].update(military="はい Yes"), None,
     "error", PEOPLE, "I", "1.4(1)"),
    ("stay.total-too-long",   # 6 + 6.03 months
     lambda d: d["visits"][1].update(start=dt.date(2026, 8, 1), end=dt.date(2027, 2, 1)),
     lambda d: d["visits"][1].update(start=dt.date(2026, 8, 1), end=dt.date(2027, 1, 31)),
     "error", STAYS, "C", "1.4(2)"),
    # 「原則、90日以上となるよう研究計画を立案ください」: a principle, so a warning below 85 days too
    ("visit.too-short", lambda d: d["visits"][1].update(end=dt.date(2026, 12, 23)),   # 84 days
     lambda d: d["visits"][1].update(end=dt.date(2026, 12, 24)), "warning", STAYS, "D", "1.4(2)"),  # 85: tolerated
    ("visit.slightly-short", lambda d: d["visits"][1].update(end=dt.date(2026, 12, 28)),   # 89 days
     lambda d: d["visits"][1].update(end=dt.date(2026, 12, 29)), "warning", STAYS, "D", "1.4(2)"),
    # 3.1: the first stay starts within 実施時期 (the agreement, early January 2026, to the end of FY2026)
    ("visit.first-start-out-of-window",
     lambda d: d["visits"][0].update(start=dt.date(2025, 12, 31)),
     lambda d: d["visits"][0].update(start=dt.date(2026, 1, 1)),
     "error", STAYS, "B", "3.1"),
    ("visit.first-start-out-of-window", lambda d: only_stay(d, dt.date(2027, 4, 1)),
     lambda d: only_stay(d, dt.date(2027, 3, 31)), "error", STAYS, "B", "3.1"),
    # 1.4(2) 「招へい開始日は、原則、本年度内」: after FY2025 is a warning, not an error
    ("visit.first-start-after-this-year",
     lambda d: d["visits"][0].update(start=dt.date(2026, 4, 1), end=dt.date(2026, 9, 30)),
     lambda d: d["visits"][0].update(start=dt.date(2026, 3, 31), end=dt.date(2026, 9, 30)),
     "warning", STAYS, "B", "1.4(2)"),
    ("visit.end-too-late", lambda d: d["visits"][1].update(end=dt.date(2027, 4, 1)),
     lambda d: d["visits"][1].update(end=dt.date(2027, 3, 31)), "error", STAYS, "C", "1.4(2)"),
    ("pi.stay-too-long", lambda d: d["visits"][2].update(end=dt.date(2026, 7, 1)),
     lambda d: d["visits"][2].update(end=dt.date(2026, 6, 30)), "error", STAYS, "C", "2.1(2)"),
    ("stay.rate-exceeded", lambda d: line(d, "招へい者").update(unit_price=200_001),
     None, "error", BUDGET, "D", "2.1(2)"),
    ("pi.rate-exceeded", lambda d: line(d, "インド側").update(unit_price=413_001), None,
     "error", BUDGET, "D", "2.1(2)"),
    ("stay.months-exceed-stays", lambda d: line(d, "招へい者").update(quantity=11), None,
     "error", BUDGET, "E", "2.1(2)"),
    ("stay.months-exceed-stays", lambda d: line(d, "インド側").update(quantity=2), None,
     "error", BUDGET, "E", "2.1(2)"),
    ("overhead.too-high", lambda d: d["totals"].update(overhead=75_007),
     lambda d: d["totals"].update(overhead=75_006), "error", BUDGET, "C", "別添 1.①"),
    ("budget.category-not-allowed", lambda d: d["budget"].append(
        {"category": "謝金", "description": "講演謝金", "unit_price": 10000, "quantity": 1}), None,
     "error", BUDGET, "A", "別添 1.①"),
    ("cost.before-agreement", lambda d: line(d, "招へい者").update(date=dt.date(2025, 12, 20)),
     lambda d: line(d, "招へい者").update(date=dt.date(2026, 1, 1)), "error", BUDGET, "J", "別添 2.⑤"),
    ("tax.equivalent-mismatch", lambda d: d["tax_items"][0].update(tax_equivalent=10_000), None,
     "error", TAX, "F", "別添 3.IV"),
    ("tax.total-mismatch", lambda d: line(d, "消費税").update(unit_price=2_000), None,
     "error", BUDGET, "G", "別添 3.IV"),
    ("budget.amount-mismatch", lambda d: d["budget"][0].update(amount=2_000_001), None,
     "error", BUDGET, "G", "別添 2.⑥"),
    ("field.required", lambda d: d["plan"].pop("india_pi_name"), None, "error", "申請書 Plan", "C", "記入要領"),
    ("visit.unknown-participant", lambda d: d["visits"][0].update(participant_no=7), None,
     "error", STAYS, "A", "記入要領"),
]


@pytest.mark.parametrize(("code", "breaks", "at_limit", "severity", "sheet", "column", "clause"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule(check: Callable, base: Callable, code: str, breaks: Callable, at_limit: Callable | None,
              severity: str, sheet: str, column: str | None, clause: str) -> None:
    assert_rule(check, base, INDIA, code, breaks, at_limit, severity, sheet, column, clause, "2025年度 インド")


def test_included_tax_is_reported_as_info(check: Callable, base: Callable) -> None:
    report = check(INDIA, base(INDIA))
    f = only(report, "tax.included")[0]
    total = report.submission["totals"]["total"]
    assert f.severity == "info"
    assert f.actual == total * 10 // 110
    assert f"{total:,}" in f.message_ja


# The schedule of the FY2026 tax reform (令和8年度税制改正), at each of its boundary dates:
# 80 % to 2026-09-30, 70 % to 2028-09-30, 50 % to 2030-09-30, 30 % to 2031-09-30, nothing after.
SCHEDULE = [
    (dt.date(2026, 9, 30), 0.8, 2_200),     # the call's worked example (令和5年10月1日時点)
    (dt.date(2026, 10, 1), 0.7, 3_300),     # 10,000 x 0.3 x 1.1
    (dt.date(2028, 9, 30), 0.7, 3_300),
    (dt.date(2028, 10, 1), 0.5, 5_500),
    (dt.date(2030, 9, 30), 0.5, 5_500),
    (dt.date(2030, 10, 1), 0.3, 7_700),
    (dt.date(2031, 9, 30), 0.3, 7_700),
    (dt.date(2031, 10, 1), 0.0, 11_000),    # the transitional measure has ended
]


@pytest.mark.parametrize(("when", "share", "expected"), SCHEDULE, ids=[w.isoformat() for w, _, _ in SCHEDULE])
def test_transitional_deduction_by_transaction_date(check: Callable, base: Callable, when: dt.date, share: float,
                                                    expected: int) -> None:
    data = base(INDIA)
    data["tax_items"][0].update(transaction_amount=110_000, transaction_date=when)
    line(data, "消費税").update(unit_price=expected)
    report = check(INDIA, data)
    item = report.submission["tax_items"][0]
    assert item["deduction_rate"] == share
    assert item["tax_equivalent"] == expected
    assert "tax.total-mismatch" not in codes(report)
    assert "tax.equivalent-mismatch" not in codes(report)


def test_schedule_is_pack_data_with_its_sources() -> None:
    from pipeline.formulas import deductible_share
    from pipeline.packs import load_pack

    pack = load_pack(INDIA)
    bands = pack.money["tax_equivalent"]["transitional_deduction"]["bands"]
    for when, share, _ in SCHEDULE:
        assert deductible_share(bands, when.isoformat()) == share
    sources = {b["source"] for b in bands}
    assert sources == {"tax_transitional", "tax_reform_2026"}
    assert "令和5年10月1日時点" in pack.clause("tax_transitional")["quote"]
    assert "令和8年度税制改正" in pack.clause("tax_reform_2026")["document"]
    notes = pack.money["tax_equivalent"]["transitional_deduction"]["notes"]
    assert any("1億円" in n["ja"] and "100 million" in n["en"] for n in notes)   # the per-supplier cap, noted


def test_tax_finding_names_the_rate_and_its_source(check: Callable, base: Callable) -> None:
    """110,000 yen on 2026-11-01 from a non-registered supplier: 3,300 yen, not the 5,500 of the old 50 % step."""
    data = base(INDIA)
    data["tax_items"][0].update(transaction_amount=110_000, transaction_date=dt.date(2026, 11, 1),
                                tax_equivalent=5_500)
    line(data, "消費税").update(unit_price=3_300)
    report = check(INDIA, data)
    f = only(report, "tax.equivalent-mismatch")[0]
    assert f.expected == 3_300 and f.actual == 5_500
    assert "70%" in f.message_ja and "2026-10-01" in f.message_ja and "2028-09-30" in f.message_ja
    assert "令和8年度税制改正" in f.message_ja
    assert "70%" in f.message_en and "FY2026 tax reform" in f.message_en
    data["tax_items"][0].update(transaction_date=dt.date(2026, 9, 30), tax_equivalent=5_500)
    line(data, "消費税").update(unit_price=2_200)
    f = only(check(INDIA, data), "tax.equivalent-mismatch")[0]
    assert "80%" in f.message_ja and "募集要項" in f.message_ja   # the call's own band cites the call


def test_first_stay_window_is_the_call_table_not_this_year(check: Callable, base: Callable) -> None:
    """A first stay in FY2026 is within 3.1's window (no error), only against 1.4(2)'s 原則 (a warning)."""
    data = base(INDIA)
    data["visits"][0].update(start=dt.date(2026, 6, 1), end=dt.date(2026, 9, 29))     # 4 months, not 6
    line(data, "招へい者").update(quantity=8)
    line(data, "海外").update(quantity=8)
    data["totals"]["overhead"] = 62_496                                                  # 3 % of the direct costs
    report = check(INDIA, data)
    assert "visit.first-start-out-of-window" not in codes(report)
    assert only(report, "visit.first-start-after-this-year")[0].severity == "warning"
    assert codes(report, "error") == []
