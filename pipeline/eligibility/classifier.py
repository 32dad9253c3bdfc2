"""Decide whether a cost line is eligible: ``ok``, ``ng`` (ineligible) or ``review`` (a person should look).

Order of evidence, strongest first: a category the programme excludes (India: travel,
research); an amount rule (NEXUS goods at or above the consumables threshold); the words of
the line, where an ineligible word wins unless a longer legitimate phrase contains it
(企業見学 vs 見学料); then typo-tolerant English words. No per-line exceptions: all in the lexicon.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from pipeline.eligibility.lexicon import Lexicon, Term, lexicon_for
from pipeline.eligibility.matchtext import deletions, english_words, fold
from pipeline.packs import Pack, load_pack

VERDICT_RANK = {"ng": 2, "review": 1, "ok": 0}


@dataclass(frozen=True)
class Classification:
    verdict: str
    reason: str | None = None
    clause: dict[str, str] | None = None
    message_ja: str | None = None
    message_en: str | None = None
    matched: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


OK = Classification("ok")


class Classifier:
    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self.lexicon: Lexicon = lexicon_for(pack)
        self.category_reason: dict[str, str] = {
            ch.code: ch.extra["reason"] for ch in pack.lists.get("ineligible_categories", []) if "reason" in ch.extra}

    # -- evidence --------------------------------------------------------------------------------
    def _category(self, category: str | None) -> str | None:
        if not category:
            return None
        for list_name in ("budget_categories", "ineligible_categories"):
            ch = self.pack.choice(list_name, category)
            if ch is not None:
                return ch.code
        folded = fold(category)
        for list_name in ("ineligible_categories", "budget_categories"):
            for ch in self.pack.lists.get(list_name, []):
                for alias in (ch.ja, ch.en, *ch.extra.get("aliases", [])):
                    a = fold(alias)
                    if a and (a in folded or folded in a) and len(folded) >= 2:
                        return ch.code
        return None

    def _words(self, description: str, category: str | None = None) -> Term | None:
        """The decisive term of the description: highest verdict, earliest, not shielded by an ok phrase."""
        text = fold(description)
        neutral = {r for words, reasons in self.lexicon.neutralisers if any(w in text for w in words) for r in reasons}
        hits: list[tuple[int, int, Term]] = []
        for m in self.lexicon.pattern.finditer(text):
            term = self.lexicon.terms[m.group(1)]
            hits.append((m.start(), m.start() + len(term.folded), term))
        shields = [(s, e) for s, e, t in hits if t.verdict == "ok"]
        best: tuple[int, int, Term] | None = None
        for s, e, t in hits:
            if t.verdict == "ok" or (category and category in t.not_in):
                continue
            if t.verdict == "review" and t.reason in neutral:
                continue
            if any(ss <= s and e <= se and (se - ss) > (e - s) for ss, se in shields):
                continue
            if best is None or VERDICT_RANK[t.verdict] > VERDICT_RANK[best[2].verdict]:
                best = (s, e, t)
        if best is not None and best[2].verdict == "ng":
            return best[2]
        typo = self._typo(description)
        if typo is not None and (typo.reason in neutral and typo.verdict == "review"):
            typo = None
        if typo is not None and (best is None or VERDICT_RANK[typo.verdict] > VERDICT_RANK[best[2].verdict]):
            return typo
        return best[2] if best is not None else None

    def _typo(self, description: str) -> Term | None:
        """An English word one edit away from a lexicon word (sightseing, souvenier, admision)."""
        found: Term | None = None
        for word in english_words(description):
            if len(word) < 6 or word in self.lexicon.terms:
                continue
            for variant in {word} | deletions(word):
                term = self.lexicon.typo_index.get(variant)
                if term is not None and abs(len(term.folded) - len(word)) <= 1:
                    if found is None or VERDICT_RANK[term.verdict] > VERDICT_RANK[found.verdict]:
                        found = term
        return found

    # -- decision --------------------------------------------------------------------------------
    def classify(self, *, category: str | None = None, description: str | None = None,
                 unit_price: int | None = None, quantity: float | None = None) -> Classification:
        code = self._category(category)
        if code in self.category_reason:
            return self._result("ng", self.category_reason[code], category or code)
        description = description or ""
        term = self._words(description, code) if description else None
        if term is not None and term.verdict == "ng":
            return self._result("ng", term.reason, self._source_span(description, term))
        for rule in self.lexicon.amount_rules:
            limit = self.pack.money.get(rule["min_unit_price_from"])
            if limit is not None and code in rule["categories"] and unit_price is not None and unit_price >= limit:
                soft = self.lexicon.soften_terms.get(rule["reason"], [])
                folded = fold(description)
                verdict = rule.get("soften_to", "review") if any(s in folded for s in soft) else rule["verdict"]
                return self._result(verdict, rule["reason"], f"{unit_price:,}円", limit=limit)
        if term is not None:
            return self._result(term.verdict, term.reason, self._source_span(description, term))
        return OK

    def _source_span(self, description: str, term: Term) -> str:
        """The part of the original text that matched, when it can be found; else the lexicon's word."""
        folded_chars = []
        positions = []
        for i, ch in enumerate(description):
            f = fold(ch)
            for c in f:
                folded_chars.append(c)
                positions.append(i)
        joined = "".join(folded_chars)
        at = joined.find(term.folded)
        if at < 0:
            return term.text
        start, end = positions[at], positions[at + len(term.folded) - 1] + 1
        while end < len(description) and not fold(description[end]) and not description[end].isspace():
            end += 1  # a trailing long-vowel mark or hyphen belongs to the word
        return description[start:end]

    def _result(self, verdict: str, reason: str | None, matched: str | None, **values: Any) -> Classification:
        info = self.lexicon.reasons[reason] if reason else {}
        clause = self.pack.clause(info["clause"]) if info else None
        where = f"{clause['document']} {clause['section']}" if clause else ""
        where_en = f"{clause['document_en']} {clause['section']}" if clause else ""
        if verdict == "ng":
            ja = f"「{matched}」: {info['ja']}（{where}）"
            en = f"'{matched}': {info['en']} ({where_en})"
        else:
            ja = f"「{matched}」: {info['ja']} 対象外の可能性があります。内容を確認してください（{where}）"
            en = f"'{matched}': {info['en']} It may be ineligible: please check ({where_en})"
        if values.get("limit") is not None:
            ja = ja.replace("{limit}", f"{values['limit']:,}")
            en = en.replace("{limit}", f"{values['limit']:,}")
        return Classification(verdict, reason, clause, ja, en, matched)


@cache
def _classifier(pack_id: str) -> Classifier:
    return Classifier(load_pack(pack_id))


def load_classifier(pack: Pack | dict[str, Any] | str) -> Classifier:
    """The classifier of a pack (a Pack, its data dict, or its id), built once per process."""
    if isinstance(pack, Pack):
        return _classifier(pack.id)
    if isinstance(pack, dict):
        return _classifier(pack["id"])
    return _classifier(pack)
