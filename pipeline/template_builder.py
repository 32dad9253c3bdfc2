"""Build the official-style workbook of a rule pack from its form (``shinsei template build``).

Every input cell gets a defined name and every list an Excel table, so the reader never
relies on coordinates and applicants may insert rows. Dropdowns point at a lists sheet,
amounts and totals are formulas (recomputed by the engine anyway), labels are Japanese with
English beside, and a hidden meta sheet records the template id and version.

The template catches mistakes while they are typed: every input cell has data validation with a
bilingual input message and error alert (numbers held to their form ``range`` and dates to the call's
window from the pack's rules: a stop alert; choices to their list: a warning), a number or date typed
as text turns orange (conditional formatting: Excel's formulas cannot read it), and each sheet is
protected without a password (labels and formulas locked, input cells unlocked; rows may be inserted,
cells, rows and columns formatted, so the add-in can colour cells and add sheets). Every sheet prints
on A4, one page wide, with the form title in the header and the template id, version and page
number in the footer (``print_layout``, also used for the annotated copy). The file is
byte-reproducible: rebuilding an unchanged pack gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter, quote_sheetname, range_boundaries
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.protection import SheetProtection
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from pipeline import formulas
from pipeline.packs import META_NAMES, Pack, PackError, load_pack, pack_ids
from pipeline.resources import templates_dir
from pipeline.workbook import split_cell, split_ref

_TITLE = Font(bold=True, size=14)
_SECTION = Font(bold=True, size=12, color="1F3864")
_LABEL = Font(bold=True)
_EN = Font(italic=True, color="595959")
INPUT_FILL, CALC_FILL = "FFF9E5", "EDEDED"   # yellow: fill in; grey: calculated
TEXT_MARK_FILL = "F8CBAD"                     # orange: a number or date typed as text (conditional formatting)
_INPUT = PatternFill("solid", fgColor=INPUT_FILL)
_CALC = PatternFill("solid", fgColor=CALC_FILL)
_THIN = Side(style="thin", color="BFBFBF")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FORMATS = {"yen": "#,##0", "date": "yyyy-mm-dd", "number": "0.##", "int": "0", "fiscal_year": "0"}
_UNLOCKED = Protection(locked=False)
_WRAP_TOP = Alignment(wrap_text=True, vertical="top")
_NUMERIC = frozenset({"yen", "number", "int", "fiscal_year"})
_NUMBER_WORDS = {"yen": ("円の整数", "whole yen"), "number": ("の数値（小数可）", "a number"),
                 "int": ("の整数", "a whole number"), "fiscal_year": ("の年度（西暦）", "the fiscal year (2026)")}
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_WIDE = re.compile("[\u2e80-\U0010ffff]")   # characters a column shows two units wide (CJK and beyond)
# Excel's limits on data validation texts (longer ones make Excel repair the file).
_TITLE_MAX, _MESSAGE_MAX = 32, 255
# Rebuilt templates are byte-identical: fixed timestamps in the zip and in docProps/core.xml.
_FIXED_ZIP_TIME = (2025, 1, 1, 0, 0, 0)
_FIXED_CORE_TIME = "2025-01-01T00:00:00Z"


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
    """A table column's header: Japanese label, then English (what the reader matches); once when both read
    the same ("No.", not "No. No.")."""
    ja, en = col["label"]["ja"], col["label"]["en"]
    return ja if ja == en else f"{ja} {en}"


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


# ---- what each input accepts (data validation), from the form and the pack ----------------------

def _figure(n: float | int, spec: dict[str, Any]) -> str:
    text = f"{int(n):,}" if float(n).is_integer() else f"{n:g}"
    return text + ("円" if spec["type"] == "yen" else "")


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def date_window(pack: Pack, key: str) -> tuple[str, str, bool] | None:
    """(first, last, hard) dates a date input accepts: its window in the form's ``validation.dates``, each end
    a date or a rule parameter of the pack. ``hard``: every rule end is an error rule (a stop alert);
    otherwise the window is a soft limit (a warning). None: the form gives the input no window."""
    spec = (pack.form.get("validation") or {}).get("dates", {}).get(key)
    if spec is None:
        return None
    ends: list[str] = []
    hard = True
    for end in (spec["from"], spec["to"]):
        if isinstance(end, dict):
            rule = next((r for r in pack.rules if r["code"] == end["rule"]), None)
            if rule is None or end["param"] not in rule.get("params", {}):
                raise PackError(f"{pack.id}: validation.dates.{key} names {end['rule']}.{end['param']}, "
                                "which the pack does not have")
            ends.append(_iso(rule["params"][end["param"]]))
            hard = hard and rule["severity"] == "error"
        else:
            ends.append(_iso(end))
    return ends[0], ends[1], hard


def _serial(iso: str) -> int:
    return (dt.date.fromisoformat(iso) - _EXCEL_EPOCH).days


def _slash(iso: str) -> str:
    d = dt.date.fromisoformat(iso)
    return f"{d.year}/{d.month}/{d.day}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def input_validation(pack: Pack, spec: dict[str, Any], key: str,
                     list_refs: dict[str, str]) -> DataValidation:
    """The data validation of one input (a field, or every row of a table column; ``key`` is ``table.column``
    or the field key): type and range, a bilingual input message and error alert."""
    ja, en = spec["label"]["ja"], spec["label"]["en"]
    title = _short(ja, _TITLE_MAX)
    kind = spec["type"]
    if spec.get("list"):
        dv = DataValidation(type="list", formula1=list_refs[spec["list"]], errorStyle="warning",
                            errorTitle="リストにない値 Value not in list",
                            error="リストから選んでください。/ Please choose from the list.",
                            prompt=f"リストから選んでください。/ Choose from the list: {en}.")
    elif kind in _NUMERIC:
        low, high = spec.get("range", (0, 1_000_000_000))
        plain = {**spec, "type": "number"}
        span_ja = f"{_figure(low, plain)}〜{_figure(high, plain)}"
        span_en = f"{_figure(low, plain)} to {_figure(high, plain)}"
        what_ja, what_en = _NUMBER_WORDS[kind]
        dv = DataValidation(type="decimal" if kind == "number" else "whole", operator="between",
                            formula1=str(low), formula2=str(high), errorStyle="stop",
                            errorTitle="数値を入力 Enter a number",
                            error=("数値で入力してください。「12,000円」「¥98,000」のような文字は"
                                   f"Excelの計算式で使えません（#VALUE!）。{span_ja}{what_ja}。/ Enter a number: "
                                   f"text such as 12,000円 or ¥98,000 breaks Excel's formulas (#VALUE!). "
                                   f"{what_en}, {span_en}."),
                            prompt=(f"{span_ja}{what_ja}を数字だけで入力（¥・円・カンマ不要）。/ "
                                    f"Type {what_en}, {span_en}, as digits only (no ¥, 円 or commas)."))
    elif kind == "date":
        window = date_window(pack, key)
        if window is None:
            raise PackError(f"{pack.id}: the date input {key} has no window in the form's validation.dates")
        first, last, hard = window
        span_ja, span_en = f"{_slash(first)}〜{_slash(last)}", f"{first} to {last}"
        dv = DataValidation(type="date", operator="between", formula1=str(_serial(first)),
                            formula2=str(_serial(last)), errorStyle="stop" if hard else "warning",
                            errorTitle="日付を入力 Enter a date",
                            error=(f"{span_ja} の日付を入力してください（例 2026/4/1）。"
                                   "この範囲は公募の日程によります。"
                                   f"/ Enter a date from {span_en} (e.g. 2026/4/1), as the call's dates allow."),
                            prompt=(f"日付を入力（例 2026/4/1）。入力できる期間: {span_ja}。/ "
                                    f"A date (e.g. 2026/4/1) from {span_en}."))
    else:
        more_ja, more_en = ("長文可（セル内改行 Alt+Enter）。", " Long text; Alt+Enter starts a new line.") \
            if spec.get("long") else ("", "")
        dv = DataValidation(prompt=f"{ja}を入力。{more_ja}/ Enter: {en}.{more_en}")
    dv.promptTitle = title
    dv.showInputMessage = True
    dv.showErrorMessage = dv.type is not None
    dv.allow_blank = True
    for text, limit in ((dv.promptTitle, _TITLE_MAX), (dv.errorTitle, _TITLE_MAX), (dv.prompt, _MESSAGE_MAX),
                        (dv.error, _MESSAGE_MAX)):
        if text and len(text) > limit:
            raise PackError(f"{pack.id}: the data validation text of {key} is longer than Excel's {limit}: {text}")
    return dv


def _units(text: str) -> int:
    """Width of ``text`` in column units (CJK characters count two)."""
    return len(text) + len(_WIDE.findall(text))


def column_width(pack: Pack, col: dict[str, Any]) -> float:
    """A table column's width: by its type, a list by its longest choice (capped), free text wider."""
    if "width" in col:
        return float(col["width"])
    if col.get("long"):
        return 30
    kind = col["type"]
    if col.get("list"):
        longest = max((_units(ch.ja) for ch in pack.lists.get(col["list"], [])), default=10)
        return min(22, max(10, longest + 2))
    return {"yen": 13, "number": 9, "int": 9, "fiscal_year": 8, "date": 12, "bool": 10}.get(kind, 20)


def text_lines(text: str, width: float) -> int:
    """Lines ``text`` wraps to in a column ``width`` characters wide (CJK characters count two)."""
    return sum(max(1, -(-_units(part) // max(1, int(width * 0.9)))) for part in text.split("\n"))


_lines = text_lines


# ---- printing -----------------------------------------------------------------------------------

def print_layout(ws: Worksheet, *, orientation: str, header: str, footer: str, title_rows: str | None = None,
                 area: str | None = None) -> None:
    """Print ``ws`` on A4 in ``orientation``, one page wide and as many down as needed, with ``header``
    (the form title) and ``footer`` (template id and version) and page N / M; ``title_rows`` ("4:4") repeat
    on every page; ``area`` is the print area (default: the used range)."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = orientation
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.7, bottom=0.7, header=0.3, footer=0.3)
    ws.print_options.horizontalCentered = True
    ws.print_area = area or ws.calculate_dimension()
    if title_rows:
        ws.print_title_rows = title_rows
    for part in (ws.oddHeader, ws.evenHeader, ws.firstHeader, ws.oddFooter, ws.evenFooter, ws.firstFooter):
        part.left.text = part.center.text = part.right.text = None
    ws.oddHeader.center.text = _header_safe(header)
    ws.oddHeader.center.size = 9
    ws.oddFooter.left.text = _header_safe(footer)
    ws.oddFooter.left.size = 8
    ws.oddFooter.center.text = "&P / &N"
    ws.oddFooter.center.size = 8
    ws.oddFooter.right.text = "&A"
    ws.oddFooter.right.size = 8


def _header_safe(text: str) -> str:
    """Text for a header or footer: '&' doubled (a lone one starts a code), within Excel's 255 characters."""
    return _short(text.replace("&", "&&"), 200)


def template_footer(pack: Pack) -> str:
    return f"様式 Template {pack.template['id']} 版 v{pack.template['version']}"


def sheet_print_spec(pack: Pack, sheet_key: str) -> dict[str, Any]:
    return (pack.form.get("print") or {}).get("sheets", {}).get(sheet_key, {"orientation": "portrait"})


def table_title_rows(ws: Worksheet) -> str | None:
    """The header row of the sheet's table, to repeat on every printed page (a sheet of one table only)."""
    if len(ws.tables) != 1:
        return None
    head = range_boundaries(next(iter(ws.tables.values())).ref)[1]
    return f"{head}:{head}"


def print_pack_sheets(wb: Workbook, pack: Pack) -> None:
    """Give every visible sheet of ``pack``'s form in ``wb`` its print layout (the template, or an applicant's
    copy of it with rows inserted: the print area and repeated header follow the sheet as it is now)."""
    by_title = {title: key for key, title in pack.sheets.items()}
    for ws in wb.worksheets:
        key = by_title.get(ws.title)
        if key is None or ws.sheet_state != "visible":
            continue
        print_layout(ws, orientation=sheet_print_spec(pack, key)["orientation"], header=pack.title["ja"],
                     footer=template_footer(pack), title_rows=table_title_rows(ws),
                     area=f"A1:{get_column_letter(ws.max_column)}{ws.max_row}")


_PROTECTION = dict(sheet=True, formatCells=False, formatColumns=False, formatRows=False, insertRows=False,
                   autoFilter=False)


def protect(ws: Worksheet) -> None:
    """Protect the sheet without a password: locked cells (labels, formulas) cannot be typed over; rows may be
    inserted and cells, rows and columns formatted (the add-in colours cells; Office.js needs formatCells)."""
    ws.protection = SheetProtection(**_PROTECTION)


class _Builder:
    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self.wb = Workbook()
        self.sheets: dict[str, Worksheet] = {}
        self.rows: dict[str, int] = {}
        self.list_refs: dict[str, str] = {}
        self.text_marks: dict[str, list[str]] = {}   # sheet key -> ranges marked orange when they hold text
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

    def validate(self, sheet_key: str, spec: dict[str, Any], key: str, cells: str) -> None:
        """Data validation on ``cells`` (an input), and the orange mark for a number or date typed as text."""
        ws = self.sheets[sheet_key]
        dv = input_validation(self.pack, spec, key, self.list_refs)
        ws.add_data_validation(dv)
        dv.add(cells)
        if spec["type"] in _NUMERIC or spec["type"] == "date":
            self.text_marks.setdefault(sheet_key, []).append(cells)

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
        note = ("黄色のセルに記入してください。灰色のセルは自動計算です。金額・数量・日付は数値で入力してください"
                "（文字で入力したセルはオレンジ色になり、計算式が #VALUE! になります）。シートは保護されています"
                "（パスワードなし）。行が足りないときは「校閲 > シート保護の解除」の後に追加してください。\n"
                "Fill in the yellow cells; grey cells are calculated. Type amounts, quantities and dates as numbers "
                "(a cell holding text turns orange and the formulas show #VALUE!). Sheets are protected without a "
                "password: to add more rows, Review > Unprotect Sheet first.")
        cell = ws.cell(row=4, column=1, value=note)
        cell.font = _EN
        cell.alignment = _WRAP_TOP
        ws.merge_cells(start_row=4, start_column=1, end_row=4, end_column=3)
        ws.row_dimensions[4].height = 15 * sum(_lines(part, 100) for part in note.split("\n"))
        self.rows["plan"] = 6
        for col, width in zip("ABC", (32, 26, 42), strict=True):
            ws.column_dimensions[col].width = width

    def field_row(self, sheet_key: str, f: dict[str, Any]) -> str:
        ws = self.sheets[sheet_key]
        r = self.next_row(sheet_key)
        label = ws.cell(row=r, column=1, value=f["label"]["ja"])
        label.font = _LABEL
        label.alignment = Alignment(wrap_text=True, vertical="center")
        en = ws.cell(row=r, column=2, value=f["label"]["en"])
        en.font = _EN
        en.alignment = Alignment(wrap_text=True, vertical="center")
        cell = ws.cell(row=r, column=3)
        cell.border = _BOX
        if f.get("formula"):
            cell.fill = _CALC
        else:
            cell.fill = _INPUT
            cell.protection = _UNLOCKED
            self.validate(sheet_key, f, f["key"], cell.coordinate)
        if f["type"] in _FORMATS:
            cell.number_format = _FORMATS[f["type"]]
        if f.get("format") == "percent":
            cell.number_format = "0.00%"
        widths = (ws.column_dimensions["A"].width or 13, ws.column_dimensions["B"].width or 13)
        lines = max(_lines(f["label"]["ja"], widths[0]), _lines(f["label"]["en"], widths[1]))
        if f.get("long"):
            cell.alignment = _WRAP_TOP
            ws.row_dimensions[r].height = 60
        elif lines > 1:
            ws.row_dimensions[r].height = 15 * lines
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
        for col, width in zip("ABC", (24, 24, 16), strict=True):
            ws.column_dimensions[col].width = max(ws.column_dimensions[col].width or 0, width)
        money = self.pack.money
        if "base_amount" in money:
            cap = round(money["base_amount"] * (1 + money.get("excess_ratio", 0)))
            r = self.next_row(key)
            ja = (f"基本額 {money['base_amount']:,}円（超過は{money.get('excess_ratio', 0):.0%}まで "
                  f"{cap:,}円、理由の記入が必要）")
            en = f"Base amount {money['base_amount']:,} yen (up to {cap:,} yen with a written reason)"
            ws.cell(row=r, column=1, value=ja).alignment = _WRAP_TOP
            ws.cell(row=r, column=2, value=en).font = _EN
            ws.cell(row=r, column=2).alignment = _WRAP_TOP
            ws.row_dimensions[r].height = 15 * max(_lines(ja, 24), _lines(en, 24))
        r = self.next_row(key)
        ja = f"一般管理費は直接経費の{money['overhead_max_ratio']:.0%}以内"
        en = f"Overhead at most {money['overhead_max_ratio']:.0%} of direct costs"
        ws.cell(row=r, column=1, value=ja).alignment = _WRAP_TOP
        ws.cell(row=r, column=2, value=en).font = _EN
        ws.cell(row=r, column=2).alignment = _WRAP_TOP
        ws.row_dimensions[r].height = 15 * max(_lines(ja, 24), _lines(en, 24))
        for f in totals["fields"]:
            self.field_row(key, f)
        self.next_row(key)

    def table(self, t: dict[str, Any]) -> None:
        key = t["sheet"]
        ws = self.sheets[key]
        if self.rows[key] == 1:
            ws.cell(row=1, column=1, value=self.pack.title["ja"]).font = _TITLE
            self.rows[key] = 3
        r = self.next_row(key)
        ncols = len(t["columns"])
        en_col = 4 if ncols > 4 else 2
        ja_cell = ws.cell(row=r, column=1, value=t["title"]["ja"])
        ja_cell.font = _SECTION
        en_cell = ws.cell(row=r, column=en_col, value=t["title"]["en"])
        en_cell.font = _EN
        if key != "plan":   # a long title wraps within the table's width instead of running off the page
            for cell in (ja_cell, en_cell):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            if en_col > 2:
                ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=en_col - 1)
            if ncols > en_col:
                ws.merge_cells(start_row=r, start_column=en_col, end_row=r, end_column=ncols)
            widths = [column_width(self.pack, c) for c in t["columns"]]
            lines = max(_lines(t["title"]["ja"], sum(widths[:en_col - 1]) * 0.8),
                        _lines(t["title"]["en"], sum(widths[en_col - 1:])))
            ws.row_dimensions[r].height = 18 * lines
        head = self.next_row(key)
        first, last = head + 1, head + t["rows"]
        self.rows[key] = last + 2
        letters = {c["key"]: get_column_letter(i) for i, c in enumerate(t["columns"], start=1)}
        header_lines = 1
        for i, col in enumerate(t["columns"], start=1):
            cell = ws.cell(row=head, column=i, value=header_text(col))
            cell.font = _LABEL
            cell.alignment = Alignment(wrap_text=True, vertical="center")
            letter = letters[col["key"]]
            if key != "plan":
                width = column_width(self.pack, col)
                ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, width)
            header_lines = max(header_lines, _lines(header_text(col), ws.column_dimensions[letter].width or 13))
            cells = f"{letter}{first}:{letter}{last}"
            if not col.get("formula"):
                self.validate(key, col, f"{t['key']}.{col['key']}", cells)
            for row in range(first, last + 1):
                c = ws.cell(row=row, column=i)
                c.border = _BOX
                if col.get("formula"):
                    c.fill = _CALC
                    c.value = row_formula(self.pack, col["formula"], letters, row)
                else:
                    c.fill = _INPUT
                    c.protection = _UNLOCKED
                if col["type"] in _FORMATS:
                    c.number_format = _FORMATS[col["type"]]
                if col.get("format") == "percent":
                    c.number_format = "0%"
                if col.get("long") or (col["type"] in ("text", "choice") and key != "plan"):
                    c.alignment = _WRAP_TOP
        ws.row_dimensions[head].height = 15 * max(2, header_lines)
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

    def marks_and_protection(self) -> None:
        """The orange mark on numbers and dates typed as text, and every sheet protected."""
        mark_fill = PatternFill(start_color=TEXT_MARK_FILL, end_color=TEXT_MARK_FILL, fill_type="solid")
        mark_font = Font(color="9C0006", bold=True)
        for key, ranges in self.text_marks.items():
            ws = self.sheets[key]
            for cells in ranges:
                top_left = cells.split(":")[0]
                ws.conditional_formatting.add(cells, FormulaRule(formula=[f"ISTEXT({top_left})"], fill=mark_fill,
                                                                 font=mark_font, stopIfTrue=False))
        for ws in self.wb.worksheets:
            protect(ws)

    def build(self) -> Workbook:
        self.lists_sheet()
        self.meta_sheet()
        self.header()
        self.sections()
        self.totals()
        for t in self.pack.form["tables"]:
            self.table(t)
        self.total_formulas()
        self.marks_and_protection()
        self.sheets["lists"].sheet_state = "hidden"
        print_pack_sheets(self.wb, self.pack)
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


_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def reproducible_bytes(wb: Workbook) -> bytes:
    """The saved workbook with fixed timestamps (zip entries and document properties): the same pack gives
    the same bytes, so rebuilding the committed templates changes nothing."""
    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "docProps/core.xml":
                data = _CORE_TIMES.sub(rb"\g<1>" + _FIXED_CORE_TIME.encode() + rb"\g<3>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)
    return out.getvalue()


def build_template(pack_id: str, folder: Path | None = None) -> Path:
    """Write the template of ``pack_id`` into ``folder`` (default: the templates folder)."""
    pack = load_pack(pack_id)
    path = template_path(pack, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(reproducible_bytes(build_workbook(pack)))
    return path


def build_all(folder: Path | None = None) -> list[Path]:
    return [build_template(i, folder) for i in pack_ids()]
