"""The usual table cells read without a location (submission._usual_value) read exactly as _Collector.value
reads them, and only when value would find nothing wrong with them.

Checked on every table cell of the shipped samples (and of those round-tripped through LibreOffice), and
on generated cells of every column of every pack: text with and without error values, choices known and
unknown, numbers whole and fractional, in and out of range, infinite and NaN, dates and date-times.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import submission
from pipeline.packs import load_pack, pack_ids
from pipeline.submission import _UNUSUAL, _Collector, _usual_value, value_range
from pipeline.validate import read_raw, validate_raw

SAMPLES = sorted((Path(__file__).parents[1] / "samples").glob("*.xlsx"))
COLUMNS = [(pack_id, column) for pack_id in pack_ids() for table in load_pack(pack_id).form["tables"]
           for column in table["columns"]]


def _same(pack_id: str, raw: Any, spec: dict[str, Any], checked: bool = False) -> Any:
    """What _usual_value gives, having checked it against a fresh _Collector.value that found nothing."""
    pack = load_pack(pack_id)
    usual = _usual_value(raw, spec["type"], pack, spec, *value_range(spec))
    if usual is _UNUSUAL:
        return usual
    col = _Collector(pack, date1904=False)
    expected = col.value(raw, spec, lambda: pytest.fail("value needed a location"), checked)
    assert not col.findings and not col.text_inputs, (raw, spec["key"])
    assert usual == expected and type(usual) is type(expected), (raw, spec["key"], usual, expected)
    return usual


def _cells(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, dict[str, Any], bool]]:
    """Every (pack, raw cell, column spec, checked) that reading ``paths`` hands to _Collector.value's callers."""
    seen: list[tuple[str, Any, dict[str, Any], bool]] = []
    real = submission._usual_value

    def spy(raw: Any, kind: str, pack: Any, spec: dict[str, Any], low: float, high: float) -> Any:
        seen.append((pack.id, raw, spec, False))
        return real(raw, kind, pack, spec, low, high)

    monkeypatch.setattr(submission, "_usual_value", spy)
    for path in paths:
        validate_raw(read_raw(path, isolate=False))
    monkeypatch.undo()
    return seen


def test_every_sample_cell_reads_as_value_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cells = _cells(SAMPLES, monkeypatch)
    taken = [c for c in cells if _same(*c) is not _UNUSUAL]
    kinds = {spec["type"] for _, _, spec, _ in taken}
    assert {"text", "choice", "date", "yen", "int", "number"} <= kinds  # each fast path is taken ...
    assert len(taken) > 0.8 * len(cells)  # ... for most cells, and the others go to value
    left = {(spec["type"], type(raw).__name__) for pack_id, raw, spec, _ in cells
            if _same(pack_id, raw, spec) is _UNUSUAL}
    assert ("yen", "str") in left  # the samples' numbers typed as text are value's, with their findings


def test_cells_libreoffice_wrote_read_as_value_reads_them(libreoffice: Callable[[Path], Path],
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copies = []
    for path in SAMPLES[:3]:
        copy = tmp_path / path.name
        copy.write_bytes(path.read_bytes())
        copies.append(libreoffice(copy))
    cells = _cells(copies, monkeypatch)
    assert sum(_same(*c) is not _UNUSUAL for c in cells) > 0.8 * len(cells)


_texts = st.one_of(st.text(max_size=12), st.sampled_from(["#REF!", " #N/A ", "#1 item", "　全角　", "Ａ１", "\x00x",
                                                         "12,000円", "令和8年", "1.5", "  ", "はい"]))
_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e-7, 1e-12, 12000.0000001, 12000.00001, 2026.0, 1e12,
                                     1e12 + 1, -1e12, 1e9, 1e9 + 1, 3.0000000001, 4.000001]))
_dates = st.one_of(st.dates(), st.datetimes(), st.times())
_raws = st.one_of(_texts, _floats, _dates, st.integers(-10**15, 10**15), st.booleans())


@settings(max_examples=600, deadline=None)
@given(column=st.sampled_from(COLUMNS), raw=_raws, checked=st.booleans())
def test_any_cell_reads_as_value_reads_it_or_goes_to_value(column: tuple[str, dict[str, Any]], raw: Any,
                                                           checked: bool) -> None:
    pack_id, spec = column
    if raw is None or raw == "":
        return  # never handed over: an empty cell is None before either is asked
    _same(pack_id, raw, spec, checked)


def test_the_choices_of_every_list_read_by_code_label_and_alias() -> None:
    taken = 0
    for pack_id, spec in COLUMNS:
        if spec["type"] != "choice":
            continue
        for choice in load_pack(pack_id).lists.get(spec["list"], []):
            for text in (choice.code, choice.ja, choice.en):
                if text and _same(pack_id, text, spec) is not _UNUSUAL:
                    taken += 1
    assert taken > 50


def test_what_goes_to_value() -> None:
    """Each kind of cell that needs value's findings or its location is left to it: whatever the column."""
    unusual = {
        "yen": ("#REF!", "12,000円", 12.5, 12000.00001, math.inf, math.nan, 2e12, dt.date(2026, 4, 1), True, 5),
        "int": (2.5, 3.000001, "3", -math.inf, 2e9, -1.0),
        "number": (1e-7, -1e-9, math.nan, "2.5", 2e9),
        "date": ("2026-04-01", 46000.0, dt.time(9, 0), "#N/A"),
        "text": (12.0, dt.date(2026, 4, 1), "#1 item", True),
    }
    usual = {"yen": (12000.0, 12000.0000001), "int": (3.0, 3.0000000001), "number": (2.5, 3.0, 0.0, 1e-5),
             "date": (dt.date(2026, 4, 1), dt.datetime(2026, 4, 1, 9, 30)), "text": ("　全角　Ａ１ ", "x")}
    for kind, raws in unusual.items():
        pack_id, spec = max(((p, c) for p, c in COLUMNS if c["type"] == kind),  # its widest column
                            key=lambda pc: value_range(pc[1])[1] - value_range(pc[1])[0] if kind != "text" else 0)
        for raw in raws:
            assert _same(pack_id, raw, spec) is _UNUSUAL, (kind, raw)
        for raw in usual[kind]:
            assert _same(pack_id, raw, spec) is not _UNUSUAL, (kind, raw)
