"""Fill a template with data, the way an applicant would type it (samples, tests, benchmarks).

Writes by defined name and by table header, like the reader reads. Tables that are the last
block on their sheet grow when more rows are given (the ref, formulas and dropdowns extend).
Strings are written as text, even when they start with '=' (never as live formulas).
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.table import Table

from pipeline.packs import Pack, load_pack
from pipeline.template_builder import (
    header_text,
    print_pack_sheets,
    reproducible_bytes,
    row_formula,
    template_path,
    text_lines,
)


class FillError(ValueError):
    pass


def _write(cell: Any, value: Any) -> None:
    if isinstance(value, str):
        cell.value = value
        cell.data_type = TYPE_STRING  # never a live formula, whatever the text starts with
    elif isinstance(value, dt.date | dt.datetime | int | float | bool) or value is None:
        cell.value = value
    else:
        raise FillError(f"cannot write {value!r}")


def _find_table(wb: Workbook, name: str) -> tuple[Any, Table]:
    for ws in wb.worksheets:
        if name in ws.tables:
            return ws, ws.tables[name]
    raise FillError(f"table {name} not in workbook")


def _grow(ws: Any, table: Table, spec: dict[str, Any], pack: Pack, new_last: int) -> None:
    min_col, min_row, max_col, max_row = range_boundaries(table.ref)
    for other in ws.tables.values():
        if other is not table and range_boundaries(other.ref)[1] > max_row:
            raise FillError(f"table {table.displayName} cannot grow: another table is below it")
    letters = {c["key"]: get_column_letter(min_col + i) for i, c in enumerate(spec["columns"])}
    for row in range(max_row + 1, new_last + 1):
        for i, col in enumerate(spec["columns"]):
            src = ws.cell(row=max_row, column=min_col + i)
            dst = ws.cell(row=row, column=min_col + i)
            dst._style = src._style
            if col.get("formula"):
                dst.value = row_formula(pack, col["formula"], letters, row)
    table.ref = f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{new_last}"
    if table.autoFilter is not None:
        table.autoFilter.ref = table.ref
    for dv in ws.data_validations.dataValidation:
        for rng in list(dv.sqref.ranges):
            c1, r1, c2, r2 = rng.bounds
            if r2 == max_row and r1 > min_row:
                dv.sqref.add(f"{get_column_letter(c1)}{max_row + 1}:{get_column_letter(c2)}{new_last}")
    for cf in list(ws.conditional_formatting):   # the orange mark on numbers typed as text grows too
        for rng in list(cf.sqref.ranges):
            c1, r1, c2, r2 = rng.bounds
            if r2 == max_row and r1 > min_row and min_col <= c1 <= max_col:
                top = f"{get_column_letter(c1)}{max_row + 1}"
                for rule in cf.rules:
                    grown = copy.copy(rule)
                    grown.formula = [f.replace(f"{get_column_letter(c1)}{r1}", top) for f in rule.formula]
                    ws.conditional_formatting.add(f"{top}:{get_column_letter(c2)}{new_last}", grown)


def fill_workbook(wb: Workbook, pack: Pack, data: dict[str, Any]) -> None:
    """Write ``data`` ({"plan": {...}, "totals": {...}, "<table>": [rows]}) into an open template."""
    for group in ("plan", "totals"):
        for key, value in (data.get(group) or {}).items():
            spec = pack.fields.get(key)
            if spec is None:
                raise FillError(f"unknown field {key}")
            sheet, ref = next(iter(wb.defined_names[spec["name"]].destinations))
            _write(wb[sheet][ref.replace("$", "")], value)
    for spec in pack.form["tables"]:
        rows = data.get(spec["key"])
        if rows is None:
            continue
        ws, table = _find_table(wb, spec["name"])
        min_col, min_row, _max_col, max_row = range_boundaries(table.ref)
        if len(rows) > max_row - min_row:
            _grow(ws, table, spec, pack, min_row + len(rows))
        headers = {ws.cell(row=min_row, column=c).value: c for c in range(min_col, min_col + len(spec["columns"]))}
        for r, row in enumerate(rows, start=min_row + 1):
            lines = 1
            for key, value in row.items():
                col = next((c for c in spec["columns"] if c["key"] == key), None)
                if col is None:
                    raise FillError(f"unknown column {spec['key']}.{key}")
                cell = ws.cell(row=r, column=headers[header_text(col)])
                _write(cell, value)
                if isinstance(value, str) and cell.alignment.wrap_text:
                    width = ws.column_dimensions[get_column_letter(cell.column)].width or 13
                    lines = max(lines, text_lines(value, width))
            if lines > 1:   # as Excel fits the row to wrapped text when it is typed
                ws.row_dimensions[r].height = 15 * lines
    print_pack_sheets(wb, pack)   # the print areas cover the rows a grown table added


def fill_template(pack_id: str, data: dict[str, Any], out: str | Path, *, template: Path | None = None,
                  reproducible: bool = False) -> Path:
    """Copy the pack's template to ``out`` with ``data`` filled in (``reproducible``: with fixed timestamps, so
    the same data gives the same bytes, as for the committed samples)."""
    pack = load_pack(pack_id)
    wb = load_workbook(template or template_path(pack))
    fill_workbook(wb, pack, data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if reproducible:
        out.write_bytes(reproducible_bytes(wb))
    else:
        wb.save(out)
    return out
