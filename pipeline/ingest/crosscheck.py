"""Checks across submissions (rules in each pack's ``cross_rules``) and concentration tables.

Run on the latest version of every submission after a batch: the same PI twice in a course, the same
person in two applications, overlapping stays, simultaneous applications that do not say how they
relate. Each cross rule names its scope — what the submissions compared share (programme, course,
fiscal year) — so an FY2025 and an FY2026 application sharing a person do not collide unless the rule
says so. Tables and columns come from each form's bindings and ``report`` section; each finding cites
its clause. Every cross check declares its contract, checked when the pack is loaded.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.findings import render
from pipeline.normalise import fold_for_match
from pipeline.packs import Pack, load_pack
from pipeline.record import Record
from pipeline.rules.contract import Contract, message_params

Doc = dict[str, Any]  # {"key", "file", "program", "submission"}


class CrossHit(Record):
    """Submissions that together break a cross rule, the value they share, and values for the message."""

    _fields = ("value", "docs", "values")
    __slots__ = _fields

    def __init__(self, value: str, docs: list[Doc], values: dict[str, Any] | None = None) -> None:
        self.value = value
        self.docs = docs
        self.values = {} if values is None else values


CrossCheck = Callable[[list[Doc], dict[str, Any], dict[str, Pack]], Iterator[CrossHit]]
CROSS_CHECKS: dict[str, CrossCheck] = {}
CROSS_CONTRACTS: dict[str, Contract] = {}
_SHARED = ("value", "count", "files")


def cross_check(name: str, params: dict[str, Any] | None = None, values: tuple[str, ...] = (),
                reads: tuple[str, ...] = ()) -> Callable[[CrossCheck], CrossCheck]:
    def register(fn: CrossCheck) -> CrossCheck:
        CROSS_CHECKS[name] = fn
        CROSS_CONTRACTS[name] = Contract(params or {}, frozenset((*_SHARED, *values)), reads)
        return fn
    return register


def _col(packs: dict[str, Pack], d: Doc, group: str, concept: str) -> str | None:
    return packs[d["program"]].bind(group, concept)


def _rows(packs: dict[str, Pack], d: Doc, group: str) -> list[dict[str, Any]]:
    table = packs[d["program"]].bound_table(group)
    return (d["submission"].get(table) or []) if table else []


def _person_key(packs: dict[str, Pack], d: Doc, p: dict[str, Any]) -> tuple[str, str] | None:
    name = p.get(_col(packs, d, "people", "name") or "")
    if not name:
        return None
    return fold_for_match(name), p.get(_col(packs, d, "people", "birth_date") or "") or ""


@cross_check("duplicate_plan_key", {"fields": "fields"})
def duplicate_plan_key(docs: list[Doc], params: dict[str, Any], packs: dict[str, Pack]) -> Iterator[CrossHit]:
    """Several submissions with the same plan fields (the same PI at the same institution)."""
    for value, group in _plan_groups(docs, params["fields"]).items():
        if len(group) > 1:
            yield CrossHit(value, group)


def _plan_groups(docs: list[Doc], fields: list[str]) -> dict[str, list[Doc]]:
    groups: dict[tuple[str, ...], list[Doc]] = defaultdict(list)
    for d in docs:
        plan = d["submission"].get("plan") or {}
        values = tuple(fold_for_match(str(plan.get(f) or "")) for f in fields)
        if all(values):
            groups[values].append(d)
    return {" / ".join(str(g[0]["submission"]["plan"].get(f)) for f in fields): g for g in groups.values()}


def _people(docs: list[Doc], roles: list[str], packs: dict[str, Pack]
            ) -> dict[tuple[str, str], list[tuple[Doc, Any, Any]]]:
    """Each person (folded name, date of birth) with every submission naming them: (document, name, number).

    Only the name and the number are kept of a person, not the row: a slim document is parsed again at each
    access, so every row kept would keep its parse (~19 MB held for 5,000 submissions)."""
    seen: dict[tuple[str, str], list[tuple[Doc, Any, Any]]] = defaultdict(list)
    for d in docs:
        role = _col(packs, d, "people", "role") or ""
        name, no = _col(packs, d, "people", "name") or "", _col(packs, d, "people", "no")
        for p in _rows(packs, d, "people"):
            key = _person_key(packs, d, p)
            if key and (not roles or p.get(role) in roles):
                seen[key].append((d, p[name], p.get(no) if no else None))
    return seen


_PEOPLE = ("people.name", "people.birth_date", "people.role")


@cross_check("same_person_in_several", {"roles?": "roles"}, reads=_PEOPLE)
def same_person_in_several(docs: list[Doc], params: dict[str, Any], packs: dict[str, Pack]) -> Iterator[CrossHit]:
    """The same person (name and date of birth) in several submissions."""
    for entries in _people(docs, params.get("roles") or [], packs).values():
        distinct = {d["key"]: d for d, _, _ in entries}
        if len(distinct) > 1:
            yield CrossHit(entries[0][1], list(distinct.values()))


@cross_check("overlapping_stays", {"roles?": "roles"},
             reads=(*_PEOPLE, "people.no", "visits.person", "visits.start", "visits.end"))
def overlapping_stays(docs: list[Doc], params: dict[str, Any], packs: dict[str, Pack]) -> Iterator[CrossHit]:
    """The same person's stays overlapping between submissions."""
    for entries in _people(docs, params.get("roles") or [], packs).values():
        spans = []
        for d, _, no in entries:
            person = _col(packs, d, "visits", "person")
            start, end = _col(packs, d, "visits", "start"), _col(packs, d, "visits", "end")
            for v in _rows(packs, d, "visits"):
                if v.get(person) == no and v.get(start) and v.get(end):
                    spans.append((v[start], v[end], d))
        spans.sort(key=lambda s: (s[0], s[1], s[2]["key"]))
        clash: dict[str, Doc] = {}
        for i, (_s1, e1, d1) in enumerate(spans):
            for s2, _e2, d2 in spans[i + 1:]:
                if s2 > e1:
                    break
                if d1["key"] != d2["key"]:
                    clash[d1["key"]], clash[d2["key"]] = d1, d2
        if clash:
            yield CrossHit(entries[0][1], [clash[k] for k in sorted(clash)])


@cross_check("related_field_required", {"fields": "fields", "across": "enum:course|pack", "field": "field"},
             values=("missing", "label_ja", "label_en"))
def related_field_required(docs: list[Doc], params: dict[str, Any], packs: dict[str, Pack]) -> Iterator[CrossHit]:
    """Submissions with the same plan fields in different courses (or packs) — simultaneous applications —
    where ``field`` (how they relate) is empty in any of them."""
    def side(d: Doc) -> str:
        pack = packs[d["program"]]
        return pack.data["course"]["id"] if params["across"] == "course" else pack.id

    for value, group in _plan_groups(docs, params["fields"]).items():
        if len({side(d) for d in group}) < 2:
            continue
        missing = sorted((d for d in group if not (d["submission"].get("plan") or {}).get(params["field"])),
                         key=lambda d: d["file"])
        if missing:
            spec = packs[missing[0]["program"]].fields.get(params["field"], {})
            label = spec.get("label", {"ja": params["field"], "en": params["field"]})
            yield CrossHit(value, group, {"missing": [d["file"] for d in missing],
                                          "label_ja": label["ja"], "label_en": label["en"]})


def _scope(pack: Pack, scope: list[str]) -> tuple[Any, ...]:
    attrs = {"pack": pack.id, "programme": pack.data["programme"]["id"], "course": pack.data["course"]["id"],
             "fiscal_year": pack.data["fiscal_year"]}
    return tuple(attrs[s] for s in scope)


def _scope_label(pack: Pack, scope: list[str]) -> str:
    """How a finding names its scope: the pack id, or e.g. nexus-ytec/2025 (both courses of FY2025)."""
    if "pack" in scope:
        return pack.id
    return "/".join(str(v) for v in _scope(pack, scope))


def run_cross_checks(docs: list[Doc]) -> list[dict[str, Any]]:
    """Cross-submission findings as database rows (deterministic ids), sorted."""
    packs: dict[str, Pack] = {pid: load_pack(pid) for pid in sorted({d["program"] for d in docs})}
    done: set[tuple[str, tuple[Any, ...]]] = set()
    rows: list[dict[str, Any]] = []
    for _pid, pack in packs.items():
        for rule in pack.cross_rules:
            scope = rule["scope"]
            scope_key = _scope(pack, scope)
            if (rule["code"], scope_key) in done:
                continue
            done.add((rule["code"], scope_key))
            members = [d for d in docs if _scope(packs[d["program"]], scope) == scope_key]
            scope_id = _scope_label(pack, scope)
            clause = pack.clause(rule["clause"])
            base = {**pack.message_values(), **message_params(rule["params"])}
            for hit in CROSS_CHECKS[rule["check"]](members, rule["params"], packs):
                group = sorted(hit.docs, key=lambda d: d["file"])
                files = [d["file"] for d in group]
                values = {**base, **hit.values, "value": hit.value, "count": len(group), "files": files}
                ident = hashlib.sha256("|".join([rule["code"], hit.value, *(d["key"] for d in group)]).encode())
                rows.append({
                    "id": ident.hexdigest(), "code": rule["code"], "severity": rule["severity"], "program": scope_id,
                    "value": hit.value, "submissions": [d["key"] for d in group], "files": files,
                    "message_ja": render(rule["message"]["ja"], _joined(values, "、")),
                    "message_en": render(rule["message"]["en"], _joined(values, ", ")),
                    "clause_document": clause["document"], "clause_section": clause["section"],
                })
    return sorted(rows, key=lambda r: (r["program"], r["code"], r["value"], r["id"]))


def _joined(values: dict[str, Any], sep: str) -> dict[str, Any]:
    """Lists (file names) joined as each language writes a list."""
    return {k: sep.join(map(str, v)) if isinstance(v, list) else v for k, v in values.items()}


def _report_values(pack: Pack, sub: dict[str, Any], name: str) -> list[str]:
    """The values the form's ``report.<name>`` points at (plan fields, table columns); list codes only
    for columns with a list (text typed outside the list, such as 日本 for a country, is left out)."""
    out: list[str] = []
    for ref in pack.form.get("report", {}).get(name, []):
        if "field" in ref:
            value = (sub.get("plan") or {}).get(ref["field"])
            if value:
                out.append(value)
            continue
        spec = pack.column(ref["table"], ref["column"]) or {}
        codes = {ch.code for ch in pack.lists.get(spec.get("list", ""), [])} if spec.get("list") else None
        for row in sub.get(ref["table"]) or []:
            value = row.get(ref["column"])
            if value and (codes is None or value in codes):
                out.append(value)
    return out


def _split(total: int, values: list[str]) -> list[tuple[str, int]]:
    """``total`` split equally among ``values`` in whole yen (the first ones take the remainder): the shares
    add up to the total, so a plan with two countries is not counted twice in the amounts."""
    if not values:
        return []
    share, rest = divmod(total, len(values))
    return [(v, share + (1 if i < rest else 0)) for i, v in enumerate(values)]


CONCENTRATION_DIMS = ("country", "institution", "counterpart")  # concentration's tables, in this order


def concentration(docs: list[Doc]) -> dict[str, list[dict[str, Any]]]:
    """Applications and requested amounts by country, Japanese institution and counterpart institution.

    An application counts once in each of its countries (and counterparts), but its amount is split
    equally among them: the amounts of a table add up to the amount requested."""
    by: dict[str, dict[tuple[str, str], list[int]]] = {dim: defaultdict(lambda: [0, 0]) for dim in CONCENTRATION_DIMS}
    packs: dict[str, Pack] = {}
    for d in docs:
        pack = packs.get(d["program"]) or packs.setdefault(d["program"], load_pack(d["program"]))
        sub = d["submission"]
        total = sub["totals"].get(pack.bind("totals", "total") or "", 0)
        programme = d["program"]
        inst = next(iter(_report_values(pack, sub, "institutions")), None) or "—"
        for dim, values in (("country", _report_values(pack, sub, "countries")), ("institution", [inst]),
                            ("counterpart", _report_values(pack, sub, "counterparts"))):
            for value, share in _split(total, sorted(set(values))):
                by[dim][(programme, value)][0] += 1
                by[dim][(programme, value)][1] += share
    return {dim: [{"program": k[0], dim: k[1], "applications": v[0], "requested_yen": v[1]}
                  for k, v in sorted(rows.items(), key=lambda kv: (kv[0][0], -kv[1][1], kv[0][1]))]
            for dim, rows in by.items()}
