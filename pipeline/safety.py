"""Cheap checks on an untrusted workbook before any parser sees it.

A few KB can kill a reader: cells at A1 and XFD1048576, or a shared-strings count of 2^32-1,
make python-calamine abort the whole process (a Rust allocation failure no try/except catches);
a styles bomb costs openpyxl minutes and gigabytes; DOCTYPE/ENTITY declarations invite entity
expansion. ``precheck`` refuses such files from the zip directory plus one streaming pass over
each member: zlib and two precompiled regexes that match only tags worth a closer look. It holds
the file (at most max_file_bytes) and a few MB of decompressed data, and costs about 1 ms per
100 KB of XML (a 20 KB workbook: ~1 ms), linear in the input whatever its content.

It does not trust the zip: sizes and CRCs in the directory are verified against the data
(a lying header is how zip bombs pass size checks), and members are judged by their content,
not by their names (a part can be renamed and still be read as a sheet). Parsing still belongs
in pipeline.sandbox: this check is the cheap first line, not the only one.

Where the reader already runs in a sandboxed worker (the bulk ingest), the far-cell scan, half of
the pre-check's time, can be left out (``verified_members(scan=False)``): the reader's own pass judges
the extents it meets (``judge_extent``, called by pipeline.workbook for every sheet and table it reads),
a file whose extents kill the reader kills only its worker, and ``precheck`` run afterwards on that
file names why. Everything else (the zip, sizes, CRCs, DOCTYPE/ENTITY, styles, the shared-strings count
of an ``<sst>`` part) is judged either way.
"""

from __future__ import annotations

import codecs
import io
import itertools
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import NamedTuple

try:  # Intel ISA-L: inflates ~1.4x and sums CRC-32 ~3x as fast as zlib (the same API and results)
    from isal import isal_zlib as _zlib

    _ZLIB_ERRORS: tuple[type[Exception], ...] = (zlib.error, _zlib.error)
except ImportError:  # a platform without its wheels
    _zlib = zlib  # type: ignore[no-redef]
    _ZLIB_ERRORS = (zlib.error,)

__all__ = ["DEFAULT_LIMITS", "ZIP_CENTRAL_RECORD", "ZIP_END_RECORD", "ZIP_LOCAL_RECORD", "Limits", "UnsafeWorkbook",
           "VerifiedMembers", "WorkbookRejected", "judge_extent", "precheck", "verified_members"]

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_IN_STEP = 1 << 18   # compressed bytes handed to zlib at a time (unconsumed_tail copies stay small)
_OUT_STEP = 1 << 20  # decompressed bytes produced at a time: what bounds memory while scanning
_HEAD = 4096         # bytes of each member inspected for XML prolog, encoding and DOCTYPE
_MAX_RUN = 4 << 20   # an XML part with a tag or text longer than this without "<" is not a workbook's
_KEEP = 1 << 16      # tail kept across chunks of a non-XML member

# A tag, quote-aware as quick-xml's tokenizer is: its qualified name and its raw attributes. No pattern
# here may run past a "<" (never part of a well-formed tag): that keeps every scan linear in the input.
_TAG = re.compile(rb"""<([^\s/>"'<]+)((?:[^>"'<]++|"[^"<]*+"|'[^'<]*+')*+)>""")
_QNAME = re.compile(rb"""<[^\s/>"'<!?]+""")
# Tags of the positional emulation (a cell without r= takes its place from its neighbours).
_CELL_OR_ROW = re.compile(rb"""<(/?)(?:[^\s/>"'<:]+:)?(c|row)(?=[\s/>])"""
                          rb"""((?:[^>"'<]++|"[^"<]*+"|'[^'<]*+')*+)>""")
_ROWCOL = re.compile(rb"\s*([A-Za-z]*)\s*([0-9]*)")
_DIGITS = re.compile(rb"[0-9]+")

_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\xef\xbb\xbf", "utf-8"),
         (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))
_NO_BOM = ((b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"), (b"\x00<\x00", "utf-16-be"),
           (b"<\x00", "utf-16-le"), (b"\x4c\x6f\xa7\x94", "cp037"))  # the last: EBCDIC "<?xm"
_DECL_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_ASCII_SAFE = {"utf-8", "utf_8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1",
               "windows-1252", "cp1252", "shift_jis", "shift-jis", "sjis", "cp932", "euc-jp"}
_WS = re.compile(rb"[ \t\r\n]*")
_ROOT = re.compile(rb"""<(?:[^\s=/>"'<!?:]+:)?([^\s=/>"'<!?]+)""")
_DOCTYPE, _ENTITY = b"<!doctype", b"<!entity"
_SUBSET = re.compile(rb"<!doctype[^>\[]*\[")


class WorkbookRejected(Exception):
    """A file the engine will not parse: a stable ``code`` and a reason in Japanese and English.

    ``message_ja`` / ``message_en`` say what is wrong and what to do; raised from the catalogue of
    refusals (pipeline.refusals), the exception also keeps the two parts apart (``reason_*``, ``advice_*``).
    """

    code = "rejected"
    message_ja = ""
    message_en = ""
    detail = ""
    reason_ja = reason_en = advice_ja = advice_en = ""

    def __init__(self, code: str, message_ja: str, message_en: str, detail: str = "") -> None:
        self.code, self.message_ja, self.message_en, self.detail = code, message_ja, message_en, detail
        super().__init__(f"{message_ja} / {message_en}")

    def __reduce__(self) -> tuple[object, ...]:
        # Raised in a sandboxed child and re-raised in the parent: every field must survive pickling.
        return (type(self), (self.code, self.message_ja, self.message_en, self.detail), dict(self.__dict__))


class UnsafeWorkbook(WorkbookRejected):
    """The pre-check refused the file before any parser saw it."""


class Limits(NamedTuple):
    """What a submitted application workbook may plausibly need; far beyond it is an attack or an accident.

    Compression: the whole file may inflate to ``max_ratio`` times its compressed data plus
    ``ratio_allowance`` bytes (see ``_check_directory``). A ratio alone cannot tell a bomb from text:
    measured on template workbooks, one cell of 32,767 × "あ" deflates ~30:1, twenty ~200:1, forty
    ~280:1, eighty ~300:1, and any maximally repetitive part (zeros, one letter) ~1,000:1. The 4 MiB
    allowance takes eighty such cells as the template writes them (excess 2.7 MB), and ~50 even at
    1,000:1; 8 MiB of zeros (8 KB compressed) or 100 parts of 1 MiB of zeros (115 KB) stay refused.

    A NamedTuple: immutable like the frozen dataclass it was, without importing ``dataclasses`` (~7 ms
    of every ``shinsei validate``, see pipeline.record).
    """

    max_file_bytes: int = 20 * 1024**2
    max_members: int = 2000
    max_total_uncompressed: int = 200 * 1024**2
    max_member_uncompressed: int = 100 * 1024**2
    max_ratio: int = 200
    ratio_allowance: int = 4 * 1024**2
    max_shared_strings: int = 1_000_000
    max_rows: int = 100_000
    max_cols: int = 1_000
    max_styles_bytes: int = 5 * 1024**2


DEFAULT_LIMITS = Limits()


def precheck(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise UnsafeWorkbook unless ``path`` looks like a workbook that is safe to hand to a parser.

    OSError (no such file, unreadable) propagates unchanged: that is not a property of the workbook.
    """
    _verify(path, limits, keep=False)


class VerifiedMembers(dict[str, bytes]):
    """Every member's decompressed bytes, in the zip's order, and (``crcs``) their CRC-32s, verified."""

    crcs: dict[str, int]


def verified_members(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS,
                     scan: bool = True) -> VerifiedMembers:
    """``precheck``, returning every member's decompressed bytes (size and CRC verified), in the zip's order.

    A reader given these bytes parses exactly what was checked (the file may change on disk
    meanwhile) and needs neither to open the file nor to inflate it again (nor to sum it: the CRCs come
    along). ``scan=False`` leaves out the far-cell scan: only for a reader in a sandboxed worker, which
    judges the extents it reads (see the module's docstring).
    """
    return _verify(path, limits, keep=True, scan=scan)


def judge_extent(part: str, rows: int, cols: int, limits: Limits = DEFAULT_LIMITS, how: str = "") -> None:
    """Refuse (sheet-too-large) a sheet or table that a reader found ``rows`` x ``cols`` large (1-based)."""
    _judge(part, rows, cols, limits, how)


def _verify(path: str | os.PathLike[str], limits: Limits, *, keep: bool, scan: bool = True) -> VerifiedMembers:
    with open(path, "rb") as fh:
        data = _read_at_most(fh, limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise _file_too_large(os.path.getsize(path), limits)
    _check_magic(data)
    directory = _plain_directory(data)
    if directory is None:  # anything beyond the plain directory every spreadsheet writes: zipfile judges it
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                directory = zf.infolist(), zf.start_dir  # type: ignore[attr-defined]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error, EOFError, OSError,
                IndexError, KeyError, UnicodeDecodeError, NotImplementedError) as exc:
            raise _corrupt(f"{type(exc).__name__}: {exc}") from exc
    infos, start_dir = directory
    spans = _check_directory(data, infos, start_dir, limits)
    view = memoryview(data)
    total = 0
    kept = VerifiedMembers()
    kept.crcs = {}
    for info, (_, start, end) in zip(infos, spans, strict=True):
        pieces: list[bytes] | None = [] if keep else None
        total += _check_member(info, view[start:end], limits, pieces, scan=scan)
        if total > limits.max_total_uncompressed:
            raise _bomb(f"total expands past {limits.max_total_uncompressed:,} bytes")
        if pieces is not None:
            kept[info.filename] = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            kept.crcs[info.filename] = info.CRC  # the data's own CRC: _check_member compared them
    return kept


def _read_at_most(fh: io.BufferedReader, limit: int) -> bytes:
    """The file's bytes, at most ``limit`` of them.

    ``read(limit)`` allocates ``limit`` bytes before it reads: 20 MB for every 30 KB workbook, ~0.1 ms
    each. The size the file has now is read instead, and anything it grew by meanwhile after it."""
    size = os.fstat(fh.fileno()).st_size
    data = fh.read(min(size, limit - 1) + 1)
    if len(data) > size and len(data) < limit:  # it grew while being read: the rest, up to the limit
        data += fh.read(limit - len(data))
    return data


# ---- the zip as a whole -----------------------------------------------------------------------

def _check_magic(data: bytes) -> None:
    if data.startswith(OLE2_MAGIC):
        raise _refuse("encrypted-or-xls")
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise _refuse("not-a-zip", f"first bytes {data[:8].hex(' ')}" if data else "empty file")


class _Entry(NamedTuple):
    """What the checks read of a member's central directory record: the fields of zipfile.ZipInfo they use."""

    filename: str
    orig_filename: str
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int
    header_offset: int


_Member = zipfile.ZipInfo | _Entry  # a member as the checks read it: from zipfile or from _plain_directory

# The zip's records, as zipfile reads them (pipeline.workbook writes them too):
ZIP_LOCAL_RECORD = struct.Struct("<4s5H3L2H")        # local file header (APPNOTE 4.3.7), before the name
ZIP_CENTRAL_RECORD = struct.Struct("<4s4B4H3L5H2L")  # central directory header (APPNOTE 4.3.12), before the name
ZIP_END_RECORD = struct.Struct("<4s4H2LH")           # end of central directory record (4.3.16)
_MAX_EXTRACT_VERSION = 63                        # zipfile's: a newer one raises NotImplementedError
_OTHER_SEP = "" if os.sep == "/" else os.sep     # zipfile's ZipInfo turns it into "/" (Windows)


def _plain_directory(data: bytes) -> tuple[Sequence[_Member], int] | None:
    """The members of a zip whose directory is the plain kind that Excel, LibreOffice and the Python writers
    produce, read as zipfile would read them; None for anything else, which zipfile then reads (and refuses).

    Plain: the end record is the file's last 22 bytes (no archive comment), one disk, no ZIP64 sentinel or
    locator, nothing before the first member (no "concatenated" offset), and no record with an extra field,
    a comment, a NUL in its name or a version zipfile refuses. zipfile builds a ZipInfo of ~20 attributes per
    member through a file object: ~0.31 ms for a template's 27 members against ~0.1 ms here, on a machine
    where the pre-check takes ~1.5 ms a file."""
    if len(data) < ZIP_END_RECORD.size:
        return None
    end = len(data) - ZIP_END_RECORD.size
    sig, disk, cd_disk, here, count, cd_size, cd_offset, comment = ZIP_END_RECORD.unpack_from(data, end)
    if (sig != b"PK\x05\x06" or comment or disk or cd_disk or here != count or count == 0xFFFF
            or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF or cd_offset + cd_size != end
            or data[end - 20:end - 16] == b"PK\x06\x07"):
        return None
    entries: list[_Member] = []
    pos, record = cd_offset, ZIP_CENTRAL_RECORD.size
    unpack, make = ZIP_CENTRAL_RECORD.unpack_from, _Entry._make
    for _ in range(count):
        if pos + record > end:
            return None
        (sig, _, _, version, _, flags, method, _, _, crc, csize, size, n, extra, note, _, _, _,
         offset) = unpack(data, pos)
        start = pos + record
        pos = start + n
        if sig != b"PK\x01\x02" or extra or note or version > _MAX_EXTRACT_VERSION or pos > end:
            return None
        try:
            name = _name(data[start:pos], flags)
        except UnicodeDecodeError:
            return None
        if "\0" in name or (_OTHER_SEP and _OTHER_SEP in name):
            return None
        entries.append(make((name, name, flags, method, crc, csize, size, offset)))
    return (entries, cd_offset) if pos == end else None


def _name(raw: bytes, flags: int) -> str:
    """A member's name as zipfile decodes it: UTF-8 when flagged, else code page 437. An ASCII name (every
    workbook part's) reads the same in both, and decodes without cp437's Python-level codec (~1.5 µs a name)."""
    return raw.decode("ascii") if raw.isascii() else raw.decode("utf-8" if flags & 0x800 else "cp437")


def _check_directory(data: bytes, infos: Sequence[_Member], start_dir: int,
                     limits: Limits) -> list[tuple[int, int, int]]:
    """Judge the directory's claims, and locate each member's data (which must not overlap another's).

    Compression is judged over the whole file: what members inflate beyond ``max_ratio`` times their
    compressed size is summed and may not pass ``ratio_allowance``. So n compressed bytes inflate to at
    most max_ratio × n + ratio_allowance however the parts are cut (the former rule, a ratio judged per
    part above 1 MiB, let 100 parts of 1 MiB of zeros through), while long repeated text stays well
    inside. The sizes are the directory's claims, each verified when its member is inflated.
    """
    if len(infos) > limits.max_members:
        raise _refuse("too-many-members", count=len(infos), limit=limits.max_members)
    seen: set[str] = set()
    declared = excess = 0
    spans = []
    for info in infos:
        name = info.filename
        key = name.lower()  # python-calamine looks parts up case-insensitively: two spellings are ambiguous
        if key in seen:
            raise _corrupt(f"duplicate member {name!r}")
        seen.add(key)
        if info.flag_bits & 0x1:
            raise _refuse("encrypted-or-xls", f"encrypted zip member {name!r}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _corrupt(f"{name}: compression method {info.compress_type} (Excel uses deflate)")
        if info.file_size > limits.max_member_uncompressed:
            raise _bomb(f"{name}: {info.file_size:,} bytes uncompressed")
        excess += max(0, info.file_size - limits.max_ratio * info.compress_size)
        if excess > limits.ratio_allowance:
            raise _bomb(f"{name}: {info.file_size:,} bytes from {info.compress_size:,}; the file inflates "
                        f"{excess:,} bytes beyond {limits.max_ratio} times its compressed size (allowance "
                        f"{limits.ratio_allowance:,})")
        if key.endswith("styles.xml"):
            _check_styles(name, info.file_size, limits)
        declared += info.file_size
        spans.append(_locate(data, info, start_dir))
    if declared > limits.max_total_uncompressed:
        raise _bomb(f"{declared:,} bytes uncompressed in all")
    if "xl/workbook.xml" not in seen:
        raise _refuse("not-a-workbook", "a zip archive without xl/workbook.xml")
    ordered = sorted(spans)
    for (_, _, end), (nxt, _, _) in itertools.pairwise(ordered):
        if end > nxt:  # the "overlapping files" zip bomb: many entries sharing one compressed kernel
            raise _corrupt("members overlap")
    return spans


def _locate(data: bytes, info: _Member, start_dir: int) -> tuple[int, int, int]:
    """Local header offset, start and end of a member's data, read from its local header as readers do."""
    off = info.header_offset
    if off < 0 or off + ZIP_LOCAL_RECORD.size > len(data) or data[off:off + 4] != b"PK\x03\x04":
        raise _corrupt(f"{info.filename}: no local header at {off}")
    *_, n, m = ZIP_LOCAL_RECORD.unpack_from(data, off)
    name_at = off + ZIP_LOCAL_RECORD.size
    raw_name = data[name_at:name_at + n]
    try:
        local_name = _name(raw_name, info.flag_bits)
    except UnicodeDecodeError as exc:
        raise _corrupt(f"{info.filename}: undecodable local name") from exc
    if local_name != info.orig_filename:
        raise _corrupt(f"{info.filename}: local header names {local_name!r}")
    start = name_at + n + m
    end = start + info.compress_size
    if end > start_dir or end > len(data):
        raise _corrupt(f"{info.filename}: data runs past the end of the archive")
    return off, start, end


# ---- one member -------------------------------------------------------------------------------

def _check_member(info: _Member, raw: memoryview, limits: Limits, keep: list[bytes] | None = None, *,
                  scan: bool = True) -> int:
    """Stream one member once: verify its true size and CRC, inspect its head, scan it for far cells
    (unless ``scan`` is False: see the module's docstring).

    ``keep``, when given, receives the member's decompressed pieces.
    """
    if (not scan and info.compress_type == zipfile.ZIP_DEFLATED and info.file_size < _OUT_STEP
            and len(raw) <= _IN_STEP and (whole := _inflate_whole(info, raw)) is not None
            and _inspect_head(info, whole, False, limits, scan=False) == (None, None)):
        if keep is not None:  # the usual part: one piece, nothing to scan (what the loop below would do)
            keep.append(whole)
        return len(whole)
    scanner: _Scan | None = None
    decoder: codecs.IncrementalDecoder | None = None
    inspected = False
    total = crc = 0
    head = b""
    for out in _inflate(raw, info.compress_type, info.filename):
        total += len(out)
        if total > info.file_size:
            raise _corrupt(f"{info.filename}: expands past its declared {info.file_size:,} bytes")
        crc = _zlib.crc32(out, crc)
        if keep is not None:
            keep.append(out)
        if not inspected:  # still collecting the head
            head = head + out if head else out
            if len(head) < _HEAD and total < info.file_size:
                continue
            scanner, decoder = _inspect_head(info, head, total < info.file_size, limits, scan=scan)
            inspected, out, head = True, head, b""
        if scanner is not None:
            scanner.feed(decoder.decode(out).encode("utf-8", "replace") if decoder else out)
    if not inspected:  # empty, or shorter than the directory claims (caught just below)
        scanner, decoder = _inspect_head(info, head, False, limits, scan=scan)
        if scanner is not None:
            scanner.feed(decoder.decode(head).encode("utf-8", "replace") if decoder else head)
    if total != info.file_size or crc != info.CRC:
        raise _corrupt(f"{info.filename}: size or CRC does not match the zip directory")
    if scanner is not None:
        scanner.finish()
        if scanner.positional:  # cells without r=: read this member again, counting positions as calamine does
            _emulate(info, raw, decoder is not None, limits)
    return total


def _inflate_whole(info: _Member, raw: memoryview) -> bytes | None:
    """A small deflated member inflated in one call, when it is exactly what the directory says (its size and
    CRC); None otherwise, and the streaming path reads it again and says what is wrong.

    Every part of a workbook is one piece for the streaming path (under _OUT_STEP); this is the same reading
    without its generator and bookkeeping, ~4 µs of each of a workbook's ~27 parts. Bounded all the same:
    it never inflates more than _OUT_STEP bytes."""
    d = _zlib.decompressobj(-15)
    try:
        out = d.decompress(raw, _OUT_STEP)
    except _ZLIB_ERRORS:
        return None
    return out if d.eof and len(out) == info.file_size and _zlib.crc32(out) == info.CRC else None


def _inflate(raw: memoryview, method: int, name: str) -> Iterator[bytes]:
    """The member's bytes in pieces of at most _OUT_STEP, never trusting the declared size."""
    if method == zipfile.ZIP_STORED:
        for i in range(0, len(raw), _OUT_STEP):
            yield bytes(raw[i:i + _OUT_STEP])
        return
    d = _zlib.decompressobj(-15)
    try:
        for i in range(0, len(raw), _IN_STEP):
            piece: bytes | memoryview = raw[i:i + _IN_STEP]
            while piece:
                out = d.decompress(piece, _OUT_STEP)
                piece = d.unconsumed_tail
                if out:
                    yield out
                if d.eof:
                    return
        while not d.eof:  # input used up; zlib may still hold output
            out = d.decompress(b"", _OUT_STEP)
            if not out:
                break
            yield out
    except _ZLIB_ERRORS as exc:
        raise _corrupt(f"{name}: {exc}") from exc
    if not d.eof:
        raise _corrupt(f"{name}: compressed data is truncated")


def _inspect_head(info: _Member, head: bytes, more: bool, limits: Limits, *,
                  scan: bool = True) -> tuple[_Scan | None, codecs.IncrementalDecoder | None]:
    """Is the member XML, in which encoding? Refuse DOCTYPE/ENTITY (in any encoding) and oversized styles.

    Returns the member's scanner (None when ``scan`` is False: then the counts of an ``<sst>`` root
    are judged here, from the head), and a decoder when its bytes must be transcoded to UTF-8 to be scanned.
    """
    name = info.filename
    first = head[:_HEAD]
    encoding = "utf-8"
    if first[:1] == b"<" and first[1:2] != b"\0":  # the usual case: UTF-8 without BOM
        text = first
    else:
        skip = 0
        for bom, enc in _BOMS:
            if first.startswith(bom):
                encoding, skip = enc, len(bom)
                break
        else:
            for start, enc in _NO_BOM:
                if first.startswith(start):
                    encoding = enc
                    break
        text = first[skip:]
        if encoding != "utf-8":
            text = text.decode(encoding, "ignore").encode("utf-8")
        if text.lstrip()[:1] != b"<":  # not XML (a picture, vbaProject.bin...): scanned raw
            return (_Scan(name, limits, xml=False) if scan else None), None
    declared = _DECL_ENCODING.match(text) if text.startswith(b"<?xml") else None
    if declared:
        alias = declared.group(1).decode("ascii").lower()
        if alias not in _ASCII_SAFE and not alias.startswith(("utf-16", "utf-32", "utf16", "utf32", "ucs")):
            try:
                codec = codecs.lookup(alias).name
            except LookupError:
                codec = ""  # neither Python nor, in all likelihood, the parsers know it
            if codec and b'<c r="A1"/>'.decode(codec, "replace") != '<c r="A1"/>':
                encoding = codec  # not ASCII-compatible (UTF-7, EBCDIC...): judge and scan it transcoded
                text = first.decode(codec, "ignore").encode("utf-8")
    if b"!" in text or b"\0" in first:  # most parts have no comment, let alone a declaration (memchr)
        variants = [text, first.replace(b"\0", b"")]  # the latter: UTF-16/32 in any byte order, any guess
        for variant in variants:
            low = variant.lower()
            if _DOCTYPE in low or _ENTITY in low:
                if name.lower().endswith(".svg") and _ENTITY not in low and not _SUBSET.search(low):
                    continue  # an SVG picture's standard <!DOCTYPE svg PUBLIC ...>: nothing to expand
                raise _doctype(name)
    pos = _WS.match(text).end()
    while text.startswith((b"<?", b"<!--"), pos):  # the prolog: declaration, instructions, comments
        end = b"?>" if text[pos + 1:pos + 2] == b"?" else b"-->"
        close = text.find(end, pos + 2)
        if close < 0:
            pos = -1
            break
        pos = _WS.match(text, close + len(end)).end()
    root = _ROOT.match(text, pos) if pos >= 0 else None
    if root is None and (more or len(head) > _HEAD):
        raise _doctype(name, "the XML prolog is longer than 4 KB")  # a DOCTYPE could hide past the window
    if root is not None and root.group(1) == b"styleSheet":
        _check_styles(name, info.file_size, limits)
    decoder = None if encoding == "utf-8" else codecs.getincrementaldecoder(encoding)("replace")
    if not scan and root is not None and root.group(1) == b"sst":
        if _TAG.match(text, root.start()) is None:
            scan = True  # its tag runs past the head: the whole part is scanned, as it would be
        else:
            _Scan(name, limits, xml=True)._examine(text, root.start(), len(text))
    return (_Scan(name, limits, xml=True) if scan else None), decoder


@lru_cache(maxsize=8)
def _screens(max_cols: int, max_rows: int) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """Regexes that match only tags worth a closer look: so a normal sheet costs two regex passes.

    A tag is passed over only in the form Excel writes, ``<c r="B12" s="3">`` with a reference too
    short to break the limits and no second r= (calamine keeps the last); anything else (a cell without
    r=, a long reference, odd spacing or quoting, a namespace prefix, <sst>, <dimension>, <table>) is a hit.
    """
    letters = 1  # fewest letters whose largest column (Z, ZZ, ZZZ...) exceeds max_cols
    while sum(26**k for k in range(1, letters + 1)) <= max_cols:
        letters += 1
    digits = 1  # fewest digits whose largest number exceeds max_rows
    while 10**digits - 1 <= max_rows:
        digits += 1
    # The rest of the tag, quote-aware like quick-xml's tokenizer: no second key r (calamine keeps the last).
    rest = rb"""[^>"'r<]*+(?:(?:"[^"<]*+"|'[^'<]*+'|r(?!\s*=))[^>"'r<]*+)*+>"""
    parts = []
    if letters > 1 and digits > 1:
        parts.append(rb'c(?! r="[A-Za-z]{1,%d}[0-9]{1,%d}"' % (letters - 1, digits - 1) + rest + rb")")
    else:
        parts.append(rb"c")
    parts.append(rb'row(?! r="[0-9]{1,%d}"' % (digits - 1) + rest + rb")" if digits > 1 else rb"row")
    parts += [rb"sst", rb"dimension", rb"table"]
    names = b"|".join(parts)
    return (re.compile(rb"<(?:" + names + rb")(?=[\s/>])"),
            re.compile(rb":(?:c|row|sst|dimension|table)(?=[\s/>])"))  # prefixed: <x:c ...>


class _Scan:
    """The far-cell, shared-string and dimension scan of one member, fed chunk by chunk.

    Each chunk is searched up to its last "<" and the rest carried over, so no tag is ever split
    (in well-formed XML a "<" never occurs inside a tag).
    """

    __slots__ = ("carry", "colon", "limits", "lt", "name", "positional", "xml")

    def __init__(self, name: str, limits: Limits, *, xml: bool) -> None:
        self.name, self.limits, self.xml = name, limits, xml
        self.lt, self.colon = _screens(limits.max_cols, limits.max_rows)
        self.carry = b""
        self.positional = False

    def feed(self, chunk: bytes) -> None:
        buf = self.carry + chunk if self.carry else chunk
        cut = buf.rfind(b"<")
        if cut <= 0:
            if len(buf) <= _MAX_RUN:
                self.carry = buf
                return
            if self.xml:  # no workbook part has megabytes without markup; a tag this long hides things
                raise _far(self.name, 0, 0, self.limits, "an XML tag or text runs over 4 MiB without markup")
            cut = len(buf) - _KEEP
        self._search(buf, cut)
        self.carry = buf[cut:]

    def finish(self) -> None:
        if self.carry:
            self._search(self.carry, len(self.carry))
            self.carry = b""

    def _search(self, buf: bytes, end: int) -> None:
        for m in self.lt.finditer(buf, 0, end):
            self._examine(buf, m.start(), end)
        for m in self.colon.finditer(buf, 0, end):
            start = buf.rfind(b"<", 0, m.start())
            qname = _QNAME.match(buf, start, end) if start >= 0 else None
            if qname is not None and qname.end() > m.start():  # the colon is in this tag's name
                self._examine(buf, start, end)

    def _examine(self, buf: bytes, start: int, end: int) -> None:
        """Judge one tag exactly, reading its attributes the way calamine does."""
        tag = _TAG.match(buf, start, end)
        if tag is None:
            if self.xml:  # a cell, row, <sst> or <dimension> tag with "<" inside or no end: not well-formed
                snippet = buf[start:min(end, start + 40)].decode("utf-8", "replace")
                raise _corrupt(f"{self.name}: malformed tag {snippet!r}")
            return  # bytes of a picture that happen to read "<c ": nothing reads them as XML
        local = tag.group(1).split(b":", 1)[-1]  # quick-xml: the local name follows the first colon
        if local not in (b"c", b"row", b"sst", b"dimension", b"table"):
            return
        attrs = _attributes(tag.group(2))
        limits = self.limits
        if local == b"c":
            refs = attrs.get(b"r")
            if not refs:
                self.positional = True
            for ref in refs or ():
                row, col = _rowcol(ref)
                _judge(self.name, row, col, limits)
        elif local == b"row":
            for ref in attrs.get(b"r", ()):
                _judge(self.name, _rowcol(ref)[0], 0, limits)
        elif local == b"sst":
            for value in attrs.get(b"count", []) + attrs.get(b"uniqueCount", []):
                n = max((int(d) for d in _DIGITS.findall(value)), default=0)
                if n > limits.max_shared_strings:
                    raise _strings(self.name, n, limits)
        else:  # <dimension ref="A1:XFD1048576">: the sheet's own claim (it can lie either way); a <table>'s
            # ref is the block python-calamine allocates for the table, whatever the sheet holds
            for value in attrs.get(b"ref", ()):
                for part in value.split(b":"):
                    row, col = _rowcol(part)
                    _judge(self.name, row, col, limits, f"(its <{local.decode()}>)")


def _attributes(raw: bytes) -> dict[bytes, list[bytes]]:
    """Attributes as calamine reads them: the key is everything up to "=", values are quoted.

    Every value of a repeated key is kept (calamine takes the last one, quick-xml the first), and
    an unquoted value is read up to the next space rather than dropped: the verdict errs on refusing.
    """
    out: dict[bytes, list[bytes]] = {}
    pos, n = 0, len(raw)
    while pos < n:
        eq = raw.find(b"=", pos)
        if eq < 0:
            break
        key = raw[pos:eq].strip()
        pos = eq + 1
        while pos < n and raw[pos] in b" \t\r\n":
            pos += 1
        quote = raw[pos:pos + 1]
        if quote in (b'"', b"'"):
            close = raw.find(quote, pos + 1)
            close = n if close < 0 else close
            value, pos = raw[pos + 1:close], close + 1
        else:
            stop = pos
            while stop < n and raw[stop] not in b" \t\r\n/":
                stop += 1
            value, pos = raw[pos:stop], stop
        out.setdefault(key.split()[-1] if key else key, []).append(value)  # "x r" → r: err on refusing
    return out


def _rowcol(ref: bytes) -> tuple[int, int]:
    """1-based (row, column) of b"XFD1048576" the way calamine reads it (letters in either case)."""
    m = _ROWCOL.match(ref)
    letters, digits = (m.group(1), m.group(2)) if m else (b"", b"")
    col = 0
    for ch in letters.upper():
        col = col * 26 + ch - 64
    return (int(digits) if digits else 0), col


def _emulate(info: _Member, raw: memoryview, transcode: bool, limits: Limits) -> None:
    """Where cells lack r=, calamine places them after their neighbours: follow its count exactly."""
    decoder = None
    state = [0, 0, 0, 0]  # row index, column index (0-based, as calamine keeps them), largest row, column
    carry = b""
    for out in _inflate(raw, info.compress_type, info.filename):
        if transcode and decoder is None:
            decoder = _head_decoder(out)
        buf = carry + (decoder.decode(out).encode("utf-8", "replace") if decoder else out)
        cut = buf.rfind(b"<")
        if cut <= 0:
            cut = len(buf) - _KEEP if len(buf) > _MAX_RUN else 0
        for m in _CELL_OR_ROW.finditer(buf, 0, cut):
            _step(m, state)
        carry = buf[cut:]
        _judge(info.filename, state[2], state[3], limits)
    for m in _CELL_OR_ROW.finditer(carry):
        _step(m, state)
    _judge(info.filename, state[2], state[3], limits)


def _step(m: re.Match[bytes], state: list[int]) -> None:
    """One <row>, </row> or <c> of calamine's cell reader (empty elements count as start and end)."""
    closing, tag, attrs = m.group(1), m.group(2), m.group(3)
    empty = attrs.endswith(b"/")
    if tag == b"row":
        if not closing:
            for ref in _attributes(attrs.rstrip(b"/")).get(b"r", ())[-1:]:
                row = _rowcol(ref)[0]
                state[0], state[2] = max(row - 1, 0), max(state[2], row)
        if closing or empty:
            state[0], state[1] = state[0] + 1, 0
    elif not closing:
        refs = _attributes(attrs.rstrip(b"/")).get(b"r")
        if refs:
            row, col = _rowcol(refs[-1])
            state[1] = max(col - 1, 0)
        else:
            row, col = state[0] + 1, state[1] + 1
        state[1] += 1
        state[2], state[3] = max(state[2], row), max(state[3], col)


def _head_decoder(head: bytes) -> codecs.IncrementalDecoder:
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return codecs.getincrementaldecoder(enc)("replace")
    for start, enc in _NO_BOM:
        if head.startswith(start):
            return codecs.getincrementaldecoder(enc)("replace")
    declared = _DECL_ENCODING.match(head)
    try:
        name = declared.group(1).decode("ascii") if declared else "utf-8"
        return codecs.getincrementaldecoder(name)("replace")
    except LookupError:
        return codecs.getincrementaldecoder("utf-8")("replace")


# ---- verdicts ---------------------------------------------------------------------------------

def _judge(name: str, rows: int, cols: int, limits: Limits, how: str = "") -> None:
    if rows > limits.max_rows or cols > limits.max_cols:
        raise _far(name, rows, cols, limits, how)


def _refuse(name: str, detail: str = "", **values: object) -> UnsafeWorkbook:
    """The catalogue's refusal ``name`` (packs/common/refusals.yaml) as the pre-check's exception.

    pipeline.refusals is imported here, on the way to a refusal: a file that passes never loads it.
    """
    from pipeline.refusals import reject

    return reject(name, UnsafeWorkbook, detail=detail, **values)  # type: ignore[return-value]


def _far(name: str, rows: int, cols: int, limits: Limits, how: str = "") -> UnsafeWorkbook:
    where = ", ".join(p for p in (f"row {rows:,}" if rows else "", f"column {cols:,}" if cols else "") if p)
    return _refuse("sheet-too-large", " ".join(part for part in (f"{name}:", where, how) if part),
                   max_rows=limits.max_rows, max_cols=limits.max_cols)


def _strings(name: str, n: int, limits: Limits) -> UnsafeWorkbook:
    return _refuse("too-many-strings", name, count=n, limit=limits.max_shared_strings)


def _check_styles(name: str, size: int, limits: Limits) -> None:
    if size > limits.max_styles_bytes:
        raise _refuse("styles-too-large", name, size=size, limit=limits.max_styles_bytes)


def _doctype(name: str, why: str = "") -> UnsafeWorkbook:
    return _refuse("xml-doctype", f"{name}: {why}" if why else name)


def _bomb(detail: str) -> UnsafeWorkbook:
    return _refuse("zip-bomb", detail)


def _corrupt(detail: str) -> UnsafeWorkbook:
    return _refuse("corrupt-zip", detail)


def _file_too_large(size: int, limits: Limits) -> UnsafeWorkbook:
    return _refuse("file-too-large", size=size, limit=limits.max_file_bytes)
