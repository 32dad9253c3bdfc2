"""Text written into spreadsheets and CSV must never run as a formula (formula injection).

A value that starts with = + - @ (or a tab / carriage return that some readers strip) is
prefixed with an apostrophe, the convention spreadsheets show as plain text.
"""

from __future__ import annotations

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# How a CSV the product writes ends its lines: CRLF, as RFC 4180 and Excel. Python's writer (3.11) quotes a
# field holding a lone CR only when the line end holds one; unquoted, it would end the row for every reader.
CSV_LINE_END = "\r\n"


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value
