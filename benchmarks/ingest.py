"""Benchmark the bulk ingest end to end against a plain python-calamine read of the same files.

    python benchmarks/ingest.py --n 1000 [--mem-n 5000] [--workers N] [--libreoffice 50] [--keep DIR] [--repeat R]

Generates N varied filled workbooks from the sample scenarios (a share of them re-saved by
LibreOffice when it is installed), then measures in the same run:
  baseline: python-calamine reading every sheet and table of every file, one process, one core
            (the median of three reads: once before the ingest and twice after), wall and CPU time;
  ingest:   `shinsei ingest` as a user runs it (a fresh process: start-up, discover and hash, register,
            pre-check, read, normalise, validate, classify, the database, cross-checks, review.xlsx, CSV and
            Parquet exports), its CPU time (every process: parent, workers, children) and the peak RSS of
            the whole process tree (sampled every 20 ms);
  no-op:    the same command again, which finds nothing new (and so rebuilds nothing);
  memory:   a fresh ingest of --mem-n files, whose peak RSS is compared with the first run's.

How cores are counted: the ingest runs a parent plus ``--workers`` worker processes, so it may keep
min(workers + 1, CPUs of the machine) cores busy; "per core" divides by that many cores times the wall
time. The last line reads
  ingest n=N cpu_ratio=X per_core_ratio=Y noop_ratio=Z mem_5000_over_1000=W
(with --repeat R, X and Y are the medians of R fresh ingests, each against the reads around it)
cpu_ratio: the ingest's CPU over the baseline read's CPU; per_core_ratio: wall x cores / baseline wall;
noop_ratio: the no-op's wall time over the first run's; mem: peak RSS at --mem-n over that at --n.
To show where the time goes, the last ingest's CPU is printed by phase and process (the ingest's own
accounting, IngestSummary.cpu), each as a multiple of the baseline read, and then the per-file steps are
timed again on one core over the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import python_calamine

from pipeline.fill import fill_template
from pipeline.ingest.worker import dumps_json_bytes
from pipeline.safety import verified_members
from pipeline.samples import synthetic_applications
from pipeline.validate import validate_raw, warm_up
from pipeline.workbook import read_workbook


def generate(folder: Path, n: int, libreoffice: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths, todo = [], []
    for pack_id, stem, data in synthetic_applications(n, seed=7):
        path = folder / f"{stem}.xlsx"
        if (folder / f"{stem}-libreoffice.xlsx").exists():  # kept from an earlier run (--keep)
            continue
        if not path.exists():
            todo.append((pack_id, data, path))
        paths.append(path)
    if todo:
        with ProcessPoolExecutor() as pool:  # openpyxl writes ~30 files/s per core
            list(pool.map(fill_template, *zip(*todo, strict=True), chunksize=50))
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


def calamine_read(paths: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds of reading every sheet and table of ``paths`` with python-calamine."""
    start, cpu = time.perf_counter(), time.process_time()
    for p in paths:
        book = python_calamine.CalamineWorkbook.from_path(str(p), load_tables=True)
        for name in book.sheet_names:
            book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for t in book.table_names:
            book.get_table_by_name(t).to_python()
        book.close()
    return time.perf_counter() - start, time.process_time() - cpu


def step_costs(paths: list[Path]) -> dict[str, float]:
    """Seconds per step of the worker's path over ``paths``, one process, files not written."""
    warm_up()
    spent = dict.fromkeys(("pre-check", "read (calamine)", "normalise + validate + classify", "report to JSON"), 0.0)
    clock = time.perf_counter
    for p in paths:
        t0 = clock()
        members = verified_members(p, scan=False)  # as an isolated worker: far cells left to the reader
        t1 = clock()
        raw = read_workbook(p, members=members, scanned=False)
        t2 = clock()
        report = validate_raw(raw, sha256="0" * 64)
        t3 = clock()
        dumps_json_bytes(report.to_dict(with_submission=True))
        t4 = clock()
        for key, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[key] += seconds
    return spent


def _children_cpu() -> float:
    """User + system CPU time of this process's children that have ended (and of their reaped children)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _tree_rss(root: int) -> int:
    """Resident memory (bytes) of ``root`` and every process descending from it.

    Follows each process's children (/proc/PID/task/TID/children) instead of reading every process of
    the machine: sampled every 20 ms during the measured runs, a scan of all of /proc took ~3 ms of CPU
    a sample, a sixth of a core taken from the ingest it measures; this takes ~0.1 ms."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * page
            for task in os.scandir(f"/proc/{pid}/task"):
                with open(f"{task.path}/children", "rb") as fh:
                    todo.extend(int(child) for child in fh.read().split())
        except (OSError, ValueError, IndexError):  # it ended meanwhile
            continue
    return total


def run_ingest(src: Path, out: Path, workers: int) -> tuple[float, float, int, dict]:
    """`shinsei ingest SRC --out OUT` as a process: wall seconds, CPU seconds, peak tree RSS, its summary."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # bytecode cached, as installed
    cpu_before = _children_cpu()
    faults_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", str(src), "--out", str(out), "--json",
                             "--workers", str(workers)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    took = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"ingest failed ({proc.returncode}): {stderr.decode()[-2000:]}")
    summary = json.loads(stdout)
    # Page faults of every process of the run: counted, not timed, so the same whatever the machine does
    # (each fork of the parent costs both sides copy-on-write faults).
    summary["page_faults"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - faults_before
    return took, _children_cpu() - cpu_before, peak, summary


def _fresh(out: Path) -> None:
    """Move an earlier output folder aside (deleted later: ext4 makes new files skip just-freed inodes)."""
    if out.exists():
        out.rename(out.with_name(f"{out.name}-old-{os.getpid()}-{time.monotonic_ns()}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--mem-n", type=int, default=5000, help="files of the memory run (0: skip it)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--libreoffice", type=int, default=50, help="how many files to re-save with LibreOffice")
    ap.add_argument("--keep", help="keep generated files here (re-used on the next run)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="fresh ingests to run, each between two baseline reads; the last line then gives the "
                         "medians of their ratios (this machine's speed drifts by a quarter within minutes)")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="shinsei-bench-"))
    t = time.perf_counter()
    paths = generate(work / "in", args.n, args.libreoffice)
    print(f"{len(paths)} workbooks ready in {time.perf_counter() - t:.1f} s ({work / 'in'})")
    calamine_read(paths[:20])  # warm the page cache and imports
    bases = [calamine_read(paths)]
    out = work / "out"
    runs = []
    for _ in range(max(1, args.repeat)):
        _fresh(out)
        runs.append(run_ingest(work / "in", out, args.workers))
        bases.append(calamine_read(paths))
    took, cpu, peak, summary = runs[-1]
    noop_took, _, _, noop = run_ingest(work / "in", out, args.workers)
    if len(runs) == 1:
        bases.append(calamine_read(paths))  # this machine's speed drifts: the median of 3
    base = statistics.median(b[0] for b in bases)
    base_cpu = statistics.median(b[1] for b in bases)
    cores = min(args.workers + 1, os.cpu_count() or 1)
    # Each run against the reads just before and after it; one run against the median of three reads.
    around = [(base, base_cpu)] if len(runs) == 1 else [
        ((bases[i][0] + bases[i + 1][0]) / 2, (bases[i][1] + bases[i + 1][1]) / 2) for i in range(len(runs))]
    cpu_ratios = [r[1] / b[1] for r, b in zip(runs, around, strict=True)]
    core_ratios = [r[0] * cores / b[0] for r, b in zip(runs, around, strict=True)]
    if len(runs) > 1:
        print("runs (cpu_ratio, per_core_ratio): " + ", ".join(f"{c:.2f}/{w:.2f}" for c, w in
                                                                zip(cpu_ratios, core_ratios, strict=True)))
    per_core = len(paths) / took / cores
    print(f"baseline python-calamine read: {base:.2f} s wall, {base_cpu:.2f} s CPU, {len(paths) / base:,.0f} files/s "
          f"on one core (median of {', '.join(f'{b[0]:.2f}' for b in bases)} s: "
          f"{'before the ingest and twice after' if len(runs) == 1 else 'before and after each ingest'})")
    print(f"shinsei ingest ({args.workers} workers + parent, counted as {cores} cores of {os.cpu_count()}): "
          f"{took:.2f} s wall, {len(paths) / took:,.0f} files/s, {per_core:,.0f} files/s per core; "
          f"quarantined {summary['quarantined']}, submissions {summary['submissions']}")
    print(f"CPU used (parent + workers + children, user + system, start-up included): {cpu:.2f} s, "
          f"{len(paths) / cpu:,.0f} files per CPU-second; page faults (minor, every process): "
          f"{summary['page_faults']:,}")
    print("ingest phases (wall): " + ", ".join(f"{k} {v:.2f} s" for k, v in summary["phases"].items()))
    # Where the CPU went, each part as a multiple of the baseline read (the parts add up to cpu_ratio, but for
    # the interpreter's own start and exit): what a target for the whole run leaves each part.
    around_last = around[-1][1]
    print("CPU by phase (s, x the baseline read's CPU): " + ", ".join(
        f"{k} {v:.2f} ({v / around_last:.2f}x)" for k, v in summary["cpu"].items()))
    print(f"no-op re-ingest: {noop_took:.2f} s wall (outputs rebuilt: {noop['outputs_rebuilt']})")
    print(f"peak RSS of the process tree at {len(paths)} files: {peak / 2**20:,.0f} MB")
    mem_ratio = float("nan")
    if args.mem_n:
        more = generate(work / f"in-{args.mem_n}", args.mem_n, 0)
        big_out = work / f"out-{args.mem_n}"
        _fresh(big_out)
        big_took, _, big_peak, _ = run_ingest(work / f"in-{args.mem_n}", big_out, args.workers)
        mem_ratio = big_peak / peak
        print(f"peak RSS at {len(more)} files: {big_peak / 2**20:,.0f} MB ({big_took:.1f} s wall)")
    for old in work.glob("out*-old-*"):
        shutil.rmtree(old, ignore_errors=True)
    steps = step_costs(paths)
    n = len(paths)
    print(f"per-file steps on one core (ms per file; baseline calamine read {base / n * 1e3:.2f}):")
    for key, seconds in steps.items():
        print(f"  {key:32s} {seconds / n * 1e3:6.2f}")
    worker = sum(steps.values())
    print(f"  {'sum':32s} {worker / n * 1e3:6.2f}  = {worker / base:.2f} x the baseline")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"ingest n={n} cpu_ratio={statistics.median(cpu_ratios):.2f} "
          f"per_core_ratio={statistics.median(core_ratios):.2f} "
          f"noop_ratio={noop_took / took:.3f} mem_{args.mem_n}_over_{n}={mem_ratio:.2f}")


if __name__ == "__main__":
    main()
