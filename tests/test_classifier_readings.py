"""Reading-aware matching (issue 15): a lexicon word written as it is read, in kana of either width, matches
the same entry as its kanji; the readings are data, complete, consistent, and cost the classifier no import.

The per-term cases are generated from the lexicons themselves: every term with a kanji, in hiragana, in
katakana and in half-width katakana.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.eligibility import load_classifier
from pipeline.eligibility.classifier import Classifier
from pipeline.eligibility.lexicon import Entry, Lexicon, compile_data, compile_lexicon, lexicon_files
from pipeline.eligibility.matchtext import fold
from pipeline.eligibility.readings import (
    MIN_READING,
    build,
    has_kanji,
    kana_forms,
    kanji_terms,
    load,
    readings_path,
    to_half_width,
)

ROOT = Path(__file__).resolve().parent.parent
YOUTH, INDIA = "nexus-ytec-youth-2025", "india-circulation-2025"
PACK_OF = {"nexus-ytec-2025": YOUTH, "india-circulation-2025": INDIA}


def _cases() -> list[tuple[str, str, str]]:
    """(lexicon file, term, reading) for every kanji term whose reading is a key of its own."""
    out = []
    for path in lexicon_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        term_readings, homophones = load(path)
        for group in data["terms"]:
            for term in group["match"]:
                if not has_kanji(term):
                    continue
                for reading in term_readings.get(term, ()):
                    key = fold(reading)
                    if len(key) >= MIN_READING and key not in homophones and key != fold(term):
                        out.append((path.name, term, reading))
    return out


CASES = _cases()


def _entries(lexicon: Lexicon, text: str) -> list[Entry]:
    folded = fold(text)
    return [lexicon.jp_index[key][0] for start, key in lexicon.jp_automaton.find(folded)
            if start == 0 and len(key) == len(folded) and lexicon.jp_index[key][0] is not None]


def test_there_are_readings_to_test() -> None:
    assert len(CASES) > 500
    assert {name for name, _, _ in CASES} == {p.name for p in lexicon_files()}


@pytest.mark.parametrize(("name", "term", "reading"), CASES, ids=[f"{n[:5]}-{t}" for n, t, _ in CASES])
def test_every_kanji_term_matches_its_reading_in_both_widths(name: str, term: str, reading: str) -> None:
    lexicon = compile_lexicon(Path(lexicon_files()[0].parent / name))
    want = lexicon.jp_index[fold(term)][0]
    assert want is not None
    hiragana, katakana, half = kana_forms(reading)
    assert half != katakana and any("\uff66" <= c <= "\uff9f" for c in half)      # really half-width
    cut = next((k for k in range(len(hiragana) // 2, len(hiragana))
                if hiragana[k - 1] != "ー" and hiragana[k] not in "ーぁぃぅぇぉっゃゅょゎ"), len(hiragana))
    for text in (hiragana, katakana, half, f"{hiragana[:cut]} {hiragana[cut:]}"):    # with a space between words
        found = _entries(lexicon, text)
        assert found and found[0].group == want.group and found[0].weights == want.weights, (text, found)
    clf = load_classifier(PACK_OF[name.removesuffix(".yaml")])
    category = "I 滞在費" if clf.lexicon.coverage else "IV その他"
    as_written = clf.classify(category=category, description=term, unit_price=1000)
    for text in (hiragana, katakana, half):                  # and the line gets the kanji's verdict and reason
        as_read = clf.classify(category=category, description=text, unit_price=1000)
        assert (as_read.verdict, as_read.reason) == (as_written.verdict, as_written.reason), text


@pytest.mark.parametrize("text", ["かんこうばす", "カンコウバス", "ｶﾝｺｳﾊﾞｽ", "かんこう ばす", "観光バス"])
def test_a_sightseeing_bus_however_it_is_written(text: str) -> None:
    r = load_classifier(YOUTH).classify(category="III 旅費", description=text, unit_price=120_000)
    assert (r.verdict, r.reason) == ("ng", "sightseeing")
    assert r.matched == text.replace(" ", "") or r.matched == text         # the applicant's own characters


@pytest.mark.parametrize(("kana", "kanji"), [
    ("きぎょうけんがく ばすだい", "企業見学 バス代"), ("ｷｷﾞｮｳｹﾝｶﾞｸ", "企業見学"),
    ("けんきゅうしつ けんがく", "研究室見学"),
    ("かいぎしつ しようりょう", "会議室使用料"), ("ｼｬｷﾝ", "謝金"), ("こうえんかい かいじょうひ", "講演会 会場費"),
    ("せいかほうこくかい", "成果報告会"), ("ｾｲｶﾌﾞﾂ ｲﾝｻﾂ", "成果物 印刷"),
])
def test_legitimate_lines_in_kana_stay_legitimate(kana: str, kanji: str) -> None:
    """Longer legitimate terms hide the words inside their readings, as they do in kanji (企業見学 hides 見学)."""
    clf = load_classifier(YOUTH)
    assert clf.classify(category="IV その他", description=kana, unit_price=10_000).verdict == "ok"
    assert clf.classify(category="IV その他", description=kanji, unit_price=10_000).verdict == "ok"


def test_a_homophone_is_not_read_alone() -> None:
    """セイカ is 成果 (results) in budget lines far more often than 生花: listed as a homophone, never a key."""
    path = next(p for p in lexicon_files() if p.name == "nexus-ytec-2025.yaml")
    _, homophones = load(path)
    lexicon = compile_lexicon(path)
    assert "セイカ" in homophones and "セイカ" not in lexicon.jp_index
    assert load_classifier(YOUTH).classify(description="せいか").verdict == "ok"
    assert load_classifier(YOUTH).classify(description="生花").reason == "cultural"


def test_short_readings_are_not_keys() -> None:
    """菓子 (カシ) or 茶菓 (チャカ) would match inside too many words."""
    lexicon = compile_lexicon(next(p for p in lexicon_files() if p.name == "nexus-ytec-2025.yaml"))
    assert "カシ" not in lexicon.jp_index and "チヤカ" not in lexicon.jp_index
    assert all(len(e.key) >= MIN_READING for e in lexicon.jp_terms.values() if e.reading)


@pytest.mark.parametrize("path", lexicon_files(), ids=lambda p: p.name)
def test_every_kanji_term_has_a_reading_and_none_is_stale(path: Path) -> None:
    """The readings file is up to date with its lexicon (else: python -m pipeline.eligibility.readings --write)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    term_readings, _ = load(path)
    missing = [t for t in kanji_terms(data) if t not in term_readings]
    stale = [t for t in term_readings if t not in set(kanji_terms(data))]
    assert missing == [] and stale == [], (missing, stale)
    assert build(path, write=False) == ([], [])


@pytest.mark.parametrize("path", lexicon_files(), ids=lambda p: p.name)
def test_no_reading_is_claimed_by_two_groups(path: Path) -> None:
    """A reading that is another group's key is the data's to settle (a homophone, or a hiding term)."""
    assert compile_lexicon(path).reading_conflicts == ()


def test_a_conflicting_reading_is_reported_not_guessed(tmp_path: Path) -> None:
    src = next(p for p in lexicon_files() if p.name == "nexus-ytec-2025.yaml")
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data["terms"].append({"weights": {}, "match": ["刊行"]})                      # カンコウ, like 観光
    lexicon_file = tmp_path / "lexicons" / src.name
    (tmp_path / "lexicons" / "readings").mkdir(parents=True)
    lexicon_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    text = readings_path(src).read_text(encoding="utf-8").replace("readings:\n", 'readings:\n  "刊行": "カンコウ"\n', 1)
    readings_path(lexicon_file).write_text(text, encoding="utf-8")
    lexicon = compile_data(data, lexicon_file)
    assert any("刊行" in c and "観光" in c for c in lexicon.reading_conflicts)
    assert lexicon.jp_index["カンコウ"][0].text == "観光"                           # the first group keeps it


def test_the_builder_keeps_corrections_and_adds_what_is_missing(tmp_path: Path) -> None:
    """A reading a person corrected stays; a new term gets SudachiPy's reading; a removed term is dropped."""
    pytest.importorskip("sudachipy")
    folder = tmp_path / "lexicons"
    (folder / "readings").mkdir(parents=True)
    data = {"terms": [{"weights": {"cultural": 7}, "match": ["茶道", "着物"]}]}
    path = folder / "x.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    readings_path(path).write_text('readings:\n  "茶道": ["サドウ", "チャドウ"]\n  "廃止語": "ハイシゴ"\n'
                                   'homophones: ["セイカ"]\n', encoding="utf-8")
    assert build(path, write=False) == (["着物"], ["廃止語"])
    assert build(path, write=True) == (["着物"], ["廃止語"])
    term_readings, homophones = load(path)
    assert term_readings == {"茶道": ("サドウ", "チャドウ"), "着物": ("キモノ",)}
    assert homophones == {"セイカ"}
    assert build(path, write=False) == ([], [])


def test_half_width_conversion_keeps_voiced_marks() -> None:
    assert to_half_width("ガイドパンフレット") == "ｶﾞｲﾄﾞﾊﾟﾝﾌﾚｯﾄ"
    assert fold(to_half_width("カンコウバス")) == fold("かんこうばす") == fold("カンコウバス")


def test_classifying_never_imports_sudachi(tmp_path: Path) -> None:
    """The readings are compiled from data: the reading library is the builder's, never the classifier's,
    whether the compiled lexicon comes from the data cache (warm) or is compiled from the YAML (cold)."""
    code = ("import sys; from pipeline.eligibility import load_classifier; "
            "r = load_classifier('nexus-ytec-youth-2025').classify(description='かんこうばす'); "
            "assert r.reason == 'sightseeing', r; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sudachipy', 'sudachidict_core', 'pykakasi', 'cutlet', 'fugashi')))")
    for run in ("cold", "warm"):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                             env={**os.environ, "SHINSEI_CACHE_DIR": str(tmp_path)})
        assert res.returncode == 0, (run, res.stderr[-2000:])
        assert res.stdout.strip() == "[]", (run, res.stdout)


def test_a_lexicon_without_a_readings_file_still_compiles(tmp_path: Path) -> None:
    src = next(p for p in lexicon_files() if p.name == "nexus-ytec-2025.yaml")
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    lexicon = compile_data(data, tmp_path / "lexicons" / src.name)
    assert not any(e.reading for e in lexicon.jp_terms.values())
    clf = Classifier(load_classifier(YOUTH).pack_data, lexicon)
    assert clf.classify(description="観光バス").reason == "sightseeing"
    assert clf.classify(description="かんこうばす").verdict == "ok"          # what the readings add


@pytest.mark.parametrize("path", lexicon_files(), ids=lambda p: p.name)
def test_every_japanese_side_key_has_a_character_outside_ascii(path: Path) -> None:
    """The classifier skips the Japanese side for a line that folds to ASCII: no key may be pure ASCII."""
    assert not [k for k in compile_lexicon(path).jp_index if k.isascii()]
