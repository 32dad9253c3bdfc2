"""``--annotate`` on what applicants really send (issue #10): merged cells, a NaN number, thousands of
findings, macros and external links, whole-row findings; and a child that fails costs the copy only.

Every workbook is written by the project's own templates, then changed the way an applicant (or
a broken tool) would. Work is asserted by counting calls, never by a clock.
"""

from __future__ import annotations

import faulthandler
import io
import os
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.cell.cell import MergedCell

from pipeline import annotate
from pipeline.annotate import annotate_workbook, readable_members, write_annotated
from pipeline.findings import Report
from pipeline.result_sheet import FILLS, RESULT_SHEET
from pipeline.safety import WorkbookRejected
from pipeline.sandbox import WorkerFailed
from pipeline.settings import TEMP_PREFIX
from pipeline.validate import validate_file
from tests.conftest import python_calls
from tests.hostile_workbooks import CASES, Case, set_cell_xml, write_case

YOUTH, INSTR = "nexus-ytec-youth-2025", "nexus-ytec-instructor-2025"
BUDGET = "経費 Budget"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def sightseeing_lines(n: int) -> list[dict[str, Any]]:
    """``n`` budget lines, each with two problems: an ineligible cost and an amount that does not add up."""
    return [{"category": "IV その他", "description": f"市内観光ツアー {i}", "unit_price": 5000, "quantity": 2,
             "amount": 9999} for i in range(n)]


def budget_cell(report: Report, line: int, column: str) -> str:
    src = report.submission["source"]["tables"]["budget"]
    return f"{src['columns'][column]}{src['rows'][line]}"


def rewrite_zip(path: Path, change: Callable[[dict[str, bytes]], None]) -> None:
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    change(parts)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    path.write_bytes(buf.getvalue())


def fill_rgb(cell: Any) -> str:
    return str(cell.fill.fgColor.rgb)[-6:]




# ---- merged input cells ---------------------------------------------------------------------------

def test_finding_on_a_merged_cell_annotates_the_top_left_cell(base: Callable, make_workbook: Callable,
                                                               tmp_path: Path) -> None:
    """The applicant merged A–C of a budget row (Excel keeps A's value): the finding on C goes to A."""
    data = base(YOUTH)
    data["budget"].append({"category": "IV その他", "description": "市内観光ツアー", "unit_price": 5000, "quantity": 2})
    src = make_workbook(YOUTH, data)
    row = validate_file(src, isolate=False).submission["source"]["tables"]["budget"]["rows"][-1]
    wb = openpyxl.load_workbook(src)
    wb[BUDGET].merge_cells(f"A{row}:C{row}")
    wb.save(src)
    report = validate_file(src, isolate=False)
    on_merged = [f for f in report.findings if f.location.cell in (f"B{row}", f"C{row}")]
    assert on_merged, [(f.code, str(f.location)) for f in report.findings]

    out = write_annotated(src, report, tmp_path / "annotated.xlsx")
    ws = openpyxl.load_workbook(out)[BUDGET]
    top_left = ws[f"A{row}"]
    assert top_left.comment and all(f.code in top_left.comment.text for f in on_merged)
    assert fill_rgb(top_left) == FILLS["error"]
    assert isinstance(ws[f"C{row}"], MergedCell)


# ---- number cells openpyxl refuses ----------------------------------------------------------------

def test_nan_number_cell_gets_a_copy(base: Callable, make_workbook: Callable, tmp_path: Path) -> None:
    """openpyxl reads ``<v>NaN</v>`` with int('NaN') and gives up on the whole workbook; the copy shows it as text."""
    src = make_workbook(YOUTH, base(YOUTH))
    cell = budget_cell(validate_file(src, isolate=False), 0, "unit_price")
    set_cell_xml(src, BUDGET, cell, f'<c r="{cell}"><v>NaN</v></c>')
    with pytest.raises(ValueError):
        openpyxl.load_workbook(src)                    # what the annotated copy ran into before
    report = validate_file(src)
    assert any(f.code == "input.invalid-yen" and f.location.cell == cell for f in report.findings)

    out = write_annotated(src, report, tmp_path / "annotated.xlsx")
    ws = openpyxl.load_workbook(out)[BUDGET]
    assert ws[cell].value == "NaN" and ws[cell].data_type == "s"
    assert ws[cell].comment and "input.invalid-yen" in ws[cell].comment.text
    with zipfile.ZipFile(out) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<v>(?:nan|-?inf)</v>", zf.read(name), re.I), name


@pytest.mark.parametrize(("cell_xml", "kept"), [
    ('<c r="A1"><v>NaN</v></c>', False),
    ('<c r="A1" t="n"><v>1e999</v></c>', False),          # openpyxl reads inf and would write "inf"
    (f'<c r="A1"><v>{"9" * 5000}</v></c>', False),         # past Python's int() digit limit
    ('<x:c r="A1"><x:v>-nan</x:v></x:c>', False),
    ('<c r="A1" t="b"><v>yes</v></c>', False),
    ('<c r="A1" t="s"><v>7</v></c>', False),               # no such shared string
    ('<c r="A1" t="d"><v>not a date</v></c>', False),
    ('<c r="A1" t="zz"><v>1</v></c>', False),
    ('<c r="A1"><v>12.5</v></c>', True),
    ('<c r="A1" s="3"><v>-4E+2</v></c>', True),
    ('<c r="A1" t="s"><v>1</v></c>', True),
    ('<c r="A1" t="b"><v>1</v></c>', True),
    ('<c r="A1" t="d"><v>2026-01-05T00:00:00</v></c>', True),
    ('<c r="A1" t="e"><v>#DIV/0!</v></c>', True),
    ('<c r="A1"><f>1/0</f><v>NaN</v></c>', True),           # a formula: openpyxl keeps the formula, not the value
    ('<c r="A1" t="inlineStr"><is><t>NaN</t></is></c>', True),
    ('<c r="A1"/>', True),
])
def test_cells_openpyxl_cannot_take_become_text(cell_xml: str, kept: bool) -> None:
    sheet = f'<worksheet><sheetData><row r="1">{cell_xml}<c r="B1"><v>NaN</v></c></row></sheetData></worksheet>'
    sst = '<sst count="2"><si><t>a</t></si><si><t>b</t></si></sst>'
    out = readable_members({"xl/worksheets/sheet1.xml": sheet.encode(), "xl/sharedStrings.xml": sst.encode()})
    xml = out["xl/worksheets/sheet1.xml"].decode()
    first = xml[xml.index("<row r=\"1\">") + 11:xml.index('<c r="B1"')]
    assert (first == cell_xml) is kept, first
    if not kept:
        assert 't="str"' in first and re.sub(r'\st="[^"]*"', "", first.split(">")[0]) in cell_xml
    assert '<c r="B1" t="str"><v>NaN</v></c>' in xml


def test_an_unclosed_cell_leaves_the_rest_alone() -> None:
    xml = b'<sheetData><row><c r="A1"><v>NaN</v><c r="A2"><v>NaN</v></c></row></sheetData>'
    assert readable_members({"s.xml": xml})["s.xml"] == \
        b'<sheetData><row><c r="A1"><v>NaN</v><c r="A2" t="str"><v>NaN</v></c></row></sheetData>'


# ---- thousands of findings -------------------------------------------------------------------------

def test_annotating_is_linear_in_the_findings(base: Callable, make_workbook: Callable) -> None:
    """Four times the findings, about four times the calls (ws.max_row per appended row made it quadratic)."""
    def work(lines: int) -> int:
        data = base(YOUTH)
        data["budget"] = sightseeing_lines(lines)
        src = make_workbook(YOUTH, data)
        report = validate_file(src, isolate=False)
        assert len(report.findings) >= 2 * lines
        wb = openpyxl.load_workbook(src)
        return python_calls(lambda: annotate_workbook(wb, report))

    small, large = work(100), work(400)
    assert large <= 5 * small, (small, large)


def test_two_thousand_problem_lines_get_their_copy(base: Callable, make_workbook: Callable, tmp_path: Path) -> None:
    data = base(YOUTH)
    data["budget"] = sightseeing_lines(2000)
    src = make_workbook(YOUTH, data)
    report = validate_file(src)
    started = time.perf_counter()
    out = write_annotated(src, report, tmp_path / "annotated.xlsx")
    print(f"\n{len(report.findings):,} findings annotated in {time.perf_counter() - started:.1f} s (isolated)")
    wb = openpyxl.load_workbook(out)
    assert wb[RESULT_SHEET].max_row == len(report.findings) + 1
    marked = {f.location.cell for f in report.findings if f.location.sheet == BUDGET}
    commented = {c.coordinate for row in wb[BUDGET].iter_rows() for c in row if c.comment}
    assert marked == commented and len(marked) >= 4000


# ---- the copy is a plain workbook -----------------------------------------------------------------

def with_macro_and_external_link(parts: dict[str, bytes]) -> None:
    """What Excel writes for an .xlsm whose formulas read another workbook: a VBA project and an externalLink part."""
    ct = parts["[Content_Types].xml"].decode().replace(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml")
    ct = ct.replace("<Default ", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject" />'
                    "<Default ", 1)
    ct = ct.replace("</Types>", '<Override PartName="/xl/externalLinks/externalLink1.xml" ContentType='
                    '"application/vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml" /></Types>')
    parts["[Content_Types].xml"] = ct.encode()
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        b'Target="vbaProject.bin" Id="rIdVba" />'
        + f'<Relationship Type="{REL}/externalLink" Target="externalLinks/externalLink1.xml" Id="rIdExt" />'.encode()
        + b"</Relationships>")
    wb = parts["xl/workbook.xml"].decode()
    wb = wb.replace("</sheets>", '</sheets><externalReferences><externalReference r:id="rIdExt" />'
                    "</externalReferences>", 1)
    wb = wb.replace("</definedNames>", '<definedName name="rate_from_elsewhere">[1]Rates!$A$1</definedName>'
                    "</definedNames>", 1)
    parts["xl/workbook.xml"] = wb.encode()
    parts["xl/externalLinks/externalLink1.xml"] = (
        f'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{REL}">'
        '<externalBook r:id="rId1"><sheetNames><sheetName val="Rates"/></sheetNames><sheetDataSet>'
        '<sheetData sheetId="0"><row r="1"><cell r="A1"><v>0.1</v></cell></row></sheetData></sheetDataSet>'
        "</externalBook></externalLink>").encode()
    parts["xl/externalLinks/_rels/externalLink1.xml.rels"] = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/externalLinkPath" Target="file:///C:/rates/rates.xlsx" '
        'TargetMode="External"/></Relationships>').encode()
    parts["xl/vbaProject.bin"] = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(range(256)) * 16


def test_copy_of_a_macro_workbook_with_external_links_is_a_plain_xlsx(base: Callable, make_workbook: Callable,
                                                                       tmp_path: Path) -> None:
    data = base(YOUTH)
    data["budget"].append({"category": "IV その他", "description": "市内観光ツアー", "unit_price": 5000, "quantity": 2})
    src = make_workbook(YOUTH, data)
    xlsm = src.with_suffix(".xlsm")
    src.rename(xlsm)
    rewrite_zip(xlsm, with_macro_and_external_link)
    report = validate_file(xlsm)
    assert any(f.code == "cost.ineligible.sightseeing" for f in report.findings)

    out = write_annotated(xlsm, report, tmp_path / "annotated.xlsx")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        content_types = zf.read("[Content_Types].xml")
        workbook = zf.read("xl/workbook.xml")
        rels = b"".join(zf.read(n) for n in names if n.endswith(".rels"))
    assert not [n for n in names if "vba" in n.lower() or "externallink" in n.lower()], names
    assert b"macroEnabled" not in content_types and b"vbaProject" not in content_types
    assert b"spreadsheetml.sheet.main+xml" in content_types
    assert b"externalReference" not in workbook and b"[1]" not in workbook
    assert b"vbaProject" not in rels and b"externalLink" not in rels
    assert RESULT_SHEET in openpyxl.load_workbook(out).sheetnames


def test_copy_must_be_named_xlsx(base: Callable, make_workbook: Callable, tmp_path: Path) -> None:
    src = make_workbook(YOUTH, base(YOUTH))
    report = validate_file(src, isolate=False)
    with pytest.raises(ValueError, match="xlsx"):
        write_annotated(src, report, tmp_path / "annotated.xlsm")
    with pytest.raises(ValueError, match="上書き"):
        write_annotated(src, report, src)


# ---- a finding on a range ------------------------------------------------------------------------

def test_range_finding_marks_its_whole_range(base: Callable, make_workbook: Callable, tmp_path: Path) -> None:
    data = base(INSTR)
    data["participants"].append(dict(data["participants"][0], no=3, name="Tran Van Long"))
    src = make_workbook(INSTR, data)
    report = validate_file(src, isolate=False)
    found = [f for f in report.findings if f.code == "participants.too-many"]
    assert found and found[0].location.range, [(f.code, str(f.location)) for f in report.findings]
    f = found[0]
    out = write_annotated(src, report, tmp_path / "annotated.xlsx")
    wb = openpyxl.load_workbook(out)
    ws = wb[f.location.sheet]
    cells = [c for row in ws[f.location.range] for c in row]
    assert len(cells) >= 9 * 3
    assert all(fill_rgb(c) == FILLS[f.severity] for c in cells)
    assert cells[0].comment and f.code in cells[0].comment.text
    assert not any(c.comment for c in cells[1:])            # one comment per finding, at its first cell
    link = next(c for c in wb[RESULT_SHEET]["C"] if c.value and f.location.range in str(c.value))
    assert link.hyperlink and f.location.range in (link.hyperlink.location or link.hyperlink.target or "")


# ---- isolation: a child that fails costs the copy, never the caller ---------------------------------

def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize(("failure", "code"), [("abort", "worker-crashed"), ("memory", "worker-memory"),
                                               ("time", "worker-timeout")])
def test_a_failing_child_is_a_worker_failed(base: Callable, make_workbook: Callable, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, failure: str, code: str) -> None:
    """What a styles bomb would do to openpyxl (die, eat memory, never end), done on purpose in the child."""
    src = make_workbook(YOUTH, base(YOUTH))
    report = validate_file(src, isolate=False)

    def misbehave(wb: Any, report: Report) -> None:
        if failure == "abort":
            faulthandler.disable()                     # no dump from pytest's handler in the log
            os.abort()
        elif failure == "memory":
            bytearray(1 << 30)
        else:
            time.sleep(60)

    monkeypatch.setattr(annotate, "annotate_workbook", misbehave)
    monkeypatch.setattr(annotate, "FILE_MEMORY_BYTES", 256 * 1024**2)
    monkeypatch.setattr(annotate, "FILE_TIMEOUT_SECONDS", 2.0)
    out = tmp_path / "copies" / "annotated.xlsx"
    with pytest.raises(WorkerFailed) as caught:
        write_annotated(src, report, out)
    assert caught.value.code == code and caught.value.message_ja and caught.value.message_en
    assert not out.exists() and not _leftovers(out.parent)


@pytest.mark.parametrize("styles", [
    b"<styleSheet><fonts count='1'><font>",                         # cut short: openpyxl's parser fails
    b"<styleSheet xmlns='http://schemas.openxmlformats.org/spreadsheetml/2006/main'><cellXfs count='1'>"
    b"<xf fontId='99'/></cellXfs></styleSheet>",                    # a style naming a font that is not there
], ids=["truncated", "dangling-font"])
def test_a_file_openpyxl_cannot_read_is_refused_with_a_reason(base: Callable, make_workbook: Callable,
                                                              tmp_path: Path, styles: bytes) -> None:
    """python-calamine read the values (the report stands); openpyxl cannot model the file: a refusal,
    not a traceback."""
    src = make_workbook(YOUTH, base(YOUTH))
    report = validate_file(src, isolate=False)
    rewrite_zip(src, lambda parts: parts.update({"xl/styles.xml": styles}))
    with pytest.raises(WorkbookRejected) as caught:
        write_annotated(src, report, tmp_path / "annotated.xlsx")
    assert caught.value.code == "annotate-unreadable" and caught.value.detail
    assert "注釈付きの写し" in caught.value.message_ja and "annotated copy" in caught.value.message_en
    assert not (tmp_path / "annotated.xlsx").exists() and not _leftovers(tmp_path)


# ---- every hostile workbook the batch tests use ---------------------------------------------------

@pytest.mark.parametrize("case", [c for c in CASES if c.quarantine is None], ids=lambda c: c.name)
def test_hostile_workbooks_get_an_annotated_copy(case: Case, tmp_path: Path) -> None:
    src = write_case(case, tmp_path)
    report = validate_file(src)
    out = write_annotated(src, report, tmp_path / "annotated.xlsx")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == RESULT_SHEET
    assert wb[RESULT_SHEET].max_row == len(report.findings) + 1
