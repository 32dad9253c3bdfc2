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
        "validations": sorted((ws.title, str(dv.sqref), dv.formula1) for ws in wb.worksheets
                              for dv in ws.data_validations.dataValidation),
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
    lists = [dv for ws in wb.worksheets for dv in ws.data_validations.dataValidation]
    assert len(lists) >= 5 and all(dv.type == "list" for dv in lists)
    amount = wb[pack.sheets["budget"]]
    formulas = [c.value for row in amount.iter_rows() for c in row if isinstance(c.value, str)
                and c.value.startswith("=")]
    assert any("ROUNDDOWN" in f for f in formulas) and any(f.startswith("=SUM(tblBudget[") for f in formulas)
