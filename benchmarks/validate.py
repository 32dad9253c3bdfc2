"""Benchmark: `shinsei validate` on a 200-line budget, as a ratio to a plain python-calamine read.

    python benchmarks/validate.py [--lines 200] [--repeat 30]

Prints the median time of: a plain python-calamine read of every sheet of the same file
(the baseline), the engine in-process, the engine with the child-process isolation used for
public files, and the CLI as a user runs it. Then the CLI process (`shinsei validate` on the clean
sample, start-up included) as a ratio to `python -c "import python_calamine"`, the floor of any
Python command that reads a workbook (target <= 8x), the two alternated run by run. Figures only:
no pass/fail here.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import python_calamine

from pipeline.fill import fill_template
from pipeline.samples import load_scenarios
from pipeline.validate import validate_file

PACK = "nexus-ytec-youth-2025"


def make_file(folder: Path, lines: int) -> Path:
    base = copy.deepcopy(next(sc for sc in load_scenarios() if sc["pack"] == PACK)["base"])
    rows = base["budget"]
    base["budget"] = [dict(rows[i % len(rows)], quantity=1) for i in range(lines)]
    base["totals"] = {"overhead": 0}
    return fill_template(PACK, base, folder / f"budget-{lines}.xlsx")


def calamine_read(path: Path) -> None:
    book = python_calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
    for name in book.sheet_names:
        book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    book.close()


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp), args.lines)
        report = validate_file(path, isolate=False)
        assert len(report.submission["budget"]) == args.lines
        base = median_ms(lambda: calamine_read(path), args.repeat)
        engine = median_ms(lambda: validate_file(path, isolate=False), args.repeat)
        isolated = median_ms(lambda: validate_file(path), args.repeat)
        cli = median_ms(lambda: subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", str(path)],
                                               capture_output=True, check=False), max(3, args.repeat // 5))
        print(f"budget lines: {args.lines}, findings: {len(report.findings)}, file: {path.stat().st_size:,} bytes")
        print(f"python-calamine read (baseline): {base:8.2f} ms  1.0x")
        print(f"validate, in-process:            {engine:8.2f} ms  {engine / base:.1f}x")
        print(f"validate, isolated child:        {isolated:8.2f} ms  {isolated / base:.1f}x")
        print(f"shinsei validate (CLI process):  {cli:8.2f} ms  {cli / base:.1f}x")
    sample = Path(__file__).resolve().parent.parent / "samples" / f"{PACK}__clean.xlsx"
    runs = max(15, args.repeat // 2)
    # As installed (pip compiles to bytecode): a machine that sets PYTHONDONTWRITEBYTECODE would otherwise
    # time the compiler on every run. The first, untimed calls write the bytecode and the lexicon's cache.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def floor_run() -> None:
        subprocess.run([sys.executable, "-c", "import python_calamine"], check=True, env=env)

    def cli_run() -> None:
        subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", str(sample)], capture_output=True,
                       check=False, env=env)

    # Alternated, one of each at a time: this machine's speed drifts within seconds, and two blocks of runs
    # taken one after the other measured the drift as much as the command.
    floor_run(), cli_run()
    floors, processes = [], []
    for _ in range(runs):
        for fn, times in ((floor_run, floors), (cli_run, processes)):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
    floor, process = statistics.median(floors), statistics.median(processes)
    pairs = sorted(p / f for f, p in zip(floors, processes, strict=True))
    print(f"python -c 'import python_calamine': {floor:8.2f} ms (median of {runs})")
    print(f"shinsei validate {sample.name}: {process:8.2f} ms (median of {runs}, alternated with the floor; "
          f"run by run {pairs[len(pairs) // 4]:.1f}–{pairs[3 * len(pairs) // 4]:.1f}x, the middle half)")
    print(f"validate cli_ratio={process / floor:.1f}")


if __name__ == "__main__":
    main()
