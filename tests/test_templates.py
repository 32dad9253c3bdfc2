"""The official-style templates: built from the packs, committed, and shaped as the reader expects."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from pipeline.packs import load_pack
from pipeline.template_builder import META_NAMES, build_template, header_text, template_path
from tests.conftest import PACKS


def structure(path: Path) -> dict:
    wb = openpyxl.load_workbook(path)
    return {
        "sheets": [(ws.title, ws.sheet_state) for ws in wb.worksheets],
        "names": {n: wb.defined_names[n].attr_text for n in wb.defined_names},
        "tables": {t.displayName: (ws.title, t.ref, [c.name for c in t.tableColumns])
                   for ws in wb.worksheets for t in ws.tables.values()},
        "validations": sorted((ws.title, str(dv.sqref), dv.type or "", dv.formula1 or "", dv.formula2 or "",
                               dv.errorStyle or "", dv.prompt or "", dv.error or "")
                              for ws in wb.worksheets for dv in ws.data_validations.dataValidation),
        "marks": sorted((ws.title, str(cf.sqref), tuple(r.formula[0] for r in cf.rules))
                        for ws in wb.worksheets for cf in ws.conditional_formatting),
        "protection": [(ws.title, ws.protection.sheet, ws.protection.formatCells, ws.protection.insertRows)
                       for ws in wb.worksheets],
        "print": [(ws.title, ws.page_setup.orientation, ws.print_area, ws.print_title_rows, ws.oddHeader.center.text,
                   ws.oddFooter.left.text) for ws in wb.worksheets],
        "formulas": sorted((ws.title, c.coordinate, c.value) for ws in wb.worksheets for row in ws.iter_rows()
                           for c in row if isinstance(c.value, str) and c.value.startswith("=")),
    }


@pytest.mark.parametrize("pack_id", PACKS)
def test_committed_template_is_current(pack_id: str, tmp_path: Path) -> None:
    fresh = build_template(pack_id, tmp_path)
    committed = template_path(load_pack(pack_id))
    assert committed.is_file(), "run `shinsei template build`"
    assert structure(committed) == structure(fresh), "templates/ is stale: run `shinsei template build`"


@pytest.mark.parametrize("pack_id", PACKS)
def test_template_build_is_byte_reproducible(pack_id: str, tmp_path: Path) -> None:
    """Rebuilding an unchanged pack gives the same bytes (no timestamps), so it never dirties templates/."""
    first = build_template(pack_id, tmp_path / "a").read_bytes()
    second = build_template(pack_id, tmp_path / "b").read_bytes()
    assert first == second
    assert template_path(load_pack(pack_id)).read_bytes() == first, "templates/ is stale: run `shinsei template build`"


@pytest.mark.parametrize("pack_id", PACKS)
def test_template_shape(pack_id: str) -> None:
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(template_path(pack))
    for spec in pack.fields.values():
        assert spec["name"] in wb.defined_names, spec["name"]
    meta = {k: wb.defined_names[v] for k, v in META_NAMES.items()}
    sheet, ref = next(iter(meta["template_id"].destinations))
    assert wb[sheet][ref.replace("$", "")].value == pack.template["id"]
    assert wb[sheet].sheet_state == "hidden"
    tables = {t.displayName: (ws, t) for ws in wb.worksheets for t in ws.tables.values()}
    for spec in pack.form["tables"]:
        ws, table = tables[spec["name"]]
        assert ws.title == pack.sheets[spec["sheet"]]
        assert [c.name for c in table.tableColumns] == [header_text(c) for c in spec["columns"]]
        for col in spec["columns"]:
            assert col["label"]["ja"] in header_text(col) and col["label"]["en"] in header_text(col)
    amount = wb[pack.sheets["budget"]]
    formulas = [c.value for row in amount.iter_rows() for c in row if isinstance(c.value, str)
                and c.value.startswith("=")]
    assert any("ROUNDDOWN" in f for f in formulas) and any(f.startswith("=SUM(tblBudget[") for f in formulas)


@pytest.mark.parametrize("pack_id", PACKS)
def test_headers_say_each_label_once(pack_id: str) -> None:
    """Participants' number column reads "No.", not "No. No." (its Japanese and English labels are the same)."""
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(template_path(pack))
    ws = wb[pack.sheets["participants"]]
    table = next(iter(ws.tables.values()))
    headers = [c.name for c in table.tableColumns]
    assert headers[0] == "No."
    for h in headers:
        words = h.split(" ")
        assert len(words) < 2 or words[: len(words) // 2] != words[len(words) // 2:], h
