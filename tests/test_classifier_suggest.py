"""Learning from finance's decisions (issue 15): a proposed lexicon patch, never applied automatically.

The test builds decided lines the way the review worklist records them, runs the suggestion, applies the
patch to the lexicons in memory and checks that it fixes those lines without changing the verdict of any
line of the labelled sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.eligibility import load_classifier
from pipeline.eligibility.classifier import Classifier
from pipeline.eligibility.lexicon import compile_data, lexicon_files
from pipeline.eligibility.scoring import read_corpus
from pipeline.eligibility.suggest import (
    apply_patch,
    candidate_words,
    default_guard,
    disagreements,
    suggest_from_rows,
)
from pipeline.normalise import NormaliseError, to_yen

YOUTH, INSTR, INDIA = "nexus-ytec-youth-2025", "nexus-ytec-instructor-2025", "india-circulation-2025"
DATA = Path(__file__).resolve().parent / "data" / "eligibility"
LABELLED = ("corpus.tsv", "holdout.tsv", "generated.tsv", "independent.tsv")

# (program, category, description, decision, comment): what finance decided
DECIDED = [
    (YOUTH, "IV Other", "Street food crawl in Bangkok", "disallow", "飲食を伴う観光的な行事のため対象外"),
    (YOUTH, "IV Other", "Street food crawl, Hanoi old quarter", "disallow", "同上"),
    (YOUTH, "IV Other", "Spa and massage for guests", "disallow", "レジャーのため対象外です"),
    (YOUTH, "IV Other", "Golf round with hosts", "disallow", "確認できません"),
    (YOUTH, "IV Other", "Sake brewing yeast for fermentation experiment", "approve", ""),
    (INSTR, "IV Other", "Party balloons for the open campus", "approve", ""),
    (INDIA, "I Stay", "Gym membership", "disallow", "日常生活に必要な経費ではありません"),
    (INDIA, "I Stay", "Yoga classes at a private studio", "disallow", "滞在費の対象外"),
    (YOUTH, "IV Other", "Meeting room (2 days)", "reduce", "1日分のみ"),
    (YOUTH, "IV Other", "Welcome dinner", "query", "参加者の内訳を示してください"),
    (YOUTH, "IV Other", "Kyoto sightseeing bus", "disallow", "観光"),          # already ng: they agree
    (YOUTH, "III Travel", "Round-trip airfare Manila-Narita", "approve", ""),   # already ok: they agree
]


def _rows() -> list[dict[str, Any]]:
    rows = []
    for program, category, description, decision, comment in DECIDED:
        r = load_classifier(program).classify(category=category, description=description, unit_price=5000)
        rows.append({"program": program, "category": category, "description": description, "unit_price": 5000,
                     "verdict": r.verdict, "reason": r.reason, "decision": decision, "comment": comment})
    return rows


def _price(text: str) -> int | None:
    try:
        return to_yen(text or None)
    except NormaliseError:
        return None


def _verdicts(classifiers: dict[str, Classifier], rows: list[dict[str, str]]) -> list[tuple[str, str | None]]:
    out = []
    for r in rows:
        res = classifiers[r["program"]].classify(category=r["category"], description=r["description"],
                                                 unit_price=_price(r["unit_price"]))
        out.append((res.verdict, res.reason))
    return out


@pytest.fixture(scope="module")
def patch_text() -> str:
    return suggest_from_rows(_rows())


def _patched(patch: str) -> dict[str, Classifier]:
    out = {}
    for program in (YOUTH, INSTR, INDIA):
        clf = load_classifier(program)
        data = yaml.safe_load(clf.lexicon.path.read_text(encoding="utf-8"))
        out[program] = Classifier(clf.pack_data, compile_data(apply_patch(data, patch), clf.lexicon.path))
    return out


def test_only_decisions_that_contradict_the_verdict_count() -> None:
    found = {(r["description"], r["kind"]) for r in disagreements(_rows())}
    assert ("Street food crawl in Bangkok", "missed") in found                   # disallowed, classifier: review
    assert ("Spa and massage for guests", "missed") in found                     # disallowed, classifier: ok
    assert ("Sake brewing yeast for fermentation experiment", "flagged") in found  # approved, classifier: ng
    descriptions = {d for d, _ in found}
    assert not descriptions & {"Meeting room (2 days)", "Welcome dinner", "Kyoto sightseeing bus",
                               "Round-trip airfare Manila-Narita"}


def test_the_patch_is_text_for_a_person_grouped_by_lexicon_and_word(patch_text: str) -> None:
    assert patch_text.startswith("# shinsei lexicon suggest")
    assert "自動では適用されません" in patch_text and "never applied automatically" in patch_text.lower()
    patch = yaml.safe_load(patch_text)
    assert set(patch) == {"nexus-ytec-2025", "india-circulation-2025"}
    nexus = patch["nexus-ytec-2025"]
    street = next(t for t in nexus["add_terms"] if "street food" in t["match"])
    assert street["reason"] == "social"                                  # the classifier's own doubt
    assert {b["description"] for b in street["because"]} == {"Street food crawl in Bangkok",
                                                             "Street food crawl, Hanoi old quarter"}
    spa = next(t for t in nexus["add_terms"] if any(b["description"].startswith("Spa") for b in t["because"]))
    assert spa["reason"] == "sightseeing"                                # named by the reviewer's comment
    assert {p for entry in nexus["add_legitimate"] for p in entry["match"]} >= {"sake brewing", "party balloons"}
    assert [u["description"] for u in nexus["unresolved"]] == ["Golf round with hosts"]
    assert "no reason" in nexus["unresolved"][0]["why"]
    india = patch["india-circulation-2025"]
    assert {t["reason"] for t in india["add_terms"]} == {"not_funded"}


def test_applying_the_patch_fixes_the_decided_lines(patch_text: str) -> None:
    classifiers = _patched(patch_text)
    for row in disagreements(_rows()):
        if row["description"] == "Golf round with hosts":
            continue                                                     # unresolved: nothing proposed
        res = classifiers[row["program"]].classify(category=row["category"], description=row["description"],
                                                   unit_price=row["unit_price"])
        if row["kind"] == "missed":
            assert res.verdict == "ng", (row["description"], res)
        else:
            assert res.verdict == "ok", (row["description"], res)


@pytest.mark.parametrize("name", LABELLED)
def test_applying_the_patch_changes_no_labelled_line(patch_text: str, name: str) -> None:
    rows = read_corpus(DATA / name)
    before = {p: load_classifier(p) for p in (YOUTH, INSTR, INDIA)}
    assert _verdicts(_patched(patch_text), rows) == _verdicts(before, rows)


def test_nothing_is_written(tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in lexicon_files()}
    suggest_from_rows(_rows(), guard=[])
    assert {p: p.read_bytes() for p in lexicon_files()} == before


def test_a_word_that_would_flag_a_corpus_line_is_not_proposed() -> None:
    """'tour' would fix the line, but the corpus has eligible tours (a lab tour): a longer word is proposed."""
    row = {"program": YOUTH, "category": "IV Other", "description": "Street food tour", "decision": "disallow",
           "comment": "飲食・観光"}
    res = load_classifier(YOUTH).classify(category=row["category"], description=row["description"])
    row.update(verdict=res.verdict, reason=res.reason)
    assert res.verdict != "ng"
    patch = yaml.safe_load(suggest_from_rows([row]))["nexus-ytec-2025"]
    proposed = [w for t in patch["add_terms"] for w in t["match"]]
    assert "tour" not in proposed and "street" not in proposed
    assert default_guard()                                               # the corpus guarded it


def test_candidate_words_are_the_lines_own_words() -> None:
    assert candidate_words("Street food crawl in Bangkok") == ["street food", "street", "food crawl", "food", "crawl",
                                                               "bangkok"]
    assert "屋台" in candidate_words("屋台めぐり 飲食代") and "in" not in candidate_words("Tour in Hanoi")


def test_suggest_from_rows_accepts_what_the_database_returns() -> None:
    """Rows are plain mappings; unknown programmes and empty input give an empty patch, not an error."""
    assert yaml.safe_load(suggest_from_rows([])) == {}
    odd = [{"program": "no-such-pack-2025", "description": "x", "verdict": "ok", "decision": "disallow"}]
    assert yaml.safe_load(suggest_from_rows(odd, guard=[])) == {}
