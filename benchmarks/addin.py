"""Benchmark: the add-in's Validate on the server, as a ratio to the engine's own time on the same data.

    python benchmarks/addin.py [--lines 200] [--repeat 20]

For a 200-line budget (clean, then with every line flagged so the write-back has work), prints
the median of:
  engine:   pipeline.validate.validate_raw on the workbook as the add-in hands it over (baseline);
  script:   the payload -> xw.Book(json=...) -> the validate script -> the actions JSON;
  endpoint: POST /xlwings/custom-scripts-call/validate through xlwings Server (FastAPI test
            client: request parsing, the script, the response; no network).
Figures only; the issue's target is under 100 ms for the endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from addin import scripts  # first: sets the xlwings licence key before xlwings is imported
from addin.book_input import raw_from_payload
from addin.officejs_payload import payload_from_file
from addin.server import create_app
from benchmarks.validate import make_file, median_ms
from pipeline.validate import validate_raw
from pipeline.workbook import split_cell


def run_script(payload: dict[str, Any]) -> str:
    import xlwings as xw
    import xlwings.server

    book = xw.Book(json=copy.deepcopy(payload))
    book = asyncio.run(xlwings.server.custom_scripts_call(scripts, "validate", None, typehint_to_value={xw.Book: book}))
    return json.dumps(book.json())


def flag_every_line(payload: dict[str, Any]) -> dict[str, Any]:
    """The same workbook with every budget description turned into a sightseeing line (all flagged)."""
    out = copy.deepcopy(payload)
    sheet = next(s for s in out["sheets"] if s["name"] == "経費 Budget")
    table = sheet["tables"][0]
    header = split_cell(table["header_row_range_address"])[1]
    column = table["columns"].index("内容 Description")          # the table starts in column A
    for row in sheet["values"][header:]:
        if len(row) > column and row[column]:
            row[column] = "参加者の市内観光ツアー代"
    return out


def measure(label: str, payload: dict[str, Any], client: Any, repeat: int) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    engine = median_ms(lambda: validate_raw(raw_from_payload(payload)), repeat)
    script = median_ms(lambda: run_script(payload), repeat)
    endpoint = median_ms(lambda: client.post("/xlwings/custom-scripts-call/validate", content=body,
                                             headers={"Content-Type": "application/json"}), repeat)
    findings = len(validate_raw(raw_from_payload(payload)).findings)
    print(f"{label}: payload {len(body):,} bytes, {findings} findings")
    print(f"  engine (validate_raw, baseline):   {engine:7.1f} ms  1.0x")
    print(f"  script (xw.Book + validate):       {script:7.1f} ms  {script / engine:.1f}x")
    print(f"  endpoint (POST .../validate):      {endpoint:7.1f} ms  {endpoint / engine:.1f}x   target < 100 ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    with tempfile.TemporaryDirectory() as tmp:
        payload = payload_from_file(make_file(Path(tmp), args.lines))
    measure(f"{args.lines}-line budget, as filled", payload, client, args.repeat)
    measure(f"{args.lines}-line budget, every line flagged", flag_every_line(payload), client, args.repeat)


if __name__ == "__main__":
    main()
