"""Decide whether a cost line is eligible: ``ok``, ``ng`` (ineligible) or ``review`` (a person should look).

Evidence, in order of precedence:
1. the budget category: a category the pack lists under ``ineligible_categories`` (India: travel,
   research) decides the line whatever its description says;
2. the words of the description, weighted by the lexicon: a longer match hides the matches inside
   it (企業見学 hides 見学, but 見学料 stays), synonyms of one group count once, different groups
   add up, and the strongest legitimate context (会議, 講師謝金, workshop ...) is subtracted. A kanji
   term matches its reading too, in kana of either width (観光 = かんこう = ｶﾝｺｳ); a pattern of the
   lexicon adds its weight when the line has a word of each of its classes and no neutraliser
   (tour + a market: sightseeing; a workshop + a craft: cultural; unless a lab, an experiment ...);
3. the amount: a unit price at or above a pack threshold adds weight (NEXUS goods at 200,000 yen),
   which consumable words (試薬, shelf life ...) discount to ``review``.
When several reasons reach the ng threshold, the lexicon's precedence chooses the line's reason (the
first of them: what the line pays for, as the clause names it) and the others are named beside it;
below ng the highest score wins and the precedence breaks ties. ``matched`` quotes the applicant's
words that decided (both words of a pattern). A lexicon with a ``coverage`` (India: the call funds
stays, insurance and the tax equivalent only) turns a line naming nothing it funds into its reason
(``not_funded``), and a line without a description into ``review``. No per-line exceptions:
everything is in the data.

Only the first ``settings.CLASSIFY_MAX_CHARS`` characters of a description are judged (a cell may
hold 32,767): the verdict on a longer line says so in both languages, and a line that would be ``ok``
on its judged part is ``review`` instead, since a person has to read the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from operator import itemgetter
from typing import Any, NamedTuple

from pipeline.eligibility.lexicon import Entry, Lexicon, LexiconError, Pattern, compile_lexicon, lexicon_path
from pipeline.eligibility.matchtext import (
    collapse_doubles,
    deletions,
    fold_map,
    fold_normalised,
    nfkc,
    strip_numbering,
    word_spans,
    words,
)
from pipeline.resources import packs_dir
from pipeline.settings import CLASSIFY_MAX_CHARS

_TRAILING = frozenset("ーｰ-‐‑–—―−~〜～ﾞﾟ゛゜")
_MATCHED_MAX = 100          # characters of the applicant's text quoted in a message
_MEMO_KEY_MAX = 200         # longer category cells are not remembered (no real category is this long)
# Said of a description longer than the classifier judges; appended to the verdict's message. The
# lexicon's messages.truncated says it in the programme's words; this is for a lexicon without one.
TRUNCATED_NOTE = {
    "ja": "内容欄は {length:,} 文字あり、先頭の {limit:,} 文字のみを判定しました。"
          "残りの部分は担当者が確認してください。",
    "en": "The description has {length:,} characters; only the first {limit:,} were judged. "
          "The rest needs a person to check it.",
}
# Appended when other reasons reached ng too (the lexicon's messages.also says it in its own words).
ALSO_NOTE = {"ja": "（{labels_ja}にも当たります。{why_ja}）", "en": " (It is also {labels_en}. {why_en})"}
_GAP = 30                   # characters between a pattern's words quoted as one stretch of the applicant's text
_FIRST = itemgetter(1)


class Classification(NamedTuple):
    """The verdict on one cost line, with the clause and a bilingual message built from the rule's data.

    A NamedTuple: immutable like the frozen dataclass it was, without importing ``dataclasses`` (~7 ms
    of every ``shinsei validate``, whose child classifies the budget; see pipeline.record)."""

    verdict: str                                # ok | ng | review
    reason: str | None = None
    clause: dict[str, str] | None = None
    message_ja: str | None = None
    message_en: str | None = None
    matched: str | None = None
    judged_chars: int | None = None             # set when only the description's first characters were judged
    also: tuple[str, ...] | None = None         # other reasons that reached ng, after the line's own (precedence)

    def to_dict(self) -> dict[str, Any]:
        """As a dict (the clause copied); ``judged_chars`` and ``also`` only when set (the common shape stays as
        it was)."""
        out = self._asdict()
        if self.clause is not None:
            out["clause"] = dict(self.clause)
        for key in ("judged_chars", "also"):
            if out[key] is None:
                del out[key]
        if "also" in out:
            out["also"] = list(out["also"])
        return out


OK = Classification("ok")


class _Hit(NamedTuple):
    entry: Entry
    english: bool        # token span (English side) or folded-character span (Japanese side)
    start: int
    end: int
    typo: bool = False


class _Slot(NamedTuple):
    """Where a word of one or more word classes is: (classes, start, end) on one side of the text."""

    classes: tuple[int, ...]
    start: int
    end: int


class _PatternHit(NamedTuple):
    pattern: Pattern
    parts: tuple[tuple[bool, int, int], ...]     # (english, start, end) of the word of each class


class Classifier:
    """The classifier of one rule pack: its lexicon, categories, thresholds and clauses, compiled once."""

    max_chars: int = CLASSIFY_MAX_CHARS   # of a description (and a category cell) judged; the rest is not read

    def __init__(self, pack_data: Mapping[str, Any], lexicon: Lexicon | None = None) -> None:
        """The pack's classifier; ``lexicon`` replaces the one the pack names (a proposed patch, in a test)."""
        self.pack_data = pack_data
        self.pack_id: str = pack_data["id"]
        self.lexicon: Lexicon = lexicon or compile_lexicon(lexicon_path(dict(pack_data)))
        lists = pack_data.get("lists", {})
        self.clauses = {reason: self._clause(info["clause"]) for reason, info in self.lexicon.reasons.items()}
        for note in self.lexicon.precedence_notes.values():   # the clause that decides each step of the order
            self._clause(note["clause"])
        self.blocked: dict[str, str] = {}           # category code -> reason (pack: ineligible_categories)
        aliases: list[tuple[str, str]] = []
        for list_name in ("ineligible_categories", "budget_categories"):
            for item in lists.get(list_name, []):
                if list_name == "ineligible_categories":
                    if item.get("reason") not in self.lexicon.reasons:
                        raise LexiconError(f"{self.pack_id}: ineligible category {item['code']!r} has reason "
                                           f"{item.get('reason')!r}, which the lexicon does not explain")
                    self.blocked[item["code"]] = item["reason"]
                texts = [item["code"], item["ja"], item["en"], *item.get("aliases", []),
                         *self.lexicon.category_aliases.get(item["code"], ())]
                aliases += [(self._category_key(str(t)), item["code"]) for t in texts]
        self._cat_exact: dict[str, str] = {}
        for key, code in aliases:
            if key:
                self._cat_exact.setdefault(key, code)
        self._cat_contained = sorted({(k, c) for k, c in aliases if len(k) >= 2}, key=lambda kc: -len(kc[0]))
        self._cat_memo: dict[str, str | None] = {}
        known_codes = {code for _, code in aliases}
        unknown = self.lexicon.category_codes() - known_codes
        if unknown:
            raise LexiconError(f"{self.pack_id}: the lexicon names budget categories the pack lacks: "
                               f"{sorted(unknown)}")
        money = pack_data.get("money", {})
        self.amount_rules = []
        for rule in self.lexicon.amount_rules:
            if rule.money_key not in money:
                raise LexiconError(f"{self.pack_id}: an amount rule uses money.{rule.money_key}, "
                                   "which the pack lacks")
            self.amount_rules.append((rule, int(money[rule.money_key])))

    # -- pack data ---------------------------------------------------------------------------------
    def _clause(self, clause_id: str) -> dict[str, str]:
        clauses, documents = self.pack_data.get("clauses", {}), self.pack_data.get("documents", {})
        if clause_id not in clauses:
            raise LexiconError(f"{self.pack_id}: the lexicon cites clause {clause_id!r}, "
                               "which the pack lacks")
        c = clauses[clause_id]
        doc = documents.get(c["doc"])
        if doc is None:
            raise LexiconError(f"{self.pack_id}: clause {clause_id!r} names unknown document {c['doc']!r}")
        out = {"document": doc["ja"], "document_en": doc["en"], "section": c["section"]}
        if "quote" in c:
            out["quote"] = c["quote"]
        return out

    @staticmethod
    def _category_key(text: str) -> str:
        return fold_normalised(strip_numbering(nfkc(text)))

    def category_code(self, category: str | None) -> str | None:
        """The pack's code for a raw category cell ("III 旅費", "Travel", "ﾘｮﾋ", "旅費（航空券）")."""
        if not category:
            return None
        memo = self._cat_memo
        if category in memo:
            return memo[category]
        key = self._category_key(category[:self.max_chars])
        code = self._cat_exact.get(key)
        if code is None and key:
            found = [(-len(k), key.find(k), c) for k, c in self._cat_contained if k in key]
            if found:
                code = min(found)[2]
            elif len(key) >= 2:
                inside = [(len(k), c) for k, c in self._cat_contained if key in k]
                code = min(inside)[1] if inside else None
        if len(category) <= _MEMO_KEY_MAX:
            if len(memo) > 10_000:
                memo.clear()
            memo[category] = code
        return code

    # -- evidence ----------------------------------------------------------------------------------
    def _japanese_hits(self, folded: str, code: str | None, slots: list[_Slot]) -> list[_Hit]:
        """Term hits on the folded text; the words of word classes are appended to ``slots``."""
        lex = self.lexicon
        index = lex.jp_index
        hits = []
        for start, key in lex.jp_automaton.find(folded):
            entry, classes = index[key]
            if entry is not None and (entry.categories is None or code in entry.categories):
                hits.append(_Hit(entry, False, start, start + len(key)))
            if classes is not None:
                slots.append(_Slot(classes, start, start + len(key)))
        return hits

    def _english_hits(self, tokens: list[str], code: str | None, slots: list[_Slot]) -> list[_Hit]:
        """Term hits on the tokens (typos forgiven); the words of word classes are appended to ``slots``."""
        lex = self.lexicon
        index, n = lex.en_index, len(tokens)
        limit = lex.en_max_tokens
        hits: list[_Hit] = []
        covered = [False] * n
        for i in range(n):
            key, found = "", None
            for j in range(i, min(n, i + limit)):
                key += tokens[j]
                looked = index.get(key)
                if looked is None:             # no key starts with these tokens
                    break
                entry, classes = looked
                if entry is not None and (entry.categories is None or code in entry.categories):
                    found = (j + 1, entry)
                if classes is not None:
                    slots.append(_Slot(classes, i, j + 1))
            if found is not None:
                hits.append(_Hit(found[1], True, i, found[0]))
                for k in range(i, found[0]):
                    covered[k] = True
        typo_index, known = lex.typo_index, lex.known_words
        if not typo_index:
            return hits
        for i in range(n):
            if covered[i]:
                continue
            for j in (i + 1, i + 2):
                if j > n or (j == i + 2 and covered[i + 1]):
                    continue
                if j == i + 1:
                    word = tokens[i]
                    if word in known:
                        continue
                elif tokens[i] in known or tokens[i + 1] in known:
                    continue
                else:
                    word = tokens[i] + tokens[i + 1]
                if len(word) < 5 or not word.isalpha():
                    continue
                entry, classes = self._typo(word, typo_index)
                if entry is not None and (entry.categories is None or code in entry.categories):
                    hits.append(_Hit(entry, True, i, j, typo=True))
                    break
                if classes is not None:
                    slots.append(_Slot(classes, i, j))
                    break
        return hits

    @staticmethod
    def _typo(word: str, index: Mapping[str, tuple[tuple[Entry, ...], tuple[int, ...]]]
              ) -> tuple[Entry | None, tuple[int, ...] | None]:
        """A flagged English term one edit from ``word`` or its singular (doubled letters ignored); else the
        word classes of a pattern word one edit from ``word`` (the index holds their plurals)."""
        forms = [word]
        if word.endswith("ies"):
            forms.append(word[:-3] + "y")
        elif word.endswith("es"):
            forms += [word[:-2], word[:-1]]
        elif word.endswith("s"):
            forms.append(word[:-1])
        classes: tuple[int, ...] | None = None
        for k, form in enumerate(forms):
            short = collapse_doubles(form)
            found = index.get(short)
            if found is None and len(short) >= 7:
                for variant in deletions(short):
                    found = index.get(variant)
                    if found is not None and (found[0] or (k == 0 and classes is None and found[1])):
                        break
            if found is None:
                continue
            entries, slot_classes = found
            if entries:
                return max(entries, key=lambda e: max((w for _, w in e.weights), default=0)), None
            if k == 0 and slot_classes and classes is None:
                classes = slot_classes
        return None, classes

    @staticmethod
    def _visible(hits: list[_Hit]) -> list[_Hit]:
        """Hits (of one side) not lying inside a longer hit (precedence of the longer phrase).

        One sweep in start order, longest first: a hit is inside a longer one exactly when a hit
        before its span reaches its end. Comparing every pair, as before, was quadratic in a line's
        length (the 16,383 hits of 観光 in a full 32,767-character cell: ~9 s).
        """
        if len(hits) < 2:
            return hits
        hidden: set[int] = set()
        reach = before = -1                 # furthest end so far; and before the current span
        span = None
        for h in sorted(hits, key=lambda h: (h.start, -h.end)):
            if (h.start, h.end) != span:    # the same span twice: neither hides the other
                span, before = (h.start, h.end), reach
            if before >= h.end:
                hidden.add(id(h))
            if h.end > reach:
                reach = h.end
        return [h for h in hits if id(h) not in hidden] if hidden else hits

    @staticmethod
    def _outside_legitimate(slots: list[_Slot], hits: list[_Hit]) -> list[_Slot]:
        """Slots not inside a longer hiding term (a term that weighs nothing: キャンパスツアー hides ツアー).

        The lexicon's rule for terms, applied to the words of patterns. One sweep in start order, as
        ``_visible``: linear in the hits, whatever the line's length.
        """
        hiding = sorted((h.start, h.end) for h in hits if not h.entry.weights)
        if not hiding or not slots:
            return slots
        same_start: dict[int, int] = {}
        for start, end in hiding:
            same_start[start] = max(end, same_start.get(start, end))
        out, j, reach = [], 0, -1
        for slot in sorted(slots, key=_FIRST):
            while j < len(hiding) and hiding[j][0] < slot.start:
                reach = max(reach, hiding[j][1])
                j += 1
            if reach < slot.end and same_start.get(slot.start, -1) <= slot.end:
                out.append(slot)
        return out

    def _patterns(self, jp_slots: list[_Slot], jp_hits: list[_Hit], en_slots: list[_Slot],
                  en_hits: list[_Hit]) -> list[_PatternHit]:
        """The lexicon's patterns the line fulfils: a word of each class, no word of a neutraliser class."""
        anywhere: set[int] = set()
        for slot in jp_slots:
            anywhere.update(slot.classes)
        for slot in en_slots:
            anywhere.update(slot.classes)
        candidates = [p for p in self.lexicon.patterns if p.need <= anywhere and not p.block & anywhere]
        if not candidates:
            return []
        first: dict[int, tuple[bool, int, int]] = {}
        for english, slots, hits in ((False, jp_slots, jp_hits), (True, en_slots, en_hits)):
            for slot in self._outside_legitimate(slots, hits):
                for c in slot.classes:
                    if c not in first:
                        first[c] = (english, slot.start, slot.end)
        return [_PatternHit(p, tuple(first[c] for c in p.slots)) for p in candidates
                if all(c in first for c in p.slots)]

    # -- decision ----------------------------------------------------------------------------------
    def classify(self, *, category: str | None = None, description: str | None = None,
                 unit_price: int | None = None, quantity: float | None = None) -> Classification:
        """Classify one budget line (``quantity`` is accepted for convenience: the rules are per unit).

        A description longer than ``max_chars`` is judged on its first ``max_chars`` characters only,
        and the result says so (see the module docstring).
        """
        length = len(description) if description else 0
        if length > self.max_chars:
            return self._truncated(self._classify(category, description[:self.max_chars], unit_price), length)
        return self._classify(category, description, unit_price)

    def _truncated(self, res: Classification, length: int) -> Classification:
        """The verdict on a cut description: the note appended; ``ok`` becomes ``review`` (the rest is unread)."""
        values = {"length": length, "limit": self.max_chars}
        note = self.lexicon.messages.get("truncated", TRUNCATED_NOTE)
        note_ja, note_en = note["ja"].format_map(values), note["en"].format_map(values)
        if res.verdict == "ok":
            return Classification("review", message_ja=note_ja, message_en=note_en, judged_chars=self.max_chars)
        return res._replace(message_ja=f"{res.message_ja}{note_ja}", message_en=f"{res.message_en} {note_en}",
                            judged_chars=self.max_chars)

    def _classify(self, category: str | None, description: str | None, unit_price: int | None) -> Classification:
        code = self.category_code(category)
        if code in self.blocked:
            return self._result("ng", self.blocked[code], _clip((category or "").strip()), unit_price)
        lex = self.lexicon
        coverage = lex.coverage
        if coverage is not None and not (description and description.strip()):
            if (category and category.strip()) or unit_price is not None:
                return self._empty(coverage.reason, coverage.empty, coverage.empty_message)
            return OK                                     # nothing at all on the line
        folded, hits, patterns = self._words(description, code)
        positive: dict[str, dict[int, tuple[int, _Hit | _PatternHit | None]]] = {}
        negative: dict[str, int] = {}
        for h in hits:
            for reason, weight in h.entry.weights:
                weight -= 1 if h.typo and weight > 0 else 0      # a guessed word counts a little less
                self._add(positive, negative, reason, weight, h.entry.group, h)
        for p in patterns:
            self._add(positive, negative, p.pattern.reason, p.pattern.weight, p.pattern.group, p)
        for cats, weights, group in lex.category_weights:
            if code in cats:
                for reason, weight in weights:
                    self._add(positive, negative, reason, weight, group, None)
        price_hit = None
        if unit_price is not None and code is not None:
            for rule, limit in self.amount_rules:
                if code in rule.categories and unit_price >= limit:
                    price_hit = (rule, limit)
                    for reason, weight in rule.weights:
                        self._add(positive, negative, reason, weight, rule.group, None)
        verdict, reason, also = "ok", "", None
        if positive:
            floor = negative.get("*", 0)
            scores = {reason: sum(w for w, _ in groups.values()) + min(negative.get(reason, 0), floor)
                      for reason, groups in positive.items()}
            rank = lex.precedence
            over = [r for r, score in scores.items() if score >= lex.ng]
            if over:                  # several reasons are ng: the precedence says which the line mainly breaks
                over.sort(key=rank.__getitem__)
                verdict, reason, also = "ng", over[0], tuple(over[1:]) or None
            else:
                score, _, reason = max((score, -rank[r], r) for r, score in scores.items())
                verdict = "review" if score >= lex.review else "ok"
        if verdict == "ok":
            if coverage is not None and not any(h.entry.funded for h in hits):
                verdict = coverage.unnamed.get(code or "*", coverage.unnamed["*"])
                if verdict != "ok":   # the line names nothing the call funds
                    return self._result(verdict, coverage.reason, _clip((description or "").strip()), unit_price)
            return OK
        decisive = [h for w, h in sorted(positive[reason].values(), key=lambda wh: -wh[0]) if h is not None]
        if decisive:
            matched = _clip(self._decisive_text(description or "", folded, decisive[0]))
        elif price_hit is not None:
            matched = f"{unit_price:,}円"
        else:
            matched = _clip((category or "").strip()) or None
        limit = price_hit[1] if price_hit else None
        return self._result(verdict, reason, matched, unit_price, limit, also)

    def _words(self, description: str | None, code: str | None) -> tuple[str, list[_Hit], list[_PatternHit]]:
        """The folded text, the visible term hits (both sides) and the patterns the description fulfils."""
        if not description:
            return "", [], []
        normalised = nfkc(description)
        folded = fold_normalised(normalised)
        jp_slots: list[_Slot] = []
        en_slots: list[_Slot] = []
        # every Japanese-side key has a character outside ASCII (pure ASCII terms are English-side)
        jp_hits = [] if folded.isascii() else self._visible(self._japanese_hits(folded, code, jp_slots))
        en_hits = self._visible(self._english_hits(words(normalised), code, en_slots))
        patterns = self._patterns(jp_slots, jp_hits, en_slots, en_hits) if jp_slots or en_slots else []
        return folded, jp_hits + en_hits, patterns

    def evidence(self, *, category: str | None = None, description: str | None = None) -> dict[str, Any]:
        """What the words of a line weigh, for a person checking a verdict (and for tests): the terms matched
        (as the lexicon spells them, with their weights, whether found by reading or as a slip) and the
        patterns the line fulfils, by name."""
        code = self.category_code(category)
        _, hits, patterns = self._words(description[:self.max_chars] if description else None, code)
        return {"category": code,
                "terms": [{"term": h.entry.text, "weights": dict(h.entry.weights), "reading": h.entry.reading,
                           "typo": h.typo, "funded": h.entry.funded} for h in hits],
                "patterns": [p.pattern.name for p in patterns if p.pattern.weight > 0],
                "legitimate_patterns": [p.pattern.name for p in patterns if p.pattern.weight < 0]}

    @staticmethod
    def _add(positive: dict[str, dict[int, tuple[int, _Hit | _PatternHit | None]]], negative: dict[str, int],
             reason: str, weight: int, group: int, hit: _Hit | _PatternHit | None) -> None:
        if weight > 0:
            groups = positive.setdefault(reason, {})
            if group not in groups or groups[group][0] < weight:
                groups[group] = (weight, hit)
        elif weight < 0 and weight < negative.get(reason, 0):
            negative[reason] = weight

    def _decisive_text(self, description: str, folded: str, hit: _Hit | _PatternHit) -> str:
        """The applicant's words behind the deciding evidence: a term, or the words of a pattern.

        A pattern's words close together are quoted as one stretch ("tour of the old market"); far
        apart, each is quoted ("tour … market").
        """
        maps: dict[bool, Any] = {}
        if isinstance(hit, _Hit):
            span = self._span(description, folded, hit.english, hit.start, hit.end, maps)
            return description[span[0]:span[1]] if span else hit.entry.text
        spans = [self._span(description, folded, *part, maps) for part in hit.parts]
        if any(s is None for s in spans):
            return hit.pattern.name
        ordered = sorted(s for s in spans if s is not None)
        if all(b[0] - a[1] <= _GAP for a, b in pairwise(ordered)):
            return description[ordered[0][0]:max(e for _, e in ordered)]
        return " … ".join(description[a:b] for a, b in ordered)

    @staticmethod
    def _span(description: str, folded_fast: str, english: bool, start: int, end: int,
              maps: dict[bool, Any]) -> tuple[int, int] | None:
        """Where a hit's words are in the applicant's text (None when they cannot be traced).

        ``maps`` keeps the token spans and the folding map of the text between calls for one line.
        """
        if english:
            spans = maps[True] if True in maps else maps.setdefault(True, word_spans(description))
            return (spans[start][0], spans[end - 1][1]) if end <= len(spans) else None
        folded, origin = maps[False] if False in maps else maps.setdefault(False, fold_map(description))
        if folded != folded_fast or end > len(origin):
            return None
        first, last = origin[start], origin[end - 1] + 1
        while last < len(description) and (description[last] in _TRAILING
                                           or (description[last] in "ァィゥェォぁぃぅぇぉ"
                                           and description[last - 1] in "ヴゔ")):
            last += 1
        return first, last

    def _fields(self, reason: str, matched: str | None, unit_price: int | None = None,
                limit: int | None = None) -> dict[str, str]:
        info = self.lexicon.reasons[reason]
        clause = self.clauses[reason]
        values = {"limit": f"{limit:,}" if limit is not None else "", "unit_price":
                  f"{unit_price:,}" if unit_price is not None else ""}
        return {
            "matched": matched or "", "label_ja": info["label"]["ja"], "label_en": info["label"]["en"],
            "explanation_ja": info["ja"].format_map(values), "explanation_en": info["en"].format_map(values),
            "document": clause["document"], "document_en": clause["document_en"],
            "section": clause["section"],
        }

    def _result(self, verdict: str, reason: str, matched: str | None, unit_price: int | None,
                limit: int | None = None, also: tuple[str, ...] | None = None) -> Classification:
        fields = self._fields(reason, matched, unit_price, limit)
        template = self.lexicon.messages[verdict]
        ja, en = template["ja"].format_map(fields), template["en"].format_map(fields)
        if also:
            note = self.lexicon.messages.get("also", ALSO_NOTE)
            why = self.lexicon.precedence_notes.get(reason, {}).get("why", {"ja": "", "en": ""})
            reasons = self.lexicon.reasons
            extra = {"labels_ja": "・".join(reasons[r]["label"]["ja"] for r in also),
                     "labels_en": ", ".join(reasons[r]["label"]["en"] for r in also),
                     "why_ja": why["ja"], "why_en": why["en"]}
            ja, en = ja + note["ja"].format_map(extra), en + note["en"].format_map(extra)
        return Classification(verdict, reason, dict(self.clauses[reason]), ja, en, matched, also=also)

    def _empty(self, reason: str, verdict: str, message: dict[str, str]) -> Classification:
        """A line with a category or a price and no description (the lexicon's coverage says its verdict)."""
        if verdict == "ok":
            return OK
        fields = self._fields(reason, None)
        return Classification(verdict, reason, dict(self.clauses[reason]), message["ja"].format_map(fields),
                              message["en"].format_map(fields), None)


def _clip(text: str) -> str:
    """The applicant's text as quoted in a message: a cell-long category or run of dashes is cut."""
    return text if len(text) <= _MATCHED_MAX else text[:_MATCHED_MAX] + "…"


# -- loading -----------------------------------------------------------------------------------------
_BY_ID: dict[str, Classifier] = {}      # packs as they are on disk, by id
_BY_DATA: dict[str, Classifier] = {}    # the last pack data handed in for an id, when it is not the file's


def _pack_file_data(pack_id: str) -> dict[str, Any]:
    """The pack's data as validation sees it: merged with what it ``extends``, checked against the contracts."""
    from pipeline.packs import PackError, load_pack

    try:
        return load_pack(pack_id).data
    except PackError as exc:
        raise LexiconError(str(exc)) from None


def load_classifier(pack: Mapping[str, Any] | Any | str) -> Classifier:
    """The classifier of a pack: its id, its YAML data (dict) or a loaded ``Pack``; built once per pack.

    An id loads packs/<id>.yaml. Data that differ from the file (a pack edited in a test, say) get their
    own classifier and never replace the one of the file.
    """
    if isinstance(pack, str):
        cached = _BY_ID.get(pack)
        if cached is None:
            cached = _BY_ID[pack] = Classifier(_pack_file_data(pack))
        return cached
    data: Mapping[str, Any] = getattr(pack, "data", pack)
    pack_id = data["id"]
    for cache in (_BY_ID, _BY_DATA):
        cached = cache.get(pack_id)
        if cached is not None and (cached.pack_data is data or cached.pack_data == data):
            return cached
    classifier = Classifier(data)
    on_disk = pack_id not in _BY_ID and (packs_dir() / f"{pack_id}.yaml").is_file()
    if on_disk and data == _pack_file_data(pack_id):
        _BY_ID[pack_id] = classifier
    else:
        _BY_DATA[pack_id] = classifier
    return classifier
