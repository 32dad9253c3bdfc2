"""Ineligible cost lines reach `shinsei validate` as findings from the classifier, with their clause."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import codes

YOUTH = "nexus-ytec-youth-2025"
INDIA = "india-circulation-2025"

LINES = [
    (YOUTH, {"category": "III 旅費", "description": "招へい者の京都市内観光", "unit_price": 20000, "quantity": 3},
     "sightseeing", "2.(2)"),
    (YOUTH, {"category": "IV その他", "description": "茶道体験（文化体験）参加費", "unit_price": 5000, "quantity": 8},
     "cultural", "2.(2)"),
    (YOUTH, {"category": "IV その他", "description": "科学館 見学料", "unit_price": 1200, "quantity": 10},
     "admission", "2.(2)"),
    (YOUTH, {"category": "IV その他", "description": "参加者親睦会 会費", "unit_price": 6000, "quantity": 12},
     "social", "2.(2)"),
    (YOUTH, {"category": "I 物品費", "description": "参加者への記念品", "unit_price": 2500, "quantity": 12},
     "souvenir", "2.(2)"),
    (YOUTH, {"category": "I 物品費", "description": "高速液体クロマトグラフ", "unit_price": 250000, "quantity": 1},
     "equipment", "I. 物品費"),
    (INDIA, {"category": "I 滞在費", "description": "アパート入居時の敷金", "unit_price": 120000, "quantity": 1},
     "deposit", "別添 3.I.②"),
    (INDIA, {"category": "旅費", "description": "往復航空券 デリー－成田", "unit_price": 130000, "quantity": 1},
     "travel", "別添 1.①"),
]


@pytest.mark.parametrize(("pack", "line", "reason", "section"), LINES, ids=[f"{p}:{r}" for p, _, r, _ in LINES])
def test_ineligible_line_is_an_error_with_its_clause(check: Callable, base: Callable, pack: str, line: dict,
                                                     reason: str, section: str) -> None:
    data = base(pack)
    data["budget"].append(line)
    report = check(pack, data)
    code = f"cost.ineligible.{reason.replace('_', '-')}"
    found = [f for f in report.findings if f.code == code]
    assert found, f"{code} missing: {codes(report)}"
    f = found[0]
    assert f.severity == "error"
    assert f.location.sheet == "経費 Budget" and f.location.cell.startswith("C")
    assert f.location.row == report.submission["source"]["tables"]["budget"]["rows"][-1]
    assert section in f.clause["section"]
    assert f.message_ja and f.message_en
    assert isinstance(f.actual, dict) and f.actual["verdict"] == "ng"


def test_legitimate_lines_in_clean_samples_are_not_flagged(check: Callable, base: Callable) -> None:
    for pack in (YOUTH, "nexus-ytec-instructor-2025", INDIA):
        report = check(pack, base(pack))
        assert not [c for c in codes(report) if c.startswith("cost.")], codes(report)


def test_airfare_is_eligible_under_nexus_but_not_india(check: Callable, base: Callable) -> None:
    line = {"category": "III 旅費", "description": "往復航空券", "unit_price": 90000, "quantity": 1}
    data = base(YOUTH)
    data["budget"].append(dict(line))
    assert "cost.ineligible.travel" not in codes(check(YOUTH, data))
    data = base(INDIA)
    data["budget"].append(dict(line, category="II その他"))
    assert "cost.ineligible.travel" in codes(check(INDIA, data))
