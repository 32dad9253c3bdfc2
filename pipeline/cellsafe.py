"""Text written into spreadsheets and CSV must never run as a formula (formula injection).

A value that starts with = + - @ (or a tab / carriage return that some readers strip) is
prefixed with an apostrophe, the convention spreadsheets show as plain text.
"""

from __future__ import annotations

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value
