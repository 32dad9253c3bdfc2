"""Printable forms: every sheet of the templates and of the annotated copy prints on A4, one page wide.

The print settings are read back with openpyxl (what Excel prints from), and LibreOffice converts the
templates to PDF: each sheet takes at most the pages its form allows, and no input column is printed on
a page apart from its label (fit to one page wide, the print area covering every label and input).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.annotate import write_annotated
from pipeline.packs import Pack, load_pack
from pipeline.resources import samples_dir
from pipeline.result_sheet import HEADERS, RESULT_SHEET
from pipeline.template_builder import template_path
from pipeline.validate import validate_file
from tests.conftest import PACKS, soffice

_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")


def pdf_pages(pdf: Path) -> int:
    return len(_PAGE.findall(pdf.read_bytes()))


@pytest.fixture(scope="module")
def to_pdf(tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[Path]], list[Path]]:
    """Convert workbooks to PDF with LibreOffice headless (one process for all of them)."""
    exe = soffice()
    if exe is None:
        pytest.skip("LibreOffice is not installed (CI installs libreoffice-calc-nogui)")
    profile = tmp_path_factory.mktemp("lo-profile-pdf")

    def convert(paths: list[Path]) -> list[Path]:
        out = paths[0].parent / "pdf"
        out.mkdir(exist_ok=True)
        subprocess.run([exe, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                        "--outdir", str(out), *map(str, paths)], check=True, capture_output=True, timeout=300)
        pdfs = [out / f"{p.stem}.pdf" for p in paths]
        assert all(p.is_file() for p in pdfs), "LibreOffice wrote no PDF"
        return pdfs

    return convert


def area(ws: Worksheet) -> tuple[int, int, int, int]:
    """The print area as (min_col, min_row, max_col, max_row)."""
    assert ws.print_area, ws.title
    ref = ws.print_area.split("!")[-1].replace("$", "")
    return range_boundaries(ref)


def assert_prints_one_page_wide(ws: Worksheet, orientation: str) -> None:
    assert ws.page_setup.paperSize in (9, "9"), ws.title                       # A4
    assert ws.page_setup.orientation == orientation, ws.title
    assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
    assert (int(ws.page_setup.fitToWidth), int(ws.page_setup.fitToHeight)) == (1, 0), ws.title
    assert not ws.col_breaks.brk, ws.title                                     # no page break between columns
    c1, r1, c2, r2 = area(ws)
    assert (c1, r1) == (1, 1) and c2 >= ws.max_column and r2 >= ws.max_row, (ws.title, ws.print_area)
    assert "&P / &N" in (ws.oddFooter.center.text or ""), ws.title


def visible(wb: openpyxl.Workbook) -> list[Worksheet]:
    return [ws for ws in wb.worksheets if ws.sheet_state == "visible"]


@pytest.mark.parametrize("pack_id", PACKS)
def test_every_sheet_prints_on_a4_one_page_wide_with_header_and_footer(pack_id: str) -> None:
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(template_path(pack))
    keys = {title: key for key, title in pack.sheets.items()}
    sheets = visible(wb)
    assert {keys[ws.title] for ws in sheets} == set(pack.form["print"]["sheets"])
    for ws in sheets:
        spec = pack.form["print"]["sheets"][keys[ws.title]]
        assert_prints_one_page_wide(ws, spec["orientation"])
        assert ws.oddHeader.center.text == pack.title["ja"]
        footer = ws.oddFooter.left.text or ""
        assert pack.template["id"] in footer and pack.template["version"] in footer
        if len(ws.tables) == 1:                                               # its header row on every page
            head = range_boundaries(next(iter(ws.tables.values())).ref)[1]
            assert ws.print_title_rows.replace("$", "") == f"{head}:{head}", ws.title
    assert wb[pack.sheets["plan"]].page_setup.orientation == "portrait"
    assert wb[pack.sheets["budget"]].page_setup.orientation == "landscape"


@pytest.mark.parametrize("pack_id", PACKS)
def test_no_input_is_printed_apart_from_its_label(pack_id: str) -> None:
    """Each field's label and input cell sit in one row inside the print area, and every column of every table
    is inside it: printed one page wide, a label and its input are always on the same page."""
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(template_path(pack))
    for spec in pack.fields.values():
        sheet, ref = next(iter(wb.defined_names[spec["name"]].destinations))
        ws = wb[sheet]
        cell = ws[ref.replace("$", "")]
        assert ws.cell(row=cell.row, column=1).value == spec["label"]["ja"]
        assert ws.cell(row=cell.row, column=2).value == spec["label"]["en"]
        c1, r1, c2, r2 = area(ws)
        assert c1 == 1 and c1 <= cell.column <= c2 and r1 <= cell.row <= r2, spec["key"]
    for t in pack.form["tables"]:
        ws = wb[pack.sheets[t["sheet"]]]
        t1, _h, t2, last = range_boundaries(ws.tables[t["name"]].ref)
        c1, r1, c2, r2 = area(ws)
        assert c1 <= t1 and t2 <= c2 and last <= r2, t["key"]


def only_sheet(wb: openpyxl.Workbook, title: str) -> None:
    """Leave one sheet to print: the others hidden and without a print area (LibreOffice prints a hidden
    sheet that has one)."""
    for ws in wb.worksheets:
        if ws.title != title:
            ws.sheet_state = "hidden"
            ws.print_area = None
    wb.active = wb.worksheets.index(wb[title])


def _single_sheet_copies(pack: Pack, folder: Path) -> dict[str, Path]:
    """One copy of the template per visible sheet, with only that sheet to print."""
    out = {}
    for key in pack.form["print"]["sheets"]:
        wb = openpyxl.load_workbook(template_path(pack))
        only_sheet(wb, pack.sheets[key])
        path = folder / f"{pack.id}--{key}.xlsx"
        wb.save(path)
        out[key] = path
    return out


def test_templates_print_in_the_pages_their_forms_allow(to_pdf: Callable[[list[Path]], list[Path]],
                                                       tmp_path: Path) -> None:
    """LibreOffice prints each sheet of each template on at most the pages its form allows, one page wide."""
    packs = [load_pack(p) for p in PACKS]
    copies = {p.id: _single_sheet_copies(p, tmp_path) for p in packs}
    wholes = []
    for p in packs:
        whole = tmp_path / f"{p.id}.xlsx"
        whole.write_bytes(template_path(p).read_bytes())
        wholes.append(whole)
    flat = [path for by_sheet in copies.values() for path in by_sheet.values()]
    pdfs = dict(zip(flat + wholes, to_pdf(flat + wholes), strict=True))
    for p, whole in zip(packs, wholes, strict=True):
        per_sheet = {key: pdf_pages(pdfs[path]) for key, path in copies[p.id].items()}
        for key, pages in per_sheet.items():
            allowed = p.form["print"]["sheets"][key].get("pages", 1)
            assert 1 <= pages <= allowed, (p.id, key, pages, allowed)
        assert pdf_pages(pdfs[whole]) == sum(per_sheet.values()), p.id   # hidden sheets are not printed


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_a_long_budget_repeats_its_header_row_on_every_page(to_pdf: Callable[[list[Path]], list[Path]],
                                                            base: Callable, make_workbook: Callable) -> None:
    pack = load_pack("nexus-ytec-youth-2025")
    data = base(pack.id)
    data["budget"] = [dict(data["budget"][i % len(data["budget"])]) for i in range(120)]
    path = make_workbook(pack.id, data)
    wb = openpyxl.load_workbook(path)
    only_sheet(wb, pack.sheets["budget"])
    wb.save(path)
    pdf = to_pdf([path])[0]
    pages = pdf_pages(pdf)
    assert pages >= 2
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True,
                          text=True).stdout.split("\f")
    for i, page in enumerate(text[:pages], start=1):
        assert "単価（円）" in page and pack.title["ja"] in page and re.search(rf"\b{i}\s*/\s*{pages}\b", page), i


# ---- the annotated copy ---------------------------------------------------------------------------

@pytest.fixture
def annotated(tmp_path: Path) -> tuple[Path, Any]:
    source = samples_dir() / "nexus-ytec-youth-2025__sightseeing-and-souvenirs.xlsx"
    report = validate_file(source, isolate=False)
    return write_annotated(source, report, tmp_path / "注釈.xlsx", isolate=False), report


def test_every_sheet_of_the_annotated_copy_prints_on_a4(annotated: tuple[Path, Any]) -> None:
    path, report = annotated
    pack = load_pack(report.program)
    wb = openpyxl.load_workbook(path)
    keys = {title: key for key, title in pack.sheets.items()}
    for ws in visible(wb):
        if ws.title == RESULT_SHEET:
            assert_prints_one_page_wide(ws, "landscape")
            assert ws.print_title_rows.replace("$", "") == "1:1"
            assert RESULT_SHEET in (ws.oddHeader.center.text or "") and report.file in ws.oddHeader.center.text
            assert area(ws)[2] == len(HEADERS) and area(ws)[3] == len(report.findings) + 1
        else:
            assert_prints_one_page_wide(ws, pack.form["print"]["sheets"][keys[ws.title]]["orientation"])
            assert ws.oddHeader.center.text == pack.title["ja"]
        assert pack.template["id"] in (ws.oddFooter.left.text or "")
    budget = wb[pack.sheets["budget"]]
    last = range_boundaries(budget.tables["tblBudget"].ref)[3]
    assert area(budget)[3] >= last                         # rows the applicant added are printed too


def test_the_annotated_copy_prints_its_findings_readably(annotated: tuple[Path, Any],
                                                         to_pdf: Callable[[list[Path]], list[Path]]) -> None:
    """The 検証結果 sheet alone: one page for three findings, columns wide enough to print at a readable scale."""
    path, report = annotated
    assert len(report.findings) == 3
    wb = openpyxl.load_workbook(path)
    only_sheet(wb, RESULT_SHEET)
    ws = wb[RESULT_SHEET]
    width = sum(ws.column_dimensions[get_column_letter(i)].width for i in range(1, len(HEADERS) + 1))
    assert width <= 215            # ~75 % on A4 landscape, about 8 pt: readable
    only_results = path.with_name("results-only.xlsx")
    wb.save(only_results)
    assert pdf_pages(to_pdf([only_results])[0]) == 1


def test_the_print_previews_the_docs_show_exist() -> None:
    """docs/printing.md shows a first page of every template and of an annotated copy (docs/print_previews.py)."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    pictures = re.findall(r"\]\((print/[^)]+\.png)\)", (docs / "printing.md").read_text(encoding="utf-8"))
    assert {f"print/template-{p}.png" for p in PACKS} < set(pictures)
    for picture in pictures:
        data = (docs / picture).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, picture
