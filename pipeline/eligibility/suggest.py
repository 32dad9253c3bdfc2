"""Learning from finance: a proposed lexicon patch from the lines reviewers decided otherwise.

``suggest_from_rows(rows)`` takes decided cost lines, each a mapping {program, category, description,
verdict, reason (the classifier's), decision: approve | disallow | reduce | query, comment}, and returns
a patch to the lexicon YAML as text, for a person to read and accept or not. Nothing here writes a file:
a patch is never applied automatically (``apply_patch`` applies one to lexicon data in memory, which is
how a test, or a person trying a patch, checks what it would do).

Two kinds of disagreement count (a reduced amount or a query is not a verdict on eligibility):
- missed: a line reviewers disallowed that the classifier called ``ok`` or ``review``. Its reason is the
  classifier's own when it said review, else the one the reviewer's comment names (the comment is
  classified with the same lexicon: 「観光のため対象外」 says sightseeing). The patch adds, for that reason,
  the words of the lines (their English words, their runs of kanji or katakana) that make them ng, the
  word shared by most lines first, at the weight the lexicon gives a word that is the point of a line
  (its ng threshold + 2: one legitimate context does not cancel it).
- flagged: a line reviewers approved that the classifier called ``ng``. The patch adds a legitimate
  phrase around the words that decided (culture → culture medium): a longer term hides the terms inside
  it, so the phrase, and only the phrase, passes.
A word or phrase is proposed only if, added to the lexicon, it changes the verdict of the decided lines
and of no line of the guard set (by default the project's labelled corpus, when it is installed). Lines
no single word fixes are listed as unresolved, with why. The patch is grouped by lexicon, then by the
words proposed, each with the lines it fixes (the ``because`` lists).
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.eligibility.matchtext import fold, nfkc, words

DISAGREE = {"disallow": "missed", "approve": "flagged"}      # the decisions that say the verdict was wrong
_STOP = frozenset([  # English words that never make a line ineligible by themselves
    "a", "an", "the", "of", "for", "to", "in", "on", "at", "by", "and", "or", "with", "from", "per", "each", "all",
    "our", "their", "his", "her", "its", "as", "into", "during", "after", "before", "this", "that", "these",
    "those", "is", "are", "be", "fee", "fees", "cost", "costs", "charge", "charges", "expense", "expenses",
    "amount", "total", "incl", "including", "approx", "etc", "participants", "students", "participant",
    "student", "invited", "day", "days", "night", "nights", "one", "two", "three", "four", "five", "pax", "yen",
    "jpy", "usd"])
_RUN = re.compile(r"[\u4e00-\u9fff々〆ヶ]{2,}|[\u30a1-\u30fa\u30fc]{3,}")
_MAX_CANDIDATES = 8     # words tried per line (each try compiles the lexicon once)
NO_WORD = ("どの語を加えても判定が変わらないか、コーパスの行の判定が変わります / "
           "no word of the line makes it ng without changing a corpus line")


# ---- reading decisions ----------------------------------------------------------------------------

def disagreements(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The decided lines whose decision contradicts the classifier's verdict, with their kind."""
    out = []
    for row in rows:
        kind = DISAGREE.get(str(row.get("decision") or "").strip().lower())
        verdict = row.get("verdict")
        if (kind == "missed" and verdict in ("ok", "review")) or (kind == "flagged" and verdict == "ng"):
            out.append({**row, "kind": kind})
    return out


def candidate_words(description: str) -> list[str]:
    """The words of a line that could be a lexicon term, in the line's order: each English word after the pair
    it starts (street food, street, food crawl …), then the runs of kanji or katakana. A budget line names
    its item first, so the first words are tried first; stop words, numbers and short words are left out."""
    text = unicodedata.normalize("NFKC", description)
    tokens = words(nfkc(text))
    found: list[str] = []
    for i, t in enumerate(tokens):
        if t in _STOP or t.isdigit() or len(t) < 3:
            continue
        if i + 1 < len(tokens) and tokens[i + 1] not in _STOP and not tokens[i + 1].isdigit():
            found.append(f"{t} {tokens[i + 1]}")
        found.append(t)
    found += _RUN.findall(text)
    return list(dict.fromkeys(found))


# ---- the patch ------------------------------------------------------------------------------------

class _Trial:
    """A lexicon with proposed terms added, compiled, and classifiers for the packs that use it."""

    def __init__(self, data: dict[str, Any], path: Path, packs: dict[str, Mapping[str, Any]]) -> None:
        from pipeline.eligibility.classifier import Classifier
        from pipeline.eligibility.lexicon import compile_data

        lexicon = compile_data(data, path)
        self.classifiers = {pid: Classifier(pack, lexicon) for pid, pack in packs.items()}

    def judge(self, row: Mapping[str, Any]) -> tuple[str, str | None]:
        res = self.classifiers[row["program"]].classify(category=row.get("category"),
                                                        description=row.get("description"),
                                                        unit_price=_int(row.get("unit_price")))
        return res.verdict, res.reason


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    from pipeline.normalise import NormaliseError, to_yen

    try:
        return to_yen(str(value))
    except NormaliseError:
        return None


def _with_groups(data: dict[str, Any], terms: list[dict[str, Any]], legit: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for t in terms:
        out["terms"].append({"weights": {t["reason"]: t["weight"]}, "note": "suggested from finance decisions",
                             "match": list(t["match"])})
    if legit:
        out["terms"].append({"weights": {}, "note": "suggested from finance decisions: legitimate phrases",
                             "match": list(legit)})
    return out


def _known_keys(data: dict[str, Any]) -> set[str]:
    """Every term of the lexicon as it is matched (a proposal must be new, or it is in two groups)."""
    keys = set()
    for group in data["terms"]:
        for text in group["match"]:
            keys.add(fold(text))
            keys.add("".join(words(nfkc(text))))
    return keys


def _contains(description: str, word: str) -> bool:
    if re.fullmatch(r"[a-z0-9 ]+", word):
        tokens = words(nfkc(description))
        want = word.split()
        return any(tokens[i:i + len(want)] == want for i in range(len(tokens)))
    return fold(word) in fold(description)


def suggest(rows: Iterable[Mapping[str, Any]], guard: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The proposed patch as data: {lexicon id: {file, add_terms, add_legitimate, unresolved}}."""
    from pipeline.eligibility.classifier import _pack_file_data, load_classifier
    from pipeline.eligibility.lexicon import LexiconError

    decided = disagreements(rows)
    guard_rows = list(guard or [])
    by_lexicon: dict[Path, dict[str, Any]] = {}
    for row in decided:
        try:
            clf = load_classifier(row["program"])
        except LexiconError:
            continue
        entry = by_lexicon.setdefault(clf.lexicon.path, {"lines": [], "packs": {}})
        entry["lines"].append(row)
    patch: dict[str, Any] = {}
    for path, entry in sorted(by_lexicon.items()):
        from pipeline import datacache

        data = datacache.parse_yaml(path.read_bytes())
        packs = {}
        for row in [*entry["lines"], *guard_rows]:
            pid = row.get("program")
            if pid and pid not in packs:
                try:
                    if load_classifier(pid).lexicon.path == path:
                        packs[pid] = _pack_file_data(pid)
                except LexiconError:
                    continue
        guarded = [r for r in guard_rows if r.get("program") in packs]
        patch[data["id"]] = _suggest_one(data, path, packs, entry["lines"], guarded)
    return patch


def _suggest_one(data: dict[str, Any], path: Path, packs: dict[str, Mapping[str, Any]],
                 lines: list[dict[str, Any]], guard: list[Mapping[str, Any]]) -> dict[str, Any]:
    from pipeline.eligibility.classifier import load_classifier

    base = _Trial(data, path, packs)
    before = [base.judge(r) for r in guard]
    weight = data["thresholds"]["ng"] + 2
    known = _known_keys(data)
    terms: list[dict[str, Any]] = []          # {reason, weight, match: [word], because: [...]}
    legit: list[dict[str, Any]] = []          # {match: [phrase], hides: word, because: [...]}
    unresolved: list[dict[str, Any]] = []

    def safe(trial: _Trial) -> bool:
        return all(trial.judge(r) == b for r, b in zip(guard, before, strict=True))

    missed = [r for r in lines if r["kind"] == "missed"]
    flagged = [r for r in lines if r["kind"] == "flagged"]
    # missed lines: the reason, then words shared by most lines of that reason first
    todo: dict[str, list[dict[str, Any]]] = {}
    for row in missed:
        reason = row.get("reason") if row.get("verdict") == "review" else None
        if not reason and row.get("comment"):
            said = load_classifier(row["program"]).classify(description=str(row["comment"]))
            reason = said.reason if said.verdict != "ok" else None
        if not reason or reason not in data["reasons"]:
            unresolved.append(_because(row, "理由が分かりません（判定は ok、コメントにも理由の語がありません）/ "
                                            "no reason: the classifier said ok and the comment names none"))
            continue
        todo.setdefault(reason, []).append(row)
    for reason, group in todo.items():
        left = list(group)
        while left:
            counts: dict[str, list[dict[str, Any]]] = {}
            for row in left:
                for w in candidate_words(str(row.get("description") or ""))[:_MAX_CANDIDATES]:
                    if fold(w) not in known and w.replace(" ", "") not in known:
                        counts.setdefault(w, []).append(row)
            chosen = None
            for w, _ in sorted(counts.items(), key=lambda kv: -len(kv[1])):     # shared by most lines, then first
                proposed = [*terms, {"reason": reason, "weight": weight, "match": [w]}]
                trial = _Trial(_with_groups(data, proposed, [t["match"][0] for t in legit]), path, packs)
                fixed = [r for r in left if _contains(str(r.get("description") or ""), w)
                         and trial.judge(r) == ("ng", reason)]
                if fixed and safe(trial):
                    chosen = (w, fixed)
                    break
            if chosen is None:
                for row in left:
                    unresolved.append(_because(row, NO_WORD))
                break
            w, fixed = chosen
            terms.append({"reason": reason, "weight": weight, "match": [w],
                          "because": [_because(r) for r in fixed]})
            known.add(fold(w))
            left = [r for r in left if r not in fixed]
    # flagged lines: a legitimate phrase around the words that decided
    for row in flagged:
        res = load_classifier(row["program"]).classify(category=row.get("category"),
                                                       description=row.get("description"),
                                                       unit_price=_int(row.get("unit_price")))
        phrase = None
        for p in _phrases(str(row.get("description") or ""), res.matched or ""):
            if fold(p) in known or p.replace(" ", "") in known:
                continue
            trial = _Trial(_with_groups(data, terms, [*(x["match"][0] for x in legit), p]), path, packs)
            if trial.judge(row)[0] != "ng" and safe(trial):
                phrase = p
                break
        if phrase is None:
            unresolved.append(_because(row, f"「{res.matched}」を含む語句で判定を変えられません / no phrase around "
                                            f"'{res.matched}' passes the line without changing a corpus line"))
            continue
        known.add(fold(phrase))
        legit.append({"match": [phrase], "hides": res.matched, "because": [_because(row)]})
    return {"file": f"lexicons/{path.name}", "add_terms": terms, "add_legitimate": legit, "unresolved": unresolved}


def _phrases(description: str, matched: str) -> list[str]:
    """Legitimate phrases to propose around the words that decided: the matched words with a neighbour."""
    if not matched:
        return []
    tokens = words(nfkc(description))
    inner = words(nfkc(matched))
    out: list[str] = []
    if inner:
        n = len(inner)
        for i in range(len(tokens) - n + 1):
            if tokens[i:i + n] == inner:
                if i + n < len(tokens):
                    out.append(" ".join(tokens[i:i + n + 1]))
                if i > 0:
                    out.append(" ".join(tokens[i - 1:i + n]))
                if i > 0 and i + n < len(tokens):
                    out.append(" ".join(tokens[i - 1:i + n + 1]))
                break
    else:
        text = unicodedata.normalize("NFKC", description)
        at = text.find(unicodedata.normalize("NFKC", matched))
        if at >= 0:
            for run in _RUN.finditer(text):
                if run.start() <= at + len(matched) and at <= run.end() and len(run.group()) > len(matched):
                    out.append(run.group())
            end = at + len(matched)
            for extra in (1, 2, 3):
                if end + extra <= len(text):
                    out.append(text[at:end + extra])
                if at - extra >= 0:
                    out.append(text[at - extra:end])
    return [p for p in dict.fromkeys(out) if p.strip() and len(fold(p)) >= 2]


def _because(row: Mapping[str, Any], why: str | None = None) -> dict[str, Any]:
    out = {"program": row.get("program"), "category": row.get("category"), "description": row.get("description"),
           "classifier": f"{row.get('verdict')}/{row.get('reason') or '-'}", "decision": row.get("decision"),
           "comment": row.get("comment")}
    if why:
        out["why"] = why
    return {k: v for k, v in out.items() if v not in (None, "")}


# ---- text for a person, and applying it in memory -------------------------------------------------

HEADER = """\
# shinsei lexicon suggest: 語彙ファイルへの変更の提案です。自動では適用されません。
# A proposed change to the lexicon, from the lines finance reviewers decided otherwise. Never applied automatically.
# 対象 Files: {files}
# 各項目を確認し、採用するものだけを語彙ファイルに書き写してください。漢字の語には読みを付けてください
# （python -m pipeline.eligibility.readings --write）。/ Read each entry and copy what you accept into the
# lexicon file; then give new kanji terms their readings (python -m pipeline.eligibility.readings --write).
#   add_terms       対象外にする語 / words that make the disallowed lines ng for `reason` (a term group each)
#   add_legitimate  対象とする語句 / phrases that pass the approved lines (weights {{}}: they hide the word inside)
#   unresolved      語ひとつでは直せない行 / lines no single word or phrase fixes without changing a corpus line
#   because         その項目で直る判断済みの行 / the decided lines each entry fixes
"""


def render(patch: Mapping[str, Any]) -> str:
    """The patch as YAML text with a header saying what it is (nothing in it is applied)."""
    import yaml

    files = ", ".join(sorted(f"packs/{p['file']}" for p in patch.values())) or "-"
    body = yaml.safe_dump(dict(patch), allow_unicode=True, sort_keys=False, width=110) if patch else "{}\n"
    return HEADER.format(files=files) + body


def suggest_from_rows(rows: Iterable[Mapping[str, Any]], guard: Iterable[Mapping[str, Any]] | None = None) -> str:
    """The proposed lexicon patch (YAML text) for decided lines: what ``shinsei lexicon suggest`` prints.

    ``guard``: labelled lines (program, category, description, unit_price …) whose verdicts the patch must
    not change; by default the project's labelled corpus (tests/data/eligibility/corpus.tsv) when present.
    """
    if guard is None:
        guard = default_guard()
    return render(suggest(rows, guard))


def default_guard() -> list[dict[str, str]]:
    """The project's labelled corpus, when this is a checkout (an installed wheel has none)."""
    from pipeline.eligibility.scoring import read_corpus
    from pipeline.resources import packs_dir

    path = packs_dir().parent / "tests" / "data" / "eligibility" / "corpus.tsv"
    return read_corpus(path) if path.is_file() else []


def apply_patch(lexicon_data: Mapping[str, Any], patch: str | Mapping[str, Any]) -> dict[str, Any]:
    """Lexicon data with a patch's terms and legitimate phrases added (a copy; nothing is written)."""
    if isinstance(patch, str):
        from pipeline import datacache

        patch = datacache.parse_yaml(patch) or {}
    mine = patch.get(lexicon_data["id"]) or {}
    terms = [{"reason": t["reason"], "weight": t["weight"], "match": t["match"]} for t in mine.get("add_terms", [])]
    legit = [p for entry in mine.get("add_legitimate", []) for p in entry["match"]]
    return _with_groups(dict(lexicon_data), terms, legit)
