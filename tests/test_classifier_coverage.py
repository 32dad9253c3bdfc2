"""India funds stays, insurance and the consumption-tax equivalent only (issue 13, item 7).

別添 1.①: 「I. 滞在費 … II. その他：消費税相当額」. Any other cost line is `not_funded` (ng), a line under
I 滞在費 that names nothing of daily life goes to a person, and a line without a description is `review`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.eligibility import load_classifier
from tests.conftest import codes

INDIA, YOUTH = "india-circulation-2025", "nexus-ytec-youth-2025"


def judge(description: str | None, category: str | None = "II その他", unit_price: int | None = 10_000,
          pack: str = INDIA) -> tuple[str, str | None]:
    r = load_classifier(pack).classify(category=category, description=description, unit_price=unit_price)
    return r.verdict, r.reason


@pytest.mark.parametrize("category", ["II その他", "I 滞在費", None])
@pytest.mark.parametrize("text", ["講師謝金", "会議室使用料", "Honorarium for the guest lecture", "Meeting room rental",
                                  "通訳料", "郵送料（書類）", "ﾂｳﾔｸﾘｮｳ", "こうししゃきん", "Printing of posters"])
def test_costs_the_call_does_not_fund_are_ng(text: str, category: str | None) -> None:
    assert judge(text, category) == ("ng", "not_funded")


def test_the_issue_lines() -> None:
    """The three lines of issue 13 item 7, as `shinsei classify --program india-circulation-2025` sees them."""
    assert judge("講師謝金") == ("ng", "not_funded")
    assert judge("会議室使用料") == ("ng", "not_funded")
    assert judge("") == ("review", "not_funded")
    assert judge(None, "I 滞在費") == ("review", "not_funded")
    assert judge("   ", None, 200_000) == ("review", "not_funded")


def test_a_blank_line_is_nothing_to_judge() -> None:
    assert judge(None, None, None) == ("ok", None)
    assert judge("", "", None) == ("ok", None)


@pytest.mark.parametrize(("text", "category"), [
    ("招へい者滞在費（月額）", "I 滞在費"), ("海外旅行傷害保険（月額）", "I 滞在費"),
    ("インド側実施主担当者 滞在費", "I 滞在費"), ("不課税取引等に係る消費税相当額", "II その他"),
    ("消費税相当額", "II その他"),
    ("Consumption tax equivalent", "II Other"), ("家賃", "I 滞在費"), ("Rent", "I Stay"), ("Groceries", "I Stay"),
    ("Mobile phone plan", "I Stay"), ("ｱﾊﾟｰﾄ家賃", "I 滞在費"), ("やちん", "I 滞在費"), ("ほけんりょう", "I 滞在費"),
    ("Internet at the residence", "I Stay"),
])
def test_what_the_call_funds_is_ok(text: str, category: str) -> None:
    assert judge(text, category) == ("ok", None)


def test_a_stay_line_naming_nothing_of_daily_life_goes_to_a_person() -> None:
    """Under I 滞在費 the line may still be daily life (the call lists examples: 住居費、食費、保険等)."""
    assert judge("Gym membership", "I 滞在費") == ("review", "not_funded")
    r = load_classifier(INDIA).classify(category="I 滞在費", description="Gym membership", unit_price=5000)
    assert r.matched == "Gym membership" and "確認" in r.message_ja and "check" in r.message_en
    assert judge("Gym membership", "II その他") == ("ng", "not_funded")      # その他 is the tax equivalent only


def test_a_more_specific_reason_comes_before_not_funded() -> None:
    assert judge("往復航空券 デリー－東京", "I 滞在費") == ("ng", "travel")
    assert judge("試薬", "I 滞在費") == ("ng", "research")
    r = load_classifier(INDIA).classify(category="I 滞在費", description="通訳料 / 試薬", unit_price=1000)
    assert (r.verdict, r.reason, r.also) == ("ng", "research", ("not_funded",))
    assert judge("通勤定期", "I 滞在費") == ("review", "travel")          # a doubt keeps its own reason


def test_the_empty_line_message_says_what_to_do_in_both_languages() -> None:
    r = load_classifier(INDIA).classify(category="I 滞在費", description="", unit_price=200_000)
    assert r.verdict == "review" and r.reason == "not_funded" and r.matched is None
    assert "空欄" in r.message_ja and "記入" in r.message_ja
    assert "empty" in r.message_en and "describe" in r.message_en
    assert r.clause["section"] == load_classifier(INDIA).pack_data["clauses"]["costs"]["section"]


def test_nexus_funds_these_costs() -> None:
    """The rule is the India lexicon's coverage, not code: NEXUS pays honoraria and meeting rooms."""
    assert judge("講師謝金", "II 謝金", pack=YOUTH) == ("ok", None)
    assert judge("会議室使用料", "IV その他", pack=YOUTH) == ("ok", None)
    assert judge("", "IV その他", pack=YOUTH) == ("ok", None)


def test_not_funded_reaches_validate_as_findings(check: Callable, base: Callable) -> None:
    data = base(INDIA)
    data["budget"].append({"category": "II その他", "description": "講師謝金", "unit_price": 30000, "quantity": 1})
    data["budget"].append({"category": "I 滞在費", "description": "", "unit_price": 5000, "quantity": 1})
    report = check(INDIA, data)
    ng = [f for f in report.findings if f.code == "cost.ineligible.not-funded"]
    doubt = [f for f in report.findings if f.code == "cost.review.not-funded"]
    assert len(ng) == 1 and ng[0].severity == "error" and "別添 1.①" in ng[0].clause["section"], codes(report)
    assert len(doubt) == 1 and doubt[0].severity == "warning", codes(report)
    assert "講師謝金" in ng[0].message_ja and "JST" in ng[0].message_en
