"""The check kinds a rule pack can use. Each is generic: the numbers come from the rule, the tables and
columns from the form's bindings (``people.birth_date``, ``budget.amount`` …), never from this file.

A check yields Hits (where, which values); it never writes a message: the runner renders the rule's
own bilingual template with the hit's values. Each kind declares its contract (``pipeline.rules.
contract``): the parameters it takes, the placeholders it fills, the bindings it reads. ``load_pack``
refuses a rule that breaks it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from pipeline import formulas
from pipeline.findings import Location
from pipeline.rules.context import Context, Hit, add_months, age_on, date, round_months
from pipeline.rules.contract import Contract

Check = Callable[[Context, dict[str, Any]], Iterator[Hit]]
CHECKS: dict[str, Check] = {}
CONTRACTS: dict[str, Contract] = {}

_ROLES = {"roles?": "roles", "exempt_roles?": "roles"}


def check(name: str, params: dict[str, Any] | None = None, values: tuple[str, ...] = (),
          reads: tuple[str, ...] = (), judges: bool = False, money: bool = False) -> Callable[[Check], Check]:
    """Register a check kind under ``name`` with its contract."""
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        CONTRACTS[name] = Contract(params or {}, frozenset(values), reads, judges, money)
        return fn
    return register


def number_text(x: Any) -> str:
    """A count or a number of months as people write it: 11, 10.5, 12.03 (never 11.0)."""
    if isinstance(x, float):
        x = round(x, 2)
        return str(int(x)) if x.is_integer() else f"{x:g}"
    return str(x)


def pct(ratio: float) -> str:
    """A rate as a percentage: 0.1 -> 10%, 0.0998415 -> 9.98%."""
    return f"{round(ratio * 100, 2):g}%"


def _role_ok(ctx: Context, item: dict[str, Any], params: dict[str, Any]) -> bool:
    role = ctx.role(item)
    if params.get("roles") and role not in params["roles"]:
        return False
    return not (params.get("exempt_roles") and role in params["exempt_roles"])


def _matches(item: dict[str, Any], where: dict[str, Any] | None) -> bool:
    return all(item.get(k) == v for k, v in (where or {}).items())


def _people_table(ctx: Context, table: str) -> bool:
    return table == ctx.table("people")


# ---- lists and counts -------------------------------------------------------------------------

@check("allowed_values",
       {"tables": "tables", "column": "column", "list?": "list", "allowed?": "codes", "skip_lists?": "lists", **_ROLES},
       values=("value", "name"), judges=True)
def allowed_values(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """Values of a column outside a list (``list``) or a set of codes (``allowed``)."""
    column = p["column"]
    if p.get("allowed") is not None:
        allowed = set(p["allowed"])
        list_name = p.get("list") or _list_of(ctx, p["tables"][0], column)
    else:
        list_name = p["list"]
        allowed = {ch.code for ch in ctx.pack.lists[list_name]}
    for table in p["tables"]:
        people = _people_table(ctx, table)
        for i, item in enumerate(ctx.items(table)):
            value = item.get(column)
            if value is None or value in allowed or (people and not _role_ok(ctx, item, p)):
                continue
            if any(ctx.pack.choice(other, str(value)) for other in p.get("skip_lists") or []):
                continue
            shown = ctx.label(list_name, value) if list_name else str(value)
            yield Hit(ctx.cell(table, i, column), {"value": shown, "name": ctx.name(item) if people else None},
                      expected=sorted(str(a) for a in allowed), actual=value)


@check("values_in_list", {"tables": "tables", "column": "column", "list": "list"}, values=("value",), judges=True)
def values_in_list(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """Values of a column that are entries of ``list`` (a value the column must not hold, such as Japan
    where the counterpart country belongs)."""
    for table in p["tables"]:
        for i, item in enumerate(ctx.items(table)):
            value = item.get(p["column"])
            ch = ctx.pack.choice(p["list"], str(value)) if value is not None else None
            if ch is not None:
                yield Hit(ctx.cell(table, i, p["column"]), {"value": ch.label}, expected=f"not {ch.code}",
                          actual=value)


def _list_of(ctx: Context, table: str, column: str) -> str | None:
    spec = ctx.pack.column(table, column)
    return spec.get("list") if spec else None


def _count(ctx: Context, p: dict[str, Any]) -> int:
    return sum(1 for it in ctx.items(p["table"]) if _matches(it, p.get("where")))


def _table_location(ctx: Context, table: str) -> Location:
    src = ctx.sub["source"]["tables"].get(table)
    loc = ctx.cell(table, 0) if ctx.items(table) else Location(path=f"/{table}")  # an empty table: the table itself
    if src and src["rows"]:
        cols = sorted(src["columns"].values(), key=lambda s: (len(s), s))
        loc.range = f"{cols[0]}{src['rows'][0]}:{cols[-1]}{src['rows'][-1]}"
        loc.row = None
        loc.cell = None
        loc.path = f"/{table}"
    elif src:
        loc.sheet = src["sheet"]
    return loc


@check("count_at_most", {"table": "table", "max": "int", "where?": "where"}, values=("actual", "max"))
def count_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    n = _count(ctx, p)
    if n > p["max"]:
        yield Hit(_table_location(ctx, p["table"]), {"actual": n, "max": p["max"]}, expected=p["max"], actual=n)


@check("count_at_least", {"table": "table", "min": "int", "where?": "where"}, values=("actual", "min"))
def count_at_least(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    n = _count(ctx, p)
    if n < p["min"]:
        yield Hit(_table_location(ctx, p["table"]), {"actual": n, "min": p["min"]}, expected=p["min"], actual=n)


@check("count_exactly", {"table": "table", "count": "int", "where?": "where"}, values=("actual", "count"))
def count_exactly(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    n = _count(ctx, p)
    if n != p["count"]:
        yield Hit(_table_location(ctx, p["table"]), {"actual": n, "count": p["count"]},
                  expected=p["count"], actual=n)


@check("flag_not_set", {"table": "table", "column": "column"}, values=("name",))
def flag_not_set(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    people = _people_table(ctx, p["table"])
    for i, it in enumerate(ctx.items(p["table"])):
        if it.get(p["column"]) is True:
            yield Hit(ctx.cell(p["table"], i, p["column"]), {"name": ctx.name(it) if people else None},
                      expected=False, actual=True)


# ---- people -----------------------------------------------------------------------------------

@check("age_at_most",
       {"max_age": "int", "reference_date?": "date", "reference_field?": "field", "leave_column?": "column:people",
        **_ROLES},
       values=("name", "actual", "reference_date", "leave", "max_age"),
       reads=("people.birth_date", "people.name", "people.role"))
def age_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """Age on a reference date (a fixed date, or a plan field such as the start of the exchange); months
    of leave (childbirth, childcare, nursing) move the reference date back."""
    if p.get("reference_date"):
        reference = date(p["reference_date"])
    else:
        reference = date(ctx.sub["plan"].get(p.get("reference_field") or ""))
    if reference is None:
        return
    birth_key = ctx.col("people", "birth_date")
    for i, person in enumerate(ctx.rows("people")):
        birth = date(person.get(birth_key))
        if birth is None or not _role_ok(ctx, person, p):
            continue
        leave = person.get(p["leave_column"]) if p.get("leave_column") else None
        effective = add_months(reference, -math.floor(leave)) if leave else reference
        age = age_on(birth, effective)
        if age > p["max_age"]:
            yield Hit(ctx.at("people", i, "birth_date"),
                      {"name": ctx.name(person), "actual": age, "reference_date": reference.isoformat(),
                       "leave": number_text(leave or 0), "max_age": p["max_age"]},
                      expected=p["max_age"], actual=age)


def _person_visits(ctx: Context, p: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any], list[tuple[int, dict]]]]:
    for no, visits in ctx.visits_by_person.items():
        person = ctx.people.get(no)
        if person is None or not _role_ok(ctx, person, p):
            continue
        yield no, person, visits


_VISITS = ("visits.person", "visits.start", "visits.end", "people.no", "people.name", "people.role")


@check("days_per_person_at_most", {"max_days": "int", **_ROLES}, values=("name", "actual", "max"),
       reads=(*_VISITS, "visits.days"))
def days_per_person_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    days = ctx.col("visits", "days")
    for _no, person, visits in _person_visits(ctx, p):
        total = sum(v.get(days) or 0 for _, v in visits if (v.get(days) or 0) > 0)
        if total > p["max_days"]:
            idx = visits[-1][0]
            yield Hit(ctx.at("visits", idx, "days"), {"name": ctx.name(person), "actual": total, "max": p["max_days"]},
                      expected=p["max_days"], actual=total)


@check("stay_months_at_most", {"max_months": "number", **_ROLES}, values=("name", "actual", "max"), reads=_VISITS)
def stay_months_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """A person's stays in months (the pack's month convention), summed."""
    for _no, person, visits in _person_visits(ctx, p):
        total = round(sum(ctx.visit_months(v) for _, v in visits), 2)
        if total > p["max_months"]:
            yield Hit(ctx.at("visits", visits[-1][0], "end"),
                      {"name": ctx.name(person), "actual": number_text(total), "max": number_text(p["max_months"])},
                      expected=p["max_months"], actual=total)


@check("visit_days_at_least", {"min_days": "int", "above_days?": "int", "planned_days?": "int", **_ROLES},
       values=("name", "actual", "start", "end", "min"), reads=(*_VISITS, "visits.days"))
def visit_days_at_least(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """Visits shorter than ``min_days`` (and, with ``above_days``, not shorter than that: a band)."""
    days, start, end = ctx.col("visits", "days"), ctx.col("visits", "start"), ctx.col("visits", "end")
    for _no, person, visits in _person_visits(ctx, p):
        for idx, v in visits:
            d = v.get(days)
            if d is None or d <= 0 or d >= p["min_days"]:
                continue
            if p.get("above_days") is not None and d < p["above_days"]:
                continue
            yield Hit(ctx.at("visits", idx, "days"),
                      {"name": ctx.name(person), "actual": d, "start": v.get(start), "end": v.get(end),
                       "min": p["min_days"]}, expected=p["min_days"], actual=d)


@check("first_visit_between", {"min?": "date", "max?": "date", **_ROLES}, values=("name", "actual", "min", "max"),
       reads=_VISITS)
def first_visit_between(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    start = ctx.col("visits", "start")
    for _no, person, visits in _person_visits(ctx, p):
        dated = [(v[start], idx) for idx, v in visits if v.get(start)]
        if not dated:
            continue
        first, idx = min(dated)
        if (p.get("min") and first < p["min"]) or (p.get("max") and first > p["max"]):
            yield Hit(ctx.at("visits", idx, "start"),
                      {"name": ctx.name(person), "actual": first, "min": p.get("min"), "max": p.get("max")},
                      expected={"min": p.get("min"), "max": p.get("max")}, actual=first)


@check("visits_end_by", {"max": "date"}, values=("name", "actual", "max"), reads=_VISITS)
def visits_end_by(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    end, person = ctx.col("visits", "end"), ctx.col("visits", "person")
    for i, v in enumerate(ctx.rows("visits")):
        if v.get(end) and v[end] > p["max"]:
            yield Hit(ctx.at("visits", i, "end"), {"name": ctx.person_name(v.get(person)), "actual": v[end],
                                                   "max": p["max"]}, expected=p["max"], actual=v[end])


@check("visit_order", {}, values=("start", "end"), reads=("visits.start", "visits.end"))
def visit_order(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    start, end = ctx.col("visits", "start"), ctx.col("visits", "end")
    for i, v in enumerate(ctx.rows("visits")):
        if v.get(start) and v.get(end) and v[end] < v[start]:
            yield Hit(ctx.at("visits", i, "end"), {"start": v[start], "end": v[end]},
                      expected=f">= {v[start]}", actual=v[end])


@check("visit_participant_known", {}, values=("value",), reads=("visits.person", "people.no"))
def visit_participant_known(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    person = ctx.col("visits", "person")
    for i, v in enumerate(ctx.rows("visits")):
        no = v.get(person)
        if no is not None and no not in ctx.people:
            yield Hit(ctx.at("visits", i, "person"), {"value": no}, expected=sorted(ctx.people), actual=no)


@check("visits_within_period", {}, values=("name", "start", "end", "period_start", "period_end"),
       reads=(*_VISITS, "plan.start", "plan.end"))
def visits_within_period(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    start, end = ctx.plan("start"), ctx.plan("end")
    if not start or not end:
        return
    vs_key, ve_key, person = ctx.col("visits", "start"), ctx.col("visits", "end"), ctx.col("visits", "person")
    for i, v in enumerate(ctx.rows("visits")):
        vs, ve = v.get(vs_key), v.get(ve_key)
        if (vs and vs < start) or (ve and ve > end):
            yield Hit(ctx.at("visits", i), {"name": ctx.person_name(v.get(person)), "start": vs, "end": ve,
                                            "period_start": start, "period_end": end},
                      expected={"from": start, "to": end}, actual={"from": vs, "to": ve})


# ---- the plan period --------------------------------------------------------------------------

@check("date_between", {"field": "field", "min?": "date", "max?": "date"}, values=("actual", "min", "max"))
def date_between(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    value = ctx.sub["plan"].get(p["field"])
    if not value:
        return
    if (p.get("min") and value < p["min"]) or (p.get("max") and value > p["max"]):
        yield Hit(ctx.field(p["field"]), {"actual": value, "min": p.get("min"), "max": p.get("max")},
                  expected={"min": p.get("min"), "max": p.get("max")}, actual=value)


@check("period_at_most", {"months": "int"}, values=("start", "end", "months"), reads=("plan.start", "plan.end"))
def period_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    start, end = date(ctx.plan("start")), date(ctx.plan("end"))
    if start is None or end is None or end < start:
        return
    limit = add_months(start, p["months"])
    if end >= limit:
        yield Hit(ctx.field(ctx.col("plan", "end")), {"start": start.isoformat(), "end": end.isoformat(),
                                                      "months": p["months"]},
                  expected=f"< {limit.isoformat()}", actual=end.isoformat())


@check("period_order", {}, values=("start", "end"), reads=("plan.start", "plan.end"))
def period_order(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    start, end = ctx.plan("start"), ctx.plan("end")
    if start and end and end < start:
        yield Hit(ctx.field(ctx.col("plan", "end")), {"start": start, "end": end}, expected=f">= {start}", actual=end)


@check("dates_not_before", {"table": "table", "column": "column", "min": "date"}, values=("actual", "min"))
def dates_not_before(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for i, it in enumerate(ctx.items(p["table"])):
        value = it.get(p["column"])
        if value and value < p["min"]:
            yield Hit(ctx.cell(p["table"], i, p["column"]), {"actual": value, "min": p["min"]},
                      expected=f">= {p['min']}", actual=value)


# ---- money ------------------------------------------------------------------------------------

def _money_levels(ctx: Context) -> dict[str, int]:
    m = ctx.pack.money
    base = m.get("base_amount")
    if base is None:
        return {}
    return {"base": base, "cap": formulas.ratio_floor(base, 1 + m.get("excess_ratio", 0))}


@check("total_at_most",
       {"max_from": "enum:base|cap", "up_to_from?": "enum:base|cap", "unless_filled?": "field",
        "only_if_filled?": "field"},
       values=("actual", "max", "base", "cap", "excess_pct"), reads=("totals.total",), money=True)
def total_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """The total against the base amount or the cap (base + excess ratio), with or without a reason field."""
    levels = _money_levels(ctx)
    if not levels:
        return
    total = ctx.total("total")
    limit = levels[p["max_from"]]
    if total <= limit:
        return
    if p.get("up_to_from") and total > levels[p["up_to_from"]]:
        return
    reason = ctx.sub["plan"].get(p.get("unless_filled") or p.get("only_if_filled") or "", None)
    if p.get("unless_filled") and reason:
        return
    if p.get("only_if_filled") and not reason:
        return
    loc = ctx.field(p["unless_filled"]) if p.get("unless_filled") else ctx.field(ctx.col("totals", "total"))
    yield Hit(loc, {"actual": total, "max": limit, "base": levels["base"], "cap": levels["cap"],
                    "excess_pct": pct(ctx.pack.money.get("excess_ratio", 0))},
              expected=limit, actual=total)


@check("overhead_at_most", {}, values=("actual", "direct", "max", "ratio_pct"),
       reads=("totals.overhead", "totals.direct_total"), money=True)
def overhead_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    overhead, direct = ctx.total("overhead"), ctx.total("direct_total")
    ratio = ctx.pack.money["overhead_max_ratio"]
    limit = formulas.ratio_floor(direct, ratio)
    if overhead > limit:
        yield Hit(ctx.field(ctx.col("totals", "overhead")),
                  {"actual": overhead, "direct": direct, "max": limit, "ratio_pct": pct(ratio)},
                  expected=limit, actual=overhead)


@check("monthly_rate_at_most", {"subcategory": "code:budget.subcategory", "rate_from": "money"},
       values=("actual", "max"), reads=("budget.subcategory", "budget.unit_price"), money=True)
def monthly_rate_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    rate = ctx.pack.money[p["rate_from"]]
    sub, price = ctx.col("budget", "subcategory"), ctx.col("budget", "unit_price")
    for i, it in enumerate(ctx.rows("budget")):
        if it.get(sub) == p["subcategory"] and (it.get(price) or 0) > rate:
            yield Hit(ctx.at("budget", i, "unit_price"), {"actual": it[price], "max": rate},
                      expected=rate, actual=it[price])


@check("budget_months_at_most_stay",
       {"pairs": [{"subcategory": "code:budget.subcategory", "role": "code:people.role", "max_months_from?": "money"}]},
       values=("actual", "max", "subcategory_ja", "subcategory_en"),
       reads=("budget.subcategory", "budget.quantity", *_VISITS))
def budget_months_at_most_stay(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """Months budgeted for a kind of stay support against the months of the stays of that role (a part
    of a month rounded as the pack's ``months.partial_month`` says)."""
    sub, qty = ctx.col("budget", "subcategory"), ctx.col("budget", "quantity")
    partial = ctx.pack.months.get("partial_month", "up")
    for pair in p["pairs"]:
        lines = [(i, it) for i, it in enumerate(ctx.rows("budget")) if it.get(sub) == pair["subcategory"]]
        if not lines:
            continue
        budgeted = round(sum(float(it.get(qty) or 0) for _, it in lines), 2)
        stays = sum(ctx.visit_months(v) for no, visits in ctx.visits_by_person.items()
                    if ctx.role(ctx.people.get(no, {})) == pair["role"] for _, v in visits)
        allowed = round_months(stays, partial)
        if pair.get("max_months_from"):
            allowed = min(allowed, ctx.pack.money[pair["max_months_from"]])
        if budgeted > allowed:
            list_name = _list_of(ctx, ctx.table("budget") or "", sub)
            ch = ctx.pack.choice_by_code(list_name, pair["subcategory"]) if list_name else None
            yield Hit(ctx.at("budget", lines[-1][0], "quantity"),
                      {"actual": number_text(budgeted), "max": number_text(allowed),
                       "subcategory_ja": ch.ja if ch else pair["subcategory"],
                       "subcategory_en": ch.en if ch else pair["subcategory"]},
                      expected=allowed, actual=budgeted)


@check("amount_arithmetic", {}, values=("stated", "expected"), reads=("budget.amount",), money=True)
def amount_arithmetic(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """A line's amount typed over the formula, differing from price x quantity (the root of any total that
    then differs: those are reported as following from it)."""
    amount = ctx.col("budget", "amount")
    for i, it in enumerate(ctx.rows("budget")):
        stated, expected = it.get(f"{amount}_stated"), it.get(amount)
        if stated is not None and expected is not None and stated != expected:
            yield Hit(ctx.at("budget", i, "amount"), {"stated": stated, "expected": expected},
                      expected=expected, actual=stated)


# ---- totals: a typed-over cell is the root; totals that only follow it are not errors -------------

def display(value: Any, spec: dict[str, Any]) -> str:
    """A value as the form shows it: money with separators, rates as percentages, never a raw float."""
    if value is None:
        return "—"
    if spec.get("format") == "percent":
        return pct(float(value))
    if spec["type"] == "yen" and isinstance(value, int):
        return f"{value:,}"
    return number_text(value) if isinstance(value, int | float) else str(value)


def _unit(spec: dict[str, Any]) -> tuple[str, str]:
    return ("円", " yen") if spec["type"] == "yen" else ("", "")


def _same(a: Any, b: Any, spec: dict[str, Any]) -> bool:
    if a is None or b is None:
        return a is b
    if spec["type"] == "number":
        return abs(float(a) - float(b)) < 1e-4
    return bool(a == b)


class _SheetView:
    """What the sheet's own formulas give from the sheet's own values (the stated ones), beside what the
    engine computes: a total that differs from the engine's but agrees with the sheet's formula follows
    from a typed-over cell upstream (the root), and is not a mistake of its own."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.fields = ctx.pack.fields
        self.stated = ctx.sub["stated"]
        self.totals = ctx.sub["totals"]
        self.texts = set(ctx.sub["source"].get("text_inputs") or ())  # N() and SUM read these as 0

    def stated_value(self, arg: str) -> tuple[bool, Any]:
        """(known, value) of an input as the sheet holds it."""
        if "." in arg:
            table, column = arg.split(".", 1)
            out = []
            for i, it in enumerate(self.ctx.items(table)):
                v = it.get(f"{column}_stated")
                out.append(0 if f"/{table}/{i}/{column}" in self.texts else v if v is not None else it.get(column))
            return True, out
        spec = self.fields.get(arg, {})
        if f"/{'stated' if spec.get('total') else 'plan'}/{arg}" in self.texts:
            return True, 0
        if spec.get("total"):
            v = self.stated.get(arg)
            if v is None and spec.get("formula"):
                return False, None  # a formula cell without a cached result: the sheet did not compute
            return True, v
        return True, self.ctx.sub["plan"].get(arg)

    def sheet_value(self, key: str) -> tuple[bool, Any]:
        spec = self.fields[key]
        args = [self.stated_value(a) for a in spec.get("args", [])]
        if not all(known for known, _ in args):
            return False, None
        return True, formulas.TOTAL[spec["formula"]].compute(self.ctx.pack, *(v for _, v in args))

    def roots(self, key: str, seen: set[str] | None = None) -> list[str]:
        """The typed-over cells a total's difference comes from (line amounts, other totals)."""
        seen = seen if seen is not None else set()
        out: list[str] = []
        for arg in self.fields[key].get("args", []):
            if "." in arg:
                table, column = arg.split(".", 1)
                for i, it in enumerate(self.ctx.items(table)):
                    s = it.get(f"{column}_stated")
                    if s is not None and it.get(column) is not None and s != it[column]:
                        out.append(_where(self.ctx.cell(table, i, column)))
            elif f"/stated/{arg}" in self.texts:
                out.append(_where(self.ctx.field(arg)))
            elif arg not in seen and self.fields.get(arg, {}).get("total"):
                seen.add(arg)
                if self.differs(arg):
                    out += self.roots(arg, seen) if self.follows(arg) else [_where(self.ctx.field(arg))]
        return list(dict.fromkeys(out))

    def differs(self, key: str) -> bool:
        spec = self.fields[key]
        stated = self.stated.get(key)
        return bool(spec.get("formula")) and stated is not None and key in self.totals \
            and not _same(stated, self.totals[key], spec)

    def follows(self, key: str) -> bool:
        known, value = self.sheet_value(key)
        return known and _same(self.stated.get(key), value, self.fields[key])


def _where(loc: Location) -> str:
    return f"{loc.sheet}!{loc.cell}" if loc.sheet and loc.cell else (loc.path or "—")


@check("totals_arithmetic", {}, values=("stated", "expected", "label_ja", "label_en", "unit_ja", "unit_en"))
def totals_arithmetic(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """A calculated total whose stated value is neither the engine's nor what its own formula gives from
    the sheet's values: the cell itself was typed over (or is stale)."""
    view = _SheetView(ctx)
    for key, spec in view.fields.items():
        if spec.get("total") and view.differs(key) and not view.follows(key):
            stated, expected = view.stated[key], view.totals[key]
            unit_ja, unit_en = _unit(spec)
            yield Hit(ctx.field(key), {"stated": display(stated, spec), "expected": display(expected, spec),
                                       "label_ja": spec["label"]["ja"], "label_en": spec["label"]["en"],
                                       "unit_ja": unit_ja, "unit_en": unit_en},
                      expected=display(expected, spec) if spec.get("format") else expected,
                      actual=display(stated, spec) if spec.get("format") else stated)


@check("totals_follow", {}, values=("labels_ja", "labels_en", "roots"))
def totals_follow(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """One finding for the totals that differ from the engine's only because a cell upstream was typed
    over: they are right given the sheet's values, and correcting the root corrects them."""
    view = _SheetView(ctx)
    following = [k for k, spec in view.fields.items() if spec.get("total") and view.differs(k) and view.follows(k)]
    if not following:
        return
    roots = list(dict.fromkeys(r for k in following for r in view.roots(k)))
    labels = [view.fields[k]["label"] for k in following]
    yield Hit(ctx.field(following[0]),
              {"labels_ja": "、".join(lb["ja"] for lb in labels), "labels_en": ", ".join(lb["en"] for lb in labels),
               "roots": "、".join(roots) or "—"},
              expected={k: display(view.totals[k], view.fields[k]) for k in following},
              actual={k: display(view.stated[k], view.fields[k]) for k in following})


@check("tax_equivalent", {}, reads=("tax.amount", "tax.date", "tax.tax"),
       values=("amount", "date", "deductible_pct", "band_from", "band_to", "source_ja", "source_en", "expected",
               "stated"), money=True)
def tax_equivalent(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """A stated tax equivalent that differs from the call's arithmetic with the transitional deduction in
    force on the transaction date; the finding names the band and the clause (call or law) it comes from."""
    amount, when, tax = ctx.col("tax", "amount"), ctx.col("tax", "date"), ctx.col("tax", "tax")
    deduction = ctx.pack.money["tax_equivalent"]["transitional_deduction"]
    for i, it in enumerate(ctx.rows("tax")):
        stated, expected = it.get(f"{tax}_stated"), it.get(tax)
        if stated is None or expected is None or stated == expected:
            continue
        band = formulas.deduction_band(deduction["bands"], it.get(when))
        if band is not None:
            clause = ctx.pack.clause(band["source"])
            source_ja, source_en = (f"{clause['document']} {clause['section']}",
                                    f"{clause['document_en']}, {clause['section']}")
        else:  # the pack says what no band means (the measure has ended: nothing deductible)
            source_ja, source_en = deduction["outside"]["ja"], deduction["outside"]["en"]
        yield Hit(ctx.at("tax", i, "tax"),
                  {"amount": it.get(amount), "date": it.get(when),
                   "deductible_pct": pct(float(band["deductible"]) if band else 0.0),
                   "band_from": band["from"] if band else None, "band_to": band["to"] if band else None,
                   "source_ja": source_ja, "source_en": source_en, "expected": expected, "stated": stated},
                  expected=expected, actual=stated)


@check("tax_equivalent_total", {"subcategory": "code:budget.subcategory"}, values=("stated", "expected"),
       reads=("budget.subcategory", "budget.amount", "tax.tax"), money=True)
def tax_equivalent_total(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    sub, amount, tax = ctx.col("budget", "subcategory"), ctx.col("budget", "amount"), ctx.col("tax", "tax")
    lines = [(i, it) for i, it in enumerate(ctx.rows("budget")) if it.get(sub) == p["subcategory"]]
    table = [it.get(tax) or 0 for it in ctx.rows("tax")]
    if not lines and not table:
        return
    stated = sum(it.get(amount) or 0 for _, it in lines)
    expected = sum(table)
    if stated != expected:
        loc = ctx.at("budget", lines[-1][0], "amount") if lines else ctx.at("tax", 0, "tax")
        yield Hit(loc, {"stated": stated, "expected": expected}, expected=expected, actual=stated)


@check("included_tax", {}, values=("total", "tax", "share_ja", "share_en"),
       reads=("totals.total", "totals.included_tax"))
def included_tax(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    total, tax = ctx.total("total"), ctx.total("included_tax")
    if total and tax is not None:
        key = ctx.col("totals", "included_tax")
        loc = ctx.field(key) if key in ctx.sub["source"]["fields"] else ctx.field(ctx.col("totals", "total"))
        share = ctx.pack.money["included_tax"]
        yield Hit(loc, {"total": total, "tax": tax, "share_ja": f"{share['denominator']}分の{share['numerator']}",
                        "share_en": f"{share['numerator']}/{share['denominator']}"}, expected=tax, actual=tax)


# ---- completeness -----------------------------------------------------------------------------

@check("required_fields", {}, values=("label_ja", "label_en"))
def required_fields(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for key, spec in ctx.pack.fields.items():
        if spec.get("required") and ctx.sub["plan"].get(key) in (None, "") and key in ctx.sub["source"]["fields"]:
            yield Hit(ctx.field(key), {"label_ja": spec["label"]["ja"], "label_en": spec["label"]["en"]},
                      expected="value", actual=None)
    for table, required in ctx.pack.required_columns:
        if not required:
            continue
        for i, it in enumerate(ctx.items(table["key"])):
            for col in required:
                if it.get(col["key"]) in (None, ""):
                    yield Hit(ctx.cell(table["key"], i, col["key"]),
                              {"label_ja": f"{table['title']['ja']}：{col['label']['ja']}",
                               "label_en": f"{table['title']['en']}: {col['label']['en']}"},
                              expected="value", actual=None)


# ---- the submitted file itself (pre-submission stage) -----------------------------------------

_WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


@check("file_name_convention", {"pattern": "text", "field": "field", "placeholder?": "text"},
       values=("file", "expected"))
def file_name_convention(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    """The file title the call prescribes, e.g. "…申請_交流計画書（{institution}）"; the placeholder is
    the named plan field. Compared after NFKC, so （） and () or full-width digits do not matter."""
    def norm(text: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))

    name = str(ctx.sub["source"].get("file") or "")
    stem = name[: -len(suffix)] if (suffix := next((s for s in _WORKBOOK_SUFFIXES if name.lower().endswith(s)),
                                                    "")) else name
    field_key = p["field"]
    value = ctx.sub["plan"].get(field_key)
    expected = p["pattern"].replace("{" + field_key + "}", str(value) if value else p.get("placeholder", "…"))
    head, _, tail = p["pattern"].partition("{" + field_key + "}")
    m = re.fullmatch(re.escape(norm(head)) + "(.+)" + re.escape(norm(tail)), norm(stem))
    if m and (not value or m.group(1) == norm(str(value))):
        return
    yield Hit(Location(path="/source/file"), {"file": name, "expected": expected}, expected=expected, actual=name)


# ---- cost eligibility (the classifier) --------------------------------------------------------

@check("cost_eligibility", {"review_severity?": "enum:error|warning|info"}, values=("message_ja", "message_en"),
       reads=("budget.category", "budget.description", "budget.unit_price", "budget.quantity"))
def cost_eligibility(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    from pipeline.eligibility import load_classifier

    clf = load_classifier(ctx.pack)
    cat, desc = ctx.col("budget", "category"), ctx.col("budget", "description")
    price, qty = ctx.col("budget", "unit_price"), ctx.col("budget", "quantity")
    for i, it in enumerate(ctx.rows("budget")):
        res = clf.classify(category=it.get(cat), description=it.get(desc), unit_price=it.get(price),
                           quantity=it.get(qty))
        if res.verdict == "ok":
            continue
        reason = (res.reason or "other").replace("_", "-")
        ng = res.verdict == "ng"
        yield Hit(ctx.at("budget", i, "description"), {"message_ja": res.message_ja, "message_en": res.message_en},
                  expected="ok", actual={"verdict": res.verdict, "reason": res.reason, "matched": res.matched},
                  code=f"cost.{'ineligible' if ng else 'review'}.{reason}",
                  severity="error" if ng else p.get("review_severity", "warning"),
                  message_ja=res.message_ja, message_en=res.message_en, clause=res.clause)
