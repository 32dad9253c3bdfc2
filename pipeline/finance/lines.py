"""The lines a finance reviewer sees in one file: every cost line, and every rule finding on money.

Each line gets two keys. ``line_key`` names the line across versions of its application (the
application's key, the category and description of a cost line with its occurrence, or the code and
place of a finding): a resubmission that leaves a line alone gives it the same key, so its decision
carries over. ``content_key`` also covers what the line asks for (every column: price, quantity,
amount …): a decision taken on other content does not apply, and the worklist says the line changed.

Which findings are on money is the check kind's declaration (``Contract.money``), not a list here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import cache
from typing import Any

import orjson

from pipeline import datacache
from pipeline.packs import Pack, load_pack
from pipeline.resources import packs_dir
from pipeline.rules.checks import CONTRACTS

KEY_CHARS = 20  # hex characters of a line key: 80 bits, unique among millions of lines
_SPACE = re.compile(r"\s+")


@cache
def vocabulary() -> dict[str, Any]:
    """Decisions, statuses and marks with their Japanese and English words (packs/common/finance-review.yaml)."""
    return datacache.load_yaml(packs_dir() / "common" / "finance-review.yaml")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:KEY_CHARS]


def _folded(text: Any) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", str(text or ""))).strip().casefold()


@cache
def _money_codes(program: str) -> frozenset[str]:
    """The codes of the pack's rules whose check kind judges money (errors and warnings only)."""
    pack = load_pack(program)
    return frozenset(r["code"] for r in pack.rules
                     if CONTRACTS.get(r.get("check", ""), None) is not None and CONTRACTS[r["check"]].money
                     and r.get("severity") in ("error", "warning"))


def category_label(pack: Pack, code: Any) -> str | None:
    """The budget category as the call writes it (III 旅費) for a code (travel); None if the code is unknown."""
    return _layout(pack.id)[2].get(code) if isinstance(code, str) else None


@cache
def _layout(program: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The pack's budget table, its columns by concept, and its category labels by code (once per process)."""
    pack = load_pack(program)
    table = pack.bound_table("budget") or ""
    col = {concept: pack.bind("budget", concept) or concept
           for concept in ("category", "subcategory", "description", "unit_price", "quantity", "amount")}
    column = pack.column(table, col["category"]) or {}
    labels = {item.code: item.ja for item in pack.lists.get(column.get("list", ""), [])}
    return table, col, labels


def cost_findings(findings: list[dict[str, Any]], table: str) -> dict[int, dict[str, Any]]:
    """The classifier's finding on each line of the budget ``table``, by line index (lines judged ok have none)."""
    out: dict[int, dict[str, Any]] = {}
    for f in findings:
        if not f["code"].startswith("cost.") or not isinstance(f.get("actual"), dict):
            continue
        parts = f["location"].get("path", "").split("/")
        if len(parts) >= 3 and parts[1] == table and parts[2].isdigit():
            out[int(parts[2])] = f
    return out


def _clause(f: dict[str, Any]) -> tuple[str, str]:
    c = f.get("clause") or {}
    return f"{c.get('document', '')} {c.get('section', '')}".strip(), c.get("quote") or ""


def line_rows(sha: str, program: str, submission_key: str, submission: dict[str, Any],
              findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Every cost line and money finding of one file, as rows of the ``review_lines`` table, in the order of
    ``LINE_COLUMNS`` (what the ingest's store writes). Built as tuples: a dict of 23 keys a line, turned into
    a tuple afterwards, was a third of a file's rows."""
    table, col, labels = _layout(program)
    bound = set(col.values())  # the content key: bound columns by concept, the rest by value (names aside)
    source = ((submission.get("source") or {}).get("tables") or {}).get(table) or {}
    rows_at = source.get("rows") or []
    sheet = source.get("sheet")
    judged = cost_findings(findings, table)
    seen: dict[tuple[Any, str], int] = {}
    out: list[tuple[Any, ...]] = []
    for i, line in enumerate(submission.get(table) or []):
        category, description = line.get(col["category"]), line.get(col["description"])
        slot = (category, _folded(description))
        n = seen[slot] = seen.get(slot, -1) + 1
        key = _digest(submission_key, "cost", *slot, n)
        content = _digest(key, [line.get(k) for k in col.values()], sorted(repr(v) for k, v in line.items()
                                                                          if k not in bound))
        f = judged.get(i)
        named = category if isinstance(category, str) else None
        label = labels.get(category) if named is not None else None
        row = rows_at[i] if i < len(rows_at) else None
        prices = (line.get(col["subcategory"]), description, line.get(col["unit_price"]),
                  line.get(col["quantity"]), line.get(col["amount"]))
        if f is None:
            out.append((sha, "cost", i, key, content, None, named, label, *prices, "ok", None, None, None, None,
                        None, None, sheet, None, row))
            continue
        clause, quote = _clause(f)
        out.append((sha, "cost", i, key, content, f["code"], named, label, *prices, f["actual"]["verdict"],
                    f["severity"], f["actual"].get("reason"), f["message_ja"], f["message_en"], clause or None,
                    quote or None, sheet, f["location"].get("cell"), row))
    money = _money_codes(program)
    places: dict[tuple[str, str], int] = {}
    for j, f in enumerate(findings):
        if f["code"] not in money:
            continue
        loc = f.get("location") or {}
        place = (f["code"], loc.get("path") or loc.get("cell") or "")
        n = places[place] = places.get(place, -1) + 1
        key = _digest(submission_key, "finding", *place, n)
        actual = f.get("actual")
        amount = actual if isinstance(actual, int) and not isinstance(actual, bool) else None
        clause, quote = _clause(f)
        out.append((sha, "finding", j, key, _digest(key, f.get("expected"), actual, f["message_ja"]), f["code"],
                    None, None, None, None, None, None, amount, "finding", f["severity"], None, f["message_ja"],
                    f["message_en"], clause or None, quote or None, loc.get("sheet"),
                    loc.get("cell") or loc.get("range"), loc.get("row")))
    return out


FLAGGED = ("ng", "review", "finding")  # the verdicts that put a line on the worklist by itself


def flagged(line: dict[str, Any]) -> bool:
    """Whether a line is on the worklist by itself: judged ineligible or doubtful, or a money finding."""
    return line["verdict"] in FLAGGED


LINE_COLUMNS = ("sha256", "kind", "idx", "line_key", "content_key", "code", "category", "category_label",
                "subcategory", "description", "unit_price", "quantity", "amount", "verdict", "severity", "reason",
                "message_ja", "message_en", "clause", "quote", "sheet", "cell", "row")


