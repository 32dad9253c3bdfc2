"""Load a pack's eligibility lexicon (packs/lexicons/*.yaml) and compile it once per process.

The lexicon is data: groups of terms with weights per reason (see schemas/lexicon.schema.json).
Compiling turns it into two lookups sized for a per-line cost of microseconds: Japanese-side
terms in an Aho-Corasick automaton (one pass over the text), English-side terms by their joined tokens,
plus a symmetric-delete index for English typos (sightseing, souvenier, admision).

Besides its spellings, a kanji term is keyed by its readings (``readings.py``: 観光 also as カンコウ, so
かんこう and ｶﾝｺｳ match it), and the words of the lexicon's ``word_classes`` are keys of the same two
lookups: a ``pattern`` fires when a line has a word of each of its classes (tour + a market, a ticket +
a landmark, a workshop + a craft) and none of its neutralisers (a lab, a company, an experiment).

The compiled lexicon is kept by ``datacache`` (a pickle keyed by the file's bytes and by the code and
schema that check and compile it): a process validating one workbook unpickles it in ~1 ms instead
of importing PyYAML, parsing, checking and compiling (~20 ms). Its records are NamedTuples, not
dataclasses: a class is built in a third of the time at import, and a thousand entries unpickle in
0.2 ms instead of 1.2 (a frozen dataclass with slots restores each field by a Python call).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from pipeline import datacache
from pipeline.eligibility import matchtext, readings
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
    funded: bool = False                 # names something the call funds (the lexicon's `coverage`)
    reading: bool = False                # keyed by the term's reading, not its spelling


class Pattern(NamedTuple):
    """Evidence from words of several classes together: a tour (class) of a market (class)."""

    reason: str
    weight: int
    slots: tuple[int, ...]               # word classes: one word of each must be in the line
    unless: tuple[int, ...]              # word classes: a word of any of them neutralises the pattern
    group: int                           # its evidence counts once, like a term group
    name: str                            # "sightseeing: tour + place", for people reading a verdict
    need: frozenset[int]                 # ``slots`` and ``unless`` as sets: most lines are ruled out by them
    block: frozenset[int]


class Coverage(NamedTuple):
    """What a call funds at all (India: stays, insurance, the tax equivalent): the rest is ``reason``."""

    reason: str
    unnamed: dict[str, str]              # category code ("*": any other or none) -> verdict of a line naming
                                         # nothing funded and judged ok otherwise
    empty: str                           # verdict of a line with a category or a price and no description
    empty_message: dict[str, str]        # ja / en of that verdict


class AmountRule(NamedTuple):
    categories: frozenset[str]
    money_key: str
    weights: Weights
    group: int


class PackedMap(Mapping[str, Any]):
    """A read-only dict that stays pickled until it is first read.

    The typo index is two fifths of unpickling a compiled lexicon (~3.5 ms of every ``shinsei validate``),
    and it is read only for an English word of five letters or more that the lexicon does not know, which
    most workbooks never have. Pickled as its own pickled bytes and its size: ``len`` and truthiness
    need no unpickling."""

    __slots__ = ("_blob", "_data", "_size")

    def __init__(self, data: dict[str, Any]) -> None:
        self._data: dict[str, Any] | None = data
        self._blob: bytes | None = None
        self._size = len(data)

    def __reduce__(self) -> tuple[Any, tuple[bytes, int]]:
        blob = self._blob if self._blob is not None else pickle.dumps(self._data, pickle.HIGHEST_PROTOCOL)
        return _packed, (blob, self._size)

    @property
    def loaded(self) -> bool:
        return self._data is not None

    def load(self) -> dict[str, Any]:
        """The dict itself (unpickled at the first call)."""
        if self._data is None:
            self._data, self._blob = pickle.loads(self._blob or b""), None
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self.load()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.load().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.load())

    def __len__(self) -> int:
        return self._size


def _packed(blob: bytes, size: int) -> PackedMap:
    packed = PackedMap.__new__(PackedMap)
    packed._data, packed._blob, packed._size = None, blob, size
    return packed


class Lexicon(NamedTuple):
    id: str
    path: Path
    ng: int
    review: int
    precedence: dict[str, int]           # reason -> rank (lower wins a tie)
    reasons: dict[str, dict[str, Any]]
    messages: dict[str, dict[str, str]]
    jp_automaton: Automaton
    en_max_tokens: int
    # English words one slip from a flagged term or a pattern word, as doubled letters collapsed and (from
    # seven letters) one letter deleted -> (the terms, the word classes) they may be; unpickled when first read
    typo_index: PackedMap
    known_words: frozenset[str]
    category_weights: tuple[tuple[frozenset[str], Weights, int], ...]
    category_aliases: dict[str, tuple[str, ...]]
    amount_rules: tuple[AmountRule, ...]
    precedence_notes: dict[str, dict[str, Any]]     # reason -> {clause, why: {ja, en}}
    # What the classifier looks up, one dict access per step: a Japanese key (a spelling or a reading) ->
    # (its term, its word classes); every prefix of an English key (plurals included) -> (its term, its
    # classes), either None when the prefix is not itself a key (a prefix lets the n-gram walk go on).
    jp_index: dict[str, tuple[Entry | None, tuple[int, ...] | None]]
    en_index: dict[str, tuple[Entry | None, tuple[int, ...] | None]]
    class_names: tuple[str, ...]
    patterns: tuple[Pattern, ...]
    coverage: Coverage | None
    reading_conflicts: tuple[str, ...]              # readings dropped: the key of another group's term

    # The tables by side and kind are derived, not stored: the cached pickle holds each table once (every
    # process that validates a workbook loads it).
    @property
    def jp_terms(self) -> dict[str, Entry]:
        """Japanese keys (spellings and readings) -> their terms."""
        return {k: e for k, (e, _) in self.jp_index.items() if e is not None}

    @property
    def en_terms(self) -> dict[str, Entry]:
        """English keys -> their terms, plurals included (tours -> tour)."""
        return {k: e for k, (e, _) in self.en_index.items() if e is not None}

    @property
    def jp_slots(self) -> dict[str, tuple[int, ...]]:
        return {k: c for k, (_, c) in self.jp_index.items() if c is not None}

    @property
    def en_slots(self) -> dict[str, tuple[int, ...]]:
        return {k: c for k, (_, c) in self.en_index.items() if c is not None}

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


def compile_data(data: dict[str, Any], path: Path) -> Lexicon:
    """Compile lexicon data held in memory (a proposed patch) as if it were the file at ``path``, uncached.

    The readings are those of ``path``'s readings file; terms the data adds have none until it is updated.
    """
    return _compile(_validated(data, path), path)


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
    order = precedence_order(data)
    if set(order) != reasons or len(order) != len(reasons):
        problems.append(f"precedence must list exactly the reasons {sorted(reasons)}")
    classes = set(data.get("word_classes", {}))
    for i, pattern in enumerate(data.get("patterns", [])):
        if pattern["reason"] not in reasons:
            problems.append(f"pattern {i + 1} is for {pattern['reason']!r}, which has no entry in reasons")
        for name in [*pattern["all"], *pattern.get("unless", [])]:
            if name not in classes:
                problems.append(f"pattern {i + 1} names the word class {name!r}, which word_classes lacks")
    coverage = data.get("coverage")
    if coverage is not None and coverage["reason"] not in reasons:
        problems.append(f"coverage is for {coverage['reason']!r}, which has no entry in reasons")
    if coverage is None and any(g.get("funded") for g in data["terms"]):
        problems.append("a term group is marked funded, but the lexicon has no coverage")
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


def precedence_order(data: dict[str, Any]) -> list[str]:
    """The reasons of a lexicon's ``precedence``, first first (an entry is a reason or {reason, clause, why})."""
    return [p if isinstance(p, str) else p["reason"] for p in data["precedence"]]


@cache
def compile_lexicon(path: Path) -> Lexicon:
    """Read, validate and compile one lexicon file (cached by path: packs may share a lexicon).

    Through ``datacache``: the schema check, the checks of ``_check`` and the compiling run only when
    these bytes were not compiled by this code before; a broken file is never cached.
    """
    try:
        tag = _compile_tag() + datacache.file_tag(readings.readings_path(path))   # its readings file too
        lexicon = datacache.load_yaml(path, lambda data: _compile(_validated(data, path), path), tag=tag)
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
                                           Path(matchtext.__file__), Path(readings.__file__))


def _typo_variants(key: str) -> set[str]:
    """What a word one slip away looks like once doubled letters collapse (deletions from seven letters)."""
    short = collapse_doubles(key)
    return {short} | (deletions(short) if len(key) >= 7 else set())


def _plural_keys(key: str) -> list[str]:
    """An English key and the plurals a line may write it in (tour: tours; city: cities; glass: glasses)."""
    if not key.isalpha():
        return [key]
    if key.endswith("y") and key[-2:-1] not in "aeiou":
        return [key, key[:-1] + "ies"]
    if key.endswith(("s", "x", "z", "ch", "sh")):
        return [key, key + "es"]
    return [key, key + "s"]


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
        funded = bool(g.get("funded"))
        for text in g["match"]:
            folded = fold(text)
            if _is_english(folded):
                tokens = words(nfkc(text))
                key, table = "".join(tokens), en
                known.update(tokens)
                max_tokens = max(max_tokens, len(tokens))
            else:   # never pure ASCII: the classifier skips this side for a line that is (see _words)
                key, table = folded, jp
                if len(key) < 2:
                    raise LexiconError(f"{path.name}: term {text!r} is shorter than two characters "
                                       "once folded")
            seen = table.get(key)
            if seen is not None and seen.group != group:
                raise LexiconError(f"{path.name}: {text!r} is in two term groups ({seen.text!r} "
                                   "matches the same text)")
            if seen is None:
                table[key] = Entry(key, text, group, weights, cats, funded)
    term_readings, homophones = readings.load(path)
    conflicts = _add_readings(jp, term_readings, homophones)
    classes = list(data.get("word_classes", {}))
    jp_slots: dict[str, set[int]] = {}
    en_slots: dict[str, set[int]] = {}
    for cid, name in enumerate(classes):
        for text in data["word_classes"][name]:
            folded = fold(text)
            if _is_english(folded):
                tokens = words(nfkc(text))
                known.update(tokens)
                max_tokens = max(max_tokens, len(tokens))
                for key in _plural_keys("".join(tokens)):
                    en_slots.setdefault(key, set()).add(cid)
            else:   # one kanji may be a class word (盾): a pattern needs a word of each class to fire
                keys = {folded} | {k for k in map(fold, term_readings.get(text, ()))
                                   if len(k) >= readings.MIN_READING and k not in homophones}
                for key in keys:
                    jp_slots.setdefault(key, set()).add(cid)
    typo: dict[str, list[Entry]] = {}
    for entry in en.values():
        if entry.key.isalpha() and len(entry.key) >= 4 and (entry.funded or any(w > 0 for _, w in entry.weights)):
            for v in _typo_variants(entry.key):
                typo.setdefault(v, []).append(entry)
    slot_typos: dict[str, set[int]] = {}
    for key, ids in en_slots.items():
        if key.isalpha() and len(key) >= 5 and key not in en:
            for v in _typo_variants(key):
                slot_typos.setdefault(v, set()).update(ids)
    n_groups = len(data["terms"])
    category_weights = tuple((frozenset(c["categories"]), _weights(c["weights"]), n_groups + i)
                             for i, c in enumerate(data.get("category_weights", [])))
    first = n_groups + len(category_weights)
    amount_rules = tuple(AmountRule(frozenset(r["categories"]), r["min_unit_price_from"],
                                    _weights(r["weights"]), first + i)
                         for i, r in enumerate(data.get("amount_rules", [])))
    first += len(amount_rules)
    patterns = []
    for i, p in enumerate(data.get("patterns", [])):
        slots = tuple(classes.index(c) for c in p["all"])
        unless = tuple(classes.index(c) for c in p.get("unless", []))
        patterns.append(Pattern(p["reason"], p["weight"], slots, unless, first + i,
                                f"{p['reason']}: {' + '.join(p['all'])}", frozenset(slots), frozenset(unless)))
    cov = data.get("coverage")
    coverage = None if cov is None else Coverage(cov["reason"], dict(cov["unnamed"]), cov["empty"],
                                                 dict(cov["empty_message"]))
    order = precedence_order(data)
    notes = {p["reason"]: {k: v for k, v in p.items() if k != "reason"}
             for p in data["precedence"] if not isinstance(p, str)}
    slots_jp = {k: tuple(sorted(v)) for k, v in jp_slots.items()}
    slots_en = {k: tuple(sorted(v)) for k, v in en_slots.items()}
    jp_index = {k: (jp.get(k), slots_jp.get(k)) for k in dict.fromkeys([*jp, *slots_jp])}
    en_plurals = {}
    for key, entry in en.items():   # a plural is its singular's term unless it is a term itself (presents)
        for form in (key + "s", key + "es", key[:-1] + "ies" if key.endswith("y") else ""):
            if form and form not in en:
                en_plurals.setdefault(form, entry)
    en_matchable = {**en_plurals, **en}
    en_index: dict[str, tuple[Entry | None, tuple[int, ...] | None]] = {}
    for key in [*en_matchable, *slots_en]:
        for i in range(1, len(key)):
            en_index.setdefault(key[:i], (None, None))
    for key in dict.fromkeys([*en_matchable, *slots_en]):
        en_index[key] = (en_matchable.get(key), slots_en.get(key))
    return Lexicon(
        id=data["id"], path=path, ng=data["thresholds"]["ng"], review=data["thresholds"]["review"],
        precedence={r: i for i, r in enumerate(order)},
        reasons=data["reasons"], messages=data["messages"],
        jp_automaton=Automaton.build(list(jp_index)),
        en_max_tokens=max(4, max_tokens + 1),
        typo_index=PackedMap({k: (tuple(typo.get(k, ())), tuple(sorted(slot_typos.get(k, ()))))
                              for k in dict.fromkeys([*typo, *slot_typos])}),
        known_words=frozenset(known),
        category_weights=category_weights,
        category_aliases={k: tuple(v) for k, v in data.get("category_aliases", {}).items()},
        amount_rules=amount_rules,
        precedence_notes=notes,
        class_names=tuple(classes),
        patterns=tuple(patterns),
        coverage=coverage,
        reading_conflicts=tuple(conflicts),
        jp_index=jp_index,
        en_index=en_index,
    )


def _add_readings(jp: dict[str, Entry], term_readings: dict[str, tuple[str, ...]],
                  homophones: frozenset[str]) -> list[str]:
    """Key each kanji term by its readings too (in place); the readings refused for another group's key.

    A reading shorter than ``readings.MIN_READING`` or listed as a homophone is not a key of its own;
    one that folds to a key of another group's term is dropped and reported (the data must settle it).
    """
    conflicts = []
    for entry in list(jp.values()):
        if entry.reading or not readings.has_kanji(entry.text):
            continue
        for reading in term_readings.get(entry.text, ()):
            key = fold(reading)
            if len(key) < readings.MIN_READING or key in homophones or key == entry.key:
                continue
            seen = jp.get(key)
            if seen is None:
                jp[key] = entry._replace(key=key, reading=True)
            elif seen.group != entry.group:
                conflicts.append(f"{entry.text} ({reading}) / {seen.text}")
    return conflicts


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
