"""What a worker process does with one file: pre-check, read, validate, classify; no I/O besides reading.

Runs inside an isolated worker (pipeline.sandbox): a file that kills the reader kills only
its worker, and the parent records the file as quarantined.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline.validate import read_raw, validate_raw


def process_file(path: str, sha256: str, name: str, out_dir: str) -> dict[str, Any]:
    """Validate one workbook and write its two JSON files; returns the report with its submission.

    The JSON files are content-addressed and written atomically, so a worker killed half-way
    leaves nothing behind that a second run would not write identically.
    """
    raw = read_raw(Path(path), isolate=False)  # the whole worker is already isolated
    report = validate_raw(raw, sha256=sha256)
    out = report.to_dict(with_submission=True)
    out.pop("seconds", None)  # timings would make two identical runs differ
    out["file"] = name
    submission = out["submission"]
    submission["source"]["file"] = name
    folder = Path(out_dir)
    write_json(folder / "submissions" / f"{sha256}.json", submission)
    write_json(folder / "findings" / f"{sha256}.json", {k: v for k, v in out.items() if k != "submission"})
    return out


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename): a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, ensure_ascii=False))  # no indent: the C encoder, ~10x faster
    os.replace(tmp, path)
