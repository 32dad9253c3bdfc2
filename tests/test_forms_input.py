"""Templates that catch mistakes while typing: data validation on every input, numbers typed as text marked,
sheets protected with the inputs open, and the engine's warning for a number stored as text.

Everything is read back from the committed templates and from workbooks the templates wrote (and
LibreOffice re-saved), as Excel would open them.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.packs import Pack, load_pack
from pipeline.resources import samples_dir
from pipeline.samples import sample_file_name, variants
from pipeline.template_builder import build_workbook, template_path
from pipeline.validate import validate_file
from tests.conftest import PACKS, only

_CJK = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")
_NUMERIC = {"yen", "int", "number", "fiscal_year"}


def inputs(pack: Pack, wb: openpyxl.Workbook) -> list[tuple[str, dict[str, Any], Worksheet, list[str]]]:
    """Every input of the template: (key, spec, sheet, cells); ``key`` is the field key or ``table.column``."""
    out = []
    for key, spec in pack.fields.items():
        if spec.get("formula"):
            continue
        sheet, ref = next(iter(wb.defined_names[spec["name"]].destinations))
        out.append((key, spec, wb[sheet], [ref.replace("$", "")]))
    for t in pack.form["tables"]:
        ws = wb[pack.sheets[t["sheet"]]]
        c1, r1, _c2, r2 = range_boundaries(ws.tables[t["name"]].ref)
        for i, col in enumerate(t["columns"]):
            if not col.get("formula"):
                letter = get_column_letter(c1 + i)
                out.append((f"{t['key']}.{col['key']}", col, ws, [f"{letter}{r}" for r in range(r1 + 1, r2 + 1)]))
    return out


def validation_of(ws: Worksheet, cell: str) -> list[Any]:
    return [dv for dv in ws.data_validations.dataValidation if cell in dv.sqref]


def checked_cells(ws: Worksheet) -> dict[str, tuple[str | None, str | None]]:
    """Cell -> (type, error style) of the data validation covering it."""
    out = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            c1, r1, c2, r2 = rng.bounds
            for r in range(r1, r2 + 1):
                for c in range(c1, c2 + 1):
                    out[f"{get_column_letter(c)}{r}"] = (dv.type, dv.errorStyle if dv.type else None)
    return out


def serial(value: Any) -> str:
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return str((day - dt.date(1899, 12, 30)).days)


def rule_param(pack: Pack, end: Any) -> Any:
    if not isinstance(end, dict):
        return end
    rule = next(r for r in pack.rules if r["code"] == end["rule"])
    return rule["params"][end["param"]]


@pytest.mark.parametrize("pack_id", PACKS)
def test_every_input_has_validation_with_a_bilingual_message(pack_id: str) -> None:
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(template_path(pack))
    seen = 0
    for key, spec, ws, cells in inputs(pack, wb):
        for cell in cells:
            found = validation_of(ws, cell)
            assert len(found) == 1, (key, cell, found)
        dv = found[0]
        seen += 1
        assert dv.showInputMessage and dv.promptTitle and len(dv.promptTitle) <= 32, key
        assert dv.prompt and len(dv.prompt) <= 255 and _CJK.search(dv.prompt) and re.search("[A-Za-z]{3}", dv.prompt)
        assert spec["label"]["ja"].startswith(dv.promptTitle.rstrip("…"))
        kind = spec["type"]
        if spec.get("list"):
            assert dv.type == "list" and dv.errorStyle == "warning" and "リスト" in dv.formula1, key
        elif kind in _NUMERIC:
            low, high = spec["range"]
            assert dv.type == ("decimal" if kind == "number" else "whole"), key
            assert (float(dv.formula1), float(dv.formula2)) == (low, high) and low >= 0, key
            assert dv.errorStyle == "stop" and dv.showErrorMessage, key
            assert "#VALUE!" in dv.error and len(dv.error) <= 255 and len(dv.errorTitle) <= 32
        elif kind == "date":
            window = pack.form["validation"]["dates"][key]
            assert dv.type == "date" and dv.operator == "between", key
            assert (dv.formula1, dv.formula2) == (serial(rule_param(pack, window["from"])),
                                                  serial(rule_param(pack, window["to"]))), key
            assert dv.errorStyle == "stop" and len(dv.error) <= 255, key   # every end is an error rule or a fixed date
        else:
            assert dv.type is None and not dv.showErrorMessage, key       # free text: the message only
    assert seen >= 30


@pytest.mark.parametrize("pack_id", PACKS)
def test_calculated_cells_have_no_validation_and_are_locked(pack_id: str) -> None:
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(template_path(pack))
    formulas = [(ws, c) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                if isinstance(c.value, str) and c.value.startswith("=")]
    assert len(formulas) > 40
    for ws, c in formulas:
        assert c.protection.locked, (ws.title, c.coordinate)
        assert not validation_of(ws, c.coordinate), (ws.title, c.coordinate)


def test_date_windows_are_the_packs_data_not_code() -> None:
    """Moving a date of the call in the pack moves the template's window; a warning rule gives a warning alert."""
    pack = load_pack("nexus-ytec-youth-2025")
    data = copy.deepcopy(pack.data)
    rule = next(r for r in data["rules"] if r["code"] == "period.end-too-late")
    rule["params"]["max"] = "2027-02-28"
    rule["severity"] = "warning"
    moved = Pack(data=data, form=pack.form, path=pack.path, lineage=pack.lineage, form_path=pack.form_path)
    wb = build_workbook(moved)
    visits = wb[pack.sheets["visits"]]
    start = next(dv for dv in visits.data_validations.dataValidation if dv.type == "date")
    assert start.formula2 == serial("2027-02-28") and start.errorStyle == "warning"
    assert "2027/2/28" in start.prompt and "2027-02-28" in start.prompt
    plan = wb[pack.sheets["plan"]]
    first = next(dv for dv in plan.data_validations.dataValidation if dv.type == "date")   # the start: not moved
    assert first.errorStyle == "stop" and first.formula2 == serial("2026-03-31")


@pytest.mark.parametrize("pack_id", PACKS)
def test_numbers_and_dates_typed_as_text_turn_orange(pack_id: str) -> None:
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(template_path(pack))
    for key, spec, ws, cells in inputs(pack, wb):
        rules = [(cf, r) for cf in ws.conditional_formatting for r in cf.rules if cells[0] in cf.sqref]
        if spec["type"] in _NUMERIC or spec["type"] == "date":
            assert len(rules) == 1, key
            cf, rule = rules[0]
            assert all(c in cf.sqref for c in cells) and rule.formula == [f"ISTEXT({cells[0]})"], key
            assert rule.dxf.fill.fgColor.rgb.endswith("F8CBAD") or rule.dxf.fill.bgColor.rgb.endswith("F8CBAD")
        else:
            assert rules == [], key


@pytest.mark.parametrize("pack_id", PACKS)
def test_sheets_are_protected_with_the_inputs_open(pack_id: str) -> None:
    """No password; rows insertable, cells/rows/columns formattable (the add-in colours cells); inputs unlocked,
    labels locked; the workbook's structure is not protected (the add-in adds sheets)."""
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(template_path(pack))
    assert wb.security is None or not wb.security.lockStructure
    for ws in wb.worksheets:
        p = ws.protection
        assert p.sheet and not p.password, ws.title
        assert (p.formatCells, p.formatColumns, p.formatRows, p.insertRows) == (False, False, False, False), ws.title
        assert p.deleteColumns and p.insertColumns, ws.title            # columns stay as the reader expects
    for key, _spec, ws, cells in inputs(pack, wb):
        assert not any(ws[c].protection.locked for c in cells), key
        row = ws[cells[0]].row
        label = ws.cell(row=row - 1 if "." in key else row, column=1)
        assert label.protection.locked and label.value, key


def test_a_grown_table_keeps_its_validation_and_marks(base: Callable, make_workbook: Callable) -> None:
    """fill.py grows a table past its template rows: the new rows get the checks and the orange mark too."""
    pack = load_pack("nexus-ytec-youth-2025")
    data = base(pack.id)
    extra = dict(data["budget"][0])
    data["budget"] += [dict(extra) for _ in range(45 - len(data["budget"]))]
    wb = openpyxl.load_workbook(make_workbook(pack.id, data))
    ws = wb[pack.sheets["budget"]]
    last = range_boundaries(ws.tables["tblBudget"].ref)[3]
    assert last > 52
    cell = f"D{last}"
    assert [dv.type for dv in validation_of(ws, cell)] == ["whole"]
    assert [r.formula for cf in ws.conditional_formatting for r in cf.rules if cell in cf.sqref] == \
           [[f"ISTEXT(D{53})"]]
    assert not ws[cell].protection.locked
    assert ws.print_area.endswith(f"$J${last}")


def test_checks_protection_and_print_survive_libreoffice(libreoffice: Callable[[Path], Path], tmp_path: Path) -> None:
    """A clean sample re-saved by a real spreadsheet application keeps what the template set."""
    src = samples_dir() / "nexus-ytec-youth-2025__clean.xlsx"
    copy_path = tmp_path / src.name
    copy_path.write_bytes(src.read_bytes())
    before, after = openpyxl.load_workbook(src), openpyxl.load_workbook(libreoffice(copy_path))
    for name in ("交流計画 Plan", "経費 Budget", "参加者 Participants"):
        b, a = before[name], after[name]
        assert a.protection.sheet and not a.protection.formatCells and not a.protection.insertRows
        assert checked_cells(a) == checked_cells(b)     # LibreOffice may merge identical rules: compare by cell
        assert {str(cf.sqref) for cf in a.conditional_formatting} == {str(cf.sqref) for cf in b.conditional_formatting}
        assert (a.page_setup.orientation, a.page_setup.fitToWidth, a.print_title_rows) == \
               (b.page_setup.orientation, b.page_setup.fitToWidth, b.print_title_rows)


# ---- the engine: a number stored as text is read, and reported where Excel's formulas fail --------

def _sample(pack: str, name: str) -> Path:
    return samples_dir() / sample_file_name(pack, name)


@pytest.mark.parametrize("pack_id", ["nexus-ytec-youth-2025", "india-circulation-2025"])
def test_a_number_stored_as_text_is_a_warning_on_its_cell(pack_id: str) -> None:
    spec = next(s for p, n, s, _ in variants() if p == pack_id and n == "typed-as-text")
    texts = {(op["path"].split(".")[0], op["path"]) for op in spec["patch"]}
    report = validate_file(_sample(pack_id, "typed-as-text"), isolate=False)
    assert [f.severity for f in report.findings if f.severity == "error"] == []
    warned = only(report, "input.typed-as-text")
    pack = load_pack(pack_id)
    wb = openpyxl.load_workbook(_sample(pack_id, "typed-as-text"))
    numbers = {path for top, path in texts if top in ("budget", "totals", "tax_items")
               and not path.endswith(("date", "period_start", "period_end"))}
    assert len(warned) == len(numbers) >= 2
    for f in warned:
        assert f.severity == "warning"
        assert "Excelの計算式が #VALUE! になります" in f.message_ja
        assert "Excel's formulas will show #VALUE!" in f.message_en
        assert isinstance(wb[f.location.sheet][f.location.cell].value, str)         # the cell that holds the text
        assert f"「{wb[f.location.sheet][f.location.cell].value}」" in f.message_ja
        assert isinstance(f.expected, int) and f.expected > 0                          # the number it was read as
    clean = validate_file(_sample(pack_id, "clean"), isolate=False)
    assert report.submission["totals"] == clean.submission["totals"]      # read exactly as the numbers
    assert pack.id == report.program


def test_clean_samples_have_no_number_stored_as_text() -> None:
    for pack_id, name, spec, _ in variants():
        if "input.typed-as-text" in spec.get("expect", []):
            continue
        pack = load_pack(pack_id)
        wb = openpyxl.load_workbook(_sample(pack_id, name))
        for key, col, ws, cells in inputs(pack, wb):
            if col["type"] in _NUMERIC or col["type"] == "date":
                typed = [(c, ws[c].value) for c in cells if isinstance(ws[c].value, str)]
                assert typed == [], (name, key, typed)
        report = validate_file(_sample(pack_id, name), isolate=False)
        assert not only(report, "input.typed-as-text"), name


# ---- the add-in on a protected template ---------------------------------------------------------

_FORMATS = {"setRangeColor"}                      # what the sheet's protection must allow (formatCells)
_SHEET_ONLY = {"setSheetVisibility", "activateSheet", "sheetDelete"}


@pytest.mark.parametrize("name", ["nexus-ytec-youth-2025__over-cap", "india-circulation-2025__typed-as-text"])
def test_the_addin_only_formats_protected_sheets_and_writes_into_its_own(name: str) -> None:
    """Office.js refuses to change a protected sheet beyond what its protection allows: Validate only colours
    the template's cells (formatCells is allowed) and writes values only into the sheets it adds."""
    import asyncio

    import xlwings as xw
    import xlwings.server

    from addin import scripts
    from addin.officejs_payload import payload_from_file

    path = samples_dir() / f"{name}.xlsx"
    wb = openpyxl.load_workbook(path)
    payload = payload_from_file(path)
    book = xw.Book(json=copy.deepcopy(payload))
    book = asyncio.run(xlwings.server.custom_scripts_call(scripts, "validate", None,
                                                          typehint_to_value={xw.Book: book}))
    names = [s["name"] for s in payload["sheets"]]
    coloured = 0
    for action in book.json()["actions"]:
        if action["func"] == "addSheet":
            names.insert(action["args"][0], action["args"][1])
            continue
        if action.get("sheet_position") is None or action["func"] in _SHEET_ONLY:
            continue
        sheet = names[action["sheet_position"]]
        if sheet not in wb.sheetnames:
            continue                                  # a sheet the add-in added: anything goes
        protection = wb[sheet].protection
        assert protection.sheet, sheet
        assert action["func"] in _FORMATS, (sheet, action["func"])
        assert protection.formatCells is False, sheet  # False: formatting is allowed on the protected sheet
        coloured += 1
    assert coloured >= 1
