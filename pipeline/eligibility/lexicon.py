"""Load and compile a pack's eligibility lexicon (packs/lexicons/*.yaml) once per process.

The lexicon is data: each term says which reason and verdict it stands for; terms marked
``ok`` are legitimate phrases that shield the words inside them (企業見学 shields 見学).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from pipeline import schemas
from pipeline.eligibility.matchtext import deletions, fold
from pipeline.packs import Pack, PackError
from pipeline.resources import packs_dir


@dataclass(frozen=True)
class Term:
    text: str          # as written in the lexicon (shown as `matched` when no source span is known)
    folded: str
    verdict: str       # ng | review | ok
    reason: str | None
    not_in: frozenset[str] = frozenset()  # category codes where this word does not count


@dataclass
class Lexicon:
    id: str
    reasons: dict[str, dict[str, Any]]
    terms: dict[str, Term]
    pattern: re.Pattern[str]
    typo_index: dict[str, Term] = field(default_factory=dict)
    category_reasons: dict[str, str] = field(default_factory=dict)
    amount_rules: list[dict[str, Any]] = field(default_factory=list)
    soften_terms: dict[str, list[str]] = field(default_factory=dict)
    neutralisers: list[tuple[list[str], set[str]]] = field(default_factory=list)


def _load_yaml(path_name: str) -> dict[str, Any]:
    path = packs_dir() / path_name
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise PackError(f"語彙ファイルがありません / lexicon not found: {path}") from exc
    problems = schemas.errors("lexicon", data)
    if problems:
        raise PackError(f"{path.name}: " + "; ".join(f"{p}: {m}" for p, m in problems[:10]))
    return data


@cache
def _compiled(path_name: str) -> Lexicon:
    data = _load_yaml(path_name)
    terms: dict[str, Term] = {}
    for group in data["terms"]:
        for text in group["match"]:
            folded = fold(text)
            if folded and folded not in terms:
                terms[folded] = Term(text, folded, group["verdict"], group.get("reason"),
                                     frozenset(group.get("not_in_categories", [])))
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    typo_index: dict[str, Term] = {}
    for term in terms.values():
        if term.folded.isascii() and term.folded.isalpha() and len(term.folded) >= 6 and term.verdict != "ok":
            for variant in deletions(term.folded) | {term.folded}:
                typo_index.setdefault(variant, term)
    return Lexicon(
        id=data["id"], reasons=data["reasons"], terms=terms,
        pattern=re.compile(f"(?=({alternatives}))"),
        typo_index=typo_index,
        amount_rules=data.get("amount_rules", []),
        soften_terms={r["reason"]: [fold(t) for t in r.get("soften_with", [])] for r in data.get("amount_rules", [])},
        neutralisers=[([fold(w) for w in n["words"]], set(n["reasons"])) for n in data.get("neutralisers", [])],
    )


def lexicon_for(pack: Pack) -> Lexicon:
    name = pack.data.get("lexicon")
    if not name:
        raise PackError(f"{pack.id}: no lexicon named in the pack")
    return _compiled(name)
