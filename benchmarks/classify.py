"""Score and time the cost-line classifier.

    python benchmarks/classify.py [--corpus FILE ...]        precision / recall per reason, false flags
    python benchmarks/classify.py --corpus FILE --mistakes   also list the lines it gets wrong
    python benchmarks/classify.py --speed [--lines 10000]    lines per second on one core, and the ratio

By default the figures of four sets: corpus.tsv (the tuning corpus), holdout.tsv (the project's
holdout), generated.tsv (benchmarks/classify_generate.py: kana, English paraphrases, mixed, abbreviations,
typos made from the corpus and templates) and independent.tsv (written by hand before the classifier
was run on it, in styles the corpus lacks). Figures only; the acceptance thresholds are asserted in
tests/test_eligibility.py. Tune the lexicon with --mistakes on corpus.tsv and generated.tsv only, never
on holdout.tsv or independent.tsv line by line: they measure whether the vocabulary generalises.

--speed times the classifier against a baseline in the same run, interleaved (the machine is shared):
the text normalisation every line needs anyway (NFKC, folding, English tokens). The ratio is the
figure to compare between versions; lines/s depends on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.eligibility import load_classifier  # noqa: E402
from pipeline.eligibility.matchtext import fold_normalised, nfkc, words  # noqa: E402
from pipeline.eligibility.scoring import read_corpus, score  # noqa: E402
from pipeline.normalise import to_number, to_yen  # noqa: E402

DATA = ROOT / "tests" / "data" / "eligibility"
SETS = ("corpus.tsv", "holdout.tsv", "generated.tsv", "independent.tsv")
TARGET = 15_000     # lines/s on one core (issue 15)


def speed(lines: int, paths: list[str], rounds: int = 7) -> tuple[float, float]:
    """Classify ``lines`` lines drawn from ``paths``, interleaved with the baseline; print both.

    Returns (lines per second, ratio of the classifier's time to the baseline's), medians of ``rounds``.
    """
    rows = [r for path in paths if Path(path).is_file() for r in read_corpus(path)]
    prepared = []
    for i in range(lines):
        r = rows[i % len(rows)]
        # vary the text so no cache along the way can make repeated lines look cheaper than new ones
        description = f"{r['description']} #{i}" if i >= len(rows) else r["description"]
        prepared.append((load_classifier(r["program"]), r["category"], description,
                         to_yen(r["unit_price"] or None), to_number(r["quantity"] or None)))

    def classify() -> float:
        start = time.perf_counter()
        for clf, category, description, price, quantity in prepared:
            clf.classify(category=category, description=description, unit_price=price, quantity=quantity)
        return time.perf_counter() - start

    def baseline() -> float:
        start = time.perf_counter()
        for _, _, description, _, _ in prepared:
            normalised = nfkc(description)
            fold_normalised(normalised)
            words(normalised)
        return time.perf_counter() - start

    classify()                              # warm: classifiers built, caches filled
    took, base = [], []
    for _ in range(rounds):
        base.append(baseline())
        took.append(classify())
    t, b = statistics.median(took), statistics.median(base)
    rate, ratio = lines / t, t / b
    print(f"classified {lines:,} lines in {t:.3f} s on one core: {rate:,.0f} lines/s "
          f"({t / lines * 10_000:.3f} s per 10,000 lines; median of {rounds} rounds)")
    print(f"baseline (NFKC, folding, tokens of the same lines): {lines / b:,.0f} lines/s; "
          f"classifier / baseline = {ratio:.2f}x; at {TARGET:,} lines/s the classifier may take "
          f"{lines / b / TARGET:.2f}x the baseline on this machine now")
    return rate, ratio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="*", default=[str(DATA / name) for name in SETS],
                    help="labelled TSV files (default: corpus, holdout, generated and independent)")
    ap.add_argument("--speed", action="store_true", help="time the classifier instead of scoring it")
    ap.add_argument("--lines", type=int, default=10_000, help="lines to classify with --speed")
    ap.add_argument("--mistakes", action="store_true", help="list the lines the classifier gets wrong")
    args = ap.parse_args(argv)
    if args.speed:
        speed(args.lines, args.corpus)
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
