"""What to ingest: folders (recursive), zip archives as mail and form systems export them, single files.

Zip members are staged into the output folder under their content hash, so every later step
works on ordinary files and the same content is never processed twice. Japanese names in
zips written without the UTF-8 flag (Windows tools use cp932) are decoded as cp932.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.submission import file_sha256

SUFFIXES = (".xlsx", ".xlsm")
MAX_MEMBER_BYTES = 20 * 1024**2


@dataclass(frozen=True)
class SourceFile:
    """One workbook to ingest: a name for people, a path to read, and its content hash."""

    name: str
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Skipped:
    """A source entry that is not a workbook candidate (kept for the summary, never silently lost)."""

    name: str
    reason_ja: str
    reason_en: str


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's real name: UTF-8 when flagged, else the cp932 bytes that zipfile read as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("cp932")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _stage(data_iter: Iterator[bytes], staging: Path) -> tuple[Path, str, int]:
    staging.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=staging, suffix=".part")
    with os.fdopen(fd, "wb") as out:
        for chunk in data_iter:
            size += len(chunk)
            if size > MAX_MEMBER_BYTES:
                raise ValueError("member too large")
            h.update(chunk)
            out.write(chunk)
    digest = h.hexdigest()
    final = staging / f"{digest}.xlsx"
    os.replace(tmp, final)
    return final, digest, size


def _zip_members(archive: Path, staging: Path) -> Iterator[SourceFile | Skipped]:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        yield Skipped(archive.name, f"zipを開けません: {exc}", f"cannot open the zip: {exc}")
        return
    with zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            name = member_name(info)
            shown = f"{archive.name}/{name}"
            if name.lower().endswith(".zip"):
                yield Skipped(shown, "zipの中のzipは展開しません", "nested zip archives are not expanded")
                continue
            if not name.lower().endswith(SUFFIXES) or Path(name).name.startswith(("~$", ".")):
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                yield Skipped(shown, "ファイルが大きすぎます", "the file is too large")
                continue
            try:
                with zf.open(info) as fh:
                    path, digest, size = _stage(iter(lambda fh=fh: fh.read(1 << 20), b""), staging)
            except (zipfile.BadZipFile, ValueError, OSError, RuntimeError) as exc:
                yield Skipped(shown, f"取り出せません: {exc}", f"cannot extract: {exc}")
                continue
            yield SourceFile(shown, path, digest, size)


def discover(sources: list[str | Path], staging: Path) -> tuple[list[SourceFile], list[Skipped]]:
    """Every workbook under ``sources``, in a stable order (sorted by name), and what was skipped."""
    found: list[SourceFile] = []
    skipped: list[Skipped] = []
    for src in sources:
        src = Path(src)
        if not src.exists():
            skipped.append(Skipped(str(src), "見つかりません", "not found"))
            continue
        paths = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
        for p in paths:
            shown = str(p.relative_to(src.parent)) if src.is_dir() else p.name
            low = p.name.lower()
            if low.endswith(".zip"):
                for item in _zip_members(p, staging):
                    (found if isinstance(item, SourceFile) else skipped).append(item)
            elif low.endswith(SUFFIXES) and not p.name.startswith(("~$", ".")):
                found.append(SourceFile(shown, p, file_sha256(p), p.stat().st_size))
            else:
                skipped.append(Skipped(shown, ".xlsx/.xlsm/.zip ではありません", "not an .xlsx, .xlsm or .zip file"))
    found.sort(key=lambda f: f.name)
    return found, skipped
