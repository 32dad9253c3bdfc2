"""Run a pack's rules over a submission: every rule, every breach, collected (never stop early)."""

from __future__ import annotations

from typing import Any

from pipeline.findings import Finding, render
from pipeline.packs import Pack
from pipeline.rules.checks import CHECKS
from pipeline.rules.context import Context
from pipeline.rules.contract import message_params

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


class UnknownCheck(Exception):
    """A rule names a check kind the engine does not have (a pack newer than the code)."""


STAGES = ("draft", "submission")


def run_rules(sub: dict[str, Any], pack: Pack, stage: str = "draft") -> list[Finding]:
    """Every rule of the pack for ``stage``: "draft" runs the rules without a stage;
    "submission" (the pre-submission check) adds those marked ``stage: submission``."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    ctx = Context(sub, pack)
    out: list[Finding] = []
    pack_values = pack.message_values()
    for rule in pack.rules:
        if rule.get("stage", "draft") == "submission" and stage != "submission":
            continue
        fn = CHECKS.get(rule["check"])
        if fn is None:
            raise UnknownCheck(f"{pack.id}: rule {rule['code']} uses unknown check {rule['check']!r}")
        base: dict[str, Any] | None = None
        for hit in fn(ctx, rule["params"]):
            if base is None:  # a message may quote the rule's own numbers ({max_age}, {min_days} …)
                base = {**pack_values, **message_params(rule["params"])}
                clause = pack.clause(rule["clause"])  # only for a rule that finds something, as base
            values = {**base, **hit.values}
            out.append(Finding(
                code=hit.code or rule["code"],
                severity=hit.severity or rule["severity"],
                clause=hit.clause or clause,
                message_ja=hit.message_ja or render(rule["message"]["ja"], values),
                message_en=hit.message_en or render(rule["message"]["en"], values),
                location=hit.location,
                expected=hit.expected,
                actual=hit.actual,
            ))
    return out


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Errors first, then by sheet and row, so a report reads top to bottom."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.location.sheet or "",
                                           f.location.row or 0, f.code))
