"""The ``shinsei`` command as a user runs it: exit codes, JSON, annotated copies."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openpyxl

from pipeline import schemas

YOUTH = "nexus-ytec-youth-2025"


def shinsei(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_clean_workbook_exits_0(base: Callable, make_workbook: Callable) -> None:
    res = shinsei("validate", make_workbook(YOUTH, base(YOUTH)))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "VALID" in res.stdout and "検証結果" in res.stdout


def test_rule_errors_exit_1_with_bilingual_report(base: Callable, make_workbook: Callable) -> None:
    data = base(YOUTH)
    data["totals"]["overhead"] = 900_000
    res = shinsei("validate", make_workbook(YOUTH, data))
    assert res.returncode == 1
    assert "overhead.too-high" in res.stdout
    assert "一般管理費" in res.stdout and "Overhead of" in res.stdout
    assert "根拠 Clause:" in res.stdout and "2.(2) 支援可能な経費 一般管理費" in res.stdout


def test_unreadable_file_exits_2_with_reason(tmp_path: Path) -> None:
    bad = tmp_path / "申請書.xlsx"
    bad.write_bytes(b"this is not a workbook")
    res = shinsei("validate", bad)
    assert res.returncode == 2
    assert "申請書.xlsx" in res.stderr and "/" in res.stderr
    missing = shinsei("validate", tmp_path / "nothing.xlsx")
    assert missing.returncode == 2 and "nothing.xlsx" in missing.stderr


def test_json_output_matches_findings_schema(base: Callable, make_workbook: Callable) -> None:
    data = base(YOUTH)
    data["participants"][0]["country"] = "中国 China"
    res = shinsei("validate", make_workbook(YOUTH, data), "--json")
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert schemas.errors("findings", report) == []
    f = next(f for f in report["findings"] if f["code"] == "country.not-allowed")
    assert f["location"] == {"sheet": "参加者 Participants", "cell": f["location"]["cell"], "row": f["location"]["row"],
                             "path": "/participants/0/country"}
    assert f["clause"]["section"] == "1.(2) 対象とする国"


def test_export_writes_schema_valid_submission(base: Callable, make_workbook: Callable, tmp_path: Path) -> None:
    out = tmp_path / "out" / "submission.json"
    res = shinsei("export", make_workbook(YOUTH, base(YOUTH)), "-o", out)
    assert res.returncode == 0, res.stderr
    sub = json.loads(out.read_text(encoding="utf-8"))
    assert schemas.errors("submission", sub) == []
    assert sub["program"] == YOUTH and sub["totals"]["total"] == sum(b["amount"] for b in sub["budget"]) + \
        sub["totals"]["overhead"]


def test_annotate_marks_cells_and_keeps_original(base: Callable, make_workbook: Callable, tmp_path: Path) -> None:
    data = base(YOUTH)
    data["totals"]["overhead"] = 900_000
    data["budget"].append({"category": "III 旅費", "description": "=1+1 観光ツアー", "unit_price": 5000, "quantity": 2})
    src = make_workbook(YOUTH, data)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "annotated.xlsx"
    res = shinsei("validate", src, "--annotate", out)
    assert res.returncode == 1
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == "検証結果"
    ws = wb["検証結果"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert any(r[1] == "overhead.too-high" for r in rows)
    link_cells = [c for c in ws["C"][1:] if c.hyperlink]
    assert (link_cells and link_cells[0].hyperlink.location is None) or link_cells[0].hyperlink.target
    overhead = wb.defined_names["budget_overhead"]
    sheet, ref = next(iter(overhead.destinations))
    cell = wb[sheet][ref.replace("$", "")]
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")
    assert cell.comment and "overhead.too-high" in cell.comment.text
    # no exported text runs as a formula
    for row in ws.iter_rows(min_row=2):
        for c in row:
            assert not (isinstance(c.value, str) and c.value.startswith("=")), c.value
    # dropdowns survive the annotated copy
    dvs = wb["経費 Budget"].data_validations.dataValidation
    assert dvs and any("リスト Lists" in (dv.formula1 or "") for dv in dvs)


def test_annotate_refuses_to_overwrite_the_original(base: Callable, make_workbook: Callable) -> None:
    src = make_workbook(YOUTH, base(YOUTH))
    res = shinsei("validate", src, "--annotate", src)
    assert res.returncode != 0
    assert "上書き" in res.stderr or "overwrite" in res.stderr


def test_help_explains(tmp_path: Path) -> None:
    res = shinsei("validate", "--help")
    assert res.returncode == 0 and "Exit 0" in res.stdout and "--annotate" in res.stdout
    top = shinsei("--help")
    assert "validate" in top.stdout and "template" in top.stdout and "demo" in top.stdout


def test_template_list_names_every_pack() -> None:
    res = shinsei("template", "list")
    assert res.returncode == 0
    for pack in ("nexus-ytec-youth-2025", "nexus-ytec-instructor-2025", "india-circulation-2025"):
        assert pack in res.stdout


def test_demo_runs_on_bundled_samples(tmp_path: Path) -> None:
    res = shinsei("demo", "--out", tmp_path / "demo")
    assert res.returncode == 0, res.stderr
    assert "clean" in res.stdout and "budget.over-cap" in res.stdout
    assert list((tmp_path / "demo").glob("*.annotated.xlsx"))


def test_help_on_a_cp932_console_does_not_crash() -> None:
    """Japanese Windows consoles cannot encode "—" or "¥": the help prints (with replacements), no traceback."""
    import os
    import subprocess
    import sys

    for args in (["--help"], ["classify", "--help"], ["ingest", "--help"]):
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, timeout=60,
                              env={**os.environ, "PYTHONIOENCODING": "cp932"})
        assert done.returncode == 0, done.stderr.decode("cp932", "replace")
        assert b"Traceback" not in done.stderr
        assert "申請".encode("cp932") in done.stdout or args != ["--help"]
