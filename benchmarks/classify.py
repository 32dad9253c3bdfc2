"""Score and time the cost-line classifier.

    python benchmarks/classify.py [--corpus FILE ...]        precision / recall per reason, false flags
    python benchmarks/classify.py --corpus FILE --mistakes   also list the lines it gets wrong
    python benchmarks/classify.py --speed [--lines 10000]    lines per second on one core

Figures only; the acceptance thresholds are asserted in tests/test_eligibility.py. Do not tune the
lexicon on the holdout corpus line by line (use --mistakes on corpus.tsv only): it measures whether
the vocabulary generalises.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.eligibility import load_classifier  # noqa: E402
from pipeline.eligibility.scoring import read_corpus, score  # noqa: E402
from pipeline.normalise import to_number, to_yen  # noqa: E402

DATA = ROOT / "tests" / "data" / "eligibility"


def speed(lines: int) -> float:
    """Classify ``lines`` lines drawn from both corpora; print and return lines per second."""
    rows = read_corpus(DATA / "corpus.tsv") + read_corpus(DATA / "holdout.tsv")
    prepared = []
    for i in range(lines):
        r = rows[i % len(rows)]
        # vary the text so no cache along the way can make repeated lines look cheaper than new ones
        description = f"{r['description']} #{i}" if i >= len(rows) else r["description"]
        prepared.append((load_classifier(r["program"]), r["category"], description,
                         to_yen(r["unit_price"] or None), to_number(r["quantity"] or None)))
    start = time.perf_counter()
    for clf, category, description, price, quantity in prepared:
        clf.classify(category=category, description=description, unit_price=price, quantity=quantity)
    took = time.perf_counter() - start
    rate = lines / took
    print(f"classified {lines:,} lines in {took:.3f} s on one core: {rate:,.0f} lines/s "
          f"({took / lines * 10_000:.3f} s per 10,000 lines)")
    return rate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="*", default=[str(DATA / "corpus.tsv"), str(DATA / "holdout.tsv")],
                    help="labelled TSV files (default: the project's corpus and holdout)")
    ap.add_argument("--speed", action="store_true", help="time the classifier instead of scoring it")
    ap.add_argument("--lines", type=int, default=10_000, help="lines to classify with --speed")
    ap.add_argument("--mistakes", action="store_true", help="list the lines the classifier gets wrong")
    args = ap.parse_args(argv)
    if args.speed:
        speed(args.lines)
        return 0
    for path in args.corpus:
        s = score(read_corpus(path))
        print(f"== {Path(path).name}")
        print(s.report())
        if args.mistakes:
            for m in s.mistakes:
                print(f"  {m['program'][:12]:12} {m['category'][:10]:10} {m['description'][:44]:44} "
                      f"{m['unit_price']:>9}  want {m['verdict']}/{m['reason'] or '-'}  "
                      f"got {m['got_verdict']}/{m['got_reason'] or '-'} ({m['matched']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
