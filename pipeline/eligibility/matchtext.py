"""Fold cost-line text so one word matches however an applicant typed it.

Japanese side (``fold``): NFKC (full-width Latin, half-width katakana), casefold, hiragana as
katakana, small kana as full-size (ティ = テイ), ヴァ as バ, a dash after katakana read as a
long-vowel mark, a long-vowel mark at the end of a katakana word dropped (パーティー = パーティ =
ぱーてぃー, while ビール stays apart from ビル), then no spaces or punctuation (見学・料 = 見学料).

English side (``words``): lower-case Latin/digit tokens of the NFKC text; a lexicon term spanning
several tokens matches them joined (sight-seeing = sight seeing = sightseeing), never the inside
of a word (bus is not in business, party is not in counterparty).

``fold_map`` and ``word_spans`` do the same while remembering where each character came from, so
a finding can quote the applicant's own text; they run only for flagged lines.
"""

from __future__ import annotations

import re
import unicodedata

_HIRA_TO_KATA = {c: c + 0x60 for c in range(0x3041, 0x3097)}
_VU = {"ァ": "バ", "ィ": "ビ", "ェ": "ベ", "ォ": "ボ"}
_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶヴ", "アイウエオツヤユヨワカケブ")
_DASHES = "-‐‑‒–—―−~〜ー"
_KATA = "\u30a1-\u30fa\u30fc"          # katakana letters and the long-vowel mark (not the middle dot)
_DASH_AFTER_KATA = re.compile(f"(?<=[{_KATA}])[{re.escape(_DASHES)}]+")
_VU_SMALL = re.compile("ヴ([ァィェォ])")
_FINAL_LONG = re.compile("ー+(?![ー\u30a1-\u30fa])")
_NON_WORD = re.compile(r"[\W_]+")
_TOKEN = re.compile(r"[a-z0-9]+")
_APOSTROPHES = str.maketrans("", "", "'’`")
_ATTACHED = frozenset("\uff9e\uff9f\u3099\u309a\u309b\u309c")   # voiced marks that join the kana before them
_NUMBERING = re.compile(r"^\s*[(（]?\s*(?:[ivx]+|\d+|[a-d])\s*(?:[.)）:：、]\s*|\s+|(?=[^a-z0-9\s]))")


def nfkc(text: str) -> str:
    """NFKC and casefold: the common first step of both sides."""
    return unicodedata.normalize("NFKC", text).casefold()


def fold_normalised(s: str) -> str:
    """``fold`` of text already passed through ``nfkc``."""
    s = s.translate(_HIRA_TO_KATA)
    if "ヴ" in s:
        s = _VU_SMALL.sub(lambda m: _VU[m.group(1)], s)
    s = s.translate(_SMALL)
    s = _DASH_AFTER_KATA.sub(lambda m: "ー" * len(m.group()), s)
    s = _FINAL_LONG.sub("", s)
    return _NON_WORD.sub("", s)


def fold(text: str) -> str:
    """The Japanese-side matching form of ``text`` (see the module docstring)."""
    return fold_normalised(nfkc(text))


def words(normalised: str) -> list[str]:
    """English-side tokens of text already passed through ``nfkc``."""
    return _TOKEN.findall(normalised.translate(_APOSTROPHES))


_UNIT_CACHE: dict[str, str] = {}


def nfkc_map(text: str) -> tuple[str, list[int]]:
    """``nfkc(text)`` with, for each of its characters, the index in ``text`` it came from.

    NFKC works on a character with the combining or voiced marks after it (ｶﾞ -> ガ), so each
    such unit is normalised on its own; units repeat across lines, so their forms are cached.
    """
    if unicodedata.is_normalized("NFKC", text):
        folded = text.casefold()
        if len(folded) == len(text):       # nothing composed or expanded: positions are unchanged
            return folded, list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and (text[j] in _ATTACHED or unicodedata.combining(text[j])):
            j += 1
        unit = text[i:j]
        piece = _UNIT_CACHE.get(unit)
        if piece is None:
            piece = nfkc(unit)
            if len(_UNIT_CACHE) < 100_000:
                _UNIT_CACHE[unit] = piece
        out.append(piece)
        origin.extend([i] * len(piece))
        i = j
    return "".join(out), origin


def fold_map(text: str) -> tuple[str, list[int]]:
    """``fold(text)`` with the index in ``text`` each folded character came from."""
    s, origin = nfkc_map(text)
    t = s.translate(_HIRA_TO_KATA)
    if "ヴ" in t:                   # ヴァ -> バ: two characters become one
        merged, merged_origin, i = [], [], 0
        while i < len(t):
            if t[i] == "ヴ" and i + 1 < len(t) and t[i + 1] in _VU:
                merged.append(_VU[t[i + 1]])
                merged_origin.append(origin[i])
                i += 2
            else:
                merged.append(t[i])
                merged_origin.append(origin[i])
                i += 1
        t, origin = "".join(merged), merged_origin
    t = _DASH_AFTER_KATA.sub(lambda m: "ー" * len(m.group()), t.translate(_SMALL))
    drop = bytearray(len(t))          # what fold deletes: word-final long-vowel marks, non-word characters
    for pattern in (_FINAL_LONG, _NON_WORD):
        for m in pattern.finditer(t):
            drop[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    keep = [i for i, d in enumerate(drop) if not d]
    return "".join(t[i] for i in keep), [origin[i] for i in keep]


def word_spans(text: str) -> list[tuple[int, int]]:
    """For each English-side token of ``text``, its (start, end) in ``text``."""
    s, origin = nfkc_map(text)
    clean, clean_origin = [], []
    for c, o in zip(s, origin, strict=True):
        if c not in "'’`":
            clean.append(c)
            clean_origin.append(o)
    joined = "".join(clean)
    spans = []
    for m in _TOKEN.finditer(joined):
        start = clean_origin[m.start()]
        end = clean_origin[m.end() - 1] + 1
        while end < len(text) and text[end] in _ATTACHED:
            end += 1
        spans.append((start, end))
    return spans


def strip_numbering(normalised: str) -> str:
    """Drop a leading budget-heading number ("III 旅費", "Ⅳ. Other", "(2) 謝金") from ``nfkc`` text."""
    return _NUMBERING.sub("", normalised, count=1)


def collapse_doubles(word: str) -> str:
    """``giftt`` -> ``gift``, ``admission`` -> ``admision``: typo lookup ignores doubled letters."""
    return re.sub(r"(.)\1+", r"\1", word)


def deletions(word: str) -> set[str]:
    """Every string one deletion away from ``word`` (symmetric-delete typo lookup, as in SymSpell)."""
    return {word[:i] + word[i + 1:] for i in range(len(word))}
