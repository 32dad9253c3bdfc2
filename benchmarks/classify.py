"""Score and time the cost-line classifier.

    python benchmarks/classify.py [--corpus FILE ...] [--mistakes]   precision / recall per reason
    python benchmarks/classify.py --speed [--lines 10000]          lines per second on one core

Figures only; the acceptance thresholds are asserted in tests/test_eligibility.py.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipeline.eligibility import load_classifier
from pipeline.eligibility.scoring import read_corpus, score
from pipeline.normalise import to_number, to_yen

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "eligibility"


def speed(lines: int) -> None:
    rows = read_corpus(DATA / "corpus.tsv")
    batch = [rows[i % len(rows)] for i in range(lines)]
    prepared = [(load_classifier(r["program"]), r["category"], r["description"], to_yen(r["unit_price"] or None),
                 to_number(r["quantity"] or None)) for r in batch]
    start = time.perf_counter()
    for clf, cat, desc, price, qty in prepared:
        clf.classify(category=cat, description=desc, unit_price=price, quantity=qty)
    took = time.perf_counter() - start
    print(f"classified {lines:,} lines in {took:.3f} s on one core: {lines / took:,.0f} lines/s "
          f"({took / lines * 10_000:.3f} s per 10,000 lines)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="*", default=[str(DATA / "corpus.tsv"), str(DATA / "holdout.tsv")])
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--mistakes", action="store_true", help="list the lines the classifier gets wrong")
    args = ap.parse_args()
    if args.speed:
        speed(args.lines)
        return
    for path in args.corpus:
        s = score(read_corpus(path))
        print(f"== {Path(path).name}")
        print(s.report())
        if args.mistakes:
            for m in s.mistakes:
                print(f"  {m['program']:28} {m['category']:10} {m['description'][:40]:40} want {m['verdict']}/"
                      f"{m['reason'] or '-'} got {m['got_verdict']}/{m['got_reason'] or '-'} ({m['matched']})")


if __name__ == "__main__":
    main()
