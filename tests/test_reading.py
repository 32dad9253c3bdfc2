"""Reading is by defined names and tables: moved cells, odd values and damaged templates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter, range_boundaries

from pipeline.safety import WorkbookRejected
from pipeline.validate import validate_file
from tests.conftest import codes, only

YOUTH = "nexus-ytec-youth-2025"


def insert_rows_like_excel(path: Path, sheet: str, at: int, n: int) -> None:
    """Insert ``n`` rows above row ``at`` and move names and tables with them, as Excel does."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    ws.insert_rows(at, n)
    for name in list(wb.defined_names):
        dn = wb.defined_names[name]
        dests = list(dn.destinations)
        if len(dests) == 1 and dests[0][0] == sheet:
            col_row = dests[0][1].replace("$", "")
            col = "".join(c for c in col_row if c.isalpha())
            row = int("".join(c for c in col_row if c.isdigit()))
            if row >= at:
                dn.attr_text = f"'{sheet}'!${col}${row + n}"
    for table in ws.tables.values():
        c1, r1, c2, r2 = range_boundaries(table.ref)
        if r1 >= at:
            table.ref = f"{get_column_letter(c1)}{r1 + n}:{get_column_letter(c2)}{r2 + n}"
            table.autoFilter.ref = table.ref
    wb.save(path)


def test_inserted_rows_do_not_break_reading(base: Callable, make_workbook: Callable) -> None:
    path = make_workbook(YOUTH, base(YOUTH))
    before = validate_file(path, isolate=False)
    insert_rows_like_excel(path, "交流計画 Plan", 3, 4)
    insert_rows_like_excel(path, "経費 Budget", 2, 3)
    after = validate_file(path, isolate=False)
    assert after.submission["plan"] == before.submission["plan"]
    assert after.submission["budget"] == before.submission["budget"]
    assert after.submission["counterparts"] == before.submission["counterparts"]
    src_b, src_a = before.submission["source"]["tables"]["budget"], after.submission["source"]["tables"]["budget"]
    assert src_a["rows"] == [r + 3 for r in src_b["rows"]]


def test_values_typed_the_japanese_way(base: Callable, check: Callable) -> None:
    data = base(YOUTH)
    data["plan"]["period_start"] = "令和８年１月１５日"
    data["plan"]["period_end"] = "２０２６／１２／２０"
    data["budget"][0].update(unit_price="￥９８，０００", quantity="３")
    data["budget"][1].update(unit_price=" 105,000円 ")
    data["participants"][0].update(name="  Niran\u3000 Chaiyo ", birth_date="2000/4/12",
                                   country="ﾀｲ", category="ﾎﾟｽﾄﾄﾞｸﾀｰ")
    report = check(YOUTH, data)
    sub = report.submission
    assert sub["plan"]["period_start"] == "2026-01-15"
    assert sub["plan"]["period_end"] == "2026-12-20"
    assert sub["budget"][0]["unit_price"] == 98_000 and sub["budget"][0]["amount"] == 294_000
    assert sub["budget"][1]["unit_price"] == 105_000
    person = sub["participants"][0]
    assert person["name"] == "Niran Chaiyo"
    assert person["birth_date"] == "2000-04-12"
    assert person["country"] == "TH"
    assert person["category"] == "postdoc"


def test_unreadable_values_are_located_findings(base: Callable, check: Callable) -> None:
    data = base(YOUTH)
    data["plan"]["period_start"] = "来年の春"
    data["budget"][2]["unit_price"] = "約1万"
    report = check(YOUTH, data)
    bad_date = only(report, "input.invalid-date")[0]
    assert bad_date.location.sheet == "交流計画 Plan" and bad_date.actual == "来年の春"
    assert "交流開始日" in bad_date.message_ja
    bad_yen = only(report, "input.invalid-yen")[0]
    assert bad_yen.location.sheet == "経費 Budget" and bad_yen.location.cell.startswith("D")
    assert report.submission["plan"]["period_start"] is None


def test_renamed_header_is_reported(base: Callable, make_workbook: Callable) -> None:
    path = make_workbook(YOUTH, base(YOUTH))
    wb = openpyxl.load_workbook(path)
    ws = wb["経費 Budget"]
    table = ws.tables["tblBudget"]
    c1, r1, _c2, _r2 = range_boundaries(table.ref)
    ws.cell(row=r1, column=c1 + 2, value="摘要")
    table.tableColumns[2].name = "摘要"
    wb.save(path)
    report = validate_file(path, isolate=False)
    missing = only(report, "input.missing-column")
    assert missing and "内容" in missing[0].message_ja and missing[0].location.row == r1


def test_deleted_table_is_reported(base: Callable, make_workbook: Callable) -> None:
    path = make_workbook(YOUTH, base(YOUTH))
    wb = openpyxl.load_workbook(path)
    del wb["日程 Schedule"].tables["tblSchedule"]
    wb.save(path)
    assert "input.missing-table" in codes(validate_file(path, isolate=False))


@pytest.mark.parametrize(("cell_value", "code"), [("someone-elses-form", "unknown-template"),
                                                  (None, "unknown-template")])
def test_unknown_template_is_rejected(base: Callable, make_workbook: Callable, cell_value: str | None,
                                      code: str) -> None:
    path = make_workbook(YOUTH, base(YOUTH))
    wb = openpyxl.load_workbook(path)
    wb["様式情報 Meta"]["B1"] = cell_value
    wb.save(path)
    with pytest.raises(WorkbookRejected) as err:
        validate_file(path, isolate=False)
    assert err.value.code == code


def test_unknown_template_version_is_rejected(base: Callable, make_workbook: Callable) -> None:
    path = make_workbook(YOUTH, base(YOUTH))
    wb = openpyxl.load_workbook(path)
    wb["様式情報 Meta"]["B2"] = "0.9"
    wb.save(path)
    with pytest.raises(WorkbookRejected) as err:
        validate_file(path, isolate=False)
    assert err.value.code == "unknown-template-version"
    assert "0.9" in err.value.message_ja


def test_program_mismatch_is_rejected(base: Callable, make_workbook: Callable) -> None:
    path = make_workbook(YOUTH, base(YOUTH))
    with pytest.raises(WorkbookRejected) as err:
        validate_file(path, "india-circulation-2025", isolate=False)
    assert err.value.code == "program-mismatch"


def test_excel_serial_dates_are_read(base: Callable, check: Callable) -> None:
    data = base(YOUTH)
    data["visits"][0].update(start=46055, end=46099)   # serial numbers typed into a General cell
    sub = check(YOUTH, data).submission
    assert sub["visits"][0]["start"] == (dt.date(1899, 12, 30) + dt.timedelta(days=46055)).isoformat()
    assert sub["visits"][0]["days"] == 45


def test_formula_text_is_kept_as_text(base: Callable, check: Callable) -> None:
    data = base(YOUTH)
    data["budget"][0]["description"] = "=HYPERLINK(\"http://x\",\"航空券\")"
    sub = check(YOUTH, data).submission
    assert sub["budget"][0]["description"].startswith("=HYPERLINK")


def test_reader_parses_the_checked_bytes_from_memory(base: Callable, make_workbook: Callable, tmp_path: Path) -> None:
    """read_raw hands calamine the pre-check's verified members, stored: same workbook, file not reopened."""
    import zipfile

    from pipeline.safety import verified_members
    from pipeline.validate import read_raw
    from pipeline.workbook import read_workbook, stored_zip

    path = make_workbook(YOUTH, base(YOUTH))
    members = verified_members(path)
    with zipfile.ZipFile(path) as zf:
        assert list(members) == zf.namelist()
        assert all(members[n] == zf.read(n) for n in zf.namelist())
    repacked = tmp_path / "stored.xlsx"
    repacked.write_bytes(stored_zip({**members, "xl/media/画像.bin": b"\x00" * 10}))
    with zipfile.ZipFile(repacked) as zf:  # a valid zip: CRCs, UTF-8 names, nothing compressed
        assert zf.testzip() is None
        assert zf.read("xl/media/画像.bin") == b"\x00" * 10
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    from_file = read_workbook(path)
    from_memory = read_workbook(path, members=members)
    assert (from_memory.values, from_memory.tables) == (from_file.values, from_file.tables)
    assert from_memory.values  # the comparison is not between two empty reads
    # The file changes on disk after the check: the reader still parses what was checked.
    path.write_bytes(b"PK\x03\x04 no longer a workbook")
    assert read_workbook(path, members=members).values == from_file.values
    with pytest.raises(WorkbookRejected):
        read_raw(path)
