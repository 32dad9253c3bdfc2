"""Hostile and broken files through `shinsei validate`: a clear reason and exit 2, never a crash."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
      '<Default Extension="xml" ContentType="application/xml"/>'
      '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
      'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" '
      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WB = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
      'main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
      '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
           '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
           'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def sheet(cells: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            f'2006/main"><sheetData>{cells}</sheetData></worksheet>')


def workbook(path: Path, sheet_xml: str, workbook_xml: str = WB) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr("_rels/.rels", RELS)
        zf.writestr("xl/workbook.xml", workbook_xml)
        zf.writestr("xl/_rels/workbook.xml.rels", WB_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return path


def far_cell(tmp: Path) -> Path:
    """Cells only at A1 and XFD1048576: python-calamine aborts the whole process on this file."""
    return workbook(tmp / "far.xlsx", sheet('<row r="1"><c r="A1"><v>1</v></c></row>'
                                            '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'))


def ole2(tmp: Path) -> Path:
    path = tmp / "暗号化.xlsx"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 4000)
    return path


def doctype(tmp: Path) -> Path:
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
              + WB.split("?>", 1)[1])
    return workbook(tmp / "laughs.xlsx", sheet(""), laughs)


def truncated(tmp: Path) -> Path:
    good = workbook(tmp / "good.xlsx", sheet('<row r="1"><c r="A1"><v>1</v></c></row>'))
    path = tmp / "truncated.xlsx"
    path.write_bytes(good.read_bytes()[:300])
    return path


def renamed_text(tmp: Path) -> Path:
    path = tmp / "申請書.xlsx"
    path.write_text("氏名,金額\n山田,1000\n", encoding="utf-8")
    return path


def not_ours(tmp: Path) -> Path:
    return workbook(tmp / "plain.xlsx", sheet('<row r="1"><c r="A1"><v>1</v></c></row>'))


SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "nexus-ytec-youth-2025__clean.xlsx"


def _sample_with_table(path: Path, old: bytes, new: bytes) -> Path:
    """The bundled sample (written by the template) with one attribute of its budget table's part changed."""
    with zipfile.ZipFile(SAMPLE) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("xl/tables/") and b'name="tblBudget"' in data:
                assert old in data
                data = data.replace(old, new, 1)
            dst.writestr(info, data)
    return path


def far_table(tmp: Path) -> Path:
    """A table whose ref runs to XFD1048576: python-calamine allocates the whole block and aborts."""
    return _sample_with_table(tmp / "far-table.xlsx", b'ref="A12:J52"', b'ref="A12:XFD1048576"')


def table_header_past_its_end(tmp: Path) -> Path:
    """A header-row count past the table's last row: python-calamine panics ("invalid range bounds")."""
    return _sample_with_table(tmp / "header-rows.xlsx", b'headerRowCount="1"', b'headerRowCount="99999"')


@pytest.mark.parametrize("make", [far_cell, ole2, doctype, truncated, renamed_text, not_ours, far_table,
                                  table_header_past_its_end])
def test_cli_survives_and_explains(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", str(path)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert path.name in res.stderr
    assert "[" in res.stderr and "/" in res.stderr   # a code, and Japanese / English
    assert "Traceback" not in res.stderr
    expected = {far_table: "[sheet-too-large]", table_header_past_its_end: "[corrupt-workbook]"}.get(make)
    if expected:  # refused for what is wrong with the file, not as a crashed reader or an internal error
        assert expected in res.stderr, res.stderr[-1000:]


def test_an_interruption_while_reading_goes_on_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only python-calamine's panic becomes a refusal; anything else the reader meets (Ctrl-C) is raised
    unchanged, not wrapped and not made its own cause."""
    import python_calamine

    from pipeline.workbook import read_workbook

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", interrupted)
    with pytest.raises(KeyboardInterrupt) as caught:
        read_workbook(SAMPLE)
    assert caught.value.__cause__ is None
