"""Score the classifier on a labelled corpus: the figures finance needs before trusting it.

A corpus is TSV (UTF-8) with the columns program, category, description, unit_price, quantity,
verdict, reason. The acceptance figures (tests/test_eligibility.py) are computed here:
- ng recall: lines labelled ng that come out ng with the labelled reason;
- false-flag rate: lines labelled ok that come out ng;
- review rate: lines whose answer is clear (labelled ok or ng) that come out review.
Per reason: precision and recall of ng flags, and how many labelled lines were at least caught
(ng or review with the right reason).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.eligibility.classifier import load_classifier
from pipeline.normalise import NormaliseError, to_number, to_yen

COLUMNS = ("program", "category", "description", "unit_price", "quantity", "verdict", "reason")


@dataclass
class Score:
    lines: int = 0
    ng_lines: int = 0
    ng_right: int = 0                    # labelled ng, classified ng with the labelled reason
    ok_lines: int = 0
    ok_flagged_ng: int = 0
    ok_sent_to_review: int = 0
    clear_lines: int = 0                 # labelled ok or ng
    clear_sent_to_review: int = 0
    review_lines: int = 0
    review_not_ok: int = 0               # labelled review, classified review or ng (a person will look)
    per_reason: dict[str, Counter[str]] = field(default_factory=dict)  # tp, fp, fn, caught, labelled
    mistakes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ng_recall(self) -> float:
        return self.ng_right / self.ng_lines if self.ng_lines else 1.0

    @property
    def false_flag_rate(self) -> float:
        return self.ok_flagged_ng / self.ok_lines if self.ok_lines else 0.0

    @property
    def review_rate(self) -> float:
        return self.clear_sent_to_review / self.clear_lines if self.clear_lines else 0.0

    def reason_figures(self, reason: str) -> tuple[float, float]:
        """(precision, recall) of ng flags for one reason."""
        c = self.per_reason.get(reason, Counter())
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
        return precision, recall

    def report(self) -> str:
        lines = [
            f"lines {self.lines} (ng {self.ng_lines}, ok {self.ok_lines}, review {self.review_lines})",
            f"  ng recall, right reason        {self.ng_recall:7.1%}  ({self.ng_right}/{self.ng_lines})"
            "  target >= 95%",
            f"  eligible lines flagged ng      {self.false_flag_rate:7.1%}"
            f"  ({self.ok_flagged_ng}/{self.ok_lines})  target <= 2%",
            f"  clear lines sent to review     {self.review_rate:7.1%}"
            f"  ({self.clear_sent_to_review}/{self.clear_lines})  target <= 10%",
            f"  eligible lines sent to review  {self.ok_sent_to_review / max(self.ok_lines, 1):7.1%}"
            f"  ({self.ok_sent_to_review}/{self.ok_lines})",
            f"  review lines a person will see {self.review_not_ok / max(self.review_lines, 1):7.1%}"
            f"  ({self.review_not_ok}/{self.review_lines})",
            f"  {'reason':14} {'precision':>9} {'recall':>7} {'caught':>7} {'tp':>4} {'fp':>4} {'fn':>4}",
        ]
        for reason in sorted(self.per_reason):
            c = self.per_reason[reason]
            p, r = self.reason_figures(reason)
            caught = c["caught"] / c["labelled"] if c["labelled"] else 1.0
            lines.append(f"  {reason:14} {p:9.1%} {r:7.1%} {caught:7.1%} {c['tp']:4} {c['fp']:4} {c['fn']:4}")
        return "\n".join(lines)


def read_corpus(path: str | Path) -> list[dict[str, str]]:
    """The rows of a labelled corpus file (missing cells as empty strings)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            lacking = ", ".join(missing)
            raise ValueError(f"{path}: 見出しに {lacking} がありません / the header lacks {lacking}")
        return [{k: (row.get(k) or "").strip() for k in COLUMNS} for row in reader]


def _number(text: str, convert: Any) -> Any:
    try:
        return convert(text or None)
    except NormaliseError:
        return None


def score(rows: list[dict[str, str]]) -> Score:
    """Classify every row and count the figures against its label."""
    s = Score()
    for row in rows:
        res = load_classifier(row["program"]).classify(
            category=row["category"], description=row["description"],
            unit_price=_number(row["unit_price"], to_yen), quantity=_number(row["quantity"], to_number))
        want_v, want_r = row["verdict"], row["reason"] or None
        s.lines += 1
        if want_v == "ng":
            s.ng_lines += 1
            s.ng_right += res.verdict == "ng" and res.reason == want_r
        elif want_v == "ok":
            s.ok_lines += 1
            s.ok_flagged_ng += res.verdict == "ng"
            s.ok_sent_to_review += res.verdict == "review"
        else:
            s.review_lines += 1
            s.review_not_ok += res.verdict != "ok"
        if want_v in ("ok", "ng"):
            s.clear_lines += 1
            s.clear_sent_to_review += res.verdict == "review"
        if want_r:
            c = s.per_reason.setdefault(want_r, Counter())
            c["labelled"] += 1
            c["caught"] += res.verdict != "ok" and res.reason == want_r
            if want_v == "ng":
                c["tp" if res.verdict == "ng" and res.reason == want_r else "fn"] += 1
        if res.verdict == "ng" and res.reason and not (want_v == "ng" and want_r == res.reason):
            s.per_reason.setdefault(res.reason, Counter())["fp"] += 1
        if (res.verdict, res.reason) != (want_v, want_r):
            s.mistakes.append({**row, "got_verdict": res.verdict, "got_reason": res.reason,
                               "matched": res.matched})
    return s
