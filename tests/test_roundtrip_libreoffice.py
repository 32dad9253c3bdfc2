"""A workbook written by the template and re-saved by LibreOffice gives the same submission.

LibreOffice also computes every formula of the template: its cached results must equal
what the engine recomputes (the engine never trusts them, but they must agree).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.normalise import to_date, to_yen
from pipeline.packs import load_pack
from pipeline.validate import validate_file
from tests.conftest import PACKS


def typed_as_excel_stores(pack_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """What Excel stores when a user types ¥98,000 or 2026/1/5: numbers and dates, not text.

    (Text that only looks like a number makes the sheet's own formulas fail; the engine still
    reads it, see test_reading, but the sheet's cached results are then errors.)
    """
    pack = load_pack(pack_id)
    for group in ("plan", "totals"):
        for key, value in (data.get(group) or {}).items():
            kind = pack.fields[key]["type"]
            data[group][key] = to_yen(value) if kind == "yen" else to_date(value) if kind == "date" else value
    for spec in pack.form["tables"]:
        types = {c["key"]: c["type"] for c in spec["columns"]}
        for row in data.get(spec["key"], []):
            for key, value in row.items():
                if types[key] == "yen":
                    row[key] = to_yen(value)
                elif types[key] == "date":
                    row[key] = to_date(value)
    return data


def comparable(sub: dict[str, Any]) -> dict[str, Any]:
    """The submission without what a re-save legitimately changes (file facts, cached formula values)."""
    out = {k: v for k, v in sub.items() if k not in ("source", "stated")}
    for key, value in out.items():
        if isinstance(value, list):
            out[key] = [{k: v for k, v in row.items() if not k.endswith("_stated")} for row in value]
    return out


@pytest.mark.parametrize("pack", PACKS)
def test_libreoffice_roundtrip_gives_same_json(pack: str, base: Callable, make_workbook: Callable,
                                               libreoffice: Callable[[Path], Path]) -> None:
    original = make_workbook(pack, typed_as_excel_stores(pack, base(pack)))
    resaved = libreoffice(original)
    before = validate_file(original, isolate=False)
    after = validate_file(resaved, isolate=False)
    assert "LibreOffice" in after.submission["source"]["application"] or after.submission["source"]["application"]
    assert comparable(after.submission) == comparable(before.submission)
    assert [(f.code, f.location.cell) for f in after.findings] == [(f.code, f.location.cell) for f in before.findings]
    # openpyxl wrote formulas without results; LibreOffice computed them: they agree with the engine.
    sub = after.submission
    for row in sub["budget"]:
        assert row["amount_stated"] == row["amount"]
    for row in sub["visits"]:
        assert row["days_stated"] == row["days"]
    for key in ("direct_total", "total"):
        assert sub["stated"][key] == sub["totals"][key]
    assert abs(sub["stated"]["overhead_rate"] - sub["totals"]["overhead_rate"]) < 1e-4
    for row in sub.get("tax_items", []):
        assert row["tax_equivalent_stated"] == row["tax_equivalent"]
        assert row["deduction_rate_stated"] == row["deduction_rate"]
    if "included_tax" in sub["totals"]:
        assert sub["stated"]["included_tax"] == sub["totals"]["included_tax"]
    assert before.submission["stated"]["total"] is None  # openpyxl caches nothing


def test_libreoffice_roundtrip_keeps_mistakes(base: Callable, make_workbook: Callable,
                                              libreoffice: Callable[[Path], Path]) -> None:
    data = base("nexus-ytec-youth-2025")
    data["budget"][0]["amount"] = 1          # typed over the formula
    data["counterparts"].append({"institution": "Peking University", "country": "中国 China"})
    resaved = libreoffice(make_workbook("nexus-ytec-youth-2025", data))
    codes = {f.code for f in validate_file(resaved, isolate=False).findings}
    assert {"budget.amount-mismatch", "country.not-allowed"} <= codes
