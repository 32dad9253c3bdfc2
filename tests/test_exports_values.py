"""The Parquet exports keep what fits a column's type and nothing else, whatever a row holds.

pipeline.ingest.exports._Export sends a row of plain values to Arrow's JSON reader as it is and fits
a batch value by value only when the reader refuses it; these tests hold both paths to one rule,
written out here independently: a text column keeps text, a boolean column booleans, an integer
column int64 (and floats that are whole numbers), a float column finite floats and the integers
JSON holds. A value that does not fit is empty in Parquet; the CSV keeps it as typed.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest import exports
from pipeline.ingest.exports import write_exports

# Column names fix the Parquet type (exports._arrow_type): one of each kind.
COLUMNS = {"description": "text", "over_base": "bool", "amount": "int", "quantity": "float"}


class Label(str):
    """A str subclass, as a library might hand over."""


def expected(kind: str, value: Any) -> Any:
    if kind == "text":
        return value.encode("utf-8", "replace").decode() if isinstance(value, str) else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind == "int":
        if isinstance(value, int):
            return value if -2**63 <= value < 2**63 else None
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            return int(value)
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return float(value) if -2**63 <= value < 2**64 else None
    return None


ODD = [None, True, False, 0, -1, 7_700_000, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64 - 1, 2**64, 10**30,
       3.0, 2.5, -0.0, 1e308, 1.7976931348623157e308, float("inf"), float("-inf"), float("nan"),
       "航空券", "=SUM(A1)", "lone \udc80 surrogate", "", Label("label"), dt.date(2025, 4, 1),
       decimal.Decimal("1.5"), [1, 2], {"a": 1}]
values = st.sampled_from(ODD) | st.integers() | st.floats() | st.text(max_size=8)


def _as_csv(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8", "replace").decode()
        return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value
    return "" if value is None else str(value)


def _read(folder: Path, name: str) -> list[dict[str, Any]]:
    return pq.read_table(folder / f"{name}.parquet").to_pylist()


def _same(got: Any, want: Any) -> bool:
    return type(got) is type(want) and (got == want or (isinstance(got, float) and str(got) == str(want)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(*[values] * len(COLUMNS)).map(lambda v: dict(zip(COLUMNS, v, strict=True))),
                     min_size=1, max_size=12),
       batch=st.integers(1, 5))
def test_parquet_keeps_what_fits_and_csv_keeps_all(rows: list[dict[str, Any]], batch: int, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports._Export, "BATCH", batch)  # several batches: clean ones and refused ones
    folder = tmp_path / f"x{len(list(tmp_path.iterdir()))}"
    write_exports(folder, {"odd": rows})
    got = _read(folder, "odd")
    assert len(got) == len(rows)
    for row, back in zip(rows, got, strict=True):
        for column, kind in COLUMNS.items():
            want = expected(kind, row[column])
            assert _same(back[column], want), (column, row[column], back[column], want)
    with (folder / "odd.csv").open(encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == list(COLUMNS) and len(lines) == len(rows) + 1
    for row, line in zip(rows, lines[1:], strict=True):  # as typed (text neutralised, a lone surrogate "?")
        assert line == [_as_csv(row[c]) for c in COLUMNS]


def test_a_clean_batch_is_read_once_and_a_refused_one_fitted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's rows are read by Arrow as they are; one whole-number float in an integer column sends
    its batch (and only its batch) through the fitting."""
    reads: list[int] = []
    real = exports._Export._read

    def counting(self: exports._Export, data: bytes) -> Any:
        reads.append(data.count(b"\n"))
        return real(self, data)

    monkeypatch.setattr(exports._Export, "_read", counting)
    monkeypatch.setattr(exports._Export, "BATCH", 2)
    rows = [{"description": "a", "over_base": False, "amount": 1, "quantity": 1.5},
            {"description": "b", "over_base": True, "amount": 2, "quantity": 2},
            {"description": "c", "over_base": None, "amount": 3.0, "quantity": None},
            {"description": "d", "over_base": False, "amount": 4, "quantity": 0.5}]
    write_exports(tmp_path, {"odd": rows})
    assert reads == [2, 2, 2]  # the first batch once; the second refused, then read fitted
    assert [r["amount"] for r in _read(tmp_path, "odd")] == [1, 2, 3, 4]
    assert [r["quantity"] for r in _read(tmp_path, "odd")] == [1.5, 2.0, None, 0.5]


def test_csv_and_parquet_written_apart_are_the_files_written_together(tmp_path: Path) -> None:
    """The ingest writes the CSV in its parent and Parquet in its child (pipeline.ingest.outputs): each
    format alone gives the same bytes as both together, and the CSV alone never loads Arrow."""
    n = len(ODD) - 5  # four columns of odd values, each in another order
    rows = [dict(zip(COLUMNS, values, strict=True)) for values in zip(ODD[:n], ODD[::-1][:n], ODD[3:3 + n], ODD[5:],
                                                                       strict=True)]
    for where, formats in (("together", ("csv", "parquet")), ("csv", ("csv",)), ("parquet", ("parquet",))):
        (tmp_path / where).mkdir()
        table = exports._Export(tmp_path / where, "odd", list(COLUMNS), formats)
        for row in rows:
            table.add(row)
        table.close()
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["odd.csv"]
    assert sorted(p.name for p in (tmp_path / "parquet").iterdir()) == ["odd.parquet"]
    for name in ("odd.csv", "odd.parquet"):
        apart = tmp_path / name.split(".")[1] / name
        assert apart.read_bytes() == (tmp_path / "together" / name).read_bytes(), name

    script = ("import sys; from pathlib import Path; from pipeline.ingest.exports import ExportWriter; "
              f"w = ExportWriter(Path({str(tmp_path / 'csv-only')!r}), ('csv',)); w.finish([], {{}}, []); "
              "assert 'pyarrow' not in sys.modules, 'Arrow loaded'")
    subprocess.run([sys.executable, "-c", script], check=True)
    assert (tmp_path / "csv-only" / "items.csv").exists() and not list((tmp_path / "csv-only").glob("*.parquet"))
