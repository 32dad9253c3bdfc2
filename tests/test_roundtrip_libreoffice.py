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


def test_macro_enabled_workbook_reads_like_the_xlsx(base: Callable, make_workbook: Callable,
                                                    libreoffice: Callable[..., Path], tmp_path: Path) -> None:
    """An .xlsm (saved by LibreOffice as macro-enabled, with a VBA project part as Excel's carry) is read,
    validated and ingested like the .xlsx it came from; the VBA part is never run or parsed."""
    import zipfile

    from pipeline.ingest.executor import InlineExecutor
    from pipeline.ingest.run import ingest

    pack = PACKS[0]
    original = make_workbook(pack, typed_as_excel_stores(pack, base(pack)))
    saved = libreoffice(original, "xlsm")
    xlsm = tmp_path / "マクロ付き申請書.xlsm"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(xlsm, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "[Content_Types].xml":
                assert b"macroEnabled" in data  # LibreOffice wrote a macro-enabled workbook
                data = data.replace(b"<Default ", b'<Default Extension="bin" '
                                    b'ContentType="application/vnd.ms-office.vbaProject"/><Default ', 1)
            dst.writestr(info, data)
        dst.writestr("xl/vbaProject.bin", bytes.fromhex("D0CF11E0A1B11AE1") + bytes(range(256)) * 16)
    before = validate_file(original, isolate=False)
    after = validate_file(xlsm)  # isolated, as the CLI reads a public file
    assert comparable(after.submission) == comparable(before.submission)
    assert [f.code for f in after.findings] == [f.code for f in before.findings]
    folder = tmp_path / "inbox"
    folder.mkdir()
    xlsm.rename(folder / xlsm.name)
    summary = ingest([folder], tmp_path / "out", executor=InlineExecutor(), progress=False)
    assert (summary.files_seen, summary.processed, summary.quarantined) == (1, 1, 0)
