"""review.xlsx prints on A4: every sheet one page wide, the header row repeated, page N / M in the footer,
and LibreOffice (a real spreadsheet application) makes a PDF of it whose pages are all A4."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from pipeline.ingest.run import ingest
from tests.conftest import soffice
from tests.finance_batch import write_batch

A4 = (595, 842)  # points, portrait


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("print")
    write_batch(root / "in", 3)
    ingest([root / "in"], root / "out", workers=1, progress=False)
    return root / "out" / "review.xlsx"


def test_every_sheet_is_set_up_for_a4(review: Path) -> None:
    wb = openpyxl.load_workbook(review)
    for ws in wb.worksheets:
        assert ws.page_setup.paperSize == 9, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.page_setup.fitToWidth in (1, None), ws.title   # one page wide (None: the default, 1)
        assert "&P" in (ws.oddFooter.center.text or ""), ws.title
        assert ws.title.split()[0] in (ws.oddHeader.center.text or ""), ws.title
        if ws.title not in ("概要 Overview", "Charts"):
            assert ws.print_title_rows in ("1:1", "$1:$1"), ws.title  # the header row on every page


@pytest.fixture(scope="module")
def printed(review: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """review.xlsx as LibreOffice prints it (a PDF)."""
    exe = soffice()
    if exe is None:
        pytest.skip("LibreOffice is not installed (CI installs libreoffice-calc-nogui)")
    folder = tmp_path_factory.mktemp("pdf")
    subprocess.run([exe, "--headless", f"-env:UserInstallation=file://{folder}/lo", "--convert-to", "pdf",
                    "--outdir", str(folder), str(review)], check=True, capture_output=True, timeout=300)
    return folder / "review.pdf"


def test_libreoffice_prints_it_on_a4_pages(review: Path, printed: Path) -> None:
    pdf = printed.read_bytes()
    boxes = [tuple(round(float(x)) for x in m.groups())
             for m in re.finditer(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)]
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= len(openpyxl.load_workbook(review, read_only=True).sheetnames)
    assert boxes and all(sorted(box) == sorted(A4) for box in boxes), set(boxes)
    assert pages <= 40, "one page wide: a few pages per sheet for three applications, not dozens"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_the_overview_prints_every_sentence_whole(review: Path, printed: Path) -> None:
    """The Overview's sentences are long (the decisions, the import command): each wraps in its row, none is
    drawn over the next one or cut off at the page's edge."""
    page = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(printed), "-"], capture_output=True,
                          check=True, text=True).stdout
    flat = re.sub(r"\s+", "", page)
    sheet = openpyxl.load_workbook(review)["概要 Overview"]
    sentences = [c.value for c in sheet["A"] if c.row > 1 and c.value]
    assert len(sentences) >= 4
    for sentence in sentences:
        assert re.sub(r"\s+", "", sentence) in flat, sentence
