"""Cheap checks on an untrusted workbook before any parser sees it.

A few KB can kill a reader: cells at A1 and XFD1048576 or a shared-strings count of 2^32-1
make python-calamine abort the process; a styles bomb costs openpyxl minutes and gigabytes;
DOCTYPE/ENTITY declarations invite entity expansion. This module reads only the zip's
directory and the first bytes of a few members (well under a millisecond for a normal file).
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_WIDE_REF = re.compile(rb' r="([A-Z]{3})[0-9]')  # only three-letter columns (AAA = 703 on) can pass the limit
_ROW_REF = re.compile(rb'<(?:\w+:)?row [^>]*?r="([0-9]{1,7})"')
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s[^>]*?ref="[A-Z]{0,3}[0-9]{0,7}:?([A-Z]{1,3})([0-9]{1,7})"')
_SST_COUNT = re.compile(rb'(?:count|uniqueCount)="([0-9]+)"')
_DOCTYPE = ("<!doctype", "<!entity")


class WorkbookRejected(Exception):
    """A file the engine will not parse, with a stable code and a bilingual reason."""

    code = "rejected"
    message_ja = ""
    message_en = ""
    detail = ""

    def __init__(self, code: str, message_ja: str, message_en: str, detail: str = "") -> None:
        self.code, self.message_ja, self.message_en, self.detail = code, message_ja, message_en, detail
        super().__init__(f"{message_ja} / {message_en}" + (f" ({detail})" if detail else ""))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message_ja, self.message_en, self.detail))


class UnsafeWorkbook(WorkbookRejected):
    """The pre-check refused the file."""


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 20 * 1024**2
    max_members: int = 2000
    max_total_uncompressed: int = 200 * 1024**2
    max_member_uncompressed: int = 100 * 1024**2
    max_ratio: int = 200
    max_shared_strings: int = 1_000_000
    max_rows: int = 100_000
    max_cols: int = 1_000
    max_styles_bytes: int = 5 * 1024**2


DEFAULT_LIMITS = Limits()


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _decoded_head(data: bytes) -> str:
    """The first bytes of an XML member as text, whatever its encoding (UTF-8/16/32, with or without BOM)."""
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                     (b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(enc, "ignore")
    if data[:4] == b"<\x00\x00\x00":
        return data.decode("utf-32-le", "ignore")
    if data[:4] == b"\x00\x00\x00<":
        return data.decode("utf-32-be", "ignore")
    if data[:2] == b"<\x00":
        return data.decode("utf-16-le", "ignore")
    if data[:2] == b"\x00<":
        return data.decode("utf-16-be", "ignore")
    return data.decode("utf-8", "ignore")


def _reject(code: str, ja: str, en: str, detail: str = "") -> UnsafeWorkbook:
    return UnsafeWorkbook(code, ja, en, detail)


def precheck(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise UnsafeWorkbook unless ``path`` looks like a workbook that is safe to parse."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise _reject("file-too-large", f"ファイルが大きすぎます（{size:,} バイト、上限 {limits.max_file_bytes:,}）",
                      f"the file is too large ({size:,} bytes; limit {limits.max_file_bytes:,})")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(OLE2_MAGIC):
        raise _reject("encrypted-or-xls",
                      "暗号化されたブック、または旧形式 .xls です。パスワードを外し .xlsx で保存し直してください",
                      "the workbook is password-protected or in the old .xls format: remove the password and "
                      "save it as .xlsx")
    if not head.startswith(b"PK"):
        raise _reject("not-a-zip", "Excelブック（.xlsx/.xlsm）ではありません。Excelで開いて .xlsx で保存してください",
                      "this is not an Excel workbook (.xlsx/.xlsm): open it in Excel and save it as .xlsx")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_directory(infos, limits)
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                raise _reject("not-a-workbook", "Excelブックの構造がありません（xl/workbook.xml がない）",
                              "the file is a zip but not an Excel workbook (no xl/workbook.xml)")
            for info in infos:
                if _parsed(info.filename):
                    _check_xml_member(zf, info, limits)
    except zipfile.BadZipFile as exc:
        raise _reject("corrupt-zip", "ファイルが壊れています（zipとして読めません）",
                      "the file is damaged (not a readable zip)", str(exc)) from exc


def _parsed(name: str) -> bool:
    """Members whose XML a DTD-processing parser reads (ElementTree: workbook.xml; openpyxl: sheets,
    strings, styles). python-calamine's quick-xml never expands entities; themes and document
    properties are never parsed as XML at all."""
    return name.endswith(".xml") and not name.startswith("xl/worksheets/_rels/") and name.startswith(
        ("xl/workbook.xml", "xl/worksheets/", "xl/sharedStrings", "xl/styles", "[Content_Types]"))


def _check_directory(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_members:
        raise _reject("too-many-members", f"ブックの部品が多すぎます（{len(infos)}）",
                      f"the workbook has too many parts ({len(infos)})")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limits.max_member_uncompressed:
            raise _reject("zip-bomb", "展開すると大きすぎる部品があります", "a part of the workbook expands too much",
                          f"{info.filename}: {info.file_size:,} bytes")
        if info.file_size > 1024**2 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _reject("zip-bomb", "圧縮率が異常な部品があります（zip爆弾の疑い）",
                          "a part of the workbook has an abnormal compression ratio (zip bomb)",
                          f"{info.filename}: {info.file_size:,} / {info.compress_size:,}")
        if info.filename.endswith("styles.xml") and info.file_size > limits.max_styles_bytes:
            raise _reject("styles-too-large", "書式情報（styles.xml）が大きすぎます",
                          "the workbook's style part is too large", f"{info.file_size:,} bytes")
    if total > limits.max_total_uncompressed:
        raise _reject("zip-bomb", "展開後の合計サイズが大きすぎます", "the workbook expands to too much data",
                      f"{total:,} bytes")


def _check_xml_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> None:
    with zf.open(info) as fh:
        first = fh.read(2048)
        text = _decoded_head(first).lower()
        if any(marker in text for marker in _DOCTYPE):
            raise _reject("xml-doctype", "ブックにDOCTYPE/ENTITY宣言が含まれています（安全のため読みません）",
                          "the workbook contains DOCTYPE/ENTITY declarations (refused for safety)", info.filename)
        name = info.filename
        if name == "xl/sharedStrings.xml":
            for m in _SST_COUNT.finditer(first):
                if int(m.group(1)) > limits.max_shared_strings:
                    raise _reject("too-many-strings", "共有文字列の数が異常です", "abnormal shared-string count",
                                  m.group(1).decode())
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            _check_sheet(fh, first, name, limits)


def _check_sheet(fh: object, first: bytes, name: str, limits: Limits) -> None:
    """Largest row and column referenced anywhere in the sheet (the <dimension> can lie)."""
    m = _DIMENSION.search(first)
    if m:
        _judge(_column_number(m.group(1)), int(m.group(2)), name, limits)
    tail = b""
    chunk = first
    while chunk:
        data = tail + chunk
        rows = _ROW_REF.findall(data)
        max_row = int(rows[-1]) if rows else 0  # rows are written in order
        max_col = max((_column_number(c) for c in _WIDE_REF.findall(data)), default=0)
        _judge(max_col, max_row, name, limits)
        tail = data[-64:]
        chunk = fh.read(1 << 20)  # type: ignore[attr-defined]


def _judge(cols: int, rows: int, name: str, limits: Limits) -> None:
    if rows > limits.max_rows or cols > limits.max_cols:
        raise _reject("sheet-too-large",
                      f"シートの範囲が大きすぎます（{rows:,}行 × {cols:,}列）。"
                      "不要な書式や遠くのセルを削除してください",
                      f"a sheet spans too far ({rows:,} rows x {cols:,} columns): delete stray far-away cells "
                      "or formatting", name)
