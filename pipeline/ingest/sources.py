"""What to ingest: folders (recursive), zip archives as mail and form systems export them, single files.

Zip members are staged into the output folder under their content hash, so every later step
works on ordinary files and the same content is never processed twice; nothing is ever written
under a member's own name, so no name can place a file outside the staging folder. Japanese
names in zips written without the UTF-8 flag (Windows tools use cp932) are decoded as cp932.
Every entry that is not taken gets a Skipped record with its reason: nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.filehash import file_sha256
from pipeline.refusals import Refusal, refusal, refusal_for_path
from pipeline.safety import DEFAULT_LIMITS
from pipeline.settings import TEMP_PREFIX

SUFFIXES = (".xlsx", ".xlsm")
MAX_MEMBER_BYTES = DEFAULT_LIMITS.max_file_bytes  # a larger member would be refused by the pre-check anyway
# One archive's records past this many are summed up in one record (a zip of a million stray entries
# must not make a million-line summary).
MAX_SKIPPED_PER_ARCHIVE = 1000

_DRIVE = re.compile(r"[A-Za-z]:")
# What zipfile.ZipFile and reading a member may raise on a damaged or crafted archive.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error, EOFError, OSError, IndexError,
               KeyError, UnicodeDecodeError, NotImplementedError, RuntimeError, zlib.error)


@dataclass(frozen=True)
class SourceFile:
    """One workbook to ingest: a name for people, a path to read, and its content hash."""

    name: str
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Skipped:
    """A source entry that is not a workbook candidate (kept for the summary, never silently lost).

    The reason is the catalogue's (packs/common/refusals.yaml): ``code`` and the text with its advice.
    """

    name: str
    reason_ja: str
    reason_en: str
    code: str = ""
    sha256: str | None = None   # the content's hash, when it was read (a file of a folder)
    size: int = 0

    @property
    def record_id(self) -> str:
        """The key of its row in the files table: the content hash, or one of its name and reason when the
        content was not read (a zip entry not taken, an encrypted member)."""
        return self.sha256 or hashlib.sha256(f"skipped\0{self.name}\0{self.code}".encode()).hexdigest()

    @property
    def recorded(self) -> bool:
        """Whether the secretariat must see it among the files taken in (everything an applicant sent;
        not the Excel lock files and hidden files of a folder, nor the summary line of a long zip)."""
        return self.code not in NOT_RECORDED


NOT_RECORDED = frozenset({"lock-or-hidden-file", "source-not-found", "more-entries"})


def skipped(name: str, reason: str | Refusal, **values: object) -> Skipped:
    """The entry ``name`` not taken, for the catalogue's ``reason`` (a name in it, or a Refusal already made)."""
    found = reason if isinstance(reason, Refusal) else refusal(reason, **values)
    return Skipped(name, found.message_ja, found.message_en, found.code)


class _TooLarge(Exception):
    """A member inflated past what it may be staged as."""


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's real name: UTF-8 when flagged, else the cp932 bytes that zipfile read as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("cp932")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def member_path(name: str) -> str | None:
    """``name`` with "/" separators, or None when it climbs out of the archive (.., absolute, drive letter).

    Backslashes are separators: Windows tools write them (.NET Framework's ZipFile did, breaking the zip
    specification), and zipfile on Linux keeps them as ordinary characters, so "申請\\東都大学.xlsx" is
    the file 東都大学.xlsx in a folder. Replaced only after the cp932 decoding (member_name), since
    0x5C is also the second byte of 表, ソ, 能 ... in cp932.
    """
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


def _hidden(path: str) -> bool:
    """Excel's lock files (~$), hidden files and the macOS metadata a Finder zip carries (__MACOSX, ._x)."""
    parts = path.split("/")
    return parts[-1].startswith(("~$", ".")) or "__MACOSX" in parts[:-1]


def _stage(chunks: Iterator[bytes], staging: Path, limit: int) -> tuple[Path, str, int]:
    """Copy ``chunks`` into ``staging`` under their content hash; _TooLarge past ``limit`` bytes.

    The partial file starts with settings.TEMP_PREFIX (the next run deletes what a killed one left)
    and is removed when the copy fails.
    """
    staging.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=staging, prefix=TEMP_PREFIX, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise _TooLarge(size)
                h.update(chunk)
                out.write(chunk)
        digest = h.hexdigest()
        final = staging / f"{digest}.xlsx"
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final, digest, size


def _zip_members(archive: Path, staging: Path) -> Iterator[SourceFile | Skipped]:
    try:
        zf = zipfile.ZipFile(archive)
        infos = sorted(zf.infolist(), key=lambda i: i.filename)
        # An archive inflates at most as far as the pre-check lets one workbook inflate (max_ratio times
        # its size plus the allowance): real workbooks are compressed already and barely shrink in a zip,
        # so only a zip bomb reaches this, and it cannot fill the disk with staged files.
        budget = DEFAULT_LIMITS.max_ratio * archive.stat().st_size + DEFAULT_LIMITS.ratio_allowance
    except _ZIP_ERRORS as exc:
        yield skipped(archive.name, "zip-unreadable", error=exc)
        return
    not_taken = 0
    with zf:
        for info in infos:
            item = _member(zf, info, archive, staging, budget)
            if item is None:
                continue
            if isinstance(item, SourceFile):
                budget -= item.size
                yield item
                continue
            not_taken += 1
            if not_taken <= MAX_SKIPPED_PER_ARCHIVE:
                yield item
        if not_taken > MAX_SKIPPED_PER_ARCHIVE:
            more = not_taken - MAX_SKIPPED_PER_ARCHIVE
            yield skipped(f"{archive.name}/…", "more-entries", more=more, listed=MAX_SKIPPED_PER_ARCHIVE)


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path, staging: Path,
            budget: int) -> SourceFile | Skipped | None:
    """One member: staged, or the reason it is not taken; None for a folder entry (nothing to take)."""
    name = member_name(info)
    if name.endswith(("/", "\\")) and info.file_size == 0:
        return None
    path = member_path(name)
    if path is None:
        # Skipped rather than taken under a cleaned name: no archiver writes ".." or an absolute path
        # (the zip specification forbids both), so the entry was crafted ("zip slip"); taken as
        # "x.xlsx" it could pose as another applicant's file. The secretariat sees it here instead.
        return skipped(f"{archive.name}/{name}", "zip-slip")
    shown = f"{archive.name}/{path}"
    low = path.lower()
    if name.endswith(("/", "\\")):
        return skipped(shown, "folder-entry-with-content")
    if low.endswith(".zip"):
        return skipped(shown, "nested-zip")
    if _hidden(path):
        return skipped(shown, "lock-or-hidden-file")
    if not low.endswith(SUFFIXES):
        return skipped(shown, refusal_for_path(path) or refusal("not-a-workbook-file", suffix=""))
    if info.flag_bits & 0x1:
        return skipped(shown, "zip-entry-encrypted")
    limit = min(MAX_MEMBER_BYTES, budget)
    if info.file_size > limit:
        return _too_large(shown, info.file_size, limit)
    try:
        with zf.open(info) as fh:
            staged, digest, size = _stage(iter(lambda fh=fh: fh.read(1 << 20), b""), staging, limit)
    except _TooLarge as exc:
        return _too_large(shown, exc.args[0], limit)
    except _ZIP_ERRORS as exc:
        return skipped(shown, "zip-entry-unreadable", error=exc)
    return SourceFile(shown, staged, digest, size)


def _too_large(shown: str, size: int, limit: int) -> Skipped:
    if limit < MAX_MEMBER_BYTES and size <= MAX_MEMBER_BYTES:
        return skipped(shown, "archive-bomb")
    return skipped(shown, "member-too-large", size=size, limit=MAX_MEMBER_BYTES)


def discover(sources: list[str | Path], staging: Path) -> tuple[list[SourceFile], list[Skipped]]:
    """Every workbook under ``sources``, in a stable order (sorted by name), and what was skipped."""
    found: list[SourceFile] = []
    passed: list[Skipped] = []
    for src in sources:
        src = Path(src)
        if not src.exists():
            passed.append(skipped(str(src), "source-not-found", path=str(src)))
            continue
        paths = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
        for p in paths:
            shown = str(p.relative_to(src.parent)) if src.is_dir() else p.name
            low = p.name.lower()
            if p.name.startswith(("~$", ".")):
                passed.append(skipped(shown, "lock-or-hidden-file"))
            elif low.endswith(".zip"):
                for item in _zip_members(p, staging):
                    (found if isinstance(item, SourceFile) else passed).append(item)
            elif low.endswith(SUFFIXES):
                found.append(SourceFile(shown, p, file_sha256(p), p.stat().st_size))
            else:
                item = skipped(shown, refusal_for_path(p) or refusal("not-a-workbook-file", suffix=""))
                passed.append(replace(item, sha256=file_sha256(p), size=p.stat().st_size))
    found.sort(key=lambda f: f.name)
    return found, passed
