"""Build, from a workbook on disk, the JSON payload that xlwings' Office.js client sends.

Excel sends this payload when a button is pressed (xlwings_server/static/js/custom-scripts,
``getBookData``): for every sheet the values of ``A1:<last used cell>`` as Office.js returns
them (``""`` for empty cells, numbers, booleans, text; date-formatted numbers converted to
ISO strings), the defined names with their addresses, and the tables with their ranges.
Tests and the benchmark use this to drive the add-in without Excel, on real files.
Values are the file's cached results (what Excel shows), read with openpyxl's full model.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import xlwings
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.workbook.workbook import Workbook

_VISIBILITY = {"visible": "Visible", "hidden": "Hidden", "veryHidden": "VeryHidden"}


def _cell_value(value: Any) -> Any:
    """One cell as Office.js' ``range.values`` gives it (after xlwings' date conversion)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00.000Z"
    if isinstance(value, dt.time | dt.timedelta):
        return str(value)
    return value


def _used_extent(ws: Any) -> tuple[int, int]:
    """Last row and column holding a value (Office.js' values-only used range)."""
    last_row = last_col = 0
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is not None and cell.value != "":
                last_row = max(last_row, cell.row)
                last_col = max(last_col, cell.column)
    return last_row, last_col


def _address(min_col: int, min_row: int, max_col: int, max_row: int) -> str:
    first = f"{get_column_letter(min_col)}{min_row}"
    last = f"{get_column_letter(max_col)}{max_row}"
    return first if first == last else f"{first}:{last}"


def _names(wb: Workbook, index: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for name, dn in wb.defined_names.items():
        if name.startswith("_xlnm"):
            continue
        destinations = list(dn.destinations)
        sheet, ref = destinations[0] if len(destinations) == 1 else (None, None)
        if sheet not in index:
            sheet = ref = None
        out.append({
            "name": name, "refers_to": f"={dn.attr_text}", "type": "Range" if ref else "Error",
            "sheet_index": index.get(sheet) if sheet else None,
            "address": ref.replace("$", "") if ref else None,
            "scope_sheet_name": None, "scope_sheet_index": None, "book_scope": True,
        })
    return out


def _tables(ws: Any) -> list[dict[str, Any]]:
    out = []
    for table in ws.tables.values():
        min_col, min_row, max_col, max_row = range_boundaries(table.ref)
        headers = table.headerRowCount != 0
        totals = bool(table.totalsRowCount)
        body_first = min_row + (1 if headers else 0)
        body_last = max_row - (1 if totals else 0)
        out.append({
            "name": table.displayName,
            "range_address": _address(min_col, min_row, max_col, max_row),
            "row_count": max_row - min_row + 1, "column_count": max_col - min_col + 1,
            "columns": [c.name for c in table.tableColumns],
            "header_row_range_address": _address(min_col, min_row, max_col, min_row) if headers else None,
            "data_body_range_address": _address(min_col, body_first, max_col, body_last),
            "total_row_range_address": _address(min_col, max_row, max_col, max_row) if totals else None,
            "show_headers": headers, "show_totals": totals,
            "table_style": table.tableStyleInfo.name if table.tableStyleInfo else None,
            "show_autofilter": table.autoFilter is not None,
            "show_table_style_first_column": False, "show_table_style_last_column": False,
            "show_table_style_row_stripes": True, "show_table_style_column_stripes": False,
        })
    return out


def payload_from_workbook(wb: Workbook, name: str) -> dict[str, Any]:
    index = {ws.title: i for i, ws in enumerate(wb.worksheets)}
    sheets = []
    for ws in wb.worksheets:
        last_row, last_col = _used_extent(ws)
        if last_row == 0:
            values: list[list[Any]] = [[""]]
            used = None
        else:
            values = [[_cell_value(v) for v in row]
                      for row in ws.iter_rows(min_row=1, max_row=last_row, min_col=1, max_col=last_col,
                                              values_only=True)]
            used = _address(1, 1, last_col, last_row)
        sheets.append({
            "name": ws.title, "visibility": _VISIBILITY.get(ws.sheet_state, "Visible"),
            "show_gridlines": bool(ws.sheet_view.showGridLines), "print_area": None,
            "notes": [], "notes_supported": True,
            "used_range_address": used, "used_range_row_count": last_row, "used_range_column_count": last_col,
            "values": values, "pictures": [], "shapes": [], "charts": [], "tables": _tables(ws),
            "pivot_tables": [],
        })
    return {
        "client": "Office.js",
        "version": xlwings.__version__,
        "book": {"name": name, "active_sheet_index": wb.index(wb.active) if wb.active else 0,
                 "selection": "A1", "calculation": "Automatic"},
        "names": _names(wb, index),
        "sheets": sheets,
    }


def payload_from_file(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """The payload Excel would send for the workbook at ``path`` (``name``: the book's name in Excel)."""
    path = Path(path)
    wb = load_workbook(path, data_only=True)
    try:
        return payload_from_workbook(wb, name or path.name)
    finally:
        wb.close()
