"""Fold text for matching cost lines: the same word however an applicant typed it.

NFKC (full-width letters and half-width katakana), casefold, hiragana as katakana, no long-vowel
marks (パーティー / パーティ / ぱーてぃー meet), no spaces, hyphens or punctuation
(sight-seeing meets sightseeing). English words are also kept apart for typo-tolerant lookup.
"""

from __future__ import annotations

import re
import unicodedata

_DROP = str.maketrans("", "", ' \t\r\n\u3000・·.,、。-‐‑–—−_/\\()（）[]［］「」『』【】'
                      '<>＜＞:：;；!！?？\'"“”’`~〜～*＊#＃&＆+＋=＝|｜ーｰ')
_WORDS = re.compile(r"[a-z]{3,}")


def fold(text: str) -> str:
    """The matching form of ``text`` (see the module docstring)."""
    s = unicodedata.normalize("NFKC", text).casefold()
    s = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in s)
    return s.translate(_DROP)


def english_words(text: str) -> list[str]:
    """Latin words of a line (NFKC, casefolded, hyphens joined) for typo-tolerant lookup."""
    s = unicodedata.normalize("NFKC", text).casefold().replace("-", "")
    return _WORDS.findall(s)


def deletions(word: str) -> set[str]:
    """Every string one deletion away from ``word`` (the SymSpell trick: typos meet in the middle)."""
    return {word[:i] + word[i + 1:] for i in range(len(word))}
