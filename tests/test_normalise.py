"""pipeline.normalise: every accepted spelling of each type, junk raising with its kind, and properties."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pipeline.normalise import (
    NormaliseError,
    choice_key,
    fold_for_match,
    to_bool,
    to_date,
    to_int,
    to_number,
    to_text,
    to_yen,
)

_FULL_WIDTH = str.maketrans("0123456789-,", "０１２３４５６７８９－，")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_HALF_KANA = "ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ"
_FULL_KANA = ("ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテト"
              "ナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン")
_VOICED = {"ｶﾞ": "ガ", "ｻﾞ": "ザ", "ﾀﾞ": "ダ", "ﾊﾞ": "バ", "ﾊﾟ": "パ", "ｳﾞ": "ヴ", "ﾎﾟ": "ポ"}


def _raises(fn, value, kind: str) -> NormaliseError:
    with pytest.raises(NormaliseError) as info:
        fn(value)
    assert info.value.kind == kind
    assert info.value.value is value
    return info.value


# --- NormaliseError ----------------------------------------------------------------------------------------


def test_the_whitespace_folded_away_is_every_space_python_knows_below_u3001() -> None:
    from pipeline.normalise import _WHITESPACE

    assert sorted(_WHITESPACE) == [chr(i) for i in range(0x3001) if chr(i).isspace()]
    assert fold_for_match("\u3000観\u2003光 \x85ツアー\t") == "観光ツアー"


def test_the_kanji_pattern_is_compiled_only_when_a_lexicon_is_built(tmp_path: Path) -> None:
    """Its wide ranges cost ~5 ms to compile: a process that finds every lexicon in the cache never compiles it."""
    code = ("import pipeline.validate as v, pipeline.eligibility.readings as r; v.warm_up();"
            "print(r._kanji.cache_info().currsize, r.has_kanji('観光'), r.has_kanji('tour'))")
    env = {**os.environ, "SHINSEI_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
            for _ in range(2)]
    assert runs == ["1 True False\n", "0 True False\n"]  # built (and compiled) once, then read from the cache


def test_error_message_is_bilingual_japanese_first() -> None:
    err = _raises(to_yen, "abc", "yen")
    assert str(err) == "金額として読めません / not an amount: 'abc'"
    assert isinstance(err, ValueError)


def test_error_message_stays_short_for_long_values() -> None:
    err = _raises(to_date, "x" * 500, "date")
    assert len(str(err)) < 120


def test_error_survives_pickling_between_processes() -> None:
    err = pickle.loads(pickle.dumps(NormaliseError("date", "2026/2/30")))
    assert (err.kind, err.value) == ("date", "2026/2/30")
    assert str(err).startswith("日付として読めません / not a date")


# --- to_text -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None), ("", None), ("   ", None), ("\u3000\t\n\u00a0", None),
    ("山田　太郎", "山田 太郎"), ("  a \t b\n\nc  ", "a b c"), ("a\u00a0b", "a b"),
    ("ＡＢＣ１２３", "ABC123"), ("ｶﾀｶﾅ", "カタカナ"), ("ｶﾞｯｺｳ", "ガッコウ"), ("㈱テスト", "(株)テスト"),
    (12, "12"), (12.0, "12"), (-3.0, "-3"), (2.5, "2.5"), (0, "0"),
    (True, "TRUE"), (False, "FALSE"),
    (dt.date(2026, 1, 5), "2026-01-05"), (dt.datetime(2026, 1, 5), "2026-01-05"),
    (dt.datetime(2026, 1, 5, 9, 30), "2026-01-05T09:30:00"), (dt.time(9, 30), "09:30:00"),
])
def test_to_text(raw: object, expected: str | None) -> None:
    assert to_text(raw) == expected


@given(st.text())
@example("\u00a8")  # NFKC turns it into a space and a combining mark
@example("a\u3000\u3000b")
def test_to_text_is_idempotent_and_tidy(raw: str) -> None:
    once = to_text(raw)
    assert to_text(once) == once
    if once is not None:
        assert once
        assert "  " not in once
        assert once == once.strip()
        assert not any(c.isspace() and c != " " for c in once)


@given(st.lists(st.sampled_from(range(len(_HALF_KANA))), min_size=1))
def test_half_width_katakana_becomes_full_width(indexes: list[int]) -> None:
    assert to_text("".join(_HALF_KANA[i] for i in indexes)) == "".join(_FULL_KANA[i] for i in indexes)


@given(st.lists(st.sampled_from(sorted(_VOICED)), min_size=1))
def test_half_width_voiced_katakana_composes(parts: list[str]) -> None:
    assert to_text("".join(parts)) == "".join(_VOICED[p] for p in parts)


# --- to_yen ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None), ("", None), ("  ", None),
    (12000, 12000), (12000.0, 12000), (11999.9999999, 12000), (-5000, -5000),
    ("12000", 12000), ("12,000", 12000), ("１２，０００", 12000), ("¥12,000", 12000), ("￥12,000", 12000),
    ("\\12,000", 12000), ("12,000円", 12000), ("12,000 円", 12000), (" 12000 ", 12000), ("JPY 12,000", 12000),
    ("12,000 JPY", 12000), ("jpy12000", 12000), ("12000.0", 12000), ("12,000.00", 12000),
    ("-5,000", -5000), ("－５，０００", -5000), ("\u22125,000", -5000), ("¥-5,000", -5000),
    ("-¥5,000", -5000),
    ("△5,000", -5000), ("▲5,000", -5000), ("△ 5,000円", -5000), ("+5,000", 5000),
    ("15万", 150000), ("15万円", 150000), ("1.5万円", 15000), ("12万3,000円", 123000), ("12万3000", 123000),
    ("1万2千円", 12000), ("1万2千500円", 12500), ("5千円", 5000), ("12,000千円", 12000000),
    ("1億2000万円", 120000000), ("△1.5万円", -15000), ("１５万円", 150000),
    ("1,20,000", 120000), ("0", 0), ("1,234,567", 1234567),
])
def test_to_yen(raw: object, expected: int | None) -> None:
    assert to_yen(raw) == expected


@pytest.mark.parametrize("raw", [
    "abc", "12.5", "1,2,3,4x", "1,2,3,4", "12,00", ",12000", "12000,", "12..0", "12000.", "12.000",
    "円", "¥", "万", "12万30000", "1万2.5千", "1.23456万", "約12,000円", "12,000円（税込）", "△-5000", "--5",
    "１２．５", "1e4", 12.5, float("nan"), float("inf"), True, False, dt.date(2026, 1, 5),
])
def test_to_yen_junk_raises(raw: object) -> None:
    _raises(to_yen, raw, "yen")


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_to_yen_reads_every_rendering_of_an_integer(n: int) -> None:
    assert to_yen(n) == n
    assert to_yen(float(n)) == n
    assert to_yen(str(n)) == n
    assert to_yen(f"{n:,}") == n
    assert to_yen(f"¥{n:,}") == n
    assert to_yen(f"￥{n:,}") == n
    assert to_yen(f"{n:,}円") == n
    assert to_yen(f"JPY {n:,}") == n
    assert to_yen(str(n).translate(_FULL_WIDTH)) == n
    assert to_yen(f"{n:,}".translate(_FULL_WIDTH) + "円") == n


@given(st.integers(min_value=0, max_value=10**12))
def test_to_yen_negative_marks(n: int) -> None:
    assert to_yen(f"△{n:,}") == -n
    assert to_yen(f"▲{n:,}円") == -n


@given(st.integers(min_value=1, max_value=9999), st.integers(min_value=0, max_value=9999))
def test_to_yen_man_units(man: int, rest: int) -> None:
    assert to_yen(f"{man}万") == man * 10_000
    assert to_yen(f"{man}万{rest:,}円") == man * 10_000 + rest


# --- to_number and to_int ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None), ("", None), (3, 3.0), (2.5, 2.5), ("2.5", 2.5), ("２．５", 2.5), ("2.5ヶ月", 2.5),
    ("2.5か月", 2.5), ("2.5カ月", 2.5), ("3 ヶ月", 3.0), ("12月", 12.0), ("5日", 5.0), ("3泊", 3.0),
    ("2回", 2.0), ("10人", 10.0), ("4名", 4.0), ("1個", 1.0), ("1式", 1.0), ("1,500", 1500.0),
    ("１，５００人", 1500.0), (".5", 0.5), ("-1.25", -1.25), ("+7", 7.0), ("0", 0.0),
])
def test_to_number(raw: object, expected: float | None) -> None:
    assert to_number(raw) == expected


@pytest.mark.parametrize("raw", [
    "abc", "2.5.1", "1,2,3", "2,5", "約3回", "3回目", "回", "¥100", "1e3", "nan", True,
    float("nan"), float("inf"), 10**400, dt.date(2026, 1, 5),
])
def test_to_number_junk_raises(raw: object) -> None:
    _raises(to_number, raw, "number")


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None), ("", None), (3, 3), (3.0, 3), ("3", 3), ("３回", 3), ("12,000", 12000), ("4.0", 4),
    ("10人", 10), ("-2", -2), (0.1 * 30, 3), (10**30, 10**30), ("1" + "0" * 30, 10**30),
])
def test_to_int(raw: object, expected: int | None) -> None:
    assert to_int(raw) == expected


@pytest.mark.parametrize("raw", ["2.5", "2.5ヶ月", 2.5, "abc", True, float("nan"), "1,2"])
def test_to_int_junk_raises(raw: object) -> None:
    _raises(to_int, raw, "int")


@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(["", "回", "人", "泊", " 名"]))
def test_to_int_and_to_number_read_grouped_counts(n: int, unit: str) -> None:
    assert to_int(f"{n:,}{unit}") == n
    assert to_number(f"{n:,}{unit}".translate(_FULL_WIDTH)) == float(n)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False, allow_infinity=False))
def test_to_number_reads_decimals(d: object) -> None:
    assert to_number(str(d)) == float(str(d))


# --- to_bool -----------------------------------------------------------------------------------------------

_TRUE_WORDS = ["はい", "有", "あり", "yes", "y", "true", "○", "該当", "該当する",
               "Yes", "YES", "ＹＥＳ", "TRUE", "1"]
_FALSE_WORDS = ["いいえ", "無", "なし", "no", "n", "false", "×", "非該当", "該当しない",
                "No", "NO", "ＮＯ", "FALSE", "0"]


@pytest.mark.parametrize("raw", [True, 1, 1.0, *_TRUE_WORDS, "はい Yes", "はい　Yes", "はい / Yes",
                                 "はい(Yes)", "有り", "〇", " はい "])
def test_to_bool_true(raw: object) -> None:
    assert to_bool(raw) is True


@pytest.mark.parametrize("raw", [False, 0, 0.0, *_FALSE_WORDS, "いいえ No", "いいえ　No", "該当しない No",
                                 "無し"])
def test_to_bool_false(raw: object) -> None:
    assert to_bool(raw) is False


def test_to_bool_empty() -> None:
    assert to_bool(None) is None
    assert to_bool("") is None
    assert to_bool("   ") is None


@pytest.mark.parametrize("raw", ["maybe", "はい No", "はい maybe", "2", 2, 0.5, "ok", "x", float("nan")])
def test_to_bool_junk_raises(raw: object) -> None:
    _raises(to_bool, raw, "bool")


@given(st.sampled_from(_TRUE_WORDS), st.sampled_from(_TRUE_WORDS), st.sampled_from([" ", "　", " / ", "/"]))
def test_to_bool_bilingual_true_labels(ja: str, en: str, sep: str) -> None:
    assert to_bool(f"{ja}{sep}{en}") is True


@given(st.sampled_from(_FALSE_WORDS), st.sampled_from(_FALSE_WORDS), st.sampled_from([" ", "　", " / ", "/"]))
def test_to_bool_bilingual_false_labels(ja: str, en: str, sep: str) -> None:
    assert to_bool(f"{ja}{sep}{en}") is False


# --- to_date -----------------------------------------------------------------------------------------------

_JAN5 = dt.date(2026, 1, 5)


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None), ("", None), ("  ", None),
    (_JAN5, _JAN5), (dt.datetime(2026, 1, 5, 13, 45), _JAN5),
    ("2026-01-05", _JAN5), ("2026/1/5", _JAN5), ("2026.1.5", _JAN5), ("2026年1月5日", _JAN5),
    ("2026年01月05日", _JAN5), ("2026 年 1 月 5 日", _JAN5), ("２０２６／１／５", _JAN5),
    ("２０２６年１月５日", _JAN5),
    ("2026-01-05 00:00:00", _JAN5), ("2026-01-05T00:00:00", _JAN5), ("2026/1/5 9:30", _JAN5),
    ("2026年1月5日(月)", _JAN5), ("2026年1月5日（月）", _JAN5), ("2026年1月5日 (月曜日)", _JAN5),
    ("2026/1/5(Mon)", _JAN5), ("20260105", _JAN5),
    ("令和8年1月5日", _JAN5), ("令和８年１月５日", _JAN5), ("令和8年1月5日(月)", _JAN5),
    ("R8.1.5", _JAN5), ("R8/1/5", _JAN5), ("R.8.1.5", _JAN5), ("r8.1.5", _JAN5), ("Ｒ８．１．５", _JAN5),
    ("㋿8年1月5日", _JAN5),
    ("令和元年5月1日", dt.date(2019, 5, 1)), ("令和1年5月1日", dt.date(2019, 5, 1)),
    ("平成31年4月30日", dt.date(2019, 4, 30)), ("H31.4.30", dt.date(2019, 4, 30)),
    ("平成元年1月8日", dt.date(1989, 1, 8)), ("㍻元年1月8日", dt.date(1989, 1, 8)),
    ("昭和64年1月7日", dt.date(1989, 1, 7)), ("S64.1.7", dt.date(1989, 1, 7)),
    ("昭和元年12月25日", dt.date(1926, 12, 25)), ("大正15年12月24日", dt.date(1926, 12, 24)),
    ("T15.12.24", dt.date(1926, 12, 24)), ("明治45年7月29日", dt.date(1912, 7, 29)),
    ("M45.7.29", dt.date(1912, 7, 29)),
    (46027, _JAN5), (46027.0, _JAN5), (46027.75, _JAN5), ("46027", _JAN5), ("46027.0", _JAN5),
    (1, dt.date(1900, 1, 1)), (59, dt.date(1900, 2, 28)), (61, dt.date(1900, 3, 1)),
    (2958465, dt.date(9999, 12, 31)),
])
def test_to_date(raw: object, expected: dt.date | None) -> None:
    assert to_date(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (0, dt.date(1904, 1, 1)), (1, dt.date(1904, 1, 2)), (44565, _JAN5), ("44565", _JAN5), ("2026/1/5", _JAN5),
])
def test_to_date_1904_system(raw: object, expected: dt.date) -> None:
    assert to_date(raw, date1904=True) == expected


@pytest.mark.parametrize("raw", [
    "2026/2/30", "2026-13-01", "2026年2月30日", "令和8年2月30日", "令和0年1月1日", "2026-1/5", "26/1/5",
    "2026/1", "abc", "令和", "X8.1.5", "2026年1月5日ごろ", "20261305",
    0, 60, 60.5, -1, 0.5, 2958466, "0", "60", "-5", float("nan"), float("inf"), True, dt.time(9, 30),
])
def test_to_date_junk_raises(raw: object) -> None:
    _raises(to_date, raw, "date")


def test_to_date_1904_range() -> None:
    _raises(lambda v: to_date(v, date1904=True), -1, "date")
    assert to_date(2958465 - 1462, date1904=True) == dt.date(9999, 12, 31)
    _raises(lambda v: to_date(v, date1904=True), 2958465 - 1461, "date")


@given(st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 31)))
def test_to_date_round_trips(d: dt.date) -> None:
    serial = (d - _EXCEL_EPOCH).days
    assert to_date(d.isoformat()) == d
    assert to_date(f"{d.year}/{d.month}/{d.day}") == d
    assert to_date(f"{d.year}.{d.month}.{d.day}") == d
    assert to_date(f"{d.year}年{d.month}月{d.day}日") == d
    assert to_date(f"{d.year}/{d.month}/{d.day}".translate(_FULL_WIDTH).replace("/", "／")) == d
    assert to_date(dt.datetime(d.year, d.month, d.day, 12)) == d
    assert to_date(serial) == d
    assert to_date(float(serial)) == d
    assert to_date(serial + 0.5) == d
    assert to_date(str(serial)) == d
    if d.year >= 1904:
        assert to_date(serial - 1462, date1904=True) == d


@given(st.dates(min_value=dt.date(2019, 5, 1), max_value=dt.date(9999, 12, 31)))
def test_to_date_reiwa_round_trips(d: dt.date) -> None:
    n = d.year - 2018
    year = "元" if n == 1 else str(n)
    assert to_date(f"令和{year}年{d.month}月{d.day}日") == d
    assert to_date(f"R{n}.{d.month}.{d.day}") == d
    assert to_date(f"R{n}/{d.month}/{d.day}") == d


@given(st.dates(min_value=dt.date(1989, 1, 8), max_value=dt.date(2019, 4, 30)))
def test_to_date_heisei_round_trips(d: dt.date) -> None:
    n = d.year - 1988
    assert to_date(f"平成{'元' if n == 1 else n}年{d.month}月{d.day}日") == d
    assert to_date(f"H{n}.{d.month}.{d.day}") == d


# --- fold_for_match / choice_key ---------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    ("はい Yes", "ハイyes"), ("ｶﾀｶﾅ", "かたかな"), ("ＡＢＣ－１", "abc1"), ("旅費・交通費", "旅費交通費"),
    ("氏名 (Name)", "氏名name"), ("氏名（Name）", "氏名 name"), ("「研究」", "研究"), ("A_B/C.D,E", "abcde"),
    ("国内、海外。", "国内海外"), ("[備考]", "備考"), ("a\u3000b\tc\nd\u00a0e", "abcde"),
    ("Straße", "STRASSE"),
])
def test_fold_for_match_equates(a: str, b: str) -> None:
    assert fold_for_match(a) == fold_for_match(b)


@pytest.mark.parametrize(("a", "b"), [("研究費", "研究"), ("ア", "イ"), ("A1", "A2"), ("ー", "")])
def test_fold_for_match_keeps_differences(a: str, b: str) -> None:
    assert fold_for_match(a) != fold_for_match(b)


def test_fold_for_match_output() -> None:
    assert fold_for_match("ひらがな・テスト (A-1)") == "ヒラガナテストa1"
    assert choice_key is fold_for_match


@given(st.text(alphabet=st.characters(min_codepoint=0x3041, max_codepoint=0x3096)))
def test_fold_for_match_hiragana_equals_katakana(hiragana: str) -> None:
    katakana = "".join(chr(ord(c) + 0x60) for c in hiragana)
    assert fold_for_match(hiragana) == fold_for_match(katakana)


@given(st.text())
@example("A\u00b4")  # NFKC gives 'a \u0301'; once the space goes, a and U+0301 compose
def test_fold_for_match_is_idempotent_and_spaceless(text: str) -> None:
    folded = fold_for_match(text)
    assert not any(c.isspace() for c in folded)
    assert fold_for_match(folded) == folded


# --- robustness: any cell value gives a result or a NormaliseError, never another exception ----------------

_CELL = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.dates(), st.datetimes(), st.times(), st.text(),
    st.text(alphabet="0123456789０１２３４５６７８９,，.．-－△▲¥￥円万千億年月日/()（）RHS令和平成元 　"),
)


@given(_CELL)
def test_every_reader_returns_or_raises_normalise_error(value: object) -> None:
    for reader in (to_text, to_yen, to_number, to_int, to_bool, to_date):
        with contextlib.suppress(NormaliseError):
            reader(value)
