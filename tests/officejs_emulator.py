"""Apply the actions a custom script returns to a payload, as xlwings' Office.js client would.

Only what changes the next payload is emulated (sheets added, deleted, hidden, values
written); fills are tracked separately so tests can see what a cell's fill ends up as.
"""

from __future__ import annotations

import copy
from typing import Any

from openpyxl.utils import get_column_letter


def _empty_sheet(name: str) -> dict[str, Any]:
    return {"name": name, "visibility": "Visible", "show_gridlines": True, "print_area": None, "notes": [],
            "notes_supported": True, "used_range_address": None, "used_range_row_count": 0,
            "used_range_column_count": 0, "values": [[""]], "pictures": [], "shapes": [], "charts": [],
            "tables": [], "pivot_tables": []}


def apply_actions(payload: dict[str, Any], actions: list[dict[str, Any]],
                  fills: dict[tuple[str, str], str | None] | None = None) -> dict[str, Any]:
    """The payload Excel would send after running ``actions``; ``fills`` collects (sheet, cell) -> colour."""
    out = copy.deepcopy(payload)
    sheets = out["sheets"]
    for a in actions:
        func, args = a["func"], a["args"]
        if func == "addSheet":
            sheets.insert(args[0], _empty_sheet(args[1]))
        elif func == "sheetDelete":
            del sheets[a["sheet_position"]]
        elif func == "setSheetVisibility":
            sheets[a["sheet_position"]]["visibility"] = args[0] if isinstance(args, list) else args
        elif func == "setValues":
            grid = sheets[a["sheet_position"]]["values"]
            r0, c0 = a["start_row"], a["start_column"]
            for i, row in enumerate(a["values"]):
                while len(grid) <= r0 + i:
                    grid.append([])
                line = grid[r0 + i]
                while len(line) < c0 + len(row):
                    line.append("")
                line[c0:c0 + len(row)] = row
            width = max(len(r) for r in grid)
            for line in grid:
                line.extend([""] * (width - len(line)))
        elif func == "setRangeColor" and fills is not None:
            name = sheets[a["sheet_position"]]["name"]
            for r in range(a["start_row"], a["start_row"] + a["row_count"]):
                for c in range(a["start_column"], a["start_column"] + a["column_count"]):
                    fills[(name, f"{get_column_letter(c + 1)}{r + 1}")] = args[0]
    return out
