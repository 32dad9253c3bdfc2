"""pipeline.safety.precheck: hostile workbooks are refused with a stable code before any parser sees them.

Every hostile file is built here from minimal OOXML parts; none of them is ever opened by a parser
in this process (the sandbox tests do that, in a child).
"""

from __future__ import annotations

import io
import pickle
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import safety
from pipeline.safety import DEFAULT_LIMITS, Limits, UnsafeWorkbook, WorkbookRejected, _plain_directory, precheck

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
      'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
      'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>')
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WB = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="http://schemas.openxmlformats.org/'
      'officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
      '</workbook>')
WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
           '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
           'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  '<!ENTITY lol2 "&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]>'
                  + WB.split("?>", 1)[1])


def sheet(cells: str, dimension: str | None = None) -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}">{dim}'
            f"<sheetData>{cells}</sheetData></worksheet>")


def build(path: Path, sheet_xml: str | bytes = sheet('<row r="1"><c r="A1"><v>1</v></c></row>'), *,
          workbook_xml: str | bytes = WB, extra: dict[str, str | bytes] | None = None,
          method: int = zipfile.ZIP_DEFLATED) -> Path:
    """A minimal workbook: content types, rels, workbook, one sheet, plus any extra parts."""
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr("_rels/.rels", RELS)
        zf.writestr("xl/workbook.xml", workbook_xml)
        zf.writestr("xl/_rels/workbook.xml.rels", WB_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def rejected(path: Path, limits: Limits = DEFAULT_LIMITS) -> UnsafeWorkbook:
    with pytest.raises(UnsafeWorkbook) as err:
        precheck(path, limits=limits)
    return err.value


# ---- files that must pass ---------------------------------------------------------------------

def test_openpyxl_workbook_passes(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in range(1, 200):
        ws.append([f"申請者 {r}", r * 1000, r / 7, f"=B{r}*2"])
    wb.create_sheet("経費 Budget")["C3"] = "交通費"
    path = tmp_path / "normal.xlsx"
    wb.save(path)
    precheck(path)
    precheck(str(path))  # str or PathLike


def test_bundled_samples_and_templates_pass() -> None:
    root = Path(__file__).resolve().parents[1]
    files = sorted(root.glob("samples/*.xlsx"))[:6] + sorted(root.glob("templates/*.xlsx"))
    assert files
    for path in files:
        precheck(path)


def test_stored_members_and_inline_text_that_looks_like_a_reference_pass(tmp_path: Path) -> None:
    cells = ('<row r="1"><c r="A1" t="inlineStr"><is><t>r="XFD1048576" &lt;c r="XFD1"&gt;</t></is></c>'
             '<c r="ALL100000" s="1" t="str"><v>x</v></c></row>')  # exactly at both limits
    precheck(build(tmp_path / "stored.xlsx", sheet(cells), method=zipfile.ZIP_STORED))


def test_svg_picture_with_standard_doctype_passes_but_not_with_entities(tmp_path: Path) -> None:
    svg = ('<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
           '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg"/>')
    precheck(build(tmp_path / "logo.xlsx", extra={"xl/media/image1.svg": svg}))
    bomb = svg.replace('svg11.dtd">', 'svg11.dtd" [<!ENTITY a "aaaa">]>')
    assert rejected(build(tmp_path / "bomb.xlsx", extra={"xl/media/image1.svg": bomb})).code == "xml-doctype"


# ---- far cells ----------------------------------------------------------------------------------

FAR = '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'


@pytest.mark.parametrize("dimension", ["A1:XFD1048576", "A1", None], ids=["honest", "lying", "absent"])
def test_cell_at_xfd1048576_is_refused(tmp_path: Path, dimension: str | None) -> None:
    err = rejected(build(tmp_path / "far.xlsx", sheet(FAR, dimension)))
    assert err.code == "sheet-too-large"
    assert "xl/worksheets/sheet1.xml" in err.detail
    assert "1,048,576" in err.detail


def test_lying_dimension_alone_is_refused(tmp_path: Path) -> None:
    small = '<row r="1"><c r="A1"><v>1</v></c></row>'
    err = rejected(build(tmp_path / "dim.xlsx", sheet(small, "A1:XFD1048576")))
    assert err.code == "sheet-too-large" and "dimension" in err.detail


@pytest.mark.parametrize("cells", [
    '<row r="2"><c r="B2" r="XFD1048576"><v>2</v></c></row>',      # python-calamine keeps the last r=
    '<row r="2"><c r="B2"r="XFD1048576"><v>2</v></c></row>',       # no space between attributes
    '<row r="2"><c r="B2" s=">" r="XFD1048576"><v>2</v></c></row>',  # ">" inside a quoted value
    "<row r='2'><c r='XFD2'><v>2</v></c></row>",                   # single quotes
    '<row r="2"><c r = "XFD2"><v>2</v></c></row>',                 # spaces around "="
    '<row r="2"><c r="xfd2"><v>2</v></c></row>',                   # lower case letters
    '<x:row r="2"><x:c r="XFD2"><v>2</v></x:c></x:row>',           # namespace prefix
    '<row r="2"><c r="A0001048576"><v>2</v></c></row>',            # leading zeros
    '<row r="1"><c r="ALL1"><v>1</v></c>' + "<c><v>1</v></c>" * 3 + "</row>",  # cells without r= after ALL
    "<row>" + "<c/>" * 1001 + "</row>",                           # positional cells only
], ids=["duplicate-r", "no-space", "quoted-gt", "single-quotes", "spaces", "lower-case", "prefix",
        "leading-zeros", "positional-after-ref", "positional"])
def test_far_cells_in_any_syntax_are_refused(tmp_path: Path, cells: str) -> None:
    assert rejected(build(tmp_path / "far.xlsx", sheet(cells))).code == "sheet-too-large"


@pytest.mark.parametrize("cells", [
    '<row r="2"><c r="B2" s="<" r="XFD1048576"><v>2</v></c></row>',  # "<" in a value: quick-xml reads it
    '<c r="A1" x"' * 20_000,        # unbalanced quotes: each tag would be scanned to the end (quadratic)
    '<c r="A1" s="1" ' * 20_000,    # tags that never close
])
def test_malformed_cell_tags_are_refused_in_linear_time(tmp_path: Path, cells: str) -> None:
    assert rejected(build(tmp_path / "bad.xlsx", sheet(cells))).code == "corrupt-zip"


def test_far_cells_in_a_utf16_sheet_or_an_unlisted_part_are_refused(tmp_path: Path) -> None:
    far = sheet('<row r="2"><c r="XFD2"><v>2</v></c></row>')
    assert rejected(build(tmp_path / "u16.xlsx", far.replace("UTF-8", "UTF-16").encode("utf-16"))).code \
        == "sheet-too-large"
    # Judged by content, not name: a part can be renamed and still be read as a sheet.
    renamed = build(tmp_path / "renamed.xlsx", extra={"xl/misc/data.bin": far})
    assert rejected(renamed).code == "sheet-too-large"


def test_limits_are_configurable(tmp_path: Path) -> None:
    limits = Limits(max_rows=10, max_cols=50)
    precheck(build(tmp_path / "ok.xlsx", sheet('<row r="10"><c r="AX10"><v>1</v></c></row>')), limits=limits)
    wide = build(tmp_path / "c.xlsx", sheet('<row r="1"><c r="AY1"><v>1</v></c></row>'))
    long = build(tmp_path / "r.xlsx", sheet('<row r="11"><c r="A11"><v>1</v></c></row>'))
    assert rejected(wide, limits).code == rejected(long, limits).code == "sheet-too-large"
    with pytest.raises(AttributeError):
        limits.max_rows = 5  # type: ignore[misc]


# ---- shared strings, styles -----------------------------------------------------------------

@pytest.mark.parametrize("attrs", ['count="4294967295" uniqueCount="1"', 'count="1" uniqueCount="4294967295"',
                                   "uniqueCount = '4294967295'"])
def test_shared_string_count_of_2_to_the_32_is_refused(tmp_path: Path, attrs: str) -> None:
    sst = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{NS}" {attrs}><si><t>a</t></si></sst>'
    err = rejected(build(tmp_path / "sst.xlsx", extra={"xl/sharedStrings.xml": sst}))
    assert err.code == "too-many-strings" and "4,294,967,295" in err.message_en


def test_styles_part_too_large_is_refused_by_name_and_by_content(tmp_path: Path) -> None:
    styles = f'<?xml version="1.0"?><styleSheet xmlns="{NS}"><cellXfs>' + '<xf numFmtId="0"/>' * 400 + \
        "</cellXfs></styleSheet>"
    limits = Limits(max_styles_bytes=4096)
    by_name = build(tmp_path / "s.xlsx", extra={"xl/styles.xml": styles})
    by_content = build(tmp_path / "t.xlsx", extra={"xl/fmt.xml": styles})
    assert rejected(by_name, limits).code == rejected(by_content, limits).code == "styles-too-large"


# ---- DOCTYPE / ENTITY -------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le"])
def test_billion_laughs_is_refused_in_any_encoding(tmp_path: Path, encoding: str) -> None:
    declared = encoding.replace("-sig", "").upper()
    xml = BILLION_LAUGHS.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{declared}"?>')
    err = rejected(build(tmp_path / "laughs.xlsx", workbook_xml=xml.encode(encoding)))
    assert err.code == "xml-doctype" and err.detail == "xl/workbook.xml"


@pytest.mark.parametrize("xml", [
    '<?xml version="1.0"?><!doctype workbook><workbook/>',
    '<?xml version="1.0"?>\n<!-- a comment -->\n<!DOCTYPE workbook SYSTEM "http://evil.example/x.dtd"><workbook/>',
    '<?xml version="1.0"?><!--' + "x" * 5000 + '--><!DOCTYPE a [<!ENTITY b "c">]><a/>',  # past 4 KB
])
def test_doctype_variants_are_refused(tmp_path: Path, xml: str) -> None:
    assert rejected(build(tmp_path / "d.xlsx", extra={"xl/custom.xml": xml})).code == "xml-doctype"


# ---- the zip itself ---------------------------------------------------------------------------

def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    build(path)
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("xl/media/zeros.bin", "w") as fh:
        for _ in range(150):  # 150 MiB of zeros: ~150 KB compressed
            fh.write(zeros)
    assert path.stat().st_size < 1 << 20
    err = rejected(path)
    assert err.code == "zip-bomb" and "xl/media/zeros.bin" in err.detail


def test_high_compression_ratio_and_total_size_are_refused(tmp_path: Path) -> None:
    ratio = build(tmp_path / "ratio.xlsx", extra={"xl/media/zeros.bin": bytes(8 << 20)})
    assert rejected(ratio).code == "zip-bomb"
    total = build(tmp_path / "total.xlsx", extra={f"xl/media/{i}.bin": bytes(300_000) for i in range(4)})
    assert rejected(total, Limits(max_total_uncompressed=1_000_000)).code == "zip-bomb"


def test_lying_uncompressed_size_is_refused(tmp_path: Path) -> None:
    """The directory claims a small member; the data expands further (how bombs pass size checks)."""
    path = build(tmp_path / "liar.xlsx", sheet(FAR))
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")  # the last entry: xl/worksheets/sheet1.xml
    assert data[central + 46:central + 46 + 24] == b"xl/worksheets/sheet1.xml"
    struct.pack_into("<I", data, central + 24, 100)  # uncompressed size
    path.write_bytes(bytes(data))
    assert rejected(path).code == "corrupt-zip"


def test_ole2_file_renamed_xlsx_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "暗号化.xlsx"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(4088))
    err = rejected(path)
    assert err.code == "encrypted-or-xls"
    assert "パスワード" in err.message_ja and "password" in err.message_en and ".xls" in err.message_en


@pytest.mark.parametrize(("content", "code"), [
    ("氏名,金額\n山田,1000\n".encode(), "not-a-zip"),
    (b"", "not-a-zip"),
    (b"%PDF-1.7\n", "not-a-zip"),
])
def test_files_that_are_not_zips(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "申請書.xlsx"
    path.write_bytes(content)
    err = rejected(path)
    assert err.code == code and "xlsx" in err.message_ja


def test_truncated_zip_is_corrupt(tmp_path: Path) -> None:
    good = build(tmp_path / "good.xlsx").read_bytes()
    for cut in (300, len(good) // 2, len(good) - 10):
        path = tmp_path / f"cut{cut}.xlsx"
        path.write_bytes(good[:cut])
        assert rejected(path).code == "corrupt-zip"


def test_zip_without_workbook_and_duplicate_names(tmp_path: Path) -> None:
    path = tmp_path / "doc.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("word/document.xml", "<document/>")
    assert rejected(path).code == "not-a-workbook"
    dup = build(tmp_path / "dup.xlsx")
    with warnings.catch_warnings(), zipfile.ZipFile(dup, "a") as zf:
        warnings.simplefilter("ignore")
        zf.writestr("XL/Worksheets/Sheet1.xml", sheet(FAR))  # the same part to a case-blind reader
    assert rejected(dup).code == "corrupt-zip"


def test_member_count_and_file_size_limits(tmp_path: Path) -> None:
    many = build(tmp_path / "many.xlsx", extra={f"xl/media/{i}.png": b"\x89PNG" for i in range(10)})
    assert rejected(many, Limits(max_members=10)).code == "too-many-members"
    big = build(tmp_path / "big.xlsx")
    assert rejected(big, Limits(max_file_bytes=200)).code == "file-too-large"


def test_missing_file_is_an_oserror_not_a_verdict(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        precheck(tmp_path / "nothing.xlsx")


# ---- the exception ----------------------------------------------------------------------------

def test_rejection_carries_code_and_both_languages_and_pickles(tmp_path: Path) -> None:
    err = rejected(build(tmp_path / "far.xlsx", sheet(FAR)))
    assert isinstance(err, WorkbookRejected)
    assert str(err) == f"{err.message_ja} / {err.message_en}"
    assert any("\u3040" <= ch <= "\u30ff" for ch in err.message_ja)  # Japanese first
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is UnsafeWorkbook
    assert (back.code, back.message_ja, back.message_en, back.detail) == \
        (err.code, err.message_ja, err.message_en, err.detail)


# ---- the zip's directory: read by hand when it is the plain kind, by zipfile otherwise ----------

ZIP_FIELDS = ("filename", "orig_filename", "flag_bits", "compress_type", "CRC", "compress_size", "file_size",
              "header_offset")
TEMPLATE = sorted((Path(__file__).resolve().parents[1] / "templates").glob("*.xlsx"))[0]


def zipfile_directory(data: bytes) -> tuple[list[tuple[object, ...]], int]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [tuple(getattr(i, f) for f in ZIP_FIELDS) for i in zf.infolist()], zf.start_dir  # type: ignore[attr-defined]


def plain_directory(data: bytes) -> tuple[list[tuple[object, ...]], int] | None:
    got = _plain_directory(data)
    return None if got is None else ([tuple(getattr(i, f) for f in ZIP_FIELDS) for i in got[0]], got[1])


def test_what_spreadsheet_applications_write_is_read_as_zipfile_reads_it(tmp_path: Path,
                                                                         libreoffice: Callable[..., Path]) -> None:
    root = Path(__file__).resolve().parents[1]
    wb = openpyxl.Workbook()
    wb.active["A1"] = "申請"
    wb.save(tmp_path / "openpyxl.xlsx")
    sample = tmp_path / "sample.xlsx"  # a copy: LibreOffice writes beside the file it converts
    sample.write_bytes(sorted(root.glob("samples/*.xlsx"))[0].read_bytes())
    files = [*sorted(root.glob("samples/*.xlsx"))[:6], *sorted(root.glob("templates/*.xlsx")),
             tmp_path / "openpyxl.xlsx", libreoffice(tmp_path / "openpyxl.xlsx"), libreoffice(sample)]
    for path in files:
        data = path.read_bytes()
        assert plain_directory(data) == zipfile_directory(data), path  # the plain kind, and the same reading


def verdict(path: Path) -> str:
    try:
        precheck(path)
    except WorkbookRejected as exc:
        return f"{exc.code}: {exc.detail}"
    return "passes"


def verdicts(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """precheck's verdict on ``path``, and its verdict when zipfile reads every directory (as before)."""
    mine = verdict(path)
    with monkeypatch.context() as m:
        m.setattr(safety, "_plain_directory", lambda data: None)
        return mine, verdict(path)


@pytest.mark.parametrize("odd", ["comment", "extra", "prefix", "nul", "zip64-local"])
def test_any_other_directory_is_left_to_zipfile(tmp_path: Path, odd: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An archive comment, an extra field, bytes before the first member, a NUL in a name: zipfile reads each (or
    refuses it) as before. A ZIP64 record in a local header only leaves the directory plain."""
    path = build(tmp_path / "w.xlsx")
    if odd in ("comment", "extra", "zip64-local"):
        with zipfile.ZipFile(path, "a") as zf:
            if odd == "comment":
                zf.comment = b"written by hand"
            elif odd == "extra":
                info = zipfile.ZipInfo("docProps/custom.xml")
                info.extra = struct.pack("<HH4s", 0xCAFE, 4, b"data")
                zf.writestr(info, "<x/>")
            else:
                with zf.open("docProps/big.xml", "w", force_zip64=True) as fh:
                    fh.write(b"<x/>")
    elif odd == "prefix":
        path.write_bytes(b"#!/bin/sh\n" + path.read_bytes())
    else:
        path.write_bytes(path.read_bytes().replace(b"xl/worksheets/sheet1.xml", b"xl/worksheets/sheet1\0xml"))
    data = path.read_bytes()
    if odd == "zip64-local":
        assert plain_directory(data) == zipfile_directory(data)
    else:
        assert plain_directory(data) is None
    mine, before = verdicts(path, monkeypatch)
    assert mine == before


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_damaged_directory_gets_the_verdict_zipfile_gave_it(data: st.DataObject) -> None:
    """Bytes of the central directory and end record changed at random: the hand reading either agrees with
    zipfile field for field or leaves the file to zipfile, and the pre-check's verdict is the one it gave when
    zipfile read every directory."""
    original = bytearray(TEMPLATE.read_bytes())
    start = struct.unpack_from("<L", original, len(original) - 6)[0]
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(start, len(original) - 1))
        original[at] = data.draw(st.integers(0, 255))
    damaged = bytes(original)
    got = plain_directory(damaged)
    if got is not None:
        assert got == zipfile_directory(damaged)
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as monkeypatch:
        path = Path(folder) / "damaged.xlsx"
        path.write_bytes(damaged)
        mine, before = verdicts(path, monkeypatch)
    assert mine == before


def unscanned(path: Path) -> object:
    """What an ingest worker's pre-check makes of ``path``: every member's bytes, or the refusal."""
    try:
        members = safety.verified_members(path, scan=False)
    except WorkbookRejected as exc:
        return f"{exc.code}: {exc.detail}"
    return dict(members), members.crcs


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_damaged_member_gets_what_the_streaming_reading_gave_it(data: st.DataObject) -> None:
    """Bytes anywhere in a template changed at random (its parts' compressed data most of all): the worker's
    pre-check returns the same members, or refuses with the same reason, as when every part was streamed and
    zipfile read every directory."""
    damaged = bytearray(TEMPLATE.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as monkeypatch:
        path = Path(folder) / "damaged.xlsx"
        path.write_bytes(bytes(damaged))
        mine = unscanned(path)
        monkeypatch.setattr(safety, "_plain_directory", lambda data: None)
        monkeypatch.setattr(safety, "_inflate_whole", lambda info, raw: None)
        assert mine == unscanned(path)


@pytest.mark.parametrize("part", ["doctype", "sst-count", "utf16", "stored"])
def test_hostile_parts_get_what_the_streaming_reading_gave_them(tmp_path: Path, part: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sst = f'<sst xmlns="{NS}" count="4294967295" uniqueCount="1"><si><t>a</t></si></sst>'
    extra: dict[str, str | bytes] = {
        "doctype": {"xl/sharedStrings.xml": BILLION_LAUGHS},
        "sst-count": {"xl/sharedStrings.xml": sst},
        "utf16": {"xl/custom.xml": '<?xml version="1.0" encoding="UTF-16"?><x/>'.encode("utf-16")},
        "stored": {},
    }[part]
    method = zipfile.ZIP_STORED if part == "stored" else zipfile.ZIP_DEFLATED
    path = build(tmp_path / "w.xlsx", extra=extra, method=method)
    mine = unscanned(path)
    monkeypatch.setattr(safety, "_plain_directory", lambda data: None)
    monkeypatch.setattr(safety, "_inflate_whole", lambda info, raw: None)
    assert mine == unscanned(path)
    assert part in ("utf16", "stored") or isinstance(mine, str)  # the first two are refused either way
