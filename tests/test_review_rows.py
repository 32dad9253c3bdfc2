"""review.xlsx's rows written in one string each (pipeline.ingest.xlsx_rows) are the rows xlsxwriter writes.

The fast writer uses xlsxwriter's constant_memory buffer; these tests compare its sheet XML with
xlsxwriter's own for the same values, so an xlsxwriter release that changes its internals fails here
rather than in a reviewer's Excel.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine
import xlsxwriter

from pipeline.ingest.xlsx_rows import RowWorksheet

TEXTS = ["plain", "航空券 東京–デリー", "a & b < c > d", ' "quoted" ', " leading", "trailing ", "tab\there",
         "line\nbreak", "carriage\rreturn", "crlf\r\nline", "ctrl\x01\x1f", "_x0041_ literal", "non\ufffechar",
         "=SUM(A1)", "x" * 40_000, "あ" * 20_000, "🙂" * 17_000, ""]
NUMBERS = [0, 1, -5, 7_700_000, 2**53, 0.1, 10.8, 1e-7, 123456789.125, True, False,
           2**53 - 1, -(2**53 - 1), -2**53, 2**53 + 1, 10**17 + 3]  # integers written without a float, and not


def _sheet_data(path: Path, sheet: str = "xl/worksheets/sheet1.xml") -> str:
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(sheet).decode()
    return re.search(r"<sheetData>.*</sheetData>", xml, re.S).group(0)


def _rows() -> list[list[object]]:
    rows: list[list[object]] = []
    for i, text in enumerate(TEXTS + TEXTS):  # each text twice: the second time from the sheet's kept XML
        rows.append([text, NUMBERS[i % len(NUMBERS)], None, f"{i}"])
    rows.append([None, None, None, None])  # nothing: no row at all
    rows.append([None, 3.5, None, None])
    return rows


def _write(path: Path, fast: bool, heights: dict[int, float]) -> None:
    wb = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    yen, wrap = wb.add_format({"num_format": "#,##0"}), wb.add_format({"text_wrap": True})
    formats = [wrap, yen, None, wrap]
    ws = wb.add_worksheet("S", worksheet_class=RowWorksheet) if fast else wb.add_worksheet("S")
    for c, fmt in enumerate(formats):
        ws.set_column(c, c, 20, fmt)
        ws.write_string(0, c, f"header {c}", wb.add_format({"bold": True}))
    ws.set_row(0, 45)
    if fast:
        ws.column_formats(formats)
    for r, values in enumerate(_rows(), start=1):
        if fast:
            ws.write_values(r, values, heights.get(r))
            continue
        if r in heights:
            ws.set_row(r, heights[r])
        for c, v in enumerate(values):
            if isinstance(v, bool):
                ws.write_boolean(r, c, v)
            elif isinstance(v, int | float):
                ws.write_number(r, c, v)
            elif v is not None:
                ws.write_string(r, c, v)
    ws.write_string(len(_rows()) + 2, 0, "a note after the rows")
    ws.autofilter(0, 0, len(_rows()), 3)
    wb.close()


def test_same_xml_as_xlsxwriter(tmp_path: Path) -> None:
    heights = {1: 30, 3: 15 * 12, 5: 45}
    _write(tmp_path / "stock.xlsx", False, heights)
    _write(tmp_path / "fast.xlsx", True, heights)
    assert _sheet_data(tmp_path / "fast.xlsx") == _sheet_data(tmp_path / "stock.xlsx")
    with zipfile.ZipFile(tmp_path / "fast.xlsx") as fast, zipfile.ZipFile(tmp_path / "stock.xlsx") as stock:
        assert fast.read("xl/worksheets/sheet1.xml") == stock.read("xl/worksheets/sheet1.xml")  # dimension too


@pytest.mark.parametrize("linesep", ["\n", "\r\n"])
def test_sheet_copied_as_bytes_only_where_text_lines_end_lf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          linesep: str) -> None:
    """The byte copy of the buffered rows is taken where text files end lines with LF, and xlsxwriter's own
    text copy elsewhere (a buffer written as text on Windows holds CRLF): the same sheet either way."""
    from xlsxwriter.worksheet import Worksheet

    text_copies: list[type] = []
    text_copy = Worksheet._write_optimized_sheet_data
    monkeypatch.setattr(Worksheet, "_write_optimized_sheet_data",
                        lambda self: text_copies.append(type(self)) or text_copy(self))
    monkeypatch.setattr("pipeline.ingest.xlsx_rows.os.linesep", linesep)
    heights = {1: 30}
    _write(tmp_path / "stock.xlsx", False, heights)
    _write(tmp_path / "fast.xlsx", True, heights)
    assert (RowWorksheet in text_copies) == (linesep != "\n")
    with zipfile.ZipFile(tmp_path / "fast.xlsx") as fast, zipfile.ZipFile(tmp_path / "stock.xlsx") as stock:
        assert fast.read("xl/worksheets/sheet1.xml") == stock.read("xl/worksheets/sheet1.xml")


def test_values_read_back(tmp_path: Path) -> None:
    _write(tmp_path / "fast.xlsx", True, {})
    grid = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "fast.xlsx")).get_sheet_by_name("S").to_python()
    for r, values in enumerate(_rows()[:len(TEXTS)], start=1):
        text = values[0]
        if re.search(r"[\x00-\x08\x0b-\x1f\ufffe]|_x[0-9A-F]{4}_", text):
            continue  # Excel's _xHHHH_ escapes, which python-calamine leaves as they are (the XML test covers them)
        expected = text
        if len(text.encode("utf-16-le")) > 2 * 32_767:  # Excel's cell limit, as xlsxwriter truncates
            expected = text.encode("utf-16-le")[:2 * 32_767].decode("utf-16-le", "ignore")
        assert grid[r][0] == expected, r
        number = values[1]
        if type(number) is int and abs(number) > 2**53:
            number = float(number)  # what a spreadsheet holds of it (and xlsxwriter writes)
        assert grid[r][1] == number and isinstance(grid[r][1], bool) == isinstance(number, bool), r


def test_rich_string_lookalike_is_text(tmp_path: Path) -> None:
    """xlsxwriter's constant_memory mode writes "<r>…</r>" raw; an applicant's text must never become XML."""
    attack = '<r><t>x</t></r></is></c><c r="B2"><f>1+1</f></c><c r="C2" t="inlineStr"><is><r><t>y</t></r>'
    path = tmp_path / "attack.xlsx"
    wb = xlsxwriter.Workbook(path, {"constant_memory": True})
    ws = wb.add_worksheet("S", worksheet_class=RowWorksheet)
    ws.write_string(0, 0, "header")
    ws.column_formats([None, None, None])
    ws.write_values(1, [attack, None, None])
    wb.close()
    assert "<f>" not in _sheet_data(path)
    sheet = openpyxl.load_workbook(path)["S"]
    assert sheet["A2"].value == attack
    assert sheet["B2"].value is None and sheet["C2"].value is None


def test_refuses_rows_out_of_order_and_other_types(tmp_path: Path) -> None:
    wb = xlsxwriter.Workbook(tmp_path / "x.xlsx", {"constant_memory": True})
    ws = wb.add_worksheet("S", worksheet_class=RowWorksheet)
    ws.write_string(0, 0, "header")
    ws.column_formats([None])
    ws.write_values(2, ["two"])
    with pytest.raises(ValueError, match="below the last"):
        ws.write_values(1, ["one"])
    with pytest.raises(TypeError, match="list"):
        ws.write_values(3, [["not", "a", "cell"]])
    wb.close()
