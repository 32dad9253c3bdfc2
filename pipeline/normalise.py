"""Clean raw cell values into typed values: text, integer yen, numbers, flags, dates.

Applicants type ¥12,000, 12,000円, full-width digits, 令和8年1月5日, 2026/1/5, Excel serial
numbers and half-width katakana; readers hand back str, int, float, date or datetime. One
function per target type, each raising NormaliseError (with its kind) on junk.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any, ClassVar

_SPACE = re.compile(r"\s+")
_YEN_STRIP = re.compile(r"^(?:JPY|YEN)\s*|[¥￥\\]|円$|\s*(?:JPY|YEN)$", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+(?:\.0+)?$")
_MAN = re.compile(r"^(\d+(?:\.\d+)?)万(?:(\d+)千)?(\d*)$")
_UNITS = re.compile(r"(?:回|人|名|ヶ月|か月|カ月|ケ月|箇月|月|日|泊|個|式|部|台|本|時間|往復|件|枚)$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_WEEKDAY = re.compile(r"[(（][月火水木金土日](?:曜日?)?[)）]\s*$")
_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                  r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_ERA = re.compile(r"^(明治|大正|昭和|平成|令和|[MTSHR])\.?\s*(元|\d{1,2})\s*[年./-]\s*"
                  r"(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$", re.IGNORECASE)
_ERA_START = {"明治": 1868, "M": 1868, "大正": 1912, "T": 1912, "昭和": 1926, "S": 1926, "平成": 1989, "H": 1989,
              "令和": 2019, "R": 2019}
_TRUE = {"true", "yes", "y", "1", "はい", "有", "あり", "○", "◯", "該当", "該当する", "する"}
_FALSE = {"false", "no", "n", "0", "いいえ", "無", "なし", "×", "✕", "非該当", "該当しない", "しない"}
_FOLD_DROP = str.maketrans("", "", " \t\r\n・·.,、。-_/()（）[]「」")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_1904 = dt.date(1904, 1, 1)


class NormaliseError(ValueError):
    """A value that cannot be read as the type its cell expects."""

    _NAMES: ClassVar[dict[str, tuple[str, str]]] = {
        "text": ("文字列", "text"), "yen": ("金額", "an amount"), "date": ("日付", "a date"),
        "number": ("数値", "a number"), "int": ("整数", "a whole number"), "bool": ("はい／いいえ", "yes/no"),
    }

    def __init__(self, kind: str, value: object) -> None:
        self.kind = kind
        self.value = value
        ja, en = self._NAMES.get(kind, (kind, kind))
        super().__init__(f"{ja}として読めません / not {en}: {value!r}")


def _nfkc(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def to_text(value: Any) -> str | None:
    """Readable text: NFKC (full-width ASCII and half-width kana folded), one space between words."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date() if value.time() == dt.time() else value
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    text = _nfkc(str(value))
    return text or None


def to_yen(value: Any) -> int | None:
    """Integer yen from 12000, 12000.0, '¥12,000', '１２，０００円', '△5,000', '1.5万円'."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise NormaliseError("yen", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if abs(value - round(value)) < 1e-6:
            return round(value)
        raise NormaliseError("yen", value)
    text = _nfkc(str(value)).replace(",", "").replace(" ", "")
    if not text:
        return None
    sign = 1
    if text[0] in "△▲":
        sign, text = -1, text[1:]
    text = _YEN_STRIP.sub("", text)
    text = _YEN_STRIP.sub("", text)
    if text.startswith("-"):
        sign, text = -sign, text[1:]
    if _INT.match(text):
        return sign * int(text.split(".")[0])
    m = _MAN.match(text)
    if m:
        man = float(m.group(1)) * 10_000
        if abs(man - round(man)) > 1e-6:
            raise NormaliseError("yen", value)
        sen = int(m.group(2) or 0) * 1_000
        rest = int(m.group(3) or 0)
        return sign * (round(man) + sen + rest)
    raise NormaliseError("yen", value)


def to_number(value: Any) -> float | None:
    """A quantity (2.5 months): digits in any width, commas, a trailing unit such as 回, 泊, か月."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise NormaliseError("number", value)
    if isinstance(value, int | float):
        return float(value)
    text = _nfkc(str(value)).replace(",", "").replace(" ", "")
    if not text:
        return None
    text = _UNITS.sub("", text)
    if _NUMBER.match(text):
        return float(text)
    raise NormaliseError("number", value)


def to_int(value: Any) -> int | None:
    try:
        n = to_number(value)
    except NormaliseError as exc:
        raise NormaliseError("int", value) from exc
    if n is None:
        return None
    if abs(n - round(n)) > 1e-9:
        raise NormaliseError("int", value)
    return round(n)


def to_bool(value: Any) -> bool | None:
    """はい/いいえ, 有/無, yes/no, ○/×, 1/0 and dropdown labels such as 'はい Yes'."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = _nfkc(str(value)).casefold()
    for candidate in (text, text.split(" ")[0]):
        if candidate in _TRUE:
            return True
        if candidate in _FALSE:
            return False
    raise NormaliseError("bool", value)


def _serial(n: float, date1904: bool) -> dt.date:
    if date1904:
        if not 0 <= n <= 2957003:
            raise ValueError(n)
        return _EXCEL_1904 + dt.timedelta(days=int(n))
    if not 1 <= n <= 2958465:
        raise ValueError(n)
    if n < 61:  # Excel's fictitious 1900-02-29 (serial 60) shifts the first two months by one day
        if int(n) == 60:
            raise ValueError(n)
        return dt.date(1899, 12, 31) + dt.timedelta(days=int(n))
    return _EXCEL_EPOCH + dt.timedelta(days=int(n))


def to_date(value: Any, *, date1904: bool = False) -> dt.date | None:
    """A calendar date from a date, an Excel serial, ISO or slashed text, 年月日 or a Japanese era."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int | float):
            return _serial(float(value), date1904)
        text = _WEEKDAY.sub("", _nfkc(str(value))).strip()
        if not text:
            return None
        if _NUMBER.match(text):
            return _serial(float(text), date1904)
        m = _YMD.match(text)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _ERA.match(text)
        if m:
            era = m.group(1).upper() if len(m.group(1)) == 1 else m.group(1)
            year = 1 if m.group(2) == "元" else int(m.group(2))
            return dt.date(_ERA_START[era] + year - 1, int(m.group(3)), int(m.group(4)))
    except (ValueError, OverflowError) as exc:
        raise NormaliseError("date", value) from exc
    raise NormaliseError("date", value)


def fold_for_match(text: str) -> str:
    """A key for comparing labels and codes: NFKC, casefold, hiragana as katakana, no spaces or punctuation."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    folded = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in folded)
    return folded.translate(_FOLD_DROP)


choice_key = fold_for_match
