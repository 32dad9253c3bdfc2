"""review.xlsx and the exports keep their shape whatever one file holds (issue #10).

A workbook with 20,000 distinct unknown budget categories used to make summary.csv 20,019 columns
wide and cut review.xlsx's Summary at Excel's 16,384 columns, dropping every submission's totals.
The Summary now has the packs' categories and one bucket; unknown categories are listed apart.
Also here: every text of review.xlsx and the CSV neutralised (the Charts sheet included), temporary
files named for the cleanup, and sheets bounded by Excel's row limit.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.cellsafe import neutralise
from pipeline.ingest import review
from pipeline.ingest.executor import InlineExecutor
from pipeline.ingest.exports import write_exports
from pipeline.ingest.review import category_columns, summary_columns, write_review
from pipeline.ingest.run import ingest
from pipeline.packs import all_packs
from pipeline.settings import TEMP_PREFIX
from tests.hostile_workbooks import YOUTH, _unknown_categories, variant, write_valid

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# What xlsxwriter's constant_memory mode takes for a rich string and writes into the sheet unescaped.
RICH_LOOKALIKE = '<r><t>x</t></r></is></c><c r="Z2"><f>1+1</f></c><c r="Z3" t="inlineStr"><is><r><t>y</t></r>'
ODD = 20_000


def _sheet(path: Path, name: str) -> list[tuple[Any, ...]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(wb[name].iter_rows(values_only=True))
    finally:
        wb.close()


def _by_file(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    header = rows[0]
    return {r[header.index("ファイル File")]: dict(zip(header, r, strict=True)) for r in rows[1:]}


@pytest.fixture(scope="module")
def odd_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three valid applications (one per pack), and the same folder plus the 20,000-category workbook."""
    from pipeline.fill import fill_template
    from pipeline.samples import load_scenarios

    valid = tmp_path_factory.mktemp("valid")
    write_valid(valid, 3)
    mixed = tmp_path_factory.mktemp("mixed")
    for p in valid.glob("*.xlsx"):
        (mixed / p.name).write_bytes(p.read_bytes())
    data = variant({sc["pack"]: sc["base"] for sc in load_scenarios()}[YOUTH], YOUTH, "odd")
    _unknown_categories(data, ODD)
    odd = fill_template(YOUTH, data, mixed / "odd.xlsx")
    assert odd.stat().st_size > 500_000
    return valid, mixed


def test_one_file_with_20000_unknown_categories_keeps_every_total(odd_batch: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    valid, mixed = odd_batch
    ingest([valid], tmp_path / "valid", executor=InlineExecutor(), progress=False)
    summary = ingest([mixed], tmp_path / "mixed", executor=InlineExecutor(), progress=False)
    assert summary.processed == 4 and summary.quarantined == 0
    out = tmp_path / "mixed"

    reference = _sheet(tmp_path / "valid" / "review.xlsx", "Summary")
    rows = _sheet(out / "review.xlsx", "Summary")
    assert rows[0] == reference[0], "the same columns with or without the odd file"
    assert len(rows[0]) == len(summary_columns()) < 40
    by_file = _by_file(rows)
    assert len(by_file) == 4
    bucket = f"{category_columns()[-1][1]} {category_columns()[-1][2]}"
    parts = [h for h in rows[0] if h in {f"{ja} {en}" for _, ja, en in category_columns()}]
    assert len(parts) == len(category_columns()) and bucket in parts
    for name, row in by_file.items():
        for col in ("総額 Total", "直接経費 Direct", "一般管理費 Overhead", "エラー Errors", "警告 Warnings"):
            assert isinstance(row[col], int | float), (name, col, row[col])
        assert sum(row[h] for h in parts) == row["直接経費 Direct"], name  # the parts add up to the total
        assert row["総額 Total"] == row["直接経費 Direct"] + row["一般管理費 Overhead"]
    odd = by_file[f"{mixed.name}/odd.xlsx"]
    assert odd["直接経費 Direct"] > 0 and odd[bucket] == odd["直接経費 Direct"]
    assert odd["エラー Errors"] >= 1
    for name, row in by_file.items():
        if name != f"{mixed.name}/odd.xlsx":
            assert row[bucket] == 0 and row == _by_file(reference)[name.replace(mixed.name, valid.name)] | {
                "ファイル File": name}

    listed = _sheet(out / "review.xlsx", "Unknown categories")
    header = listed[0]
    assert len(listed) - 1 == ODD
    texts = {r[header.index("費目 Category")] for r in listed[1:]}
    assert texts == {f"不明な費目 {i:05d}" for i in range(ODD)}, "listed as typed"
    assert sum(r[header.index("金額 Amount")] for r in listed[1:]) == odd[bucket]

    exported = pd.read_csv(out / "exports" / "summary.csv", encoding="utf-8-sig")
    assert list(exported.columns) == summary_columns()
    assert list(pd.read_parquet(out / "exports" / "summary.parquet").columns) == summary_columns()
    unknown = pd.read_parquet(out / "exports" / "unknown_categories.parquet")
    assert len(unknown) == ODD and unknown["amount"].sum() == odd[bucket]
    assert set(unknown["file"]) == {f"{mixed.name}/odd.xlsx"}
    empty = pd.read_csv(tmp_path / "valid" / "exports" / "unknown_categories.csv", encoding="utf-8-sig")
    assert list(empty.columns) == list(unknown.columns) and empty.empty, "the same table, empty"


def test_category_columns_come_from_the_packs() -> None:
    from pipeline.ingest.review import pack_categories

    columns = category_columns()
    codes = [code for code, _, _ in columns]
    assert codes[-1] == "unknown" and len(set(codes)) == len(codes)
    from_packs = {code for p in all_packs() for code, _, _ in pack_categories(p)}
    assert set(codes[:-1]) == from_packs
    for pack in all_packs():  # each pack's own order is kept
        own = [code for code, _, _ in pack_categories(pack)]
        assert [c for c in codes if c in own] == own
    assert all(not ja[:1].isascii() for _, ja, _ in columns), "the call's numbering (I, II ...) is dropped"


def test_a_category_known_to_another_pack_is_unknown_here(tmp_path: Path, base: Callable[[str], dict[str, Any]],
                                                          make_workbook: Callable[..., Path]) -> None:
    """India has no 'goods' category: typed there, it goes to the bucket, not to NEXUS's goods column."""
    data = base("india-circulation-2025")
    data["budget"].append({"category": "goods", "description": "物品", "unit_price": 1000, "quantity": 3,
                           "fiscal_year": 2026})
    folder = tmp_path / "in"
    folder.mkdir()
    make_workbook("india-circulation-2025", data).rename(folder / "india.xlsx")
    ingest([folder], tmp_path / "out", executor=InlineExecutor(), progress=False)
    row = next(iter(_by_file(_sheet(tmp_path / "out" / "review.xlsx", "Summary")).values()))
    goods = next(f"{ja} {en}" for code, ja, en in category_columns() if code == "goods")
    bucket = f"{category_columns()[-1][1]} {category_columns()[-1][2]}"
    assert row[goods] == 0 and row[bucket] == 3000
    listed = _sheet(tmp_path / "out" / "review.xlsx", "Unknown categories")
    assert [(r[4], r[5], r[6]) for r in listed[1:]] == [("goods", 3000, 1)]


def test_no_text_in_review_or_csv_can_run_as_a_formula(tmp_path: Path, base: Callable[[str], dict[str, Any]],
                                                       make_workbook: Callable[..., Path]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    youth = base(YOUTH)
    youth["budget"][0]["category"] = "+cmd|' /C calc'!A0"
    youth["budget"][1]["category"] = "-2+3+cmd|' /C calc'!A0"
    youth["plan"]["institution"] = "@SUM(1+1)大学"
    youth["budget"][2]["description"] = RICH_LOOKALIKE
    make_workbook(YOUTH, youth).rename(folder / "youth.xlsx")
    india = base("india-circulation-2025")
    india["budget"][0]["category"] = '=HYPERLINK("http://x","click")'
    make_workbook("india-circulation-2025", india).rename(folder / "india.xlsx")
    out = tmp_path / "out"
    ingest([folder], out, executor=InlineExecutor(), progress=False)

    wb = openpyxl.load_workbook(out / "review.xlsx")
    seen = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str):
                    assert not c.value.startswith(TRIGGERS), (ws.title, c.coordinate, c.value)
                    seen.add(c.value)
    for text in ("+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", '=HYPERLINK("http://x","click")'):
        assert "'" + text in seen, text  # listed, as typed, behind an apostrophe
    assert RICH_LOOKALIKE in seen  # text, not XML: xlsxwriter's constant_memory mode wrote it raw (a formula)
    listed = {r[4] for r in _sheet(out / "review.xlsx", "Unknown categories")[1:]}
    assert "'+cmd|' /C calc'!A0" in listed
    with zipfile.ZipFile(out / "review.xlsx") as zf:  # the charts' cached category labels too
        for name in zf.namelist():
            if name.startswith("xl/charts/"):
                xml = zf.read(name).decode()
                for trigger in TRIGGERS:
                    assert f"<c:v>{trigger}" not in xml, (name, trigger)

    for path in (out / "exports").glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for record in csv.reader(fh):
                for value in record:
                    assert not value.startswith(TRIGGERS), (path.name, value)
    text = (out / "exports" / "unknown_categories.csv").read_text(encoding="utf-8-sig")
    assert "'+cmd|' /C calc'!A0" in text and "'=HYPERLINK" in text


def _tables(n_items: int = 3, country: str = "India") -> dict[str, Any]:
    summary = [{c: (1 if c.startswith("direct_") or c in ("total", "overhead", "errors", "warnings") else "=x")
                for c in summary_columns()}]
    items = [{"program": "=p", "file": f"f{i}.xlsx", "category": "+c", "amount": i, "verdict": "ok"}
             for i in range(n_items)]
    unknown = [{"program": "=p", "file": "f.xlsx", "institution": "-i", "title": "@t", "category": "+c",
                "amount": 5, "lines": 1}]
    countries = [{"program": "=evil", "country": f"{country}{i}", "applications": 1, "requested_yen": 100 + i}
                 for i in range(40)]
    return {"summary": summary, "items": items, "findings": [], "cross": [], "conc": {"country": countries},
            "quarantine": [{"name": "=q.xlsx", "error_code": "x", "error_ja": "-", "error_en": "@", "size": 1,
                            "sha256": "0"}], "unknown": unknown}


def _write(path: Path, t: dict[str, Any]) -> Path:
    return write_review(path, t["summary"], t["items"], t["findings"], t["cross"], t["conc"], t["quarantine"],
                        t["unknown"])


def test_charts_sheet_and_every_cell_neutralised_and_bounded(tmp_path: Path) -> None:
    path = _write(tmp_path / "review.xlsx", _tables())
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f" and not (isinstance(c.value, str) and c.value.startswith(TRIGGERS))
    charts = [r for r in wb["Charts"].iter_rows(values_only=True) if r[0] is not None]
    labels = [r[0] for r in charts]
    assert "'=evil:India39" in labels  # the largest country first, neutralised
    countries = labels[labels.index("国 Country") + 1:]
    assert len(countries) == review.CHART_COUNTRIES + 1 and countries[-1].startswith("その他 10 か国")
    assert sum(r[1] for r in charts[labels.index("国 Country") + 1:]) == sum(100 + i for i in range(40))


def test_sheets_stop_at_the_row_limit_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(review, "MAX_SHEET_ROWS", 10)
    path = _write(tmp_path / "review.xlsx", _tables(n_items=25))
    rows = _sheet(path, "Items")
    assert len(rows) == 10  # header, 8 lines, the note: never past the limit, never silently
    assert [r[1] for r in rows[1:9]] == [f"f{i}.xlsx" for i in range(8)]
    assert "17" in rows[9][0] and "exports/items.csv" in rows[9][0]


def test_review_is_byte_reproducible(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.xlsx", _tables()).read_bytes()
    b = _write(tmp_path / "b.xlsx", _tables()).read_bytes()
    assert a == b


def test_workbooks_written_from_several_threads_are_whole_and_xlsxwriter_is_left_as_it_was(tmp_path: Path) -> None:
    """review.xlsx is assembled with XlsxWriter's zip swapped for one deflating at level 1: never past the
    assembly, whichever thread writes which workbook when."""
    import threading

    import xlsxwriter.workbook

    paths = [tmp_path / f"r{i}.xlsx" for i in range(6)]
    threads = [threading.Thread(target=_write, args=(p, _tables())) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert xlsxwriter.workbook.ZipFile is zipfile.ZipFile
    first = paths[0].read_bytes()
    for p in paths:
        with zipfile.ZipFile(p) as zf:
            assert zf.testzip() is None and all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
        assert p.read_bytes() == first  # the same tables, the same bytes: each thread's workbook is its own
    assert _sheet(paths[-1], "Summary") == _sheet(_write(tmp_path / "alone.xlsx", _tables()), "Summary")


def test_temp_files_are_in_the_output_folder_and_named_for_the_cleanup(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Path] = []
    real = tempfile.mkstemp

    def spy(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, name = real(*args, **kwargs)
        made.append(Path(name))
        return fd, name

    monkeypatch.setattr(review.tempfile, "mkstemp", spy)
    out = tmp_path / "out"
    out.mkdir()
    t = _tables()
    _write(out / "review.xlsx", t)
    write_exports(out / "exports", {"summary": t["summary"], "items": t["items"], "unknown_categories": t["unknown"]})
    buffers = [p for p in made if p.parent.parent == out and p.parent.name.startswith(TEMP_PREFIX)]
    made = [p for p in made if p not in buffers]  # review.xlsx's sheet buffers, in a temp folder of the output
    assert len(made) == 1 + 2 * 3 and buffers
    for path in made:
        assert path.parent in (out, out / "exports") and path.name.startswith(TEMP_PREFIX), path
        assert not path.exists()
    assert not [p for p in out.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert sorted(p.name for p in (out / "exports").iterdir()) == sorted(
        f"{n}.{s}" for n in ("summary", "items", "unknown_categories") for s in ("csv", "parquet"))

    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_exports(out / "exports", {"items": t["items"]})
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)], "a failure leaves no temp file"


def test_unknown_listing_without_run_py_passing_it(tmp_path: Path) -> None:
    """run.py passes only the tables it knows: the listing travels with the summary rows."""
    from pipeline.ingest.review import summary_rows, unknown_category_rows

    docs = [{"program": YOUTH, "file": "a.xlsx", "versions": 1, "sha256": "0",
             "submission": {"plan": {"institution": "東都大学", "title_ja": "課題"},
                            "budget": [{"category": "travel", "amount": 10}, {"category": "謎", "amount": 5},
                                       {"category": "謎", "amount": 7}, {"category": None, "amount": 1}],
                            "totals": {"direct_total": 23, "overhead": 0, "overhead_rate": 0, "total": 23}}}]
    rows = summary_rows(docs, {"0": {"counts": {"error": 0, "warning": 1}}})
    assert rows[0]["direct_travel"] == 10 and rows[0]["direct_unknown"] == 13
    assert rows.unknown == unknown_category_rows(docs)
    assert [(u["category"], u["amount"], u["lines"]) for u in rows.unknown] == [("謎", 12, 2), (None, 1, 1)]
    write_exports(tmp_path, {"summary": rows})
    back = pd.read_csv(io.StringIO((tmp_path / "unknown_categories.csv").read_text(encoding="utf-8-sig")))
    assert back["amount"].tolist() == [12, 1]
    assert neutralise("謎") == "謎"
