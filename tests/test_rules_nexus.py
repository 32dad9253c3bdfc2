"""Every NEXUS Y-tec rule: a workbook that breaks it and one at the limit that does not.

Workbooks are written by the project's own templates; each finding's code, severity,
location (sheet and cell) and clause are asserted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import assert_rule, codes, only

YOUTH = "nexus-ytec-youth-2025"
INSTR = "nexus-ytec-instructor-2025"
PLAN = "交流計画 Plan"
PEOPLE = "参加者 Participants"
VISITS = "渡航 Visits"
BUDGET = "経費 Budget"


def add_people(data: dict[str, Any], n: int) -> None:
    template = data["participants"][0]
    start = max(p["no"] for p in data["participants"]) + 1
    for i in range(n):
        data["participants"].append({**template, "no": start + i, "name": f"Person {start + i}"})


def set_budget_total(data: dict[str, Any], direct: int, overhead: int) -> None:
    """Replace the budget by one line of ``direct`` yen, and set the overhead."""
    data["budget"] = [{"category": "III 旅費", "subcategory": "参加者旅費", "description": "招へい者往復航空券",
                       "unit_price": direct, "quantity": 1, "unit": "式", "fiscal_year": 2026}]
    data["totals"] = {"overhead": overhead}


def test_clean_samples_have_no_errors(check: Callable, base: Callable) -> None:
    for pack in (YOUTH, INSTR):
        report = check(pack, base(pack))
        assert codes(report, "error") == [], [(f.code, f.message_en) for f in report.findings]


# (rule code, pack, breaking change, change at the limit (must not fire), severity, sheet, cell column or None, clause)
CASES: list[tuple[str, str, Callable, Callable | None, str, str, str | None, str]] = [
    ("participants.too-many", YOUTH, lambda d: add_people(d, 8), lambda d: add_people(d, 7),
     "error", PEOPLE, None, "2.(1)"),
    ("participants.too-many", INSTR, lambda d: add_people(d, 1), None, "warning", PEOPLE, None, "2.(2)"),
    ("participant.too-old", YOUTH,
     lambda d: d["participants"][0].update(birth_date=dt.date(1985, 1, 14)),   # 41 on 2026-01-15
     lambda d: d["participants"][0].update(birth_date=dt.date(1985, 1, 16)),   # still 40 on 2026-01-15
     "warning", PEOPLE, "H", "1.(5)"),
    ("participant.category-not-allowed", INSTR,
     lambda d: d["participants"][1].update(category="大学院生 Graduate student"),
     lambda d: d["participants"][1].update(category="民間企業研究開発従事者 Corporate R&D staff"),
     "error", PEOPLE, "G", "1.(5)"),
    ("participant.role-not-allowed", INSTR, lambda d: d["participants"][1].update(role="引率者 Leader"),
     None, "error", PEOPLE, "C", "1.(5)"),
    ("visit.days-exceeded", YOUTH, lambda d: d["visits"][1].update(end=dt.date(2026, 9, 17)),   # 45 + 46 = 91
     lambda d: d["visits"][1].update(end=dt.date(2026, 9, 16)),                                 # 45 + 45 = 90
     "error", VISITS, "D", "2.(1)"),
    ("period.start-out-of-window", YOUTH, lambda d: d["plan"].update(period_start=dt.date(2026, 4, 1)),
     lambda d: d["plan"].update(period_start=dt.date(2026, 1, 1)), "error", PLAN, "C", "※1"),
    ("period.end-too-late", YOUTH, lambda d: d["plan"].update(period_end=dt.date(2027, 1, 1)),
     lambda d: d["plan"].update(period_end=dt.date(2026, 12, 31)), "error", PLAN, "C", "※1"),
    ("period.too-long", YOUTH,
     lambda d: d["plan"].update(period_start=dt.date(2025, 12, 20), period_end=dt.date(2026, 12, 20)),
     lambda d: d["plan"].update(period_start=dt.date(2025, 12, 21), period_end=dt.date(2026, 12, 20)),
     "error", PLAN, "C", "2.(1)"),
    ("visit.outside-period", YOUTH, lambda d: d["visits"][0].update(start=dt.date(2026, 1, 10)), None,
     "error", VISITS, None, "2.(1)"),
    ("country.not-allowed", YOUTH,
     lambda d: d["counterparts"].append({"institution": "Seoul National University", "country": "韓国 Korea"}),
     lambda d: d["counterparts"].append({"institution": "Institut Teknologi Bandung", "country": "Indonesia"}),
     "error", PLAN, "B", "1.(2)"),
    ("country.not-allowed", YOUTH, lambda d: d["participants"][0].update(country="India"), None,
     "error", PEOPLE, "E", "1.(2)"),
    ("partners.too-many-funded", YOUTH,
     lambda d: d["partners"].append({"institution": "西都大学", "jst_funds": "はい Yes"}),
     lambda d: d["partners"].append({"institution": "西都大学", "jst_funds": "いいえ No"}),
     "warning", PLAN, None, "1.(6)"),
    ("budget.over-cap", YOUTH, lambda d: set_budget_total(d, 7_000_001, 700_000),
     lambda d: (set_budget_total(d, 7_000_000, 700_000), d["plan"].update(over_base_reason="必要なため")),
     "error", BUDGET, "C", "※3"),
    ("budget.over-cap", INSTR, lambda d: set_budget_total(d, 3_000_001, 300_000), None,
     "error", BUDGET, "C", "※3"),
    ("budget.over-base-without-reason", YOUTH, lambda d: set_budget_total(d, 6_400_000, 640_000),
     lambda d: set_budget_total(d, 6_400_000, 600_000), "error", PLAN, "C", "※3"),
    ("budget.over-base-with-reason", YOUTH,
     lambda d: (set_budget_total(d, 6_400_000, 640_000), d["plan"].update(over_base_reason="受入人数増のため")),
     None, "info", BUDGET, "C", "※3"),
    ("overhead.too-high", YOUTH, lambda d: set_budget_total(d, 1_000_005, 100_001),
     lambda d: set_budget_total(d, 1_000_005, 100_000), "error", BUDGET, "C", "一般管理費"),
    ("budget.category-not-allowed", YOUTH,
     lambda d: d["budget"].append({"category": "設備備品費", "description": "分光器", "unit_price": 10000,
                                   "quantity": 1}), None, "error", BUDGET, "A", "2.(2)"),
    ("budget.amount-mismatch", YOUTH, lambda d: d["budget"][0].update(amount=1), None,
     "error", BUDGET, "G", "4.(2)"),
    ("visit.unknown-participant", YOUTH, lambda d: d["visits"][0].update(participant_no=99), None,
     "error", VISITS, "A", "記入要領"),
    ("visit.end-before-start", YOUTH, lambda d: d["visits"][0].update(end=dt.date(2026, 2, 1)), None,
     "error", VISITS, "C", "記入要領"),
    ("period.end-before-start", YOUTH, lambda d: d["plan"].update(period_end=dt.date(2026, 1, 10)), None,
     "error", PLAN, "C", "記入要領"),
    ("field.required", YOUTH, lambda d: d["plan"].pop("title_en"), None, "error", PLAN, "C", "記入要領"),
    ("field.required", YOUTH, lambda d: d["budget"][0].pop("description"), None, "error", BUDGET, "C", "記入要領"),
    ("budget.empty", YOUTH, lambda d: d.update(budget=[]), None, "error", BUDGET, None, "2.(2)"),
    ("participants.none", YOUTH, lambda d: (d.update(participants=[], visits=[])), None,
     "error", PEOPLE, None, "2.(1)"),
    ("budget.fiscal-year-out-of-period", YOUTH, lambda d: d["budget"][0].update(fiscal_year=2027),
     lambda d: d["budget"][0].update(fiscal_year=2025), "warning", BUDGET, "H", "※1"),
]


@pytest.mark.parametrize(("code", "pack", "breaks", "at_limit", "severity", "sheet", "column", "clause"),
                         CASES, ids=[f"{c[0]}-{c[1].split('-')[2]}-{i}" for i, c in enumerate(CASES)])
def test_rule(check: Callable, base: Callable, code: str, pack: str, breaks: Callable, at_limit: Callable | None,
              severity: str, sheet: str, column: str | None, clause: str) -> None:
    assert_rule(check, base, pack, code, breaks, at_limit, severity, sheet, column, clause, "2025年度 NEXUS")


def test_leader_exempt_from_age(check: Callable, base: Callable) -> None:
    data = base(YOUTH)
    leader = next(p for p in data["participants"] if p["role"].startswith("引率者"))
    leader["birth_date"] = dt.date(1950, 1, 1)
    assert "participant.too-old" not in codes(check(YOUTH, data))


def test_instructor_course_has_no_age_limit(check: Callable, base: Callable) -> None:
    data = base(INSTR)
    data["participants"][0]["birth_date"] = dt.date(1950, 1, 1)
    assert codes(check(INSTR, data), "error") == []


def test_over_cap_message_names_the_numbers(check: Callable, base: Callable) -> None:
    data = base(YOUTH)
    set_budget_total(data, 7_100_000, 700_000)
    f = only(check(YOUTH, data), "budget.over-cap")[0]
    assert "7,800,000" in f.message_ja and "7,700,000" in f.message_ja and "7,000,000" in f.message_en
    assert f.expected == 7_700_000 and f.actual == 7_800_000
