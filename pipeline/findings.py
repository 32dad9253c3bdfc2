"""Findings and the report that carries them: one type for the CLI, add-in, database and review.

A finding's kind (code, severity, clause, bilingual message template) is data in a rule
pack; an instance carries only its state: where it is, the values involved, the rendered
messages. Messages are always rendered from the rule's own values, never written by hand.
"""

from __future__ import annotations

import string
from functools import cache
from typing import Any

from pipeline.record import Record
from pipeline.resources import packs_dir

SEVERITIES = ("error", "warning", "info")


class _Formatter(string.Formatter):
    """str.format that never fails on a message: missing keys and None render as '—'."""

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str):
            return kwargs.get(key)
        return super().get_value(key, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return "—"
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


_FMT = _Formatter()


def render(template: str, values: dict[str, Any]) -> str:
    """``template`` with ``values``; a missing or None value as '—', a value its format does not fit as text.

    str.format_map renders most messages at C speed; only one it cannot render as they are (a value
    missing or None, a format that does not fit) takes _Formatter's way, ~10x slower."""
    try:
        return template.format_map({k: v for k, v in values.items() if v is not None})
    except (KeyError, IndexError, AttributeError, ValueError, TypeError):
        return _FMT.vformat(template, (), values)


class Location(Record):
    """Where a finding points: sheet and cell or row range, plus the JSON path in the submission."""

    _fields = ("sheet", "cell", "range", "row", "path")
    __slots__ = _fields

    def __init__(self, sheet: str | None = None, cell: str | None = None, range: str | None = None,
                 row: int | None = None, path: str | None = None) -> None:
        self.sheet = sheet
        self.cell = cell
        self.range = range
        self.row = row
        self.path = path

    def __str__(self) -> str:
        where = self.cell or self.range or (f"{self.row}行 row {self.row}" if self.row else "")
        return f"{self.sheet}!{where}" if self.sheet and where else (self.sheet or where or "")


class Finding(Record):
    """One breach: the rule's code, severity and clause, the rendered messages, where, and the values."""

    _fields = ("code", "severity", "clause", "message_ja", "message_en", "location", "expected", "actual")
    __slots__ = _fields

    def __init__(self, code: str, severity: str, clause: dict[str, str], message_ja: str, message_en: str,
                 location: Location | None = None, expected: Any = None, actual: Any = None) -> None:
        self.code = code
        self.severity = severity
        self.clause = clause
        self.message_ja = message_ja
        self.message_en = message_en
        self.location = Location() if location is None else location  # a new one each (was a default_factory)
        self.expected = expected
        self.actual = actual

    def to_dict(self) -> dict[str, Any]:
        """As ``dataclasses.asdict`` gives it (fields in order, values copied), the location's empty parts left
        out; built directly, at a third of asdict's cost (every finding of every file of a batch)."""
        loc = self.location
        return {"code": self.code, "severity": self.severity, "clause": _copied(self.clause),
                "message_ja": self.message_ja, "message_en": self.message_en,
                "location": {k: v for k, v in (("sheet", loc.sheet), ("cell", loc.cell), ("range", loc.range),
                                               ("row", loc.row), ("path", loc.path)) if v is not None},
                "expected": _copied(self.expected), "actual": _copied(self.actual)}


def _copied(value: Any) -> Any:
    """``value`` copied as ``asdict`` copies a field: containers anew, all the way down."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        return type(value)(_copied(v) for v in value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(type(value), "__dataclass_fields__"):  # dataclasses.is_dataclass, without importing it
        from dataclasses import asdict

        return asdict(value)
    import copy  # anything else (a date, a set): as asdict copies it

    return copy.deepcopy(value)


@cache
def input_catalogue() -> dict[str, dict[str, Any]]:
    """Findings about the workbook itself (unreadable values, damaged template), shared by all packs."""
    from pipeline import datacache

    return datacache.load_yaml(packs_dir() / "common" / "input-findings.yaml")["findings"]


class Report(Record):
    """Result of validating one workbook."""

    _fields = ("file", "program", "template", "findings", "submission", "sha256", "seconds")
    __slots__ = _fields

    def __init__(self, file: str, program: str | None, template: dict[str, str] | None, findings: list[Finding],
                 submission: dict[str, Any] | None = None, sha256: str | None = None, seconds: float = 0.0) -> None:
        self.file = file
        self.program = program
        self.template = template
        self.findings = findings
        self.submission = submission
        self.sha256 = sha256
        self.seconds = seconds

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            out[f.severity] += 1
        return out

    @property
    def valid(self) -> bool:
        return self.counts["error"] == 0

    def to_dict(self, with_submission: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": 1,
            "file": self.file,
            "sha256": self.sha256,
            "program": self.program,
            "template": self.template,
            "valid": self.valid,
            "counts": self.counts,
            "seconds": round(self.seconds, 6),
            "findings": [f.to_dict() for f in self.findings],
        }
        if with_submission:
            d["submission"] = self.submission
        return d
