"""Which library reads the lexicons' kanji terms: SudachiPy, pykakasi or cutlet (fugashi + UniDic-lite).

    python benchmarks/classify_readings.py

For each library that is installed: the time to import it and load its dictionary, the time to read
every kanji term of the lexicons, the share of a hand-checked list of readings it gets right
(tests/data/eligibility/readings_gold.tsv: temple names, rendaku, okurigana, 実施主担当者 …), and
its size on disk. Readings are compared as the classifier compares them (folded: small kana as full
size, no long-vowel mark at the end). cutlet writes romaji; its kana come from the fugashi tagger
it wraps. The choice only matters to `python -m pipeline.eligibility.readings --write`: classifying
never imports any of them (the readings are data). Figures only.
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.eligibility.matchtext import fold  # noqa: E402

GOLD = ROOT / "tests" / "data" / "eligibility" / "readings_gold.tsv"


def _size(*packages: str) -> float:
    total = 0
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            total += sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
    return total / 1e6


def sudachi() -> Callable[[str], str]:
    from sudachipy import Dictionary, SplitMode

    tok = Dictionary(dict="core").tokenizer(SplitMode.C)
    return lambda t: "".join(m.reading_form() for m in tok.tokenize(t))


def kakasi() -> Callable[[str], str]:
    import pykakasi

    k = pykakasi.kakasi()
    return lambda t: "".join(x["kana"] for x in k.convert(t))


def fugashi_unidic() -> Callable[[str], str]:
    import fugashi

    tagger = fugashi.Tagger()

    def read(t: str) -> str:
        return "".join(w.feature.kana if w.feature.kana not in (None, "*") else w.surface for w in tagger(t))
    return read


LIBRARIES = [("SudachiPy + sudachidict_core", "sudachipy", ("sudachipy", "sudachidict_core"), sudachi),
             ("pykakasi", "pykakasi", ("pykakasi",), kakasi),
             ("cutlet (fugashi + unidic-lite)", "cutlet", ("cutlet", "fugashi", "unidic_lite"), fugashi_unidic)]


def terms() -> list[str]:
    import yaml

    from pipeline.eligibility.lexicon import lexicon_files
    from pipeline.eligibility.readings import kanji_terms

    found: dict[str, None] = {}
    for path in lexicon_files():
        for t in kanji_terms(yaml.safe_load(path.read_text(encoding="utf-8"))):
            found.setdefault(t)
    return list(found)


def main() -> int:
    with GOLD.open(encoding="utf-8") as fh:
        gold = {r["term"]: {fold(x) for x in r["readings"].split("|")} for r in csv.DictReader(fh, delimiter="\t")}
    words = terms()
    print(f"{len(words)} kanji terms in the lexicons; {len(gold)} hand-checked readings")
    print(f"{'library':32} {'version':>10} {'load ms':>8} {'read ms':>8} {'right':>7} {'MB':>6}")
    for name, dist, packages, make in LIBRARIES:
        if importlib.util.find_spec(packages[0]) is None:
            print(f"{name:32} not installed (pip install {dist})")
            continue
        start = time.perf_counter()
        read = make()
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        for w in words:
            read(w)
        took = time.perf_counter() - start
        right = sum(fold(read(t)) in want for t, want in gold.items())
        wrong = [f"{t}:{read(t)}" for t, want in gold.items() if fold(read(t)) not in want]
        print(f"{name:32} {importlib.metadata.version(dist):>10} {loaded * 1000:8.0f} {took * 1000:8.1f} "
              f"{right / len(gold):7.1%} {_size(*packages):6.0f}")
        print(f"  {'wrong: ' + ', '.join(wrong[:12]) if wrong else 'no wrong reading'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
