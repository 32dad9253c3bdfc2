"""Zip members that are not taken are never dropped silently, and nothing lands outside the staging folder.

On Linux, zipfile keeps a backslash as an ordinary character: ``..\\..\\x.xlsx`` is one file name
that starts with "." and used to be dropped without a word (taken for a hidden file), while
``/abs/x.xlsx`` and ``C:\\x.xlsx`` were taken under those names. A damaged member or an unsupported
compression method raised past discover() and stopped the batch.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.ingest import sources
from pipeline.ingest.executor import InlineExecutor
from pipeline.ingest.run import ingest
from pipeline.ingest.sources import Skipped, SourceFile, discover, member_path
from pipeline.settings import TEMP_PREFIX

YOUTH = "nexus-ytec-youth-2025"


class _Cp932Info(zipfile.ZipInfo):
    """A member name stored as cp932 bytes without the UTF-8 flag, as Windows archivers write it."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("cp932"), self.flag_bits & ~0x800


def _japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u9fff" for ch in text)


def _bilingual(s: Skipped) -> None:
    assert _japanese(s.reason_ja), s
    assert s.reason_en and not _japanese(s.reason_en) and s.reason_en != s.reason_ja, s


def _patch(path: Path, member: str, local_at: int, central_at: int, value: int) -> None:
    """Set a 2-byte field of a member's local header and directory entry (what no writer would write)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    struct.pack_into("<H", data, info.header_offset + local_at, value)
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 4)
        assert central > 0, member
    struct.pack_into("<H", data, central + central_at, value)
    path.write_bytes(bytes(data))


def _patch_method(path: Path, member: str, method: int) -> None:
    _patch(path, member, 8, 10, method)


def _encrypted(path: Path, member: str) -> None:
    """Flag a member as encrypted (zipfile clears flag_bits when writing)."""
    _patch(path, member, 6, 8, 0x801)


@pytest.mark.parametrize(("name", "expected"), [
    ("申請/東都大学.xlsx", "申請/東都大学.xlsx"),
    ("申請\\東都大学.xlsx", "申請/東都大学.xlsx"),
    ("./a//b.xlsx", "a/b.xlsx"),
    ("..\\..\\x.xlsx", None),
    ("../x.xlsx", None),
    ("a/../../x.xlsx", None),
    ("/etc/x.xlsx", None),
    ("\\\\server\\share\\x.xlsx", None),
    ("C:\\x.xlsx", None),
    ("c:x.xlsx", None),
])
def test_member_path(name: str, expected: str | None) -> None:
    assert member_path(name) == expected


@pytest.fixture
def workbook(make_workbook: Callable[..., Path], base: Callable[[str], dict[str, Any]]) -> bytes:
    return make_workbook(YOUTH, base(YOUTH)).read_bytes()


def test_every_member_not_taken_has_a_bilingual_record(tmp_path: Path, workbook: bytes) -> None:
    archive = tmp_path / "in" / "受付.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("申請/", b"")                                # a folder entry: nothing to take, no record
        zf.writestr("申請\\東都大学.xlsx", workbook)              # Windows separators: taken
        zf.writestr(_Cp932Info("申請\\表.xlsx"), workbook + b"")  # cp932, 表 = 0x95 0x5C: taken as 申請/表.xlsx
        zf.writestr("..\\..\\x.xlsx", workbook[:-1] + b"\0")      # climbs out: skipped
        zf.writestr("../y.xlsx", b"PK")
        zf.writestr("/abs/z.xlsx", b"PK")
        zf.writestr("C:\\w.xlsx", b"PK")
        zf.writestr("申請/メモ.txt", "メモ")
        zf.writestr("申請/~$東都大学.xlsx", b"lock")
        zf.writestr("__MACOSX/申請/._東都大学.xlsx", b"\0\5\26\7")
        zf.writestr("申請/中身.zip", b"PK\5\6" + bytes(18))
        zf.writestr("申請/鍵付き.xlsx", b"x" * 100)
        zf.writestr("申請/method.xlsx", b"not deflated", compress_type=zipfile.ZIP_STORED)
        zf.writestr("申請/damaged.xlsx", b"x" * 5000)
    _patch_method(archive, "申請/method.xlsx", 99)  # not a method zipfile knows: NotImplementedError
    _encrypted(archive, "申請/鍵付き.xlsx")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("申請/damaged.xlsx")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + 4] = b"\xff\xff\xff\xff"  # an invalid deflate block: zlib.error
    archive.write_bytes(bytes(data))

    staging = tmp_path / "out" / "staging"
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    found, skipped = discover([archive], staging)
    assert [f.name for f in found] == ["受付.zip/申請/東都大学.xlsx", "受付.zip/申請/表.xlsx"]
    assert all(isinstance(f, SourceFile) and f.path.parent == staging for f in found)
    reasons = {s.name: s for s in skipped}
    assert set(reasons) == {
        "受付.zip/..\\..\\x.xlsx", "受付.zip/../y.xlsx", "受付.zip//abs/z.xlsx", "受付.zip/C:\\w.xlsx",
        "受付.zip/申請/メモ.txt", "受付.zip/申請/~$東都大学.xlsx", "受付.zip/__MACOSX/申請/._東都大学.xlsx",
        "受付.zip/申請/中身.zip", "受付.zip/申請/鍵付き.xlsx", "受付.zip/申請/method.xlsx",
        "受付.zip/申請/damaged.xlsx"}
    for s in skipped:
        _bilingual(s)
    assert "outside the archive" in reasons["受付.zip/..\\..\\x.xlsx"].reason_en
    assert "password" in reasons["受付.zip/申請/鍵付き.xlsx"].reason_en
    assert "cannot extract" in reasons["受付.zip/申請/method.xlsx"].reason_en
    assert "cannot extract" in reasons["受付.zip/申請/damaged.xlsx"].reason_en
    # Nothing written anywhere but the staging folder, and no partial file left there.
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    assert written == {f.path for f in found}
    assert not (tmp_path / "x.xlsx").exists() and not Path("/abs/z.xlsx").exists()


def test_too_large_members_are_skipped_with_no_partial_file(tmp_path: Path, workbook: bytes,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", len(workbook) + 10)
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.xlsx", workbook)
        zf.writestr("big.xlsx", workbook + bytes(100))
    found, skipped = discover([archive], tmp_path / "staging")
    assert [f.name for f in found] == ["big.zip/ok.xlsx"]
    assert [s.name for s in skipped] == ["big.zip/big.xlsx"] and "too large" in skipped[0].reason_en
    _bilingual(skipped[0])

    made: list[str] = []
    real = sources.tempfile.mkstemp

    def spy(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, name = real(*args, **kwargs)
        made.append(name)
        return fd, name

    monkeypatch.setattr(sources.tempfile, "mkstemp", spy)
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 10_000)
    lying = tmp_path / "lying.zip"  # the directory claims a small size; the data inflates further
    with zipfile.ZipFile(lying, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar.xlsx", bytes(50_000))
    data = bytearray(lying.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)
    struct.pack_into("<I", data, 22, 100)  # the local header's size, too
    lying.write_bytes(bytes(data))
    found, skipped = discover([lying], tmp_path / "staging2")
    assert not found and [s.name for s in skipped] == ["lying.zip/liar.xlsx"]
    assert made and all(Path(m).name.startswith(TEMP_PREFIX) and Path(m).suffix == ".part" for m in made)
    assert not list((tmp_path / "staging2").iterdir()), "the partial file is removed"


def test_an_archive_that_inflates_abnormally_stops_staging(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(4):  # 3 MiB each, a few KB compressed: no workbook compresses like this
            zf.writestr(f"{i}.xlsx", bytes(3 << 20) + bytes([i + 1]))
    budget = 200 * archive.stat().st_size + 4 * 1024**2
    found, skipped = discover([archive], tmp_path / "staging")
    assert sum(f.size for f in found) <= budget
    assert found and skipped and all("zip bomb" in s.reason_en for s in skipped)
    assert len(found) + len(skipped) == 4


def test_records_of_one_archive_are_bounded(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(sources.MAX_SKIPPED_PER_ARCHIVE + 5):
            zf.writestr(f"x{i:05d}.txt", b"")
    found, skipped = discover([archive], tmp_path / "staging")
    assert not found and len(skipped) == sources.MAX_SKIPPED_PER_ARCHIVE + 1
    assert "5 more" in skipped[-1].reason_en and "5" in skipped[-1].reason_ja


def test_folder_lock_and_hidden_files_say_so(tmp_path: Path, workbook: bytes) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xlsx").write_bytes(workbook)
    (folder / "~$a.xlsx").write_bytes(b"lock")
    (folder / ".b.xlsx").write_bytes(b"x")
    (folder / "c.txt").write_text("c")
    found, skipped = discover([folder], tmp_path / "staging")
    assert [f.name for f in found] == ["in/a.xlsx"]
    reasons = {s.name: s.reason_en for s in skipped}
    assert "lock file" in reasons["in/~$a.xlsx"] and "hidden" in reasons["in/.b.xlsx"]
    assert "not an .xlsx" in reasons["in/c.txt"]


def test_ingest_takes_backslash_members_and_reports_the_rest(tmp_path: Path, workbook: bytes) -> None:
    archive = tmp_path / "受付.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("申請\\東都大学.xlsx", workbook)
        zf.writestr("..\\..\\x.xlsx", workbook + b"")
        zf.writestr("申請/method.xlsx", b"x", compress_type=zipfile.ZIP_STORED)
    _patch_method(archive, "申請/method.xlsx", 99)
    summary = ingest([archive], tmp_path / "out", executor=InlineExecutor(), progress=False)
    # the two entries not taken are quarantined with their reasons: the secretariat sees every file sent
    assert summary.processed == 1 and summary.quarantined == 2
    assert sorted(s.name for s in summary.skipped) == ["受付.zip/..\\..\\x.xlsx", "受付.zip/申請/method.xlsx"]
    import openpyxl

    rows = list(openpyxl.load_workbook(tmp_path / "out" / "review.xlsx", read_only=True)["Summary"].values)
    assert rows[1][rows[0].index("ファイル File")] == "受付.zip/申請/東都大学.xlsx"
    assert not (tmp_path / "x.xlsx").exists()
