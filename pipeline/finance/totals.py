"""What an application is worth after the reviewers' decisions (the "calculative review").

requested   the total as submitted (direct costs + overhead, as the engine recomputed them)
flagged     the amount of the cost lines the classifier judged ineligible or doubtful
disallowed  what the decisions cut: a disallowed line's amount, a reduced line's difference
allowed     direct costs after the cuts, plus the overhead recomputed on them: the rate the applicant
            used, never above the call's ceiling (money.overhead_max_ratio), floored to the yen
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pipeline.formulas import ratio_floor


def overhead_on(allowed_direct: int, direct: int, overhead: int, max_ratio: float | None) -> int:
    """The overhead on ``allowed_direct`` at the applicant's rate (overhead / direct), capped at the call's."""
    if direct <= 0 or allowed_direct <= 0:
        return 0
    if type(overhead) is int and type(allowed_direct) is int:  # floor(overhead × allowed / direct) in integers
        at_rate = overhead * allowed_direct // direct
    else:
        at_rate = int(Fraction(overhead) * allowed_direct // direct)
    return min(at_rate, ratio_floor(allowed_direct, max_ratio)) if max_ratio is not None else at_rate


def application_totals(totals: dict[str, int], lines: list[dict[str, Any]], max_ratio: float | None) -> dict[str, int]:
    """The figures of one application; ``lines`` are its worklist lines with their current ``allowed``.

    ``totals`` holds the submission's direct_total, overhead and total. A line counts as cut only
    when its decision stands on its current content (``allowed`` is not None).
    """
    direct, overhead = totals.get("direct_total") or 0, totals.get("overhead") or 0
    cost = [ln for ln in lines if ln["kind"] == "cost"]
    flagged = sum(ln["amount"] or 0 for ln in cost if ln["verdict"] in ("ng", "review"))
    disallowed = sum((ln["amount"] or 0) - ln["allowed"] for ln in cost if ln.get("allowed") is not None)
    allowed_direct = direct - disallowed
    new_overhead = overhead_on(allowed_direct, direct, overhead, max_ratio)
    return {"requested": totals.get("total") or direct + overhead, "direct": direct, "overhead": overhead,
            "flagged": flagged, "disallowed": disallowed, "allowed_direct": allowed_direct,
            "allowed_overhead": new_overhead, "allowed_total": allowed_direct + new_overhead}
