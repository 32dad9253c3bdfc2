"""The ingest sees every file an applicant sent: what is not a workbook is quarantined with the advice that
fits its type, in the files table, quarantine.json and the Quarantine sheet, and the run says so (exit 1).
A source that does not exist is an error before anything is created."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from pipeline.fill import fill_template
from pipeline.ingest import tables as t
from pipeline.ingest.run import ingest
from pipeline.ingest.store import Store, default_url
from pipeline.samples import load_scenarios


@pytest.fixture
def sent(tmp_path: Path) -> Path:
    """What an applicant's folder holds: the workbook, and what they sent besides it."""
    folder = tmp_path / "受付"
    base = next(sc for sc in load_scenarios() if sc["pack"] == "nexus-ytec-youth-2025")["base"]
    fill_template("nexus-ytec-youth-2025", base, folder / "申請書.xlsx")
    (folder / "旧様式.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    (folder / "交流計画書.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n")
    (folder / "交流計画書.docx").write_bytes(b"PK\x03\x04word")
    (folder / "経費.csv").write_text("単価,数量\n1000,2\n", encoding="utf-8")
    (folder / "~$申請書.xlsx").write_bytes(b"lock")
    with zipfile.ZipFile(folder / "追加資料.zip", "w") as zf:
        zf.writestr("説明資料.pdf", b"%PDF-1.4\n%%EOF\n")
    return folder


def test_every_file_sent_is_recorded_with_advice_that_fits_it(sent: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = ingest([sent], out, workers=1, progress=False)
    store = Store(default_url(out))
    with store.reader.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(t.files))}
    by_name = {name.split("/")[-1]: r for name, r in rows.items()}
    assert by_name["申請書.xlsx"].status == "ok"
    assert by_name["旧様式.xls"].error_code == "xls-file" and ".xlsx" in by_name["旧様式.xls"].error_ja
    for name in ("交流計画書.pdf", "交流計画書.docx", "説明資料.pdf"):
        assert by_name[name].status == "quarantined" and by_name[name].error_code == "not-the-excel-form", name
    assert by_name["経費.csv"].status == "quarantined"
    assert "~$申請書.xlsx" not in by_name, "an Excel lock file is not something the applicant sent"
    assert summary.quarantined == 5
    quarantine = json.loads((out / "quarantine.json").read_text(encoding="utf-8"))
    assert {q["name"].split("/")[-1] for q in quarantine} == {"旧様式.xls", "交流計画書.pdf", "交流計画書.docx",
                                                              "経費.csv", "説明資料.pdf"}
    sheet = CalamineWorkbook.from_path(str(out / "review.xlsx")).get_sheet_by_name("Quarantine").to_python()
    assert len(sheet) - 1 == 5 and all(row[2] and row[3] for row in sheet[1:])  # the reasons in both languages
    again = ingest([sent], out, workers=1, progress=False)
    with store.reader.connect() as conn:
        assert len(conn.execute(select(t.files)).all()) == len(rows), "a second run records nothing twice"
    assert again.quarantined == 5


def test_the_command_says_so_and_exits_1(sent: Path, tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", str(sent), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr
    assert "隔離 quarantined 5" in res.stdout and "quarantine.json" in res.stderr and "Traceback" not in res.stderr
    assert "~$申請書.xlsx" in res.stdout  # the lock file: listed as skipped, not quarantined


def test_a_source_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="no such source"):
        ingest([tmp_path / "nowhere"], out, workers=1, progress=False)
    assert not out.exists()
