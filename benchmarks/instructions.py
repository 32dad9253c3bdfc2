"""The ingest's per-file work counted in instructions (callgrind), against a plain python-calamine read.

    python benchmarks/instructions.py [--n 60] [--keep DIR]

Time on the shared 2-core machine drifts by half within minutes, and not alike for calamine's Rust
and the engine's Python: ratios of seconds move by a fifth between runs of the same code. Instructions
do not. Each step of a worker's path (the same calls as pipeline.ingest.worker.process_file) is run
under valgrind's callgrind over the same N files, cumulatively, and each step's count is the
difference to the run before it; the baseline is benchmarks/ingest.py's own read (every sheet and table
with python-calamine). Prints, per file, each step's millions of instructions and the sum as a
multiple of the read, last line:
  instructions n=N read=X worker=Y ratio=Z
Needs valgrind (apt-get install -y valgrind); about a minute per step at N=60. Figures only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

from ingest import generate  # benchmarks/ingest.py (beside this script): the same workbooks

# Each step's script runs the steps before it too; "none" is the interpreter, the imports and the set-up.
STEPS = ("none", "pre-check", "read", "validate", "json", "rows", "pickle")

_SCRIPT = r'''
import gc, os, pickle, sys
paths = sys.argv[2:]
step = sys.argv[1]
if os.environ.get("BASELINE"):  # benchmarks/ingest.py's read, imported by both runs so that only it counts
    sys.path.insert(0, os.environ["BASELINE"])
    from ingest import calamine_read
    gc.freeze()  # what the imports left is not walked again by the read's collections (as in the steps' runs)
    if step == "read-all":
        calamine_read(paths)
    raise SystemExit
from pipeline.filehash import file_sha256
from pipeline.ingest.store import file_rows
from pipeline.ingest.worker import dumps_json_bytes
from pipeline.safety import verified_members
from pipeline.validate import validate_raw, warm_up
from pipeline.workbook import read_workbook
warm_up()                       # as the ingest's parent does before forking its workers
shas = [file_sha256(p) for p in paths]
gc.freeze()
last = STEPS.index(step)
for p, sha in zip(paths, shas):
    if last < 1: break
    members = verified_members(p, scan=False)  # as an isolated worker: far cells left to the reader
    if last < 2: continue
    raw = read_workbook(p, members=members, scanned=False)
    if last < 3: continue
    out = validate_raw(raw, sha256=sha).to_dict(with_submission=True)
    if last < 4: continue
    docs = (dumps_json_bytes(out["submission"]), dumps_json_bytes({k: v for k, v in out.items() if k != "submission"}))
    if last < 5: continue
    rows = file_rows(sha, out, docs)
    if last < 6: continue
    pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)
'''


def count(script: Path, step: str, paths: list[Path], baseline: bool = False) -> int:
    """Instructions (callgrind's Ir) of one run of the script at ``step``."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same hashes, the same dict layouts: the same count
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if baseline:
        env["BASELINE"] = str(Path(__file__).resolve().parent)
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                           str(script), step, *map(str, paths)], capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if not found:
        raise SystemExit(f"callgrind printed no count:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60, help="files to count over (callgrind runs ~50x slower)")
    ap.add_argument("--keep", help="keep generated files here (re-used on the next run; benchmarks/ingest.py's)")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind が必要です / needs valgrind: apt-get install -y valgrind")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="shinsei-instr-"))
    paths = sorted(generate(work / "in", max(args.n, 1), 0))[:args.n]
    n = len(paths)
    script = work / "steps.py"
    script.write_text(f"STEPS = {STEPS!r}\n{_SCRIPT}", encoding="utf-8")  # the same steps, in the same order
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).parents[1] / "pipeline")],
                   check=True)  # bytecode compiled once, not inside a counted run
    read = (count(script, "read-all", paths, True) - count(script, "none", paths, True)) / n
    print(f"python-calamine read of every sheet and table: {read / 1e6:.2f} M instructions a file ({n} files)")
    totals = {step: count(script, step, paths) for step in STEPS}
    worker = 0.0
    for before, step in pairwise(STEPS):
        each = (totals[step] - totals[before]) / n
        worker += each
        print(f"  {step:10s} {each / 1e6:6.2f} M  ({each / read:.2f}x the read)")
    print(f"  {'sum':10s} {worker / 1e6:6.2f} M  ({worker / read:.2f}x the read)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"instructions n={n} read={read / 1e6:.2f}M worker={worker / 1e6:.2f}M ratio={worker / read:.2f}")


if __name__ == "__main__":
    main()
