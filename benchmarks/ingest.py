"""Benchmark the bulk ingest end to end against a plain python-calamine read of the same files.

    python benchmarks/ingest.py --n 1000 [--workers N] [--libreoffice 50] [--keep DIR]

Generates N varied filled workbooks from the sample scenarios (a share of them re-saved by
LibreOffice when it is installed), then measures in the same run:
  baseline: python-calamine reading every sheet and table of every file, one process, one core
            (the median of three reads: once before the ingest and twice after);
  ingest:   the whole ingest() call on a fresh output folder: discover and hash, register, pre-check,
            read, normalise, validate, classify, write JSON, write the database, cross-checks,
            review.xlsx, CSV and Parquet exports.

How cores are counted: the ingest runs a parent (which stores results and writes the review) plus
``--workers`` worker processes, so it may keep min(workers + 1, CPUs of the machine) cores busy;
"per core" divides by that many cores times the wall time (idle time included, so a serial
stretch such as writing review.xlsx counts in full). The ratio is (ingest wall time x those cores)
/ baseline time on one core. Also printed: the CPU time actually used (parent, workers and every
other child, user + system, from getrusage), and files per CPU-second.

Then, to show where the time goes, the per-file steps are timed again on one core over the same
files (pre-check, read, normalise + validate + classify, report to JSON), beside the ingest's own
phases (discover, files, outputs: cross-checks, review.xlsx and exports). Figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import python_calamine

from pipeline.fill import fill_template
from pipeline.ingest.run import ingest
from pipeline.ingest.worker import warm_up
from pipeline.safety import verified_members
from pipeline.samples import synthetic_applications
from pipeline.validate import validate_raw
from pipeline.workbook import read_workbook


def generate(folder: Path, n: int, libreoffice: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for pack_id, stem, data in synthetic_applications(n, seed=7):
        path = folder / f"{stem}.xlsx"
        if (folder / f"{stem}-libreoffice.xlsx").exists():  # kept from an earlier run (--keep)
            continue
        if not path.exists():
            fill_template(pack_id, data, path)
        paths.append(path)
    soffice = shutil.which("soffice")
    if len(paths) < n:  # the re-saved ones are kept from an earlier run
        return sorted(folder.glob("*.xlsx"))
    if soffice and libreoffice:
        chosen = [p for p in paths[:: max(1, n // libreoffice)]][:libreoffice]
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to",
                            "xlsx:Calc MS Excel 2007 XML", "--outdir", f"{tmp}/lo", *map(str, chosen)],
                           check=True, capture_output=True, timeout=1800)
            for p in chosen:
                shutil.move(f"{tmp}/lo/{p.name}", folder / f"{p.stem}-libreoffice.xlsx")
                p.unlink()
        paths = sorted(folder.glob("*.xlsx"))
    return paths


def calamine_read(paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        book = python_calamine.CalamineWorkbook.from_path(str(p), load_tables=True)
        for name in book.sheet_names:
            book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for t in book.table_names:
            book.get_table_by_name(t).to_python()
        book.close()
    return time.perf_counter() - start


def step_costs(paths: list[Path]) -> dict[str, float]:
    """Seconds per step of the worker's path over ``paths``, one process, files not written."""
    warm_up()
    spent = dict.fromkeys(("pre-check", "read (calamine)", "normalise + validate + classify", "report to JSON"), 0.0)
    clock = time.perf_counter
    for p in paths:
        t0 = clock()
        members = verified_members(p)
        t1 = clock()
        raw = read_workbook(p, members=members)
        t2 = clock()
        report = validate_raw(raw, sha256="0" * 64)
        t3 = clock()
        json.dumps(report.to_dict(with_submission=True), ensure_ascii=False)
        t4 = clock()
        for key, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[key] += seconds
    return spent


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have ended (workers are reaped)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--libreoffice", type=int, default=50, help="how many files to re-save with LibreOffice")
    ap.add_argument("--keep", help="keep generated files here (re-used on the next run)")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="shinsei-bench-"))
    t = time.perf_counter()
    paths = generate(work / "in", args.n, args.libreoffice)
    print(f"{len(paths)} workbooks ready in {time.perf_counter() - t:.1f} s ({work / 'in'})")
    calamine_read(paths[:20])  # warm the page cache and imports
    bases = [calamine_read(paths)]
    out = work / "out"
    if out.exists():  # an earlier run's output (--keep): deleted after the timing, not just before it, since
        old = work / f"out-old-{os.getpid()}"  # ext4 then makes new files skip thousands of just-freed inodes
        out.rename(old)
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    summary = ingest([work / "in"], out, workers=args.workers, progress=False)
    took = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_before
    bases += [calamine_read(paths), calamine_read(paths)]  # this machine's speed drifts: the median of 3
    base = statistics.median(bases)
    for old in work.glob("out-old-*"):
        shutil.rmtree(old, ignore_errors=True)
    cores = min(args.workers + 1, os.cpu_count() or 1)
    per_core = len(paths) / took / cores
    base_rate = len(paths) / base
    print(f"baseline python-calamine read: {base:.2f} s, {base_rate:,.0f} files/s on one core "
          f"(median of {', '.join(f'{b:.2f}' for b in bases)} s: before the ingest and twice after)")
    print(f"ingest ({args.workers} workers + parent, counted as {cores} cores of {os.cpu_count()}): {took:.2f} s wall, "
          f"{len(paths) / took:,.0f} files/s, {per_core:,.0f} files/s per core; quarantined {summary.quarantined}, "
          f"submissions {summary.submissions}")
    print(f"CPU used (parent + workers + children, user + system): {cpu:.2f} s, "
          f"{len(paths) / cpu:,.0f} files per CPU-second")
    print(f"ratio ingest/baseline per core (wall x {cores} cores / baseline): {(took * cores) / base:.2f}")
    print(f"  (for reference, wall time / wall time, the ingest using {cores} cores and the baseline one: "
          f"{took / base:.2f}; the per-core ratio above is the one compared with the target)")
    print("ingest phases (wall): " + ", ".join(f"{k} {v:.2f} s" for k, v in summary.phases.items()))
    steps = step_costs(paths)
    n = len(paths)
    print(f"per-file steps on one core (ms per file; baseline calamine read {base / n * 1e3:.2f}):")
    for key, seconds in steps.items():
        print(f"  {key:32s} {seconds / n * 1e3:6.2f}")
    worker = sum(steps.values())
    print(f"  {'sum':32s} {worker / n * 1e3:6.2f}  = {worker / base:.2f} x the baseline before any file, "
          "database row or review.xlsx is written")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
