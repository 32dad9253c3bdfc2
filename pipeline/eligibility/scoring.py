"""Score the classifier on a labelled corpus: the figures finance needs to trust it.

A corpus is TSV with columns program, category, description, unit_price, quantity, verdict, reason.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.eligibility import load_classifier
from pipeline.normalise import to_number, to_yen


@dataclass
class Score:
    lines: int = 0
    ng_lines: int = 0
    ng_right: int = 0                       # labelled ng, predicted ng with the right reason
    ok_lines: int = 0
    ok_flagged_ng: int = 0
    clear_lines: int = 0                    # labelled ok or ng
    clear_sent_to_review: int = 0
    per_reason: dict[str, Counter[str]] = field(default_factory=dict)   # reason -> tp, fp, fn
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

    def report(self) -> str:
        lines = [f"lines {self.lines}: ng recall (right reason) {self.ng_recall:.1%}, "
                 f"eligible lines flagged ng {self.false_flag_rate:.1%}, "
                 f"clear lines sent to review {self.review_rate:.1%}",
                 f"{'reason':14} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}"]
        for reason, c in sorted(self.per_reason.items()):
            p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
            r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
            lines.append(f"{reason:14} {p:9.1%} {r:7.1%} {c['tp']:4} {c['fp']:4} {c['fn']:4}")
        return "\n".join(lines)


def read_corpus(path: str | Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh, delimiter="\t")]


def score(rows: list[dict[str, str]]) -> Score:
    s = Score()
    for row in rows:
        clf = load_classifier(row["program"])
        res = clf.classify(category=row["category"], description=row["description"],
                           unit_price=to_yen(row["unit_price"] or None), quantity=to_number(row["quantity"] or None))
        want_v, want_r = row["verdict"], row["reason"] or None
        s.lines += 1
        if want_v == "ng":
            s.ng_lines += 1
            s.ng_right += res.verdict == "ng" and res.reason == want_r
        if want_v == "ok":
            s.ok_lines += 1
            s.ok_flagged_ng += res.verdict == "ng"
        if want_v in ("ok", "ng"):
            s.clear_lines += 1
            s.clear_sent_to_review += res.verdict == "review"
        if want_v == "ng" and want_r:
            c = s.per_reason.setdefault(want_r, Counter())
            c["tp" if res.verdict == "ng" and res.reason == want_r else "fn"] += 1
        if res.verdict == "ng" and res.reason and not (want_v == "ng" and want_r == res.reason):
            s.per_reason.setdefault(res.reason, Counter())["fp"] += 1
        if (res.verdict, res.reason) != (want_v, want_r):
            s.mistakes.append({**row, "got_verdict": res.verdict, "got_reason": res.reason, "matched": res.matched})
    return s
