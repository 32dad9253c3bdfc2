"""Data rows of a streamed (constant_memory) xlsxwriter sheet, each serialised as one string.

review.xlsx holds a few hundred cells per submission; xlsxwriter builds a tuple, an attribute list and
several writes for each cell (about 7 µs), which made the workbook the largest cost of an ingest after
the files themselves. A row of plain values (text, numbers, booleans in the column's own format) is
simple XML: this worksheet writes it in one go (about 1 µs a cell) into the same buffer xlsxwriter's
constant_memory mode uses, and leaves everything else (header, formats, filters, validation, print
setup, charts, the assembly of the file) to xlsxwriter. tests/test_review_rows.py checks the XML is
the same as xlsxwriter's own, cell for cell, so a change in xlsxwriter's internals shows there.

It also closes a hole: in constant_memory mode xlsxwriter writes a string that starts with ``<r>`` and
ends with ``</r>`` into the sheet unescaped (as a rich string), so an applicant's text could inject XML,
formulas included, into the reviewers' workbook. Here every text is escaped.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Sequence
from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

MAX_STRING = 32_767  # Excel's longest cell text, in UTF-16 units
_TEXTS_KEPT = 4096       # texts whose XML a sheet keeps (see RowWorksheet.column_formats) ...
_TEXT_KEPT_LENGTH = 128  # ... of those this short (over 1,000 submissions, 99% of the repeats), the rest seldom twice
_EXACT = 2**53      # integers below this in size are floats exactly: %.16G writes their digits as str() does
# What a text needs besides plain copying: XML escapes, Excel's _xHHHH_ escapes (of control characters and
# of such sequences typed literally), non-characters, and whitespace at either end (xml:space="preserve").
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s\Z")
_ESCAPED = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")


def _text_xml(text: str) -> str:
    """``<t>…</t>`` of an inline string, escaped as xlsxwriter escapes it."""
    if len(text) > MAX_STRING // 2 and len(text.encode("utf-16-le")) > 2 * MAX_STRING:
        text = text.encode("utf-16-le")[:2 * MAX_STRING].decode("utf-16-le", "ignore")
    if not _SPECIAL.search(text):
        return f"<t>{text}</t>"
    text = _ESCAPED.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    preserve = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<t{preserve}>{text}</t>"


class RowWorksheet(Worksheet):
    """A worksheet (``Workbook.add_worksheet(name, worksheet_class=RowWorksheet)``) with ``write_values``."""

    def _write_optimized_sheet_data(self) -> None:
        """xlsxwriter's, with the buffered rows copied into the sheet's XML as bytes.

        Its own copy reads them back as text and writes them again, decoding and encoding every byte of the
        sheet: ~60 ms for 1,000 submissions' 12 MB, in the review.xlsx child whose last step the ingest waits
        for. The buffer is UTF-8 (xlsxwriter opens it so) and holds no carriage return (a text's is written
        _x000D_), so the bytes are those the text copy writes: where text files end lines with "\n" (a text
        buffer on Windows would hold "\r\n" that reading it back as text turns into "\n"). Any other writer or
        platform: xlsxwriter's own copy."""
        target = getattr(self.fh, "buffer", None)
        if (self.dim_rowmin is None or target is None or os.linesep != "\n"
                or getattr(self.row_data_fh, "encoding", "") != "utf-8"):
            super()._write_optimized_sheet_data()
            return
        self._xml_start_tag("sheetData")
        self.row_data_fh.flush()  # the last row, written by the packager just before
        self.fh.flush()           # the sheet's head, before the rows go under it
        with open(self.row_data_filename, "rb") as rows:
            shutil.copyfileobj(rows, target, 1 << 20)
        self.row_data_fh.close()
        os.unlink(self.row_data_filename)
        self._xml_end_tag("sheetData")

    def column_formats(self, formats: Sequence[Format | None]) -> None:
        """The format of each column's cells, as given to ``set_column`` (their ``s`` attribute)."""
        self._row_formats = list(formats)
        self._row_styles: list[str] | None = None  # numbered at the first row, in the order xlsxwriter would
        self._row_letters = [xl_col_to_name(c) for c in range(len(formats))]
        # Each short text's XML, kept for the texts that repeat down a sheet (programme, file, institution,
        # category, verdict ...): at most _TEXTS_KEPT of them, so memory stays flat whatever the rows.
        self._row_texts: dict[str, str] = {}

    def write_values(self, row: int, values: Sequence[Any], height: float | None = None) -> None:
        """Row ``row`` (0-based, below every row written so far) of ``values`` by column; None leaves a cell
        empty. Text, int, float and bool only; ``height`` in points, as ``set_row`` takes it."""
        if not self.constant_memory or row <= self.previous_row:
            raise ValueError("write_values: constant_memory mode, each row below the last one written")
        cells = [c for c, v in enumerate(values) if v is not None]
        if not cells or self._check_dimensions(row, cells[0]) or self._check_dimensions(row, cells[-1]):
            return
        self._write_single_row(row)  # the row xlsxwriter may still hold (the header), as its next write would
        n = row + 1
        if self._row_styles is None:
            self._row_styles = [f' s="{f._get_xf_index()}"' if f is not None and f._get_xf_index() else ""
                                for f in self._row_formats]
        styles, letters, texts = self._row_styles, self._row_letters, self._row_texts
        parts = [f'<row r="{n}">' if height is None else
                 f'<row r="{n}" ht="{int(height * 4.0 / 3.0 + 0.5) * 0.75:.16g}" customHeight="1">']
        for c in cells:
            value = values[c]
            if isinstance(value, str):
                xml = texts.get(value)
                if xml is None:
                    xml = _text_xml(value)
                    if len(value) <= _TEXT_KEPT_LENGTH and len(texts) < _TEXTS_KEPT:
                        texts[value] = xml
                parts.append(f'<c r="{letters[c]}{n}"{styles[c]} t="inlineStr"><is>{xml}</is></c>')
            elif type(value) is int and -_EXACT < value < _EXACT:  # what %.16G writes, without a float between
                parts.append(f'<c r="{letters[c]}{n}"{styles[c]}><v>{value}</v></c>')
            elif isinstance(value, bool):
                parts.append(f'<c r="{letters[c]}{n}"{styles[c]} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float) and math.isfinite(value):
                parts.append(f'<c r="{letters[c]}{n}"{styles[c]}><v>{value:.16G}</v></c>')
            else:
                raise TypeError(f"write_values: {type(value).__name__} in column {c}")
        parts.append("</row>")
        self.fh.write("".join(parts))
