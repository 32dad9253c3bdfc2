"""What a worker process does with one file: pre-check, read, validate, classify; no I/O besides reading.

Runs inside an isolated worker (pipeline.sandbox): a file that kills the reader kills only
its worker, and the parent records the file as quarantined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from pipeline.ingest.store import FileRows, file_rows
from pipeline.normalise import strip_controls
from pipeline.tempfiles import write_atomically


def process_file(path: str, sha256: str, name: str, json_dir: str | None = None, scan: bool = True) -> FileRows:
    """Validate one workbook; returns the rows and the JSON documents the database keeps.

    With ``json_dir`` its two JSON files are written there too, content-addressed and atomically,
    so a worker killed half-way leaves nothing behind that a second run would not write identically.
    ``scan=False``: the pre-check leaves far cells to the reader (only in an isolated worker; see
    pipeline.safety).
    """
    out = validate_file_report(path, sha256, name, scan=scan)
    submission = dumps_json_bytes(out["submission"])
    report = dumps_json_bytes({k: v for k, v in out.items() if k != "submission"})
    if json_dir is not None:
        write_documents(Path(json_dir), sha256, submission, report)
    return file_rows(sha256, out, (submission, report))


def write_documents(folder: Path, sha256: str, submission: str | bytes, report: str | bytes) -> None:
    """``folder/submissions/<sha>.json`` and ``folder/findings/<sha>.json`` (the layout --json-dir promises)."""
    write_atomically(folder / "submissions" / f"{sha256}.json", submission)
    write_atomically(folder / "findings" / f"{sha256}.json", report)


def validate_file_report(path: str, sha256: str, name: str, *, scan: bool = True) -> dict[str, Any]:
    """The report of one workbook as stored: no timings, the file's listed name."""
    from pipeline.validate import read_raw, validate_raw  # imported by warm_up before the fork: a lookup here;
    # at the top it would load the engine into every ingest, one that finds nothing new included
    raw = read_raw(path, isolate=False, scan=scan)  # the whole worker is already isolated
    report = validate_raw(raw, sha256=sha256)
    out = report.to_dict(with_submission=True)
    out.pop("seconds", None)  # timings would make two identical runs differ
    out["file"] = name
    out["submission"]["source"]["file"] = name
    return out


def dumps_json(data: Any) -> str:
    """``dumps_json_bytes`` as text."""
    return dumps_json_bytes(data).decode()


def dumps_json_bytes(data: Any) -> bytes:
    """Compact JSON with sorted keys (orjson, ~10x the standard encoder), as the database and the files hold it,
    in UTF-8.

    Sorted keys make a document the same text whichever database it comes back from (PostgreSQL's
    JSONB reorders keys). Text the database refuses (NUL, lone surrogates) is scrubbed, never stored.
    """
    try:
        raw = orjson.dumps(data, option=_JSON_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if "surrogates" not in str(exc):
            raise
        raw = orjson.dumps(_scrub(data), option=_JSON_OPTIONS)  # a lone surrogate that slipped past the normaliser
    if b"\\u0000" in raw:
        raw = orjson.dumps(_scrub(data), option=_JSON_OPTIONS)
    return raw


_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _scrub(data: Any) -> Any:
    """``data`` with control characters and lone surrogates removed from every string, keys included."""
    if isinstance(data, str):
        return strip_controls(data)
    if isinstance(data, dict):
        return {_scrub(k): _scrub(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_scrub(v) for v in data]
    return data


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    write_atomically(path, dumps_json(data))
