"""What every check needs: the submission, its pack, the form's bindings, and a way to point at cells."""

from __future__ import annotations

import datetime as dt
import math
from functools import cached_property
from typing import Any

from pipeline.findings import Location
from pipeline.packs import Pack
from pipeline.record import Record
from pipeline.workbook import split_ref


class Hit(Record):
    """One breach a check found; the runner turns it into a Finding with the rule's data."""

    _fields = ("location", "values", "expected", "actual", "code", "severity", "message_ja", "message_en", "clause")
    __slots__ = _fields

    def __init__(self, location: Location, values: dict[str, Any] | None = None, expected: Any = None,
                 actual: Any = None, code: str | None = None, severity: str | None = None,
                 message_ja: str | None = None, message_en: str | None = None,
                 clause: dict[str, str] | None = None) -> None:
        self.location = location
        self.values = {} if values is None else values
        self.expected = expected
        self.actual = actual
        self.code = code                # overrides the rule's code (classifier reasons)
        self.severity = severity        # overrides the rule's severity
        self.message_ja = message_ja    # pre-rendered (classifier messages)
        self.message_en = message_en
        self.clause = clause


class Context(Record):
    """A submission with its pack, as every check reads it (no __slots__: the cached properties need a __dict__)."""

    _fields = ("sub", "pack")

    def __init__(self, sub: dict[str, Any], pack: Pack) -> None:
        self.sub = sub
        self.pack = pack

    def items(self, table: str | None) -> list[dict[str, Any]]:
        return (self.sub.get(table) or []) if table else []

    # -- bindings: what the form calls people, visits, budget … -----------------------------------
    def table(self, group: str) -> str | None:
        return self.pack.bound_table(group)

    def col(self, group: str, concept: str) -> str:
        """The column (or field) key the form binds to ``group.concept`` (the pack check guarantees it)."""
        key = self.pack.bind(group, concept)
        if key is None:
            raise KeyError(f"{self.pack.id}: the form binds nothing to {group}.{concept}")
        return key

    def rows(self, group: str) -> list[dict[str, Any]]:
        return self.items(self.table(group))

    def plan(self, concept: str) -> Any:
        return self.sub["plan"].get(self.col("plan", concept))

    def total(self, concept: str) -> Any:
        return self.sub["totals"].get(self.col("totals", concept))

    # -- locations -------------------------------------------------------------------------------
    def cell(self, table: str | None, index: int, column: str | None = None) -> Location:
        """Location of a table row (its whole width) or of one of its cells."""
        src = self.sub["source"]["tables"].get(table) if table else None
        path = f"/{table}/{index}" + (f"/{column}" if column else "")
        if not src or index >= len(src["rows"]):
            return Location(path=path)
        row = src["rows"][index]
        cols = src["columns"]
        if column and column in cols:
            return Location(sheet=src["sheet"], cell=f"{cols[column]}{row}", row=row, path=path)
        letters = sorted(cols.values(), key=lambda s: (len(s), s))
        rng = f"{letters[0]}{row}:{letters[-1]}{row}" if letters else None
        return Location(sheet=src["sheet"], range=rng, row=row, path=path)

    def at(self, group: str, index: int, concept: str | None = None) -> Location:
        """Location of a row (or one bound cell) of the table bound to ``group``."""
        return self.cell(self.table(group), index, self.col(group, concept) if concept else None)

    def field(self, key: str) -> Location:
        ref = self.sub["source"]["fields"].get(key)
        path = f"/plan/{key}" if key in self.sub["plan"] else f"/stated/{key}"
        if not ref:
            return Location(path=path)
        sheet, cell = split_ref(ref)
        return Location(sheet=sheet, cell=cell, path=path)

    # -- people and their visits ------------------------------------------------------------------
    @cached_property
    def people(self) -> dict[int, dict[str, Any]]:
        no = self.col("people", "no")
        return {p[no]: p for p in self.rows("people") if p.get(no) is not None}

    @cached_property
    def visits_by_person(self) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        person = self.col("visits", "person")
        out: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for i, v in enumerate(self.rows("visits")):
            if v.get(person) is not None:
                out.setdefault(v[person], []).append((i, v))
        return out

    def role(self, item: dict[str, Any]) -> Any:
        key = self.pack.bind("people", "role")
        return item.get(key) if key else None

    def name(self, item: dict[str, Any]) -> Any:
        key = self.pack.bind("people", "name")
        return item.get(key) if key else None

    def label(self, list_name: str, value: Any) -> str:
        """A code shown as its Japanese/English label; unknown text shown as written."""
        ch = self.pack.choice_by_code(list_name, str(value)) if value is not None else None
        return ch.label if ch else str(value)

    def person_name(self, no: int | None) -> str:
        p = self.people.get(no) if no is not None else None
        return (self.name(p) if p else None) or f"No.{no}"

    def visit_months(self, v: dict[str, Any]) -> float:
        """A visit's length in months by the pack's convention (0 when it has no valid dates)."""
        s, e = date(v.get(self.col("visits", "start"))), date(v.get(self.col("visits", "end")))
        if s is None or e is None or e < s:
            return 0.0
        return months_between(s, e, self.pack.months.get("days_per_month", 30))


def date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def add_months(d: dt.date, months: int) -> dt.date:
    """Same day ``months`` later (clamped to the month's end), as calendars count a month."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    raise ValueError(d)


def months_between(start: dt.date, end: dt.date, days_per_month: int = 30) -> float:
    """Length of a stay from start to end inclusive in months: whole calendar months plus the
    remaining days / ``days_per_month`` (the pack's ``months`` convention), to two places."""
    stop = end + dt.timedelta(days=1)
    whole = (stop.year - start.year) * 12 + stop.month - start.month
    while whole > 0 and add_months(start, whole) > stop:
        whole -= 1
    rest = (stop - add_months(start, whole)).days
    return round(whole + rest / days_per_month, 2)


def round_months(months: float, partial: str) -> float:
    """Months as a budget counts them: ``up`` (a part of a month is a month), ``down`` or ``exact``."""
    if partial == "up":
        return math.ceil(round(months, 2))
    if partial == "down":
        return math.floor(round(months, 2))
    return round(months, 2)


def age_on(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
