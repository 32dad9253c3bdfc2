"""Load a pack's eligibility lexicon (packs/lexicons/*.yaml) and compile it once per process.

The lexicon is data: groups of terms with weights per reason (see schemas/lexicon.schema.json).
Compiling turns it into two lookups sized for a per-line cost of microseconds: Japanese-side
terms in an Aho-Corasick automaton (one pass over the text), English-side terms by their joined tokens,
plus a symmetric-delete index for English typos (sightseing, souvenier, admision).

The compiled lexicon is kept by ``datacache`` (a pickle keyed by the file's bytes and by the code and
schema that check and compile it): a process validating one workbook unpickles it in ~1 ms instead
of importing PyYAML, parsing, checking and compiling (~20 ms). Its records are NamedTuples, not
dataclasses: a class is built in a third of the time at import, and a thousand entries unpickle in
0.2 ms instead of 1.2 (a frozen dataclass with slots restores each field by a Python call).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from pipeline import datacache
from pipeline.eligibility import matchtext
from pipeline.eligibility.matchtext import collapse_doubles, deletions, fold, nfkc, words
from pipeline.packs import PackError
from pipeline.resources import packs_dir, schemas_dir

Weights = tuple[tuple[str, int], ...]


class LexiconError(PackError):
    """A lexicon file is missing, does not match its schema, or contradicts itself or its pack."""


class Entry(NamedTuple):
    """One matchable term."""

    key: str                             # folded (Japanese side) or joined tokens (English side)
    text: str                            # as written in the lexicon: the fallback for `matched`
    group: int                           # terms of one group are synonyms: they count once
    weights: Weights                     # (reason or "*", weight)
    categories: frozenset[str] | None    # count only on lines of these category codes


class AmountRule(NamedTuple):
    categories: frozenset[str]
    money_key: str
    weights: Weights
    group: int


class Lexicon(NamedTuple):
    id: str
    path: Path
    ng: int
    review: int
    precedence: dict[str, int]           # reason -> rank (lower wins a tie)
    reasons: dict[str, dict[str, Any]]
    messages: dict[str, dict[str, str]]
    jp_terms: dict[str, Entry]
    jp_automaton: Automaton
    en_terms: dict[str, Entry]
    en_prefixes: frozenset[str]          # every prefix of an English key: stops the n-gram walk early
    en_max_tokens: int
    typo_index: dict[str, tuple[Entry, ...]]
    known_words: frozenset[str]
    category_weights: tuple[tuple[frozenset[str], Weights, int], ...]
    category_aliases: dict[str, tuple[str, ...]]
    amount_rules: tuple[AmountRule, ...]

    def category_codes(self) -> set[str]:
        """Every category code the lexicon refers to (checked against the pack)."""
        codes = set(self.category_aliases)
        for cats, _, _ in self.category_weights:
            codes |= cats
        for rule in self.amount_rules:
            codes |= rule.categories
        for entry in [*self.en_terms.values(), *self.jp_terms.values()]:
            codes |= entry.categories or set()
        return codes


class Automaton(NamedTuple):
    """Aho-Corasick over the Japanese-side keys: every occurrence of every key in one pass over the text."""

    goto: tuple[dict[str, int], ...]
    fail: tuple[int, ...]
    out: tuple[tuple[str, ...], ...]      # keys ending at each state, longest first

    @classmethod
    def build(cls, keys: list[str]) -> Automaton:
        goto: list[dict[str, int]] = [{}]
        out: list[list[str]] = [[]]
        for key in keys:
            state = 0
            for ch in key:
                nxt = goto[state].get(ch)
                if nxt is None:
                    nxt = len(goto)
                    goto[state][ch] = nxt
                    goto.append({})
                    out.append([])
                state = nxt
            out[state].append(key)
        fail = [0] * len(goto)
        queue = list(goto[0].values())
        for state in queue:                # breadth first: a state's fail link is set before its children's
            for ch, nxt in goto[state].items():
                queue.append(nxt)
                f = fail[state]
                while f and ch not in goto[f]:
                    f = fail[f]
                fail[nxt] = goto[f].get(ch, 0) if goto[f].get(ch, 0) != nxt else 0
                out[nxt] = out[nxt] + out[fail[nxt]]
        return cls(tuple(goto), tuple(fail), tuple(tuple(sorted(o, key=len, reverse=True)) for o in out))

    def find(self, text: str) -> list[tuple[int, str]]:
        """(start, key) of every occurrence of every key in ``text``."""
        goto, fail, out = self.goto, self.fail, self.out
        state, found = 0, []
        for i, ch in enumerate(text):
            nxt = goto[state].get(ch)
            while nxt is None and state:
                state = fail[state]
                nxt = goto[state].get(ch)
            state = nxt or 0
            if out[state]:
                found.extend((i + 1 - len(key), key) for key in out[state])
        return found


def _weights(raw: dict[str, int]) -> Weights:
    return tuple(sorted(raw.items()))


def _is_english(folded: str) -> bool:
    return folded.isascii() and folded.isalnum()


def _validated(data: Any, path: Path) -> dict[str, Any]:
    """The file's data, refused unless it matches schemas/lexicon.schema.json."""
    from pipeline import schemas

    problems = schemas.errors("lexicon", data)
    if problems:
        lines = "; ".join(f"{p}: {m}" for p, m in problems[:10])
        raise LexiconError(f"{path.name} がスキーマに合いません / does not match "
                           f"schemas/lexicon.schema.json: {lines}")
    return data


def _check(data: dict[str, Any], path: Path) -> None:
    """What the schema cannot say: a complete precedence, weights only for explained reasons."""
    reasons = set(data["reasons"])
    problems = []
    if set(data["precedence"]) != reasons:
        problems.append(f"precedence must list exactly the reasons {sorted(reasons)}")
    if data["thresholds"]["review"] > data["thresholds"]["ng"]:
        problems.append("thresholds.review is above thresholds.ng")
    groups = [*data["terms"], *data.get("category_weights", []), *data.get("amount_rules", [])]
    for g in groups:
        for reason, weight in g["weights"].items():
            if reason != "*" and reason not in reasons:
                problems.append(f"weight for {reason!r}, which has no entry in reasons")
            if reason == "*" and weight > 0:
                problems.append("'*' may only carry a negative weight (a legitimate purpose)")
    if problems:
        raise LexiconError(f"{path.name}: " + "; ".join(problems))


@cache
def compile_lexicon(path: Path) -> Lexicon:
    """Read, validate and compile one lexicon file (cached by path: packs may share a lexicon).

    Through ``datacache``: the schema check, the checks of ``_check`` and the compiling run only when
    these bytes were not compiled by this code before; a broken file is never cached.
    """
    try:
        lexicon = datacache.load_yaml(path, lambda data: _compile(_validated(data, path), path),
                                      tag=_compile_tag())
    except FileNotFoundError as exc:
        raise LexiconError(f"語彙ファイルがありません / lexicon not found: {path}") from exc
    except datacache.yaml_error() as exc:
        raise LexiconError(f"語彙ファイルをYAMLとして読めません / lexicon is not valid YAML: {path}: "
                           f"{exc}") from exc
    return lexicon if lexicon.path == path else lexicon._replace(path=path)


@cache
def _compile_tag() -> str:
    """What a compiled lexicon depends on besides its file: the schema and the code that compiles it."""
    return "lexicon:" + datacache.file_tag(schemas_dir() / "lexicon.schema.json", Path(__file__),
                                           Path(matchtext.__file__))


def _compile(data: dict[str, Any], path: Path) -> Lexicon:
    """A schema-valid lexicon's data, checked against itself and compiled."""
    _check(data, path)
    jp: dict[str, Entry] = {}
    en: dict[str, Entry] = {}
    known: set[str] = set(data.get("known_words", []))
    max_tokens = 1
    for group, g in enumerate(data["terms"]):
        weights = _weights(g["weights"])
        cats = frozenset(g["categories"]) if "categories" in g else None
        for text in g["match"]:
            folded = fold(text)
            if _is_english(folded):
                tokens = words(nfkc(text))
                key, table = "".join(tokens), en
                known.update(tokens)
                max_tokens = max(max_tokens, len(tokens))
            else:
                key, table = folded, jp
                if len(key) < 2:
                    raise LexiconError(f"{path.name}: term {text!r} is shorter than two characters "
                                       "once folded")
            seen = table.get(key)
            if seen is not None and seen.group != group:
                raise LexiconError(f"{path.name}: {text!r} is in two term groups ({seen.text!r} "
                                   "matches the same text)")
            if seen is None:
                table[key] = Entry(key, text, group, weights, cats)
    typo: dict[str, list[Entry]] = {}
    for entry in en.values():
        if entry.key.isalpha() and len(entry.key) >= 4 and any(w > 0 for _, w in entry.weights):
            short = collapse_doubles(entry.key)
            variants = {short} | (deletions(short) if len(entry.key) >= 7 else set())
            for v in variants:
                typo.setdefault(v, []).append(entry)
    n_groups = len(data["terms"])
    category_weights = tuple((frozenset(c["categories"]), _weights(c["weights"]), n_groups + i)
                             for i, c in enumerate(data.get("category_weights", [])))
    first = n_groups + len(category_weights)
    amount_rules = tuple(AmountRule(frozenset(r["categories"]), r["min_unit_price_from"],
                                    _weights(r["weights"]), first + i)
                         for i, r in enumerate(data.get("amount_rules", [])))
    return Lexicon(
        id=data["id"], path=path, ng=data["thresholds"]["ng"], review=data["thresholds"]["review"],
        precedence={r: i for i, r in enumerate(data["precedence"])},
        reasons=data["reasons"], messages=data["messages"],
        jp_terms=jp, jp_automaton=Automaton.build(list(jp)),
        en_terms=en, en_prefixes=frozenset(k[:i] for k in en for i in range(1, len(k) + 1)),
        en_max_tokens=max(4, max_tokens + 1),
        typo_index={k: tuple(v) for k, v in typo.items()},
        known_words=frozenset(known),
        category_weights=category_weights,
        category_aliases={k: tuple(v) for k, v in data.get("category_aliases", {}).items()},
        amount_rules=amount_rules,
    )


def lexicon_path(pack_data: dict[str, Any]) -> Path:
    """The lexicon file a pack names (``lexicon: lexicons/<file>.yaml``, relative to packs/)."""
    name = pack_data.get("lexicon")
    if not name:
        raise LexiconError(f"{pack_data.get('id')}: ルールパックに lexicon がありません / "
                           "the pack names no lexicon")
    base = packs_dir().resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise LexiconError(f"{pack_data.get('id')}: lexicon {name!r} is outside the packs folder")
    return path


def lexicon_files() -> list[Path]:
    """Every lexicon file in the packs folder (for checks and tests)."""
    return sorted((packs_dir() / "lexicons").glob("*.yaml"))
