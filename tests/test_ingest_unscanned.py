"""The ingest's isolated workers leave the far-cell scan to the reader: same refusals for what reaches it.

Each hostile file is given to the ingest twice: with its isolated workers (the pre-check without the
scan; the reader judges the extents it meets; a file that kills its worker is pre-checked in full
afterwards, which names it) and in this process with the InlineExecutor (the full pre-check first, as
`shinsei validate` does). Both must quarantine it with the same refusal. Where they part (what never
reaches python-calamine's cells, and a far cell beside a table) is written down by
test_where_the_isolated_ingest_and_the_full_pre_check_part.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.ingest.executor import InlineExecutor
from pipeline.ingest.run import ingest
from pipeline.safety import UnsafeWorkbook, verified_members
from pipeline.workbook import read_workbook
from tests.test_hostile_validate import SAMPLE, far_cell, far_table

FAR_ROW = b'<row r="150000"><c r="A150000"><v>1</v></c></row>'  # 150,000 rows: past the limit, not fatal


def _sample_with(path: Path, changes: dict[str, tuple[bytes, bytes]], extra: dict[str, bytes] | None = None) -> Path:
    """The bundled sample (written by its template) with ``old`` replaced by ``new`` once in each named part."""
    with zipfile.ZipFile(SAMPLE) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename in changes:
                old, new = changes[info.filename]
                assert old in data
                data = data.replace(old, new, 1)
            dst.writestr(info, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return path


def _far_row_in(sheet_part: str, path: Path) -> Path:
    return _sample_with(path, {sheet_part: (b"</sheetData>", FAR_ROW + b"</sheetData>")})


def _sheet_parts() -> dict[str, str]:
    """The sample's sheet titles and their parts, from workbook.xml and its relationships."""
    with zipfile.ZipFile(SAMPLE) as z:
        wb, rels = z.read("xl/workbook.xml").decode(), z.read("xl/_rels/workbook.xml.rels").decode()
    targets = {m["id"]: m["target"].lstrip("/") for m in
               re.finditer(r'<Relationship [^>]*?Target="(?P<target>[^"]+)" Id="(?P<id>[^"]+)"', rels)}
    sheets = re.finditer(r'<sheet name="(?P<name>[^"]+)"[^>]*r:id="(?P<id>[^"]+)"', wb)
    return {m["name"]: targets[m["id"]] for m in sheets}


PARTS = _sheet_parts()
PLAN, LISTS, PARTICIPANTS = PARTS["交流計画 Plan"], PARTS["リスト Lists"], PARTS["参加者 Participants"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder of hostile files and the refusal each must get, plus one clean sample."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "clean.xlsx").write_bytes(SAMPLE.read_bytes())
    far_cell(folder)                                     # kills python-calamine, on a sheet nothing reads
    far_table(folder)                                    # kills python-calamine: a table block to XFD1048576
    _far_row_in(PLAN, folder / "plan-far.xlsx")          # read (names and a table), survived, judged after
    _far_row_in(LISTS, folder / "lists-far.xlsx")        # a sheet no name or table reads: parsed for its extent
    sst = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
           b'2006/main" count="4294967295" uniqueCount="4294967295"><si><t>x</t></si></sst>')
    _sample_with(folder / "strings.xlsx", {}, {"xl/sharedStrings.xml": sst})  # judged from the part's head
    expected = {"far.xlsx": "sheet-too-large", "far-table.xlsx": "sheet-too-large",
                "plan-far.xlsx": "sheet-too-large", "lists-far.xlsx": "sheet-too-large",
                "strings.xlsx": "too-many-strings"}
    return folder, expected


def _reasons(out: Path) -> dict[str, str]:
    return {q["name"].split("/")[-1]: q["error_code"] for q in json.loads((out / "quarantine.json").read_text())}


def test_isolated_workers_and_the_full_pre_check_give_the_same_refusals(hostile: tuple[Path, dict[str, str]],
                                                                         tmp_path: Path) -> None:
    folder, expected = hostile
    isolated = ingest([folder], tmp_path / "isolated", workers=2, progress=False)
    inline = ingest([folder], tmp_path / "inline", executor=InlineExecutor(), progress=False)
    assert _reasons(tmp_path / "isolated") == expected
    assert _reasons(tmp_path / "inline") == expected
    assert isolated.processed == inline.processed == 1  # the clean sample


def test_the_pre_check_without_the_scan_judges_everything_else(hostile: tuple[Path, dict[str, str]]) -> None:
    folder, _ = hostile
    clean = folder / "clean.xlsx"
    assert verified_members(clean, scan=False) == verified_members(clean)  # the same bytes for the reader
    for name in ("far.xlsx", "plan-far.xlsx", "lists-far.xlsx"):
        with pytest.raises(UnsafeWorkbook) as err:
            verified_members(folder / name)
        assert err.value.code == "sheet-too-large"
        verified_members(folder / name, scan=False)  # left to the reader
    with pytest.raises(UnsafeWorkbook) as err:
        verified_members(folder / "strings.xlsx", scan=False)
    assert err.value.code == "too-many-strings"


@pytest.mark.parametrize("name", ["plan-far.xlsx", "lists-far.xlsx"])
def test_the_reader_judges_the_extent_it_reads(hostile: tuple[Path, dict[str, str]], name: str) -> None:
    path = hostile[0] / name
    with pytest.raises(UnsafeWorkbook) as err:
        read_workbook(path, members=verified_members(path, scan=False), scanned=False)
    assert err.value.code == "sheet-too-large"
    assert "150,000" in err.value.detail


# Where the two part: what lies beyond the limits but never reaches python-calamine's cells (it survives
# them and the extent it reads is within the limits), or a survivable far cell on a sheet read only
# through its table (python-calamine reports the table's extent, not the sheet's).
PARTING = {
    "beside-a-table": {PARTICIPANTS: (b"</sheetData>", FAR_ROW + b"</sheetData>")},
    "dimension": {LISTS: (b'<dimension ref="A1:I13" />', b'<dimension ref="A1:I150000" />')},
    "empty-row": {PLAN: (b"</sheetData>", b'<row r="150000"/></sheetData>')},
    "formatting": {PLAN: (b"</sheetData>", b'<row r="150000"><c r="A150000" s="1"/></row></sheetData>')},
}


@pytest.mark.parametrize("case", [*PARTING, "not-a-sheet"])
def test_where_the_isolated_ingest_and_the_full_pre_check_part(tmp_path: Path, case: str) -> None:
    """The isolated ingest reads these files as they are; the full pre-check, as in `shinsei validate`,
    refuses them (sheet-too-large), so the applicant is still asked to delete stray far-away cells."""
    folder = tmp_path / "in"
    folder.mkdir()
    if case == "not-a-sheet":  # a part nothing reads as a sheet, holding what looks like a far cell
        _sample_with(folder / f"{case}.xlsx", {}, {"customXml/item1.xml": b'<r><c r="XFD1048576"><v>1</v></c></r>'})
    else:
        _sample_with(folder / f"{case}.xlsx", PARTING[case])
    isolated = ingest([folder], tmp_path / "isolated", workers=1, progress=False)
    inline = ingest([folder], tmp_path / "inline", executor=InlineExecutor(), progress=False)
    assert isolated.processed == 1 and isolated.quarantined == 0
    assert _reasons(tmp_path / "inline") == {f"{case}.xlsx": "sheet-too-large"}
    assert inline.processed == 0


def test_a_sheet_nothing_reads_is_parsed_for_its_extent_only(tmp_path: Path) -> None:
    """A sheet no name or table reads, which python-calamine cannot parse (a cell citing a shared string
    that is not there): the full pre-check does not look so far, and the isolated ingest, which parses
    the sheet for its extent alone, does not refuse the file for it either."""
    folder = tmp_path / "in"
    folder.mkdir()
    broken = b'<row r="99"><c r="A99" t="s"><v>12345</v></c></row></sheetData>'
    _sample_with(folder / "odd-lists.xlsx", {LISTS: (b"</sheetData>", broken)})
    for name, kwargs in (("isolated", {"workers": 1}), ("inline", {"executor": InlineExecutor()})):
        summary = ingest([folder], tmp_path / name, progress=False, **kwargs)
        assert (summary.processed, summary.quarantined) == (1, 0), name


def test_a_libreoffice_saved_workbook_is_read_alike_both_ways(tmp_path: Path,
                                                               libreoffice: Callable[[Path], Path]) -> None:
    """A workbook re-saved by LibreOffice (its own <dimension>, <cols> and empty formatted cells): the
    isolated ingest, which leaves far cells to the reader, stores what the full pre-check's path stores."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "resaved.xlsx").write_bytes(libreoffice(_sample_with(tmp_path / "resaved.xlsx", {})).read_bytes())
    for name, kwargs in (("isolated", {"workers": 1}), ("inline", {"executor": InlineExecutor()})):
        summary = ingest([folder], tmp_path / name, progress=False, json_dir=tmp_path / name, **kwargs)
        assert (summary.processed, summary.quarantined) == (1, 0), name
    for kind in ("submissions", "findings"):
        isolated = sorted((tmp_path / "isolated" / kind).glob("*.json"))
        assert [p.name for p in isolated] == [p.name for p in sorted((tmp_path / "inline" / kind).glob("*.json"))]
        assert [p.read_bytes() for p in isolated] == [(tmp_path / "inline" / kind / p.name).read_bytes()
                                                      for p in isolated]
