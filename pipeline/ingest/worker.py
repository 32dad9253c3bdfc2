"""What a worker process does with one file: pre-check, read, validate, classify; no I/O besides reading.

Runs inside an isolated worker (pipeline.sandbox): a file that kills the reader kills only
its worker, and the parent records the file as quarantined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.validate import read_raw, validate_raw


def process_file(path: str, sha256: str) -> dict[str, Any]:
    """Validate one workbook; returns the report with its submission, JSON-ready and deterministic."""
    raw = read_raw(Path(path), isolate=False)  # the whole worker is already isolated
    report = validate_raw(raw, sha256=sha256)
    out = report.to_dict(with_submission=True)
    out.pop("seconds", None)  # timings would make two identical runs differ
    return out
