"""What a check kind promises and requires, checked when a pack is loaded, never while a workbook is validated.

Each check kind (and each cross-submission check) declares a ``Contract``: its parameters with their
types, the placeholders its findings fill (what a message may use), and the bindings it reads (the
form's tables and columns, through the names ``people.birth_date``, ``budget.amount`` …). A pack whose
rule breaks a contract — a mistyped ``max_day``, ``max_days: "90日"``, ``{actul}`` in a message, a table
the form lacks — is refused by ``load_pack`` with the rule and the parameter named: a mistake for the
pack's author, not a KeyError for an applicant.

Parameter types (a trailing ``?`` on the name marks it optional):
  int, number, date (ISO text), text, bool, enum:a|b, money (a key of the pack's money),
  table / tables (form table keys), column / columns (of the table(s) the rule names in ``table`` or
  ``tables``), field / fields (plan or totals field keys), list / lists (pack list names),
  codes (values; codes of the column's list when it has one), roles (codes of the role column's list),
  where ({column: value} in ``table``), column:<group> (a column of the table bound to the group),
  code:<binding> (a code of the list of a bound column),
  [ {…} ] (a list of objects, each checked against the nested contract).
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from typing import Any

from pipeline.record import FrozenRecord

# Placeholders every message may use besides the check's own: the pack's course, programme and year.
PACK_VALUES = frozenset({"course_ja", "course_en", "programme_ja", "programme_en", "fiscal_year"})


class Contract(FrozenRecord):
    """What a check kind takes (``params``), fills (``values``) and reads (``reads``)."""

    _fields = ("params", "values", "reads", "judges", "money")
    __slots__ = _fields
    params: Mapping[str, Any]
    values: frozenset[str]
    reads: tuple[str, ...]
    judges: bool  # the check judges the values of its tables/column (no second unknown-choice finding)
    money: bool  # its findings are on an amount of money (``actual``, in yen): the finance worklist lists them

    def __init__(self, params: Mapping[str, Any] | None = None, values: frozenset[str] = frozenset(),
                 reads: tuple[str, ...] = (), judges: bool = False, money: bool = False) -> None:
        self._assign({} if params is None else params, values, reads, judges, money)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_date(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        dt.date.fromisoformat(v)
    except ValueError:
        return False
    return len(v) == 10


def message_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a message may quote: scalars as they are, lists of scalars joined ("2025, 2026")."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, list) and all(not isinstance(x, list | dict) for x in v):
            out[k] = ", ".join(str(x) for x in v)
        elif not isinstance(v, list | dict):
            out[k] = v
    return out


def placeholders(template: str) -> list[str]:
    """The names a message template fills ("{actual:,}" -> actual); a malformed template raises ValueError."""
    names = []
    for _text, name, _spec, _conv in string.Formatter().parse(template):
        if name is not None:
            names.append(name)
    return names


class _Checker:
    """Checks one rule against its check kind's contract, in the context of one pack."""

    def __init__(self, pack: Any, where: str) -> None:
        self.pack = pack
        self.where = where
        self.problems: list[str] = []

    def say(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    # -- the form ---------------------------------------------------------------------------------
    def columns(self, table: str) -> dict[str, dict[str, Any]]:
        spec = self.pack.tables.get(table)
        return {c["key"]: c for c in spec["columns"]} if spec else {}

    def list_codes(self, list_name: str | None) -> set[Any] | None:
        if not list_name or list_name not in self.pack.lists:
            return None
        return {ch.code for ch in self.pack.lists[list_name]}

    def bound_list(self, binding: str) -> str | None:
        group, _, concept = binding.partition(".")
        table = self.pack.bound_table(group)
        column = self.pack.bind(group, concept)
        if table is None or column is None:
            return None
        return self.columns(table).get(column, {}).get("list")

    # -- one parameter ----------------------------------------------------------------------------
    def param(self, name: str, kind: Any, value: Any, params: Mapping[str, Any]) -> None:
        label = f"parameter {name!r}"
        if isinstance(kind, list):
            if not isinstance(value, list) or not value:
                self.say(f"{label} must be a non-empty list of objects")
                return
            for i, item in enumerate(value):
                if not isinstance(item, Mapping):
                    self.say(f"{label}[{i}] must be an object")
                    continue
                self.params(kind[0], item, prefix=f"{name}[{i}].")
            return
        simple = {
            "int": (_is_int, "a whole number"),
            "number": (_is_number, "a number"),
            "date": (_is_date, "a date (YYYY-MM-DD)"),
            "text": (lambda v: isinstance(v, str) and v != "", "text"),
            "bool": (lambda v: isinstance(v, bool), "true or false"),
        }
        if kind in simple:
            ok, what = simple[kind]
            if not ok(value):
                self.say(f"{label} must be {what}, not {value!r}")
            return
        if kind.startswith("enum:"):
            options = kind[5:].split("|")
            if value not in options:
                self.say(f"{label} must be one of {', '.join(options)}, not {value!r}")
            return
        if kind == "money":
            if not isinstance(value, str) or not _is_number(self.pack.money.get(value)):
                numbers = sorted(k for k, v in self.pack.money.items() if _is_number(v))
                self.say(f"{label}: {value!r} is not a number in the pack's money ({', '.join(numbers)})")
            return
        if kind in ("table", "tables"):
            names = [value] if kind == "table" else value
            if kind == "tables" and (not isinstance(value, list) or not value):
                self.say(f"{label} must be a non-empty list of table keys")
                return
            for t in names:
                if t not in self.pack.tables:
                    self.say(f"{label}: the form has no table {t!r} (tables: {', '.join(self.pack.tables)})")
            return
        if kind in ("column", "columns"):
            for table in self.tables_of(params):
                cols = self.columns(table)
                for c in [value] if kind == "column" else (value if isinstance(value, list) else [value]):
                    if c not in cols:
                        self.say(f"{label}: table {table!r} has no column {c!r} (columns: {', '.join(cols)})")
            return
        if kind in ("field", "fields"):
            for f in [value] if kind == "field" else (value if isinstance(value, list) else [value]):
                if f not in self.pack.fields:
                    self.say(f"{label}: the form has no field {f!r}")
            return
        if kind in ("list", "lists"):
            for n in [value] if kind == "list" else (value if isinstance(value, list) else [value]):
                if n not in self.pack.lists:
                    self.say(f"{label}: the pack has no list {n!r} (lists: {', '.join(self.pack.lists)})")
            return
        if kind == "codes":
            if not isinstance(value, list) or not value:
                self.say(f"{label} must be a non-empty list")
                return
            list_name = params.get("list") or self.column_list(params)
            known = self.list_codes(list_name)
            if known is not None:
                unknown = [v for v in value if v not in known]
                if unknown:
                    self.say(f"{label}: {unknown} are not codes of the list {list_name!r}")
            return
        if kind == "roles":
            known = self.list_codes(self.bound_list("people.role"))
            if not isinstance(value, list) or not value:
                self.say(f"{label} must be a non-empty list of role codes")
            elif known is not None and any(v not in known for v in value):
                self.say(f"{label}: {[v for v in value if v not in known]} are not role codes ({sorted(known)})")
            return
        if kind == "where":
            if not isinstance(value, Mapping):
                self.say(f"{label} must be a mapping of column to value")
                return
            for table in self.tables_of(params):
                cols = self.columns(table)
                for c, v in value.items():
                    if c not in cols:
                        self.say(f"{label}: table {table!r} has no column {c!r}")
                    elif cols[c]["type"] == "bool":
                        if not isinstance(v, bool):
                            self.say(f"{label}: column {c!r} holds yes/no: write true or false, not {v!r}")
                    elif (known := self.list_codes(cols[c].get("list"))) is not None and v not in known:
                        self.say(f"{label}: {v!r} is not a code of the list {cols[c]['list']!r}")
            return
        if kind.startswith("column:"):
            table = self.pack.bound_table(kind[7:])
            if table is None:
                self.say(f"{label}: the form binds no table to {kind[7:]!r}")
            elif value not in self.columns(table):
                self.say(f"{label}: table {table!r} has no column {value!r}")
            return
        if kind.startswith("code:"):
            list_name = self.bound_list(kind[5:])
            known = self.list_codes(list_name)
            if known is None:
                self.say(f"{label}: the form binds no list to {kind[5:]!r}")
            elif value not in known:
                self.say(f"{label}: {value!r} is not a code of the list {list_name!r}")
            return
        raise ValueError(f"unknown parameter type {kind!r}")  # a contract's own mistake: a programming error

    def tables_of(self, params: Mapping[str, Any]) -> list[str]:
        tables = params.get("tables") or ([params["table"]] if "table" in params else [])
        return [t for t in tables if isinstance(t, str) and t in self.pack.tables]

    def column_list(self, params: Mapping[str, Any]) -> str | None:
        for table in self.tables_of(params):
            spec = self.columns(table).get(params.get("column"))
            if spec and spec.get("list"):
                return spec["list"]
        return None

    def params(self, contract: Mapping[str, Any], params: Mapping[str, Any], prefix: str = "") -> None:
        declared = {k.rstrip("?"): k.endswith("?") for k in contract}
        for name in params:
            if name not in declared:
                self.say(f"parameter {prefix + name!r} is not one the check takes "
                         f"({', '.join(sorted(declared)) or 'none'})")
        for name, optional in declared.items():
            if name not in params or params[name] is None:
                if not optional:
                    self.say(f"parameter {prefix + name!r} is missing")
                continue
            kind = contract[name + ("?" if optional else "")]
            self.param(prefix + name, kind, params[name], params)


def rule_problems(pack: Any, rule: Mapping[str, Any], contract: Contract, where: str) -> list[str]:
    """Every way ``rule`` breaks ``contract`` in ``pack`` (empty: the rule is sound)."""
    checker = _Checker(pack, where)
    params = rule.get("params") or {}
    checker.params(contract.params, params)
    for binding in contract.reads:
        group, _, concept = binding.partition(".")
        if pack.bind(group, concept) is None:
            checker.say(f"the check reads {binding!r}, which the form's bindings do not name")
    allowed = contract.values | set(message_params(params)) | PACK_VALUES
    for lang in ("ja", "en"):
        text = (rule.get("message") or {}).get(lang, "")
        try:
            names = placeholders(text)
        except ValueError as exc:
            checker.say(f"message ({lang}) is not a valid template: {exc}")
            continue
        for name in names:
            if name not in allowed:
                checker.say(f"message ({lang}) uses {{{name}}}, which the check does not fill "
                            f"(it fills: {', '.join(sorted(allowed))})")
    return checker.problems
