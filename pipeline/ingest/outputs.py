"""The ingest's outputs (review.xlsx, exports/, quarantine.json, crosscheck.json), built from the database.

The database is the store of record: the parent reads the latest version of every submission from
it one at a time (a hundred documents per query), works out its rows once, writes them to the CSV
exports and pipes them to a forked child that writes review.xlsx and the Parquet exports, so neither
holds the batch in memory, and the two share the work about equally (only the child imports Arrow).
Cross-checks need every submission's people and stays at once; they get slim documents (no budget
lines, no cell map), a small fraction of the whole, kept as compact JSON from the same reading.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from pipeline.finance.ledger import Application, Ledger
from pipeline.ingest.crosscheck import concentration, run_cross_checks
from pipeline.ingest.exports import ExportWriter, load_arrow_without_numpy
from pipeline.ingest.review import ReviewWriter, application_rows, submission_rows
from pipeline.ingest.store import Store
from pipeline.ingest.worker import dumps_json_bytes, write_json
from pipeline.packs import load_pack
from pipeline.sandbox import IsolatedCall

# What the cross-checks and the concentration tables do not read: the bulk of a submission (its cell map
# and stated values, and the tables the form binds to costs).
_HEAVY = frozenset({"source", "stated"})
_HEAVY_GROUPS = ("budget", "tax")


@cache
def _heavy(program: str) -> frozenset[str]:
    pack = load_pack(program)
    return _HEAVY | {t for t in (pack.bound_table(g) for g in _HEAVY_GROUPS) if t}


class SlimDocument(dict):  # type: ignore[type-arg]
    """A latest submission as the cross-checks read it: key, program, file, versions and sha256 as entries,
    and ``["submission"]`` parsed again from compact JSON at each access.

    Python objects of a slim submission take ~19 KB, its JSON ~2 KB: held as JSON, the documents of
    5,000 submissions take ~11 MB instead of ~95 MB, for ~10 µs a parse (the checks read each a few times).
    Held as UTF-8 bytes, not str: orjson parses a str from its UTF-8 form, which CPython then keeps inside
    the str for good (+15 MB over 5,000 submissions once each was read).
    The last one parsed is kept (one, whatever the batch): a check often reads one submission's plan and
    people in a row. Over 1,000 submissions: 6,800 parses and 147 ms of cross-checks -> 5,200 and 85 ms.
    The checks only read what they get.
    """

    __slots__ = ("json",)
    json: bytes
    _last: tuple[SlimDocument | None, Any] = (None, None)

    def __missing__(self, key: str) -> Any:
        if key != "submission":
            raise KeyError(key)
        doc, parsed = SlimDocument._last
        if doc is not self:
            parsed = orjson.loads(self.json)
            SlimDocument._last = (self, parsed)
        return parsed


def slim_document(doc: dict[str, Any]) -> SlimDocument:
    """A latest submission as the cross-checks and the names read it: without its budget lines and cell map.

    Made from the document the rows were worked out from (one parse of each document an output build)."""
    slim = SlimDocument(key=doc["key"], program=doc["program"], sha256=doc["sha256"], file=doc["file"],
                        versions=doc["versions"])
    heavy = _heavy(doc["program"])
    text = dumps_json_bytes({k: v for k, v in doc["submission"].items() if k not in heavy})  # as stored
    slim.json = bytes(memoryview(text))  # a copy of its size: orjson's bytes keep ~8 KB to spare (40 MB at 5,000)
    return slim


def submissions(store: Store, latest: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(document, findings report) of each latest submission, in the order of ``latest``, one at a time."""
    meta = {row["latest_sha256"]: row for row in latest}
    for sha, submission, report in store.documents(list(meta)):
        row = meta[sha]
        yield ({"key": row["key"], "program": row["program"], "sha256": sha, "file": row["name"],
                "versions": row["versions"], "submission": submission}, report)


def applications(store: Store, latest: list[dict[str, Any]]) -> Iterator[Application]:
    """Each latest submission as the finance review sees it (worklist lines, totals, status), a few hundred
    at a time, in the order of ``latest``."""
    ledger = Ledger(store.db)
    keys = [row["key"] for row in latest]
    for start in range(0, len(keys), 200):
        yield from ledger.applications(keys[start:start + 200])


_BATCH = 200  # rows sent to the child per message
_PIPE_BYTES = 1 << 20  # the rows' pipe: the parent runs up to this far ahead of the child (Linux's default limit)


def _review_child(out: Path, url: str, rows_in: Any, parent_end: Any) -> Path:
    """review.xlsx and the Parquet exports, written by a forked child from what the parent sends: each
    application's and each submission's rows (worked out once, for the exports and for this workbook), then
    the quarantine, then the cross-checks. The Files listing and the review log it reads from the database.

    Forked before the parent reads the cross-checks' documents, so it does not carry (and the process
    tree does not count twice) the memory they took. Everything but the cross-checks' tables is closed
    while the parent runs them: what is left once they come is the workbook's assembly."""
    parent_end.close()  # the parent's end, copied by fork: while it is open here the end of the rows never comes
    load_arrow_without_numpy()
    with ReviewWriter(out / "review.xlsx") as writer, ExportWriter(out / "exports", ("parquet",)) as exports:
        while True:
            try:
                batch = pickle.loads(rows_in.recv_bytes())
            except EOFError:
                raise RuntimeError("the rows of review.xlsx ended before the cross-checks came") from None
            for kind, item in batch:
                if kind == "application":
                    writer.add_application_rows(*item)
                    exports.add_application_rows(*item)
                elif kind == "submission":
                    writer.add_submission(*item)
                    exports.add_submission(*item)
                elif kind == "quarantine":
                    _close_streamed(url, writer, exports, item)
                else:
                    exports.finish_cross(*item)
                    return writer.finish_cross(*item)


def _close_streamed(url: str, writer: ReviewWriter, exports: ExportWriter, quarantine: list[dict[str, Any]]) -> None:
    """The tables of both that do not wait for the cross-checks, each reading the Files listing as it writes it."""
    store = Store(url)
    try:
        exports.close_streamed(quarantine, store.files_listing(), Ledger(store.db).log())
        writer.close_streamed(quarantine, store.files_listing())
    finally:
        store.close()


class _RowPipe:
    """The parent's end of the rows sent to the review.xlsx child, in batches of _BATCH.

    A child that died stops the sending (its error is raised by IsolatedCall.result, not here)."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.batch, self.broken = conn, [], False

    def send(self, kind: str, item: Any) -> None:
        self.batch.append((kind, item))
        if len(self.batch) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch and not self.broken:
            try:
                self.conn.send_bytes(pickle.dumps(self.batch, pickle.HIGHEST_PROTOCOL))
            except OSError:  # BrokenPipeError: the child is gone; result() says why
                self.broken = True
        self.batch = []

    def close(self) -> None:
        self.flush()
        self.conn.close()


def build_outputs(out: Path, store: Store) -> tuple[int, int]:
    """Cross-check the latest submissions and write every output; returns (submissions, cross findings).

    Each submission's rows are worked out once, here: written to the CSV exports and sent to a forked
    child that writes review.xlsx (xlsxwriter, the slowest output) and the Parquet exports meanwhile,
    so the two use both cores.
    """
    rows_in, rows_out = multiprocessing.Pipe(duplex=False)
    with contextlib.suppress(ImportError, AttributeError, OSError):  # Linux only (Windows has no fcntl)
        import fcntl

        fcntl.fcntl(rows_out.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    with IsolatedCall(_review_child, (out, store.url, rows_in, rows_out), timeout=None,
                      memory_bytes=None) as review:
        rows_in.close()
        pipe = _RowPipe(rows_out)
        try:
            latest = store.latest()
            docs: list[dict[str, Any]] = []
            names: dict[str, tuple[Any, Any, Any]] = {}
            with ExportWriter(out / "exports", ("csv",)) as exports:
                # The rows first: the child writes them while the cross-checks run here. Each one's rows are
                # worked out once, for the exports and for review.xlsx.
                for doc, report in submissions(store, latest):
                    rows = submission_rows(doc, report)
                    exports.add_submission(*rows)
                    pipe.send("submission", rows)
                    docs.append(slim_document(doc))
                    summary = rows[0]  # the names as the pack's fields give them, read once
                    names[doc["key"]] = (summary["institution"], summary["pi_name"], summary["title"])
                store.name_submissions(names)  # before the applications' rows: their sheet shows these names
                for app in applications(store, latest):
                    rows = application_rows(app)
                    exports.add_application_rows(*rows)
                    pipe.send("application", rows)
                quarantine = store.quarantined()
                pipe.send("quarantine", quarantine)
                pipe.flush()  # the child closes all but the cross-checks' tables while they run here
                cross = run_cross_checks(docs)
                store.replace_cross_findings(cross)
                conc = concentration(docs)
                del docs
                write_json(out / "quarantine.json", quarantine)
                write_json(out / "crosscheck.json", cross)
                pipe.send("cross", (cross, conc))
                pipe.close()
                exports.finish(cross, conc, quarantine, store.files_listing(), Ledger(store.db).log())
        finally:
            pipe.close()
        review.result()
    return len(latest), len(cross)
