"""Turn the workbook Excel sent (an ``xw.Book`` on xlwings' remote interpreter) into the engine's input.

The engine reads files into a ``RawWorkbook`` (defined-name cells, Excel tables, sheet
names); this builds the same structure from the Office.js payload, with values typed as
python-calamine types them (numbers as float, date cells as ``date``, empty as ``""``) so
that the engine gives the same findings for the open workbook as for the file on disk.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import xlwings as xw

from pipeline.workbook import CellRef, RawTable, RawWorkbook, column_index, split_cell

APPLICATION = "Microsoft Excel (shinsei add-in)"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$")


def _value(v: Any) -> Any:
    """A payload value as python-calamine would have read it from the saved file."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, str) and len(v) == 24 and _ISO.match(v):
        # Office.js sends date-formatted cells as ISO strings (xlwings' convertDateValues)
        when = dt.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
        return when.date() if when.time() == dt.time() else when
    return v


def _grid_value(grid: list[list[Any]], row: int, col: int) -> Any:
    """Value at 1-based ``row`` and 0-based ``col`` of a sheet's ``A1:<last used>`` values."""
    if row - 1 < len(grid) and col < len(grid[row - 1]):
        return _value(grid[row - 1][col])
    return ""


def raw_from_payload(payload: dict[str, Any]) -> RawWorkbook:
    """The engine's input from the JSON payload of xlwings' Office.js client."""
    sheets = payload.get("sheets") or []
    sheet_names = [s["name"] for s in sheets]
    grids = {s["name"]: s.get("values") or [[]] for s in sheets}
    names: dict[str, CellRef] = {}
    broken: list[str] = []
    for n in payload.get("names") or []:
        name = n.get("name", "")
        if not n.get("book_scope", True) or name.startswith("_xlnm"):
            continue
        cell = split_cell(n.get("address"))
        index = n.get("sheet_index")
        if cell is None or index is None or not 0 <= index < len(sheet_names):
            broken.append(name)
            continue
        names[name] = CellRef(sheet_names[index], cell[0], cell[1])
    values = {name: _grid_value(grids[ref.sheet], ref.row, column_index(ref.column)) for name, ref in names.items()}
    tables: dict[str, RawTable] = {}
    for s in sheets:
        for t in s.get("tables") or []:
            top = split_cell(t.get("header_row_range_address") or t.get("range_address"))
            body = (t.get("data_body_range_address") or "").split(":")
            last = split_cell(body[-1]) if body[-1] else None
            if top is None or last is None:
                continue
            first_col = column_index(top[0])
            header_row = top[1] if t.get("header_row_range_address") else top[1] - 1  # no header row shown
            width = len(t.get("columns") or [])
            grid = grids[s["name"]]
            rows = [(r, [_grid_value(grid, r, first_col + c) for c in range(width)])
                    for r in range(header_row + 1, last[1] + 1)]
            tables[t["name"]] = RawTable(t["name"], s["name"], header_row, first_col,
                                         [str(h) for h in t.get("columns") or []], rows)
    book_name = (payload.get("book") or {}).get("name") or "workbook.xlsx"
    return RawWorkbook(Path(book_name), names, values, tables, sheet_names, False, APPLICATION, broken)


def raw_from_book(book: xw.Book) -> RawWorkbook:
    """The engine's input from the book a custom script receives."""
    return raw_from_payload(book.api)
