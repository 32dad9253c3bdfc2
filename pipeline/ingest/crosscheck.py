"""Checks across submissions (rules in each pack's ``cross_rules``) and concentration tables.

Run on the latest version of every submission after a batch: the same PI twice in a course,
the same person in two applications, overlapping stays. Each finding cites its clause.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.findings import render
from pipeline.normalise import fold_for_match
from pipeline.packs import Pack, load_pack

Doc = dict[str, Any]  # {"key", "file", "program", "submission"}
CrossCheck = Callable[[list[Doc], dict[str, Any]], Iterator[tuple[str, list[Doc]]]]
CROSS_CHECKS: dict[str, CrossCheck] = {}


def cross_check(name: str) -> Callable[[CrossCheck], CrossCheck]:
    def register(fn: CrossCheck) -> CrossCheck:
        CROSS_CHECKS[name] = fn
        return fn
    return register


def _person_key(p: dict[str, Any]) -> tuple[str, str] | None:
    name = p.get("name")
    if not name:
        return None
    return fold_for_match(name), p.get("birth_date") or ""


@cross_check("duplicate_plan_key")
def duplicate_plan_key(docs: list[Doc], params: dict[str, Any]) -> Iterator[tuple[str, list[Doc]]]:
    groups: dict[tuple[str, ...], list[Doc]] = defaultdict(list)
    for d in docs:
        plan = d["submission"].get("plan") or {}
        values = tuple(fold_for_match(str(plan.get(f) or "")) for f in params["fields"])
        if all(values):
            groups[values].append(d)
    for group in groups.values():
        if len(group) > 1:
            plan = group[0]["submission"]["plan"]
            yield " / ".join(str(plan.get(f)) for f in params["fields"]), group


def _people(docs: list[Doc], roles: list[str]) -> dict[tuple[str, str], list[tuple[Doc, dict[str, Any]]]]:
    seen: dict[tuple[str, str], list[tuple[Doc, dict[str, Any]]]] = defaultdict(list)
    for d in docs:
        for p in d["submission"].get("participants") or []:
            key = _person_key(p)
            if key and (not roles or p.get("role") in roles):
                seen[key].append((d, p))
    return seen


@cross_check("same_person_in_several")
def same_person_in_several(docs: list[Doc], params: dict[str, Any]) -> Iterator[tuple[str, list[Doc]]]:
    for entries in _people(docs, params.get("roles", [])).values():
        distinct = {d["key"]: d for d, _ in entries}
        if len(distinct) > 1:
            yield entries[0][1]["name"], list(distinct.values())


@cross_check("overlapping_stays")
def overlapping_stays(docs: list[Doc], params: dict[str, Any]) -> Iterator[tuple[str, list[Doc]]]:
    for entries in _people(docs, params.get("roles", [])).values():
        spans = []
        for d, p in entries:
            for v in d["submission"].get("visits") or []:
                if v.get("participant_no") == p.get("no") and v.get("start") and v.get("end"):
                    spans.append((v["start"], v["end"], d))
        spans.sort(key=lambda s: (s[0], s[1], s[2]["key"]))
        clash: dict[str, Doc] = {}
        for i, (_s1, e1, d1) in enumerate(spans):
            for s2, _e2, d2 in spans[i + 1:]:
                if s2 > e1:
                    break
                if d1["key"] != d2["key"]:
                    clash[d1["key"]], clash[d2["key"]] = d1, d2
        if clash:
            yield entries[0][1]["name"], [clash[k] for k in sorted(clash)]


def run_cross_checks(docs: list[Doc]) -> list[dict[str, Any]]:
    """Cross-submission findings as database rows (deterministic ids), sorted."""
    packs: dict[str, Pack] = {pid: load_pack(pid) for pid in sorted({d["program"] for d in docs})}
    done: set[tuple[str, str]] = set()
    rows: list[dict[str, Any]] = []
    for pid, pack in packs.items():
        for rule in pack.data.get("cross_rules", []):
            if rule["scope"] == "pack":
                scope_id, members = pid, [d for d in docs if d["program"] == pid]
            else:
                scope_id = pack.data["programme"]["id"]
                members = [d for d in docs if packs[d["program"]].data["programme"]["id"] == scope_id]
            if (rule["code"], scope_id) in done:
                continue
            done.add((rule["code"], scope_id))
            clause = pack.clause(rule["clause"])
            for value, group in CROSS_CHECKS[rule["check"]](members, rule["params"]):
                group = sorted(group, key=lambda d: d["file"])
                files = [d["file"] for d in group]
                values = {"value": value, "count": len(group), "files": "、".join(files)}
                ident = hashlib.sha256("|".join([rule["code"], value, *(d["key"] for d in group)]).encode())
                rows.append({
                    "id": ident.hexdigest(), "code": rule["code"], "severity": rule["severity"], "program": scope_id,
                    "value": value, "submissions": [d["key"] for d in group], "files": files,
                    "message_ja": render(rule["message"]["ja"], values),
                    "message_en": render(rule["message"]["en"], values.__or__({"files": ", ".join(files)})),
                    "clause_document": clause["document"], "clause_section": clause["section"],
                })
    return sorted(rows, key=lambda r: (r["program"], r["code"], r["value"], r["id"]))


def concentration(docs: list[Doc]) -> dict[str, list[dict[str, Any]]]:
    """Applications and requested amounts by country, Japanese institution and counterpart institution."""
    by: dict[str, dict[tuple[str, str], list[int]]] = {"country": defaultdict(lambda: [0, 0]),
                                                       "institution": defaultdict(lambda: [0, 0]),
                                                       "counterpart": defaultdict(lambda: [0, 0])}
    for d in docs:
        sub = d["submission"]
        total = sub["totals"]["total"]
        plan = sub.get("plan") or {}
        programme = d["program"]
        countries = sorted({c.get("country") for c in sub.get("counterparts") or [] if c.get("country")}
                           | {p.get("country") for p in sub.get("participants") or [] if p.get("country")})
        for c in countries:
            by["country"][(programme, c)][0] += 1
            by["country"][(programme, c)][1] += total
        inst = plan.get("institution") or "—"
        by["institution"][(programme, inst)][0] += 1
        by["institution"][(programme, inst)][1] += total
        partners = sorted({c.get("institution") for c in sub.get("counterparts") or [] if c.get("institution")}
                          | ({plan["india_institution"]} if plan.get("india_institution") else set()))
        for c in partners:
            by["counterpart"][(programme, c)][0] += 1
            by["counterpart"][(programme, c)][1] += total
    return {dim: [{"program": k[0], dim: k[1], "applications": v[0], "requested_yen": v[1]}
                  for k, v in sorted(rows.items(), key=lambda kv: (kv[0][0], -kv[1][1], kv[0][1]))]
            for dim, rows in by.items()}
