"""Build the official-style workbook of a rule pack from its form (``shinsei template build``).

Every input cell gets a defined name and every list an Excel table, so the reader never
relies on coordinates and applicants may insert rows. Dropdowns point at a lists sheet,
amounts and totals are formulas (recomputed by the engine anyway), labels are Japanese with
English beside, and a hidden meta sheet records the template id and version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from pipeline import formulas
from pipeline.packs import META_NAMES, Pack, load_pack, pack_ids
from pipeline.resources import templates_dir
from pipeline.workbook import split_cell, split_ref

_TITLE = Font(bold=True, size=14)
_SECTION = Font(bold=True, size=12, color="1F3864")
_LABEL = Font(bold=True)
_EN = Font(italic=True, color="595959")
INPUT_FILL, CALC_FILL = "FFF9E5", "EDEDED"   # yellow: fill in; grey: calculated
_INPUT = PatternFill("solid", fgColor=INPUT_FILL)
_CALC = PatternFill("solid", fgColor=CALC_FILL)
_THIN = Side(style="thin", color="BFBFBF")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FORMATS = {"yen": "#,##0", "date": "yyyy-mm-dd", "number": "0.##", "int": "0"}


def template_fill(pack: Pack, sub: dict[str, Any], sheet: str, cell: str) -> str | None:
    """The fill the template gives a cell of this workbook (None: no fill); what the add-in's Clear restores.

    Found through the submission's source map, so it holds for rows an applicant inserted.
    """
    column, row = split_cell(cell) or ("", 0)
    source = sub.get("source", {})
    for key, ref in source.get("fields", {}).items():
        if split_ref(ref) == (sheet, cell) and key in pack.fields:
            return CALC_FILL if pack.fields[key].get("formula") else INPUT_FILL
    for spec in pack.form["tables"]:
        src = source.get("tables", {}).get(spec["key"])
        if not src or src["sheet"] != sheet or row <= src["header_row"]:
            continue
        for col in spec["columns"]:
            if src["columns"].get(col["key"]) == column:
                return CALC_FILL if col.get("formula") else INPUT_FILL
    return None


def header_text(col: dict[str, Any]) -> str:
    """A table column's header: Japanese label, then English (what the reader matches)."""
    return f"{col['label']['ja']} {col['label']['en']}"


def abs_ref(sheet: str, cell: str) -> str:
    col = "".join(c for c in cell if c.isalpha())
    row = "".join(c for c in cell if c.isdigit())
    return f"{quote_sheetname(sheet)}!${col}${row}"


def row_formula(pack: Pack, kind: str, letters: dict[str, str], row: int) -> str:
    """The spreadsheet formula of a calculated table column in one row (the form names its inputs).

    ``letters`` are the column letters of one table; the column is the one of that table whose
    formula is ``kind``.
    """
    for table in pack.form["tables"]:
        if not set(letters) <= {c["key"] for c in table["columns"]}:
            continue
        for col in table["columns"]:
            if col.get("formula") == kind:
                refs = [f"{letters[a]}{row}" for a in col["args"]]
                return formulas.ROW[kind].sheet(pack, *refs)
    raise ValueError(f"unknown row formula {kind!r}")


def total_formula(pack: Pack, spec: dict[str, Any]) -> str:
    """The spreadsheet formula of a calculated total: its inputs are defined names (fields) or a
    table's column (``budget.amount`` -> tblBudget[header])."""
    refs = []
    for arg in spec["args"]:
        if "." in arg:
            table, column = arg.split(".", 1)
            col = pack.column(table, column)
            assert col is not None  # the pack check guarantees it
            refs.append(f"{pack.tables[table]['name']}[{header_text(col)}]")
        else:
            refs.append(pack.fields[arg]["name"])
    return formulas.TOTAL[spec["formula"]].sheet(pack, *refs)


class _Builder:
    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self.wb = Workbook()
        self.sheets: dict[str, Worksheet] = {}
        self.rows: dict[str, int] = {}
        self.list_refs: dict[str, str] = {}
        first = True
        for key, title in pack.sheets.items():
            if first:
                ws = self.wb.active
                ws.title = title
                first = False
            else:
                ws = self.wb.create_sheet(title)
            self.sheets[key] = ws
            self.rows[key] = 1

    # -- helpers -------------------------------------------------------------------------------
    def name(self, name: str, sheet_key: str, cell: str) -> None:
        self.wb.defined_names[name] = DefinedName(name, attr_text=abs_ref(self.pack.sheets[sheet_key], cell))

    def next_row(self, sheet_key: str, step: int = 1) -> int:
        row = self.rows[sheet_key]
        self.rows[sheet_key] = row + step
        return row

    def dropdown(self, ws: Worksheet, list_name: str, cells: str) -> None:
        dv = DataValidation(type="list", formula1=self.list_refs[list_name], allow_blank=True,
                            showErrorMessage=True, errorStyle="warning",
                            errorTitle="リストにない値 Value not in list",
                            error="リストから選んでください。/ Please choose from the list.")
        ws.add_data_validation(dv)
        dv.add(cells)

    # -- parts ---------------------------------------------------------------------------------
    def lists_sheet(self) -> None:
        ws = self.sheets["lists"]
        for i, (name, choices) in enumerate(self.pack.lists.items(), start=1):
            col = get_column_letter(i)
            ws.cell(row=1, column=i, value=name).font = _LABEL
            for j, ch in enumerate(choices, start=2):
                ws.cell(row=j, column=i, value=ch.label)
            ws.column_dimensions[col].width = 34
            self.list_refs[name] = f"{quote_sheetname(ws.title)}!${col}$2:${col}${len(choices) + 1}"
        self.rows["lists"] = 1

    def meta_sheet(self) -> None:
        ws = self.sheets["meta"]
        values = [("template_id", self.pack.template["id"]), ("template_version", self.pack.template["version"]),
                  ("pack", self.pack.id)]
        for r, (key, value) in enumerate(values, start=1):
            ws.cell(row=r, column=1, value=key)
            ws.cell(row=r, column=2, value=value)
            self.name(META_NAMES[key], "meta", f"B{r}")
        ws.sheet_state = "hidden"

    def header(self) -> None:
        ws = self.sheets["plan"]
        title = self.pack.title
        ws.cell(row=1, column=1, value=title["ja"]).font = _TITLE
        ws.cell(row=2, column=1, value=title["en"]).font = _EN
        ws.cell(row=3, column=1, value=f"様式ID Template ID: {self.pack.template['id']}  "
                                       f"版 Version: {self.pack.template['version']}").font = _EN
        ws.cell(row=4, column=1, value="黄色のセルに記入してください。灰色のセルは自動計算です。 "
                                       "Fill in the yellow cells; grey cells are calculated.").font = _EN
        self.rows["plan"] = 6
        for col, width in zip("ABCD", (34, 34, 48, 30), strict=True):
            ws.column_dimensions[col].width = width

    def field_row(self, sheet_key: str, f: dict[str, Any]) -> str:
        ws = self.sheets[sheet_key]
        r = self.next_row(sheet_key)
        ws.cell(row=r, column=1, value=f["label"]["ja"]).font = _LABEL
        ws.cell(row=r, column=2, value=f["label"]["en"]).font = _EN
        cell = ws.cell(row=r, column=3)
        cell.border = _BOX
        if f.get("formula"):
            cell.fill = _CALC
        else:
            cell.fill = _INPUT
        if f["type"] in _FORMATS:
            cell.number_format = _FORMATS[f["type"]]
        if f.get("format") == "percent":
            cell.number_format = "0.00%"
        if f.get("long"):
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.row_dimensions[r].height = 60
        if f.get("list"):
            self.dropdown(ws, f["list"], cell.coordinate)
        self.name(f["name"], sheet_key, cell.coordinate)
        return cell.coordinate

    def sections(self) -> None:
        for section in self.pack.form["sections"]:
            ws = self.sheets[section["sheet"]]
            r = self.next_row(section["sheet"])
            ws.cell(row=r, column=1, value=section["title"]["ja"]).font = _SECTION
            ws.cell(row=r, column=2, value=section["title"]["en"]).font = _EN
            for f in section["fields"]:
                self.field_row(section["sheet"], f)
            self.next_row(section["sheet"])

    def totals(self) -> None:
        totals = self.pack.form["totals"]
        key = totals["sheet"]
        ws = self.sheets[key]
        ws.cell(row=1, column=1, value=self.pack.title["ja"]).font = _TITLE
        ws.cell(row=2, column=1, value=self.pack.title["en"]).font = _EN
        self.rows[key] = 4
        money = self.pack.money
        if "base_amount" in money:
            cap = round(money["base_amount"] * (1 + money.get("excess_ratio", 0)))
            r = self.next_row(key)
            ws.cell(row=r, column=1,
                    value=f"基本額 {money['base_amount']:,}円（超過は{money.get('excess_ratio', 0):.0%}まで "
                          f"{cap:,}円、理由の記入が必要）")
            ws.cell(row=r, column=2, value=f"Base amount {money['base_amount']:,} yen (up to {cap:,} yen "
                                           "with a written reason)").font = _EN
        r = self.next_row(key)
        ws.cell(row=r, column=1, value=f"一般管理費は直接経費の{money['overhead_max_ratio']:.0%}以内")
        ws.cell(row=r, column=2, value=f"Overhead at most {money['overhead_max_ratio']:.0%} of direct costs").font = _EN
        for f in totals["fields"]:
            self.field_row(key, f)
        self.next_row(key)
        for col, width in zip("ABC", (40, 36, 20), strict=True):
            ws.column_dimensions[col].width = max(ws.column_dimensions[col].width or 0, width)

    def table(self, t: dict[str, Any]) -> None:
        key = t["sheet"]
        ws = self.sheets[key]
        if self.rows[key] == 1:
            ws.cell(row=1, column=1, value=self.pack.title["ja"]).font = _TITLE
            self.rows[key] = 3
        r = self.next_row(key)
        ws.cell(row=r, column=1, value=t["title"]["ja"]).font = _SECTION
        ws.cell(row=r, column=4 if len(t["columns"]) > 4 else 2, value=t["title"]["en"]).font = _EN
        head = self.next_row(key)
        first, last = head + 1, head + t["rows"]
        self.rows[key] = last + 2
        letters = {c["key"]: get_column_letter(i) for i, c in enumerate(t["columns"], start=1)}
        for i, col in enumerate(t["columns"], start=1):
            cell = ws.cell(row=head, column=i, value=header_text(col))
            cell.font = _LABEL
            cell.alignment = Alignment(wrap_text=True, vertical="center")
            letter = letters[col["key"]]
            width = 14 if col["type"] in ("yen", "date", "int", "number", "bool") else 24
            if col.get("long"):
                width = 36
            ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, width)
            if col.get("list"):
                self.dropdown(ws, col["list"], f"{letter}{first}:{letter}{last}")
            for row in range(first, last + 1):
                c = ws.cell(row=row, column=i)
                c.border = _BOX
                c.fill = _CALC if col.get("formula") else _INPUT
                if col["type"] in _FORMATS:
                    c.number_format = _FORMATS[col["type"]]
                if col.get("formula"):
                    c.value = row_formula(self.pack, col["formula"], letters, row)
        ws.row_dimensions[head].height = 32
        table = Table(displayName=t["name"], ref=f"A{head}:{get_column_letter(len(t['columns']))}{last}")
        table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
        ws.add_table(table)
        if key != "plan":
            ws.freeze_panes = ws.cell(row=head + 1, column=1) if self._tables_on(key) == 1 else None

    def _tables_on(self, sheet_key: str) -> int:
        return sum(1 for t in self.pack.form["tables"] if t["sheet"] == sheet_key)

    def total_formulas(self) -> None:
        for f in self.pack.form["totals"]["fields"]:
            if f.get("formula"):
                dn = self.wb.defined_names[f["name"]]
                sheet, ref = next(iter(dn.destinations))
                self.wb[sheet][ref.replace("$", "")] = total_formula(self.pack, f)

    def build(self) -> Workbook:
        self.lists_sheet()
        self.meta_sheet()
        self.header()
        self.sections()
        self.totals()
        for t in self.pack.form["tables"]:
            self.table(t)
        self.total_formulas()
        self.sheets["lists"].sheet_state = "hidden"
        self.wb.active = 0
        self.wb.properties.title = self.pack.title["ja"]
        self.wb.properties.creator = "shinsei"
        self.wb.properties.keywords = f"shinsei:{self.pack.template['id']}:{self.pack.template['version']}"
        return self.wb


def build_workbook(pack: Pack) -> Workbook:
    """The template of ``pack`` as an openpyxl workbook (not yet saved)."""
    return _Builder(pack).build()


def template_path(pack: Pack, folder: Path | None = None) -> Path:
    return (folder or templates_dir()) / pack.template["file"]


def build_template(pack_id: str, folder: Path | None = None) -> Path:
    """Write the template of ``pack_id`` into ``folder`` (default: the templates folder)."""
    pack = load_pack(pack_id)
    path = template_path(pack, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    build_workbook(pack).save(path)
    return path


def build_all(folder: Path | None = None) -> list[Path]:
    return [build_template(i, folder) for i in pack_ids()]
