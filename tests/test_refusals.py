"""One catalogue of refusals (issue 13 item 12): every reason a file or a request is refused is data in
packs/common/refusals.yaml, and the engine, the command line, the add-in and the ingest all say it
from there, with the advice that fits the file's type."""

from __future__ import annotations

import json
import re
import string
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from pipeline.cli import EXIT_CODES
from pipeline.refusals import CommandError, catalogue, for_file, refusal, refusal_for_path
from pipeline.safety import DEFAULT_LIMITS, Limits, UnsafeWorkbook, WorkbookRejected, precheck
from pipeline.validate import validate_file

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = catalogue()["refusals"]
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
OLE2 = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504)


def fields(template: str) -> set[str]:
    """The placeholders of a message; ``why_ja`` and ``why_en`` are one fact, worded per language."""
    return {re.sub(r"_(ja|en)$", "", name) for _, name, _, _ in string.Formatter().parse(template) if name}


# ---- the data ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_entry_says_what_is_wrong_and_what_to_do_in_both_languages(name: str) -> None:
    entry = ENTRIES[name]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", entry.get("code", name)), name
    assert JAPANESE.search(entry["ja"]) and entry["en"] and not JAPANESE.search(entry["en"].replace("円", "")), name
    assert fields(entry["ja"]) == fields(entry["en"]), name       # the same facts in both languages
    for part in ("advice", "cli"):
        if part in entry:
            text = entry[part]
            assert set(text) == {"ja", "en"} and JAPANESE.search(text["ja"]) and text["en"], (name, part)
            assert fields(text["ja"]) == fields(text["en"]), (name, part)
            assert text["en"][:1].islower() or text["en"][:1] in "-'", (name, part)   # it follows a colon
    assert int(entry.get("exit", 2)) in EXIT_CODES, name
    assert entry.get("status") in (None, 400, 404, 413, 500, 503), name
    for suffix in entry.get("suffixes", ()):
        assert suffix.startswith(".") and suffix == suffix.lower(), (name, suffix)


def test_refusals_a_user_can_act_on_carry_advice() -> None:
    silent = sorted(n for n, e in ENTRIES.items() if "advice" not in e)
    assert silent == ["client-disconnected", "more-entries"]   # nothing to do about either
    assert catalogue()["clause"]["document"] and catalogue()["clause"]["section"]


def test_a_suffix_names_one_type() -> None:
    seen: dict[str, str] = {}
    for name, entry in ENTRIES.items():
        for suffix in entry.get("suffixes", ()):
            assert suffix not in seen, (suffix, seen.get(suffix), name)
            seen[suffix] = name
    assert {".xls", ".pdf", ".docx", ".csv", ".ods", ".zip"} <= set(seen)
    assert not {".xlsx", ".xlsm"} & set(seen)


def test_every_refusal_the_code_names_is_in_the_catalogue() -> None:
    """A typo in a name would be a KeyError on the way to telling a user what is wrong: none is possible."""
    call = re.compile(r"""(?:\brefusal|\breject|CommandError|\b_refuse|Refused\.of)\(\s*"([a-z][a-z0-9-]*)\"""")
    skip = re.compile(r"""\bskipped\([^()\n]*?,\s*"([a-z][a-z0-9-]*)\"""")
    used: dict[str, str] = {}
    for folder in ("pipeline", "addin"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for m in [*call.finditer(text), *skip.finditer(text)]:
                used.setdefault(m.group(1), str(path.relative_to(ROOT)))
    assert len(used) >= 50, sorted(used)
    assert {n: where for n, where in used.items() if n not in ENTRIES} == {}


def test_codes_other_modules_raise_are_catalogued() -> None:
    """The sandbox's and the annotated copy's codes have their words here too, for every front end."""
    codes = {e.get("code", n) for n, e in ENTRIES.items()}
    assert {"worker-timeout", "worker-memory", "worker-crashed", "annotate-unreadable"} <= codes


# ---- the engine raises the catalogue's words ------------------------------------------------------

def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(("make", "code"), [
    (lambda p: p.write_bytes(OLE2), "encrypted-or-xls"),
    (lambda p: p.write_bytes(b"%PDF-1.7\n%\xe2\xe3"), "not-a-zip"),
    (lambda p: _zip(p, {"word/document.xml": b"<w:document/>"}), "not-a-workbook"),
    (lambda p: p.write_bytes(b"PK\x03\x04 broken"), "corrupt-zip"),
])
def test_the_pre_check_says_the_catalogue_words(make: Callable[[Path], object], code: str, tmp_path: Path) -> None:
    path = tmp_path / "file.xlsx"
    make(path)
    with pytest.raises(UnsafeWorkbook) as caught:
        precheck(path)
    exc, words = caught.value, refusal(code)
    assert (exc.code, exc.message_ja, exc.message_en) == (code, words.message_ja, words.message_en)
    assert exc.advice_ja == words.advice_ja and exc.reason_en == words.en


def test_numbers_in_a_refusal_come_from_the_limits(tmp_path: Path) -> None:
    path = _zip(tmp_path / "many.xlsx", {f"xl/part{i}.xml": b"<a/>" for i in range(3)} | {"xl/workbook.xml": b"<w/>"})
    with pytest.raises(UnsafeWorkbook) as caught:
        precheck(path, limits=Limits(max_members=2))
    assert caught.value.code == "too-many-members"
    assert "（4 個、上限 2）" in caught.value.message_ja and "(4; the limit is 2)" in caught.value.message_en
    big = tmp_path / "big.xlsx"
    big.write_bytes(b"PK\x03\x04" + bytes(DEFAULT_LIMITS.max_file_bytes))
    with pytest.raises(UnsafeWorkbook) as too_big:
        precheck(big)
    assert f"上限 {DEFAULT_LIMITS.max_file_bytes:,}" in too_big.value.message_ja


# ---- the advice that fits the file's type -------------------------------------------------------

@pytest.mark.parametrize(("name", "code", "ja", "en"), [
    ("申請書.xls", "xls-file", "Excel ブック (*.xlsx)", "Excel Workbook (*.xlsx)"),
    ("申請書.PDF", "not-the-excel-form", "Excel 様式", "Excel form"),
    ("申請書.docx", "not-the-excel-form", "Excel 様式", "Excel form"),
    ("申請書.csv", "csv-file", "Excel 様式", "Excel form"),
    ("申請書.ods", "other-spreadsheet", ".xlsx", ".xlsx"),
    ("申請書.xlsb", "other-excel-format", "*.xlsx", "*.xlsx"),
    ("申請書.zip", "zip-archive", "shinsei ingest", "shinsei ingest"),
    ("申請書", "not-a-workbook-file", "Excel 様式", "Excel template"),
    ("申請書.foo", "not-a-workbook-file", ".foo", ".foo"),
    ("~$申請書.xlsx", "lock-or-hidden-file", "対応は不要", "nothing to do"),
    (".DS_Store", "lock-or-hidden-file", "隠しファイル", "hidden file"),
    ("__MACOSX/申請書.xlsx", "lock-or-hidden-file", "__MACOSX", "__MACOSX"),
    ("申請\\__MACOSX\\x.xlsx", "lock-or-hidden-file", "__MACOSX", "__MACOSX"),
])
def test_refusal_for_path(name: str, code: str, ja: str, en: str) -> None:
    found = refusal_for_path(name)
    assert found is not None and found.code == code, found
    assert ja in found.message_ja and en in found.message_en, found


def test_a_workbook_name_is_not_refused_by_its_name() -> None:
    assert refusal_for_path("申請書.xlsx") is None and refusal_for_path(Path("a/b/申請書.XLSM")) is None


@pytest.mark.parametrize(("name", "content", "code"), [
    ("申請書.docx", "docx", "not-the-excel-form"),          # a zip, but a Word document
    ("申請書.xlsx", "docx", "not-a-workbook"),              # the same bytes named as a workbook
    ("申請書.pdf", b"%PDF-1.7\n", "not-the-excel-form"),
    ("申請書.xls", OLE2, "xls-file"),
    ("申請書.xlsx", OLE2, "encrypted-or-xls"),             # an encrypted .xlsx is an OLE2 container
    ("申請書.csv", "氏名,金額\n山田,1000\n".encode(), "csv-file"),
])
def test_validate_gives_the_advice_of_the_files_type(name: str, content: bytes | str, code: str,
                                                     tmp_path: Path) -> None:
    path = tmp_path / name
    if content == "docx":
        _zip(path, {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    with pytest.raises(WorkbookRejected) as caught:
        validate_file(path, isolate=False)
    words = refusal(code) if code in ("not-a-workbook", "encrypted-or-xls") else refusal_for_path(path)
    assert words is not None and caught.value.code == code
    assert (caught.value.message_ja, caught.value.message_en) == (words.message_ja, words.message_en)


def test_the_command_line_hint_is_for_the_command_line_only() -> None:
    exc = refusal("unknown-template").error()
    assert "--program" not in exc.message_ja + exc.message_en                 # what the add-in and ingest show
    line = for_file(exc, "x.xlsx").line("x.xlsx")
    assert "--program" in line and line.startswith("x.xlsx: ")                # what the command line prints
    assert "--program" not in for_file(exc).line(cli=False)


def test_a_command_error_carries_its_exit_code() -> None:
    assert CommandError("cannot-write", path="x", reason="r").exit == 73
    assert CommandError("usage", message="m", prog="shinsei").exit == 64
    assert CommandError("interrupted").exit == 130
    assert refusal("zip-bomb").exit == 2


# ---- every front end formats from the catalogue ---------------------------------------------------

def test_the_add_in_shows_the_catalogue_words(tmp_path: Path) -> None:
    """A workbook that is not a shinsei template: the add-in's alert is the catalogue's, without --program."""
    from addin.officejs_payload import payload_from_file
    from tests.test_addin import run_script

    plain = tmp_path / "plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "氏名"
    wb.save(plain)
    alerts = [a["args"][0] for a in run_script("validate", payload_from_file(plain)) if a["func"] == "alert"]
    assert alerts == [refusal("unknown-template").alert()]
    assert "--program" not in alerts[0]


def test_the_add_in_request_refusals_come_from_the_catalogue() -> None:
    from addin import limits, offload

    for refused, name in ((limits.too_large(10**9), "request-too-large"), (limits.too_deep(), "request-too-deep"),
                          (limits.malformed("book.name"), "request-malformed"), (offload.busy(), "server-busy"),
                          (offload.too_slow(5), "engine-timeout"), (offload.failed("x"), "engine-failed")):
        entry = ENTRIES[name]
        assert refused.status == entry["status"] and refused.code == name
        assert refused.ja.endswith(refusal(name).advice_ja) and refused.en.endswith(refusal(name).advice_en)
    body = json.loads(limits.refusal_body(limits.too_many_cells(10**7)))
    assert "10,000,000" in body["detail"] and "10,000,000" in body["actions"][0]["args"][0]


def test_the_ingest_records_skipped_files_with_the_catalogue_words(tmp_path: Path) -> None:
    from pipeline.ingest.sources import discover

    folder = tmp_path / "受付"
    folder.mkdir()
    for name, data in (("計画.pdf", b"%PDF-1.7\n"), ("計画.xls", OLE2), ("計画.csv", b"a,b\n"),
                       ("~$計画.xlsx", b"lock"), ("計画.docx", b"PK")):
        (folder / name).write_bytes(data)
    _zip(tmp_path / "受付.zip", {"中/旧様式.xls": OLE2, "中/メモ.txt": b"x", "中/入れ子.zip": b"PK"})
    found, skipped = discover([folder, tmp_path / "受付.zip"], tmp_path / "staging")
    assert found == []
    by_name = {Path(s.name.replace("\\", "/")).name: s for s in skipped}
    expected = {"計画.pdf": "not-the-excel-form", "計画.xls": "xls-file", "計画.csv": "csv-file",
                "~$計画.xlsx": "lock-or-hidden-file", "計画.docx": "not-the-excel-form", "旧様式.xls": "xls-file",
                "メモ.txt": "not-a-workbook-file", "入れ子.zip": "nested-zip"}
    assert {n: s.code for n, s in by_name.items()} == expected
    for name, s in by_name.items():
        words = refusal_for_path(name) if expected[name] != "nested-zip" else refusal("nested-zip")
        assert (s.reason_ja, s.reason_en) == (words.message_ja, words.message_en), name


def test_the_ingest_quarantines_with_the_catalogue_words(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "暗号化.xlsx").write_bytes(OLE2)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", folder, "--out", out, "--quiet"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    quarantine = json.loads((out / "quarantine.json").read_text(encoding="utf-8"))
    text = json.dumps(quarantine, ensure_ascii=False)
    words = refusal("encrypted-or-xls")
    assert "encrypted-or-xls" in text and words.message_ja in text and words.message_en in text
