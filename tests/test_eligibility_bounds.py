"""The classifier's work is linear in a line's length and bounded: a 32,767-character cell (Excel's
limit) costs what its first CLASSIFY_MAX_CHARS characters cost, and the verdict says so (issue #10).

Work is asserted by counting it (profiler events, characters handed to the matcher), never by a clock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pipeline.eligibility import classifier as classifier_module
from pipeline.eligibility import load_classifier
from pipeline.eligibility.classifier import Classifier, _Hit
from pipeline.eligibility.lexicon import Entry
from pipeline.settings import CLASSIFY_MAX_CHARS
from tests.conftest import codes, python_calls

YOUTH, INDIA = "nexus-ytec-youth-2025", "india-circulation-2025"
CELL_MAX = 32_767          # characters Excel allows in a cell
LIMIT = f"{CLASSIFY_MAX_CHARS:,}"


def _cell(unit: str, length: int = CELL_MAX) -> str:
    return (unit * (length // len(unit) + 1))[:length]


@contextmanager
def longest_text_matched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The lengths of every text the classifier normalises or maps back (its whole per-character work)."""
    seen: list[int] = []

    def spy(fn: Callable[[str], Any]) -> Callable[[str], Any]:
        def wrapped(text: str) -> Any:
            seen.append(len(text))
            return fn(text)
        return wrapped

    for name in ("nfkc", "fold_map", "word_spans"):
        monkeypatch.setattr(classifier_module, name, spy(getattr(classifier_module, name)))
    yield seen




# ---- the root cause: hiding hits inside longer hits compared every pair -------------------------

def _pairwise_visible(hits: list[_Hit]) -> list[_Hit]:
    """The definition (what the classifier did before, in quadratic time)."""
    return [h for h in hits if not any(o is not h and o.english == h.english and o.start <= h.start
                                       and h.end <= o.end and (o.end - o.start) > (h.end - h.start)
                                       for o in hits)]


def test_visible_hits_are_the_pairwise_definition() -> None:
    entry = Entry("x", "x", 0, (("sightseeing", 7),), None)
    rnd = random.Random(10)
    for _ in range(500):
        hits = []
        for _ in range(rnd.randint(0, 30)):
            start = rnd.randint(0, 25)
            hits.append(_Hit(entry, False, start, start + rnd.randint(1, 6)))
        assert Classifier._visible(hits) == _pairwise_visible(hits)


def test_classifier_work_grows_linearly_with_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four times the text (each 観光 a hit) is about four times the calls; pairwise hiding made it sixteen."""
    clf = load_classifier(YOUTH)
    monkeypatch.setattr(clf, "max_chars", 10**6)   # the bound off: the algorithm itself must be linear

    def work(n: int) -> int:
        return python_calls(lambda: clf.classify(category="IV その他", description="観光" * n, unit_price=1000))

    small, large = work(1000), work(4000)
    assert large <= 5 * small, (small, large)


# ---- the bound, and the note that says so -----------------------------------------------------

def test_only_the_first_characters_are_matched(monkeypatch: pytest.MonkeyPatch) -> None:
    clf = load_classifier(YOUTH)
    with longest_text_matched(monkeypatch) as seen:
        r = clf.classify(category=_cell("旅費"), description=_cell("観光 tour "), unit_price=5000)
    assert seen and max(seen) <= CLASSIFY_MAX_CHARS
    assert r.verdict == "ng" and r.reason == "sightseeing" and r.judged_chars == CLASSIFY_MAX_CHARS
    assert len(r.matched or "") <= 101


def test_long_ineligible_line_keeps_its_verdict_and_says_what_was_judged() -> None:
    r = load_classifier(YOUTH).classify(category="IV その他", description=_cell("市内観光ツアー "), unit_price=5000)
    assert (r.verdict, r.reason) == ("ng", "sightseeing")
    assert f"{CELL_MAX:,} 文字" in r.message_ja and f"先頭の {LIMIT} 文字のみ" in r.message_ja
    assert f"{CELL_MAX:,} characters" in r.message_en and f"only the first {LIMIT} were judged" in r.message_en
    assert r.message_ja.startswith("「市内観光") and "2.(2)" in r.message_ja   # the verdict's own message first
    assert r.to_dict()["judged_chars"] == CLASSIFY_MAX_CHARS


def test_long_line_clean_in_its_judged_part_goes_to_review() -> None:
    """What lies past the bound is unread: such a line is never passed as ok (a person reads the rest)."""
    text = _cell("会議資料印刷 ", CLASSIFY_MAX_CHARS + 10) + " 観光ツアー"
    r = load_classifier(YOUTH).classify(category="IV その他", description=text, unit_price=5000)
    assert r.verdict == "review" and r.reason is None and r.judged_chars == CLASSIFY_MAX_CHARS
    assert f"先頭の {LIMIT} 文字のみ" in r.message_ja and f"only the first {LIMIT}" in r.message_en


def test_a_line_at_the_bound_is_judged_whole() -> None:
    clf = load_classifier(YOUTH)
    r = clf.classify(category="IV その他", description=_cell("会議資料印刷 ", CLASSIFY_MAX_CHARS), unit_price=5000)
    assert r.verdict == "ok" and r.judged_chars is None
    assert set(r.to_dict()) == {"verdict", "reason", "clause", "message_ja", "message_en", "matched"}


def test_long_category_cells_are_not_remembered() -> None:
    clf = load_classifier(INDIA)
    before = len(clf._cat_memo)
    for i in range(50):
        clf.category_code(f"{i} " + _cell("旅費"))
    assert len(clf._cat_memo) == before


# ---- the workbook of the issue: 100 budget lines of 32,767 characters -----------------------------

def test_hundred_full_cells_validate_with_the_note_on_every_line(check: Callable, base: Callable,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data = base(YOUTH)
    units = ["市内観光ツアー ", "会議資料印刷 ", "welcome party ", "研究打合せ"]
    first = len(data["budget"])
    data["budget"] += [{"category": "IV その他", "description": _cell(units[i % 4]), "unit_price": 5000,
                        "quantity": 1} for i in range(100)]
    with longest_text_matched(monkeypatch) as seen:
        started = time.perf_counter()
        report = check(YOUTH, data)
        took = time.perf_counter() - started
    print(f"\n100 budget lines of {CELL_MAX:,} characters validated in {took:.2f} s")
    assert max(seen) <= CLASSIFY_MAX_CHARS
    by_line = {int(f.location.path.split("/")[2]): f for f in report.findings if f.code.startswith("cost.")}
    assert sorted(by_line) == list(range(first, first + 100)), codes(report)
    for i, f in by_line.items():
        assert f"先頭の {LIMIT} 文字のみ" in f.message_ja and f"only the first {LIMIT}" in f.message_en, f.message_en
        assert f.location.sheet == "経費 Budget" and f.location.cell.startswith("C")
        want = {0: "cost.ineligible.sightseeing", 2: "cost.ineligible.social"}.get((i - first) % 4)
        assert f.code == want if want else f.code.startswith("cost.review."), (i, f.code)
