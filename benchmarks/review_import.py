"""Benchmark: importing finance decisions from review.xlsx, as a ratio to reading the same sheet with python-calamine.

    python benchmarks/review_import.py [--apps 1000] [--lines 30] [--db URL]

Writes ``--apps`` applications (the youth template, each with its own identity and ``--lines`` cost lines
the classifier flags), ingests them, fills every worklist row with a decision (openpyxl, as Excel would
save it), then times ``import_sheet`` (read, check every row against the database, store every decision
in one transaction) against a plain python-calamine read of the worklist sheet. Figures only.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from python_calamine import CalamineWorkbook

from pipeline.fill import fill_template
from pipeline.finance.ledger import Ledger
from pipeline.finance.sheet_import import import_sheet
from pipeline.finance.worklist import FLAGGED_SHEET
from pipeline.ingest.run import ingest
from pipeline.ingest.store import Store, default_url
from tests.finance_batch import FLAGGED_LINES, fill, worklist_rows, youth_application


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--lines", type=int, default=30)
    ap.add_argument("--db", help="database URL (default: SQLite in the output folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clock = time.perf_counter()
        lines = [dict(copy.deepcopy(FLAGGED_LINES[i % len(FLAGGED_LINES)]),
                      description=f"{FLAGGED_LINES[i % len(FLAGGED_LINES)]['description']} {i + 1}", quantity=1)
                 for i in range(args.lines)]
        for n in range(1, args.apps + 1):
            data = youth_application(n, lines)
            data["plan"]["over_base_reason"] = "ベンチマーク用の理由"
            fill_template("nexus-ytec-youth-2025", data, root / "in" / f"app{n:05d}.xlsx")
        ingest([root / "in"], root / "out", db_url=args.db, progress=False)
        print(f"setup (write + ingest {args.apps} files): {time.perf_counter() - clock:.1f} s", file=sys.stderr)
        _, rows = worklist_rows(root / "out" / "review.xlsx")
        choices = {"認めない disallow": {"comment": "対象外です"}, "認める approve": {},
                   "照会 query": {"comment": "内訳?"}}
        decisions = {}
        for i, r in enumerate(rows):
            word = list(choices)[i % len(choices)]
            decisions[r["行ID Line ID"]] = {"decision": word, **choices[word]}
        sheet = fill(root / "out" / "review.xlsx", root / "filled.xlsx", decisions)

        clock = time.perf_counter()
        read = CalamineWorkbook.from_path(str(sheet)).get_sheet_by_name(FLAGGED_SHEET).to_python()
        baseline = time.perf_counter() - clock
        store = Store(args.db or default_url(root / "out"))
        ledger = Ledger(store.engine, store.reader)
        clock = time.perf_counter()
        result = import_sheet(ledger, sheet, "benchmark")
        took = time.perf_counter() - clock
        store.close()
    print(f"calamine read of the worklist ({len(read) - 1:,} rows): {baseline * 1000:.0f} ms")
    print(f"import_sheet ({len(result.entries):,} decisions stored): {took * 1000:.0f} ms")
    print(f"review_import apps={args.apps} lines={len(read) - 1} ratio={took / baseline:.1f}")


if __name__ == "__main__":
    main()
