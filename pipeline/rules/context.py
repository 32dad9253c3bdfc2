"""What every check needs: the submission, its pack, and a way to point at cells."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pipeline.findings import Location
from pipeline.packs import Pack
from pipeline.workbook import split_ref


@dataclass
class Hit:
    """One breach a check found; the runner turns it into a Finding with the rule's data."""

    location: Location
    values: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    actual: Any = None
    code: str | None = None          # overrides the rule's code (classifier reasons)
    severity: str | None = None      # overrides the rule's severity
    message_ja: str | None = None    # pre-rendered (classifier messages)
    message_en: str | None = None
    clause: dict[str, str] | None = None


@dataclass
class Context:
    sub: dict[str, Any]
    pack: Pack

    def items(self, table: str) -> list[dict[str, Any]]:
        return self.sub.get(table) or []

    def cell(self, table: str, index: int, column: str | None = None) -> Location:
        """Location of a table row (its whole width) or of one of its cells."""
        src = self.sub["source"]["tables"].get(table)
        if not src or index >= len(src["rows"]):
            return Location(path=f"/{table}/{index}" + (f"/{column}" if column else ""))
        row = src["rows"][index]
        cols = src["columns"]
        path = f"/{table}/{index}" + (f"/{column}" if column else "")
        if column and column in cols:
            return Location(sheet=src["sheet"], cell=f"{cols[column]}{row}", row=row, path=path)
        letters = sorted(cols.values(), key=lambda s: (len(s), s))
        rng = f"{letters[0]}{row}:{letters[-1]}{row}" if letters else None
        return Location(sheet=src["sheet"], range=rng, row=row, path=path)

    def field(self, key: str) -> Location:
        ref = self.sub["source"]["fields"].get(key)
        path = f"/plan/{key}" if key in self.sub["plan"] else f"/stated/{key}"
        if not ref:
            return Location(path=path)
        sheet, cell = split_ref(ref)
        return Location(sheet=sheet, cell=cell, path=path)

    @cached_property
    def people(self) -> dict[int, dict[str, Any]]:
        return {p["no"]: p for p in self.items("participants") if p.get("no") is not None}

    @cached_property
    def visits_by_person(self) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        out: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for i, v in enumerate(self.items("visits")):
            if v.get("participant_no") is not None:
                out.setdefault(v["participant_no"], []).append((i, v))
        return out

    def label(self, list_name: str, value: Any) -> str:
        """A code shown as its Japanese/English label; unknown text shown as written."""
        ch = self.pack.choice_by_code(list_name, str(value)) if value is not None else None
        return ch.label if ch else str(value)

    def person_name(self, no: int | None) -> str:
        p = self.people.get(no) if no is not None else None
        return (p.get("name") if p else None) or f"No.{no}"


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


def months_between(start: dt.date, end: dt.date) -> float:
    """Length of a stay from start to end inclusive in months: whole months plus days/30."""
    stop = end + dt.timedelta(days=1)
    whole = (stop.year - start.year) * 12 + stop.month - start.month
    while whole > 0 and add_months(start, whole) > stop:
        whole -= 1
    rest = (stop - add_months(start, whole)).days
    return round(whole + rest / 30, 2)


def age_on(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
