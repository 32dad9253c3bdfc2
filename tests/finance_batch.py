"""Batches for the finance-review tests: applications written by the project's templates, each with its own
identity and with cost lines the classifier flags, and helpers to fill the worklist as a reviewer would."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import openpyxl

from pipeline.fill import fill_template
from pipeline.finance.worklist import FLAGGED_SHEET, HEADERS
from pipeline.samples import load_scenarios

FLAGGED_LINES = [  # (category, sub-category, description, unit price, quantity): each ineligible in NEXUS
    {"category": "IV その他", "subcategory": "会議費", "description": "歓迎パーティー 飲食代", "unit_price": 5000,
     "quantity": 20, "unit": "人", "fiscal_year": 2026},
    {"category": "III 旅費", "subcategory": "参加者旅費", "description": "京都観光ツアー(招へい者)",
     "unit_price": 15000, "quantity": 4, "unit": "人", "fiscal_year": 2026},
    {"category": "IV その他", "subcategory": "会議費", "description": "招へい者への記念品", "unit_price": 3000,
     "quantity": 4, "unit": "個", "fiscal_year": 2026},
]


def youth_application(n: int, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The youth sample's clean application as application ``n`` (its own PI and title) with the flagged lines."""
    scenario = next(sc for sc in load_scenarios() if sc["pack"] == "nexus-ytec-youth-2025")
    data = copy.deepcopy(scenario["base"])
    data["plan"]["pi_name"] = f"試験 太郎{n}"
    data["plan"]["title_ja"] = f"{data['plan']['title_ja']}（第{n}案）"
    for line in data["budget"]:  # numbers typed as numbers, as the forms ask
        if isinstance(line.get("unit_price"), str):
            line["unit_price"] = int("".join(ch for ch in line["unit_price"] if ch.isdigit()))
    data["budget"] += copy.deepcopy(FLAGGED_LINES if extra is None else extra)
    return data


def write_batch(folder: Path, n: int = 2) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [fill_template("nexus-ytec-youth-2025", youth_application(i), folder / f"app{i}.xlsx")
            for i in range(1, n + 1)]


def worklist_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The worklist sheet as {header: value} rows (openpyxl: the file as a reviewer's Excel would keep it)."""
    ws = openpyxl.load_workbook(path)[FLAGGED_SHEET]
    header = [c.value for c in ws[1]]
    return header, [dict(zip(header, (c.value for c in row), strict=False)) for row in ws.iter_rows(min_row=2)]


def fill(src: Path, dst: Path, decisions: dict[str, dict[str, Any]]) -> Path:
    """A copy of review.xlsx with the reviewer's columns filled: {line id: {column key: value}}."""
    shutil.copy(src, dst)
    wb = openpyxl.load_workbook(dst)
    ws = wb[FLAGGED_SHEET]
    header = [c.value for c in ws[1]]
    col = {key: header.index(HEADERS.get(key, key)) + 1 for key in
           ("line_id", "decision", "allowed", "comment", "internal_note", "submission_key", "sha256", "seq")}
    for r in range(2, ws.max_row + 1):
        line_id = ws.cell(r, col["line_id"]).value
        for key, value in decisions.get(line_id, {}).items():
            ws.cell(r, col[key]).value = value
    wb.save(dst)
    return dst
