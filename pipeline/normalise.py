"""Clean raw cell values into typed values: text, integer yen, numbers, flags, dates.

Applicants type ¥12,000, 12,000円, full-width digits, 令和8年1月5日, 2026/1/5, Excel serial
numbers and half-width katakana; readers (python-calamine, openpyxl) hand back str, int, float,
bool, date, datetime or time. One function per target type; each returns None for an empty cell
and raises NormaliseError (with its kind) on junk, so a caller can turn it into a finding.

Everything here runs on every cell of every workbook: patterns are compiled once at import and
the common cases (ints, plain ASCII digits) take the short path.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from decimal import Decimal
from typing import Any, ClassVar

__all__ = [
    "NormaliseError",
    "choice_key",
    "fold_for_match",
    "strip_controls",
    "to_bool",
    "to_date",
    "to_fiscal_year",
    "to_int",
    "to_number",
    "to_text",
    "to_yen",
]

# Minus signs applicants paste in (hyphen, dashes, U+2212); NFKC already maps full-width "－" to "-".
_MINUS = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2212\ufe63"})
# isinstance against tuples: a union (bool | dt.date) is built again at every call, ~0.15 µs each time,
# and these run on every numeric cell.
_NOT_NUMBERS = (bool, dt.date, dt.time)
_DATE_OR_TIME = (dt.date, dt.time)
_NUMBERS = (int, float)
# Digits grouped by commas: Western 1,234,567 or Indian 12,34,567; anything else (1,2,3,4) is junk.
_GROUPED = r"(?:\d{1,3}(?:,\d{3})+|\d{1,2}(?:,\d{2})+,\d{3}|\d+)"
_YEN_SHAPE = re.compile(
    r"(?P<s1>[-+△▲])?(?:[¥\\]|JPY|YEN)?(?P<s2>[-+△▲])?(?P<body>[\d,.億万千]+)(?:円|JPY|YEN)?",
    re.IGNORECASE | re.ASCII,
)
_YEN_PLAIN = re.compile(rf"(?P<int>{_GROUPED})(?:\.(?P<frac>\d+))?", re.ASCII)
_YEN_UNITS = re.compile(
    rf"(?:(?P<oku>{_GROUPED}(?:\.\d+)?)億)?(?:(?P<man>{_GROUPED}(?:\.\d+)?)万)?"
    rf"(?:(?P<sen>{_GROUPED}(?:\.\d+)?)千)?(?P<rest>{_GROUPED})?", re.ASCII
)
_UNITS = re.compile(r"(?:回|人|名|ヶ月|ケ月|ヵ月|カ月|か月|箇月|月|日|泊|個|式|部|台|本|時間|往復|件|枚)$")
_NUMBER = re.compile(
    rf"(?P<sign>[-+])?(?:(?P<int>{_GROUPED})(?:\.(?P<frac>\d*))?|\.(?P<frac2>\d+))", re.ASCII
)
_SERIAL = re.compile(r"\d+(?:\.\d*)?", re.ASCII)
_WEEKDAY = re.compile(
    r"\s*\((?:[月火水木金土日](?:曜日?)?|mon|tue|wed|thu|fri|sat|sun)\.?\)\s*$", re.IGNORECASE
)
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_YMD = re.compile(
    r"(?P<y>\d{4})\s*(?:(?P<sep>[-/.])\s*(?P<m>\d{1,2})\s*(?P=sep)\s*(?P<d>\d{1,2})"
    r"|年\s*(?P<mj>\d{1,2})\s*月\s*(?P<dj>\d{1,2})\s*日?)" + _TIME,
    re.ASCII,
)
_COMPACT_YMD = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
_ERA = re.compile(
    r"(?P<era>明治|大正|昭和|平成|令和|[MTSHR])\.?\s*(?P<n>元|\d{1,4})\s*"
    r"(?:(?P<sep>[-/.])\s*(?P<m>\d{1,2})\s*(?P=sep)\s*(?P<d>\d{1,2})"
    r"|年\s*(?P<mj>\d{1,2})\s*月\s*(?P<dj>\d{1,2})\s*日?)",
    re.IGNORECASE | re.ASCII,
)
_ERA_START = {"明治": 1868, "M": 1868, "大正": 1912, "T": 1912, "昭和": 1926, "S": 1926,
              "平成": 1989, "H": 1989, "令和": 2019, "R": 2019}
_TRUE = frozenset({"true", "yes", "y", "1", "はい", "有", "有り", "あり", "ある", "○", "◯", "〇",
                   "✓", "✔", "☑", "該当", "該当する", "該当あり", "する"})
_FALSE = frozenset({"false", "no", "n", "0", "いいえ", "無", "無し", "なし", "ない", "×", "✕", "✖", "☐",
                    "非該当", "該当しない", "該当なし", "しない"})
_BOOL_SPLIT = re.compile(r"[\s/()・:|,、]+")
# fold_for_match in one str.translate: hiragana (and ゝゞ) -> katakana; whitespace, punctuation -> gone.
_FOLD = {c: c + 0x60 for c in range(0x3041, 0x3097)} | {0x309D: 0x30FD, 0x309E: 0x30FE}
_FOLD |= {ord(c): None for c in "・·.,、。-_/()（）[]「」\u2010\u2011\u2012\u2013\u2212"}
# Every character up to U+3000 that str.isspace() accepts (tests/test_normalise.py checks the list): spelled
# out, not found by testing 12,289 characters at every start-up (~1.5 ms of `shinsei validate` on a slow machine).
_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
               "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_FOLD |= {ord(c): None for c in _WHITESPACE}
# Characters no cell of a form should hold and PostgreSQL refuses in text (NUL), or that no encoder can
# write (lone surrogates, which Excel's _xD800_ escape can produce): C0 controls other than whitespace, DEL.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff]")
_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 61 = 1900-03-01; Excel counts a fictitious 1900-02-29 as 60
_EXCEL_JAN0 = dt.date(1899, 12, 31)  # serials 1..59 (1900-01-01..1900-02-28)
_EXCEL_1904 = dt.date(1904, 1, 1)
_SERIAL_MAX = 2958465  # 9999-12-31 in the 1900 system
_SERIAL_MAX_1904 = _SERIAL_MAX - 1462


class NormaliseError(ValueError):
    """A value that cannot be read as the type its cell expects: `kind` names the type, `value` the input."""

    _NAMES: ClassVar[dict[str, tuple[str, str]]] = {
        "text": ("文字列", "text"), "yen": ("金額", "an amount"), "date": ("日付", "a date"),
        "number": ("数値", "a number"), "int": ("整数", "a whole number"), "bool": ("はい／いいえ", "yes/no"),
        "fiscal_year": ("年度", "a fiscal year"),
    }

    def __init__(self, kind: str, value: object) -> None:
        self.kind = kind
        self.value = value
        ja, en = self._NAMES.get(kind, (kind, kind))
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{ja}として読めません / not {en}: {shown}")

    def __reduce__(self) -> tuple[type[NormaliseError], tuple[str, object]]:
        # Workers run in other processes: rebuild from (kind, value), not from the message.
        return type(self), (self.kind, self.value)


def strip_controls(text: str) -> str:
    """``text`` without control characters (NUL, _x0001_ …) and lone surrogates; the rest untouched."""
    return _CONTROLS.sub("", text) if _CONTROLS.search(text) else text


def _clean(text: str) -> str:
    """NFKC, control characters removed, every whitespace run (U+3000, NBSP, tabs, newlines) as one space."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", strip_controls(text))
    elif not text.isprintable():
        text = strip_controls(text)
    return " ".join(text.split())


def _compact(text: str) -> str:
    """A numeric string's characters only: NFKC, no whitespace at all, every minus sign as '-'."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_MINUS)
    return "".join(text.split())


def to_text(value: Any) -> str | None:
    """Readable text: NFKC (full-width ASCII and half-width kana folded), one space between words.

    Integral floats print without ".0" (Excel hands back 12.0 for a typed 12); dates print ISO 8601,
    a datetime at midnight as its date alone; booleans as TRUE/FALSE, as Excel shows them.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _clean(value) or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time() and value.tzinfo is None:
        return value.date().isoformat()
    if isinstance(value, _DATE_OR_TIME):
        return value.isoformat()
    return _clean(str(value)) or None


def _yen_units(body: str, value: Any) -> int:
    """'15万', '1.5万', '12万3000', '1億2000万', '12,000千' (a 千円-unit figure) as integer yen."""
    m = _YEN_UNITS.fullmatch(body)
    if not m or not any(m.group(u) for u in ("oku", "man", "sen")):
        raise NormaliseError("yen", value)
    scales = (("oku", 10**8), ("man", 10**4), ("sen", 10**3), ("rest", 1))
    present = [(m.group(u), scale) for u, scale in scales if m.group(u)]
    total = Decimal(0)
    for i, (part, scale) in enumerate(present):
        if "." in part and i:  # only the leading figure may be fractional: 1.5万, not 1万2.5千
            raise NormaliseError("yen", value)
        n = Decimal(part.replace(",", ""))
        if i and n >= present[i - 1][1] // scale:  # 12万3000 yes, 12万30000 no
            raise NormaliseError("yen", value)
        total += n * scale
    if total != total.to_integral_value():
        raise NormaliseError("yen", value)
    return int(total)


def to_yen(value: Any) -> int | None:
    """Integer yen from 12000, 12000.0, '¥12,000', '１２，０００円', 'JPY 12,000', '△5,000', '1.5万円'.

    Money is never fractional: 12.5 and '12.5' raise. '12.000' raises too (a European 12000?).
    """
    if value.__class__ is float:  # a number cell, as the reader hands it back: the usual case, tested first
        if math.isfinite(value) and abs(value - round(value)) <= 1e-6:
            return round(value)
        raise NormaliseError("yen", value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise NormaliseError("yen", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and abs(value - round(value)) <= 1e-6:
            return round(value)
        raise NormaliseError("yen", value)
    if isinstance(value, _DATE_OR_TIME):
        raise NormaliseError("yen", value)
    text = _compact(str(value))
    if not text:
        return None
    m = _YEN_SHAPE.fullmatch(text)
    if not m or (m.group("s1") and m.group("s2")):
        raise NormaliseError("yen", value)
    negative = (m.group("s1") or m.group("s2") or "+") in "-△▲"
    body = m.group("body")
    plain = _YEN_PLAIN.fullmatch(body)
    if plain:
        whole, frac = plain.group("int"), plain.group("frac")
        if frac is not None and (frac.strip("0") or (len(frac) == 3 and len(whole) <= 3)):
            raise NormaliseError("yen", value)
        try:
            amount = int(whole.replace(",", ""))
        except ValueError as exc:  # beyond int's digit limit
            raise NormaliseError("yen", value) from exc
    else:
        amount = _yen_units(body, value)
    return -amount if negative else amount


def _numeric(value: Any, kind: str) -> str | None:
    """A numeric string (any width, commas, a trailing unit such as 回, 泊, か月) as plain '-1234.5'."""
    text = _compact(str(value))
    if not text:
        return None
    if not text[-1].isdigit():
        text = _UNITS.sub("", text, count=1)
    m = _NUMBER.fullmatch(text)
    if not m:
        raise NormaliseError(kind, value)
    digits = (m.group("int") or "0").replace(",", "")
    return f"{m.group('sign') or ''}{digits}.{m.group('frac') or m.group('frac2') or '0'}"


def to_number(value: Any) -> float | None:
    """A quantity (2.5 months): digits in any width, commas, a trailing unit such as 回, 人, 泊, か月."""
    if value.__class__ is float and math.isfinite(value):  # a number cell: the usual case, tested first
        return value
    if value is None or value == "":
        return None
    if isinstance(value, _NOT_NUMBERS):
        raise NormaliseError("number", value)
    if isinstance(value, _NUMBERS):
        try:
            n = float(value)
        except OverflowError as exc:
            raise NormaliseError("number", value) from exc
    else:
        text = _numeric(value, "number")
        if text is None:
            return None
        n = float(text)
    if not math.isfinite(n):
        raise NormaliseError("number", value)
    return n


def to_int(value: Any) -> int | None:
    """A whole count: what to_number reads, but 2.5 raises (a float within 1e-9 of an integer is fine)."""
    if value.__class__ is float:  # a number cell, as the reader hands it back: the usual case, tested first
        if math.isfinite(value) and abs(value - round(value)) <= 1e-9:
            return round(value)
        raise NormaliseError("int", value)
    if value is None or value == "":
        return None
    if isinstance(value, _NOT_NUMBERS):
        raise NormaliseError("int", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and abs(value - round(value)) <= 1e-9:
            return round(value)
        raise NormaliseError("int", value)
    text = _numeric(value, "int")
    if text is None:
        return None
    d = Decimal(text)
    if d != d.to_integral_value():
        raise NormaliseError("int", value)
    return int(d)


_FY_WESTERN = re.compile(r"(?:FY)?(?P<y>\d+)(?:年度|年)?", re.IGNORECASE)
_FY_ERA = re.compile(r"(?P<era>明治|大正|昭和|平成|令和|[MTSHR])\.?(?P<n>元|\d{1,2})(?:年度|年)?", re.IGNORECASE)


def to_fiscal_year(value: Any) -> int | None:
    """A fiscal year as people write it: 2026, 2026年度, ２０２６年度, FY2026, 令和8年度, R8, 令和元年度.

    Returns the (Western) year the fiscal year starts in; digits alone come back as they are, so an
    absurd figure is refused by the field's range, not here. Anything else raises.
    """
    if value is None or value == "":
        return None
    if isinstance(value, _NOT_NUMBERS):
        raise NormaliseError("fiscal_year", value)
    if isinstance(value, _NUMBERS):
        try:
            return to_int(value)
        except NormaliseError as exc:
            raise NormaliseError("fiscal_year", value) from exc
    text = _compact(str(value))
    if not text:
        return None
    m = _FY_WESTERN.fullmatch(text)
    if m and m.group("y").isascii():
        digits = m.group("y")
        return int(digits) if len(digits) <= 18 else 10**18  # beyond any range, without int()'s digit limit
    m = _FY_ERA.fullmatch(text)
    if m:
        era = m.group("era")
        n = 1 if m.group("n") == "元" else int(m.group("n"))
        if n >= 1:
            return _ERA_START[era.upper() if len(era) == 1 else era] + n - 1
    raise NormaliseError("fiscal_year", value)


def _flag(token: str) -> bool | None:
    if token in _TRUE:
        return True
    if token in _FALSE:
        return False
    return None


def to_bool(value: Any) -> bool | None:
    """はい/いいえ, 有/無, あり/なし, yes/no, ○/×, 該当/非該当, 1/0, and bilingual labels such as 'はい Yes'.

    A label of several words must agree throughout: 'はい Yes' is True, 'はい No' and 'はい maybe' raise.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, _NUMBERS) and not isinstance(value, bool):
        if value in (0, 1):
            return bool(value)
        raise NormaliseError("bool", value)
    text = _clean(str(value)).casefold()
    if not text:
        return None
    flag = _flag(text)
    if flag is not None:
        return flag
    flags = {_flag(t) for t in _BOOL_SPLIT.split(text) if t}
    if len(flags) == 1 and None not in flags:
        return flags.pop()
    raise NormaliseError("bool", value)


def _serial(n: float, date1904: bool) -> dt.date:
    """An Excel serial day number as a date (its time-of-day fraction dropped)."""
    if date1904:
        if not 0 <= n <= _SERIAL_MAX_1904:
            raise ValueError(n)
        return _EXCEL_1904 + dt.timedelta(days=int(n))
    if not 1 <= n <= _SERIAL_MAX:
        raise ValueError(n)
    day = int(n)
    if day >= 61:
        return _EXCEL_EPOCH + dt.timedelta(days=day)
    if day == 60:  # Excel's 1900-02-29, a day that never was
        raise ValueError(n)
    return _EXCEL_JAN0 + dt.timedelta(days=day)


def _ymd(year: int, m: re.Match[str]) -> dt.date:
    """The date a _YMD or _ERA match names (month and day sit in m/d or, after 年, in mj/dj)."""
    return dt.date(year, int(m.group("m") or m.group("mj")), int(m.group("d") or m.group("dj")))


def _text_date(text: str, date1904: bool) -> dt.date:
    """A date typed as text: serial, ISO, Y/M/D, Y.M.D, Y年M月D日, YYYYMMDD, or a Japanese era date."""
    if _SERIAL.fullmatch(text):
        if len(text) == 8 and text.isdigit():  # 20260105: too big for a serial, so a compact date
            m = _COMPACT_YMD.fullmatch(text)
            assert m is not None
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return _serial(float(text), date1904)
    m = _YMD.fullmatch(text)
    if m:
        return _ymd(int(m.group("y")), m)
    m = _ERA.fullmatch(text)
    if m:
        era = m.group("era")
        year = 1 if m.group("n") == "元" else int(m.group("n"))
        if year < 1:
            raise ValueError(text)
        start = _ERA_START[era.upper() if len(era) == 1 else era]
        return _ymd(start + year - 1, m)
    raise ValueError(text)


def to_date(value: Any, *, date1904: bool = False) -> dt.date | None:
    """A calendar date from a date, an Excel serial, ISO or slashed text, 年月日 or a Japanese era.

    A datetime gives its date; an impossible date (2026/2/30, Excel's serial 60) raises.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        if isinstance(value, (bool, dt.time)):
            raise ValueError(value)
        if isinstance(value, _NUMBERS):
            return _serial(float(value), date1904)
        text = _WEEKDAY.sub("", _clean(str(value)))
        if not text:
            return None
        return _text_date(text, date1904)
    except (ValueError, OverflowError) as exc:
        raise NormaliseError("date", value) from exc


def fold_for_match(text: str) -> str:
    """A key for comparing labels and codes: NFKC, casefold, hiragana as katakana, no spaces/punctuation."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold().translate(_FOLD)
    if not folded.isascii():  # 'A´' -> 'a \u0301' -> 'a\u0301': compose again so the key is stable
        folded = unicodedata.normalize("NFKC", folded).translate(_FOLD)
    return folded


choice_key = fold_for_match
