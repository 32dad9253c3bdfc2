"""exports/: the review's tables as CSV and Parquet, for pandas users, streamed row by row.

The only module that imports pyarrow; review.xlsx (pipeline.ingest.review) holds the rows both share.
The CSV is UTF-8 with BOM for Excel, every text neutralised; Parquet's types are fixed by column name,
so the files have the same schema whatever the rows (or none).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from pipeline.cellsafe import CSV_LINE_END, neutralise_row
from pipeline.finance import worklist
from pipeline.finance.ledger import Application
from pipeline.ingest.review import (
    CROSS_COLUMNS,
    FINDING_COLUMNS,
    ITEM_COLUMNS,
    UNKNOWN_COLUMNS,
    application_rows,
    cross_rows,
    summary_columns,
)
from pipeline.tempfiles import output_temp, output_temp_path

FORMATS = ("csv", "parquet")


@cache
def _arrow() -> tuple[Any, Any, Any]:
    """pyarrow, pyarrow.json and pyarrow.parquet, imported when the first Parquet file is opened: a process
    that writes only the CSV (the ingest's parent) never loads Arrow (~0.1 s, ~40 MB).

    Arrow's allocator (mimalloc) is told to give freed memory back at once, unless the environment says
    otherwise: it kept ~45 MB of a 5,000-submission ingest's batches resident, against ~15 MB this way
    (memory that grew with the batch size), for no measurable CPU."""
    os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")  # read by mimalloc when pyarrow loads it, below
    import pyarrow
    import pyarrow.json
    import pyarrow.parquet

    return pyarrow, pyarrow.json, pyarrow.parquet


def load_arrow_without_numpy() -> None:
    """Import pyarrow for a process that will only write Parquet, without numpy where numpy is not loaded yet.

    pyarrow imports numpy whenever it is installed (pandas brings it), only to offer conversions the exports
    never make: ~0.1-0.15 s of CPU in every ingest that writes its outputs. For the ingest's review child
    alone, a forked process that ends when its files are written: anywhere else, pandas could not read Arrow
    data later in the same process. A pyarrow that cannot load without numpy loads with it."""
    if "numpy" in sys.modules or "pyarrow" in sys.modules:
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # an import of numpy raises ImportError
    try:
        _arrow()
        return
    except ImportError:  # this pyarrow needs numpy: forget its half-loaded modules, load it with numpy below
        for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
            del sys.modules[name]
    finally:
        del sys.modules["numpy"]
    _arrow()


_FLOAT_COLUMNS = frozenset({"overhead_pct", "quantity"})
_BOOL_COLUMNS = frozenset({"over_base", "over_base_reason"})
_INT_COLUMNS = frozenset({"version", "direct_total", "overhead", "total", "errors", "warnings", "row", "unit_price",
                          "amount", "fiscal_year", "lines", "applications", "requested_yen", "size", "versions", "seq",
                          "flagged_lines", "undecided", "id", *worklist.MONEY_COLUMNS})
QUARANTINE_EXPORT = ["name", "sha256", "size", "error_code", "error_ja", "error_en", "error_detail"]


def _arrow_type(column: str) -> Any:
    """The Parquet type of a column, fixed by its name: the same schema whatever the rows (or none)."""
    pa = _arrow()[0]
    if column in _FLOAT_COLUMNS:
        return pa.float64()
    if column in _BOOL_COLUMNS:
        return pa.bool_()
    if column in _INT_COLUMNS or (column.startswith("direct_")):
        return pa.int64()
    return pa.string()


def _fits(kind: Any) -> Any:
    """What a column of Arrow type ``kind`` keeps of a value: the value, or None when it does not fit.

    The engine's rows always fit; this keeps one odd value from failing the whole export (the CSV keeps
    it as typed). What fits is exactly what Arrow's JSON reader takes for the type (see _Export.add):
    a float column takes finite floats and the integers JSON holds (to 2^64), an integer column int64."""
    pa = _arrow()[0]
    if pa.types.is_string(kind):
        return lambda v: v if isinstance(v, str) else None
    if pa.types.is_boolean(kind):
        return lambda v: v if isinstance(v, bool) else None
    if pa.types.is_floating(kind):
        return lambda v: v if (isinstance(v, float) and math.isfinite(v)) or (
            isinstance(v, int) and not isinstance(v, bool) and -2**63 <= v < 2**64) else None
    return lambda v: v if isinstance(v, int) and not isinstance(v, bool) and -2**63 <= v < 2**63 else (
        int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**63 else None)


_PLAIN = frozenset({str, int, float, bool, type(None)})  # what orjson writes as Arrow's JSON reader reads it


def _json_line(row: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(row)
    except orjson.JSONEncodeError:  # a lone surrogate: replaced, as the database would refuse it anyway
        return orjson.dumps({k: v.encode("utf-8", "replace").decode() if isinstance(v, str) else v
                             for k, v in row.items()})


class _Export:
    """One table as CSV (UTF-8 with BOM, for Excel; every text neutralised) and Parquet, written as rows come.

    Rows go to the CSV at once and to Parquet in record batches, so memory stays flat; both files are
    temporary (settings.TEMP_PREFIX) until ``close`` renames them. ``formats``: which of the two this
    writer writes (the ingest writes the CSV in one process and Parquet in another).
    """

    BATCH = 4096

    def __init__(self, folder: Path, name: str, columns: list[str], formats: tuple[str, ...] = FORMATS) -> None:
        self.folder, self.name, self.columns = folder, name, columns
        self.csv_fh: Any = None
        self.csv: Any = None
        self.pq: Any = None
        self.pq_tmp: str | None = None
        self.csv_tmp: str | None = None
        self.parquet = "parquet" in formats
        if self.parquet:
            self.pq_tmp = str(output_temp_path(folder, ".parquet"))
            pa = _arrow()[0]
            self.schema = pa.schema([(c, _arrow_type(c)) for c in columns])
            self.fits = [_fits(field.type) for field in self.schema]
        if "csv" in formats:
            fd, self.csv_tmp = output_temp(folder, ".csv")
            # errors="replace": a lone surrogate (which no database or reader holds) becomes "?", as in Parquet
            self.csv_fh = os.fdopen(fd, "w", encoding="utf-8-sig", newline="", errors="replace")
            self.csv = csv.writer(self.csv_fh, lineterminator=CSV_LINE_END)
            self.csv.writerow(columns)
        self.batch, self.rows = bytearray(), 0  # rows as JSON lines, for Parquet

    def add(self, row: dict[str, Any]) -> None:
        values = list(map(row.get, self.columns))
        if self.csv is not None:
            self.csv.writerow(neutralise_row(values))
        if not self.parquet:
            return
        # Into one buffer: orjson's bytes keep their ~8 KB of spare capacity, which a list of them would hold.
        # A row of plain values goes as it is: Arrow's reader refuses, for the whole batch, any value its
        # column's type cannot take, and _flush then fits the batch value by value. A row of other types
        # (a str subclass, a datetime) or one orjson refuses (a lone surrogate, an integer past 64 bits) is
        # fitted here. ~1.6 µs a row instead of ~4.4 (the values' list included).
        if _PLAIN.issuperset(map(type, values)):
            try:
                self.batch += orjson.dumps(row)  # its other keys are ignored by the reader, as are nulls
            except orjson.JSONEncodeError:
                self.batch += self._fitted(values)
        else:
            self.batch += self._fitted(values)
        self.batch += b"\n"
        self.rows += 1
        if self.rows >= self.BATCH:
            self._flush()

    def _fitted(self, values: list[Any]) -> bytes:
        return _json_line({c: fit(v) for c, fit, v in zip(self.columns, self.fits, values, strict=True)
                           if v is not None})

    def _read(self, data: bytes) -> Any:
        pa_json = _arrow()[1]
        return pa_json.read_json(io.BytesIO(data),
                                 read_options=pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1),
                                 parse_options=pa_json.ParseOptions(explicit_schema=self.schema,
                                                                    unexpected_field_behavior="ignore"))

    def _flush(self) -> None:
        """The batch as a Parquet row group, parsed by Arrow's JSON reader against the fixed schema.

        Not ``pa.array`` of Python lists: that imports pandas (~0.3 s of every ingest) to ask whether
        a list is a pandas object."""
        pa, _, pq = _arrow()
        if self.pq is None:
            self.pq = pq.ParquetWriter(self.pq_tmp, self.schema)
        if not self.rows:
            self.pq.write_table(pa.Table.from_batches([], schema=self.schema))  # empty_table() imports pandas
            return
        data = bytes(self.batch)
        try:
            table = self._read(data)
        except pa.ArrowInvalid:  # a value its column cannot take (3.0 in an integer column): fitted one by one
            table = self._read(b"".join(self._fitted([row.get(c) for c in self.columns]) + b"\n"
                                        for row in map(orjson.loads, data.splitlines())))
        if not table.schema.equals(self.schema):  # as it always is; cast() would import pyarrow.compute (~30 ms)
            table = table.select(self.columns).cast(self.schema)
        self.pq.write_table(table)
        self.batch, self.rows = bytearray(), 0

    def close(self) -> None:
        if self.parquet:
            if self.rows or self.pq is None:
                self._flush()
            self.pq.close()
            os.replace(self.pq_tmp, self.folder / f"{self.name}.parquet")
        if self.csv_fh is not None:
            self.csv_fh.close()
            os.replace(self.csv_tmp, self.folder / f"{self.name}.csv")

    def abort(self) -> None:
        for done in (self.pq, self.csv_fh):
            with contextlib.suppress(Exception):
                if done is not None:
                    done.close()
        for tmp in (self.csv_tmp, self.pq_tmp):
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


class ExportWriter:
    """exports/: the review's tables as CSV and Parquet, for pandas users; streamed like ReviewWriter.

    ``formats``: both, or one of them (the ingest writes the CSV and the Parquet files in two processes)."""

    def __init__(self, folder: Path, formats: tuple[str, ...] = FORMATS) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.formats = folder, formats
        self.tables: dict[str, _Export] = {}
        for name, columns in (("worklist", worklist.FLAGGED_COLUMNS), ("applications", worklist.APPLICATION_COLUMNS),
                              ("summary", summary_columns()), ("items", ITEM_COLUMNS),
                              ("unknown_categories", UNKNOWN_COLUMNS), ("findings", FINDING_COLUMNS)):
            self.open(name, columns)

    def open(self, name: str, columns: list[str]) -> _Export:
        self.tables[name] = _Export(self.folder, name, columns, self.formats)
        return self.tables[name]

    def add_submission(self, summary: dict[str, Any], items: list[dict[str, Any]], findings: list[dict[str, Any]],
                       unknown: list[dict[str, Any]]) -> None:
        self.tables["summary"].add(summary)
        for table, rows in (("items", items), ("findings", findings), ("unknown_categories", unknown)):
            for row in rows:
                self.tables[table].add(row)

    def add_application(self, app: Application) -> None:
        self.add_application_rows(*application_rows(app))

    def add_application_rows(self, flagged: list[dict[str, Any]], row: dict[str, Any], _totals: Any = None) -> None:
        for line in flagged:
            self.tables["worklist"].add(line)
        self.tables["applications"].add(row)

    def finish(self, cross: list[dict[str, Any]], conc: dict[str, list[dict[str, Any]]],
               quarantine: list[dict[str, Any]], files: Iterable[dict[str, Any]] = (),
               log: Iterable[dict[str, Any]] = ()) -> None:
        self.close_streamed(quarantine, files, log)
        self.finish_cross(cross, conc)

    def close_streamed(self, quarantine: list[dict[str, Any]], files: Iterable[dict[str, Any]] = (),
                       log: Iterable[dict[str, Any]] = ()) -> None:
        """Every table but the cross-checks and the concentration tables (``finish_cross``), closed: the
        ingest's child does this while the parent still runs the cross-checks."""
        for table in self.tables.values():
            table.close()
        self.tables.clear()
        for name, columns, rows in (("quarantine", QUARANTINE_EXPORT, quarantine),
                                    ("files", worklist.FILE_COLUMNS, (worklist.file_row(r) for r in files)),
                                    ("review_log", worklist.LOG_COLUMNS, log)):
            self._write(name, columns, rows)

    def finish_cross(self, cross: list[dict[str, Any]], conc: dict[str, list[dict[str, Any]]]) -> None:
        self._write("cross_checks", CROSS_COLUMNS, cross_rows(cross))
        for dim, rows in conc.items():
            self._write(f"by_{dim}", ["program", dim, "applications", "requested_yen"], rows)

    def _write(self, name: str, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
        table = self.open(name, columns)
        for row in rows:
            table.add(row)
        table.close()
        del self.tables[name]

    def abort(self) -> None:
        for table in self.tables.values():
            table.abort()

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None:
            self.abort()


_KNOWN_COLUMNS = {"summary": summary_columns, "items": lambda: ITEM_COLUMNS,
                  "unknown_categories": lambda: UNKNOWN_COLUMNS, "findings": lambda: FINDING_COLUMNS,
                  "cross_checks": lambda: CROSS_COLUMNS, "quarantine": lambda: QUARANTINE_EXPORT}


def write_exports(folder: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Whole tables as CSV and Parquet (the ingest streams through ExportWriter instead; same files).

    ``unknown_categories`` is taken from the summary's listing when not given (see SummaryRows).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if "unknown_categories" not in tables and "summary" in tables:
        tables = {**tables, "unknown_categories": getattr(tables["summary"], "unknown", [])}
    done: list[_Export] = []
    try:
        for name, rows in tables.items():
            columns = _KNOWN_COLUMNS[name]() if name in _KNOWN_COLUMNS else list(rows[0]) if rows else ["—"]
            table = _Export(folder, name, columns)
            done.append(table)
            for row in rows:
                table.add(row)
            table.close()
    except BaseException:
        for table in done:
            table.abort()
        raise
