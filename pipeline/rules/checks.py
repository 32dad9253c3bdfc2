"""The check kinds a rule pack can use. Each is generic: the numbers come from the rule.

A check yields Hits (where, which values); it never writes a message: the runner renders
the rule's own bilingual template with the hit's values.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from pipeline import formulas
from pipeline.findings import Location
from pipeline.rules.context import Context, Hit, add_months, age_on, date, months_between

Check = Callable[[Context, dict[str, Any]], Iterator[Hit]]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn
    return register


def _role_ok(ctx: Context, item: dict[str, Any], params: dict[str, Any]) -> bool:
    role = item.get("role")
    if "roles" in params and role not in params["roles"]:
        return False
    return not ("exempt_roles" in params and role in params["exempt_roles"])


def _matches(item: dict[str, Any], where: dict[str, Any] | None) -> bool:
    return all(item.get(k) == v for k, v in (where or {}).items())


# ---- lists and counts -------------------------------------------------------------------------

@check("allowed_values")
def allowed_values(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    column = p["column"]
    if "allowed" in p:
        allowed = set(p["allowed"])
        list_name = p.get("list") or _list_of(ctx, p["tables"][0], column)
    else:
        list_name = p["list"]
        allowed = {ch.code for ch in ctx.pack.lists[list_name]}
    for table in p["tables"]:
        for i, item in enumerate(ctx.items(table)):
            value = item.get(column)
            if value is None or value in allowed or not _role_ok(ctx, item, p):
                continue
            if any(ctx.pack.choice(other, str(value)) for other in p.get("skip_lists", [])):
                continue
            shown = ctx.label(list_name, value) if list_name else str(value)
            yield Hit(ctx.cell(table, i, column), {"value": shown, "name": item.get("name")},
                      expected=sorted(str(a) for a in allowed), actual=value)


def _list_of(ctx: Context, table: str, column: str) -> str | None:
    for col in ctx.pack.tables[table]["columns"]:
        if col["key"] == column:
            return col.get("list")
    return None


def _count(ctx: Context, p: dict[str, Any]) -> int:
    return sum(1 for it in ctx.items(p["table"]) if _matches(it, p.get("where")))


def _table_location(ctx: Context, table: str) -> Any:
    src = ctx.sub["source"]["tables"].get(table)
    loc = ctx.cell(table, 0) if ctx.items(table) else ctx.cell(table, 10**9)
    if src and src["rows"]:
        cols = sorted(src["columns"].values(), key=lambda s: (len(s), s))
        loc.range = f"{cols[0]}{src['rows'][0]}:{cols[-1]}{src['rows'][-1]}"
        loc.row = None
        loc.cell = None
        loc.path = f"/{table}"
    elif src:
        loc.sheet = src["sheet"]
    return loc


@check("count_at_most")
def count_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    n = _count(ctx, p)
    if n > p["max"]:
        yield Hit(_table_location(ctx, p["table"]), {"actual": n, "max": p["max"]}, expected=p["max"], actual=n)


@check("count_at_least")
def count_at_least(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    n = _count(ctx, p)
    if n < p["min"]:
        yield Hit(_table_location(ctx, p["table"]), {"actual": n, "min": p["min"]}, expected=p["min"], actual=n)


@check("count_exactly")
def count_exactly(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    n = _count(ctx, p)
    if n != p["count"]:
        yield Hit(_table_location(ctx, p["table"]), {"actual": n, "count": p["count"]},
                  expected=p["count"], actual=n)


@check("flag_not_set")
def flag_not_set(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for i, it in enumerate(ctx.items(p["table"])):
        if it.get(p["column"]) is True:
            yield Hit(ctx.cell(p["table"], i, p["column"]), {"name": it.get("name")}, expected=False, actual=True)


# ---- people -----------------------------------------------------------------------------------

@check("age_at_most")
def age_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    if "reference_date" in p:
        reference = date(p["reference_date"])
    else:
        reference = date(ctx.sub["plan"].get(p["reference"].removeprefix("plan_")))
    if reference is None:
        return
    for i, person in enumerate(ctx.items("participants")):
        birth = date(person.get("birth_date"))
        if birth is None or not _role_ok(ctx, person, p):
            continue
        leave = person.get(p["leave_column"]) if p.get("leave_column") else None
        effective = add_months(reference, -math.floor(leave)) if leave else reference
        age = age_on(birth, effective)
        if age > p["max_age"]:
            yield Hit(ctx.cell("participants", i, "birth_date"),
                      {"name": person.get("name"), "actual": age, "reference_date": reference.isoformat(),
                       "leave": leave or 0, "max_age": p["max_age"]},
                      expected=p["max_age"], actual=age)


def _person_visits(ctx: Context, p: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any], list[tuple[int, dict]]]]:
    for no, visits in ctx.visits_by_person.items():
        person = ctx.people.get(no)
        if person is None or not _role_ok(ctx, person, p):
            continue
        yield no, person, visits


@check("days_per_person_at_most")
def days_per_person_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for _no, person, visits in _person_visits(ctx, p):
        total = sum(v.get("days") or 0 for _, v in visits if (v.get("days") or 0) > 0)
        if total > p["max_days"]:
            idx = visits[-1][0]
            yield Hit(ctx.cell("visits", idx, "days"), {"name": person.get("name"), "actual": total,
                                                        "max": p["max_days"]}, expected=p["max_days"], actual=total)


@check("stay_months_at_most")
def stay_months_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for _no, person, visits in _person_visits(ctx, p):
        total = round(sum(_visit_months(v) for _, v in visits), 2)
        if total > p["max_months"]:
            yield Hit(ctx.cell("visits", visits[-1][0], "end"),
                      {"name": person.get("name"), "actual": total, "max": p["max_months"]},
                      expected=p["max_months"], actual=total)


def _visit_months(v: dict[str, Any]) -> float:
    s, e = date(v.get("start")), date(v.get("end"))
    if s is None or e is None or e < s:
        return 0.0
    return months_between(s, e)


@check("visit_days_at_least")
def visit_days_at_least(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for _no, person, visits in _person_visits(ctx, p):
        for idx, v in visits:
            d = v.get("days")
            if d is None or d <= 0 or d >= p["min_days"]:
                continue
            if "above_days" in p and d < p["above_days"]:
                continue
            yield Hit(ctx.cell("visits", idx, "days"),
                      {"name": person.get("name"), "actual": d, "start": v.get("start"), "end": v.get("end"),
                       "min": p["min_days"]}, expected=p["min_days"], actual=d)


@check("first_visit_between")
def first_visit_between(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for _no, person, visits in _person_visits(ctx, p):
        dated = [(v["start"], idx) for idx, v in visits if v.get("start")]
        if not dated:
            continue
        first, idx = min(dated)
        if ("min" in p and first < p["min"]) or ("max" in p and first > p["max"]):
            yield Hit(ctx.cell("visits", idx, "start"),
                      {"name": person.get("name"), "actual": first, "min": p.get("min"), "max": p.get("max")},
                      expected={"min": p.get("min"), "max": p.get("max")}, actual=first)


@check("visits_end_by")
def visits_end_by(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for i, v in enumerate(ctx.items("visits")):
        if v.get("end") and v["end"] > p["max"]:
            yield Hit(ctx.cell("visits", i, "end"), {"name": ctx.person_name(v.get("participant_no")),
                                                     "actual": v["end"], "max": p["max"]},
                      expected=p["max"], actual=v["end"])


@check("visit_order")
def visit_order(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for i, v in enumerate(ctx.items("visits")):
        if v.get("start") and v.get("end") and v["end"] < v["start"]:
            yield Hit(ctx.cell("visits", i, "end"), {"start": v["start"], "end": v["end"]},
                      expected=f">= {v['start']}", actual=v["end"])


@check("visit_participant_known")
def visit_participant_known(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for i, v in enumerate(ctx.items("visits")):
        no = v.get("participant_no")
        if no is not None and no not in ctx.people:
            yield Hit(ctx.cell("visits", i, "participant_no"), {"value": no},
                      expected=sorted(ctx.people), actual=no)


@check("visits_within_period")
def visits_within_period(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    start, end = ctx.sub["plan"].get("period_start"), ctx.sub["plan"].get("period_end")
    if not start or not end:
        return
    for i, v in enumerate(ctx.items("visits")):
        vs, ve = v.get("start"), v.get("end")
        if (vs and vs < start) or (ve and ve > end):
            yield Hit(ctx.cell("visits", i), {"name": ctx.person_name(v.get("participant_no")), "start": vs,
                                              "end": ve, "period_start": start, "period_end": end},
                      expected={"from": start, "to": end}, actual={"from": vs, "to": ve})


# ---- the plan period --------------------------------------------------------------------------

@check("date_between")
def date_between(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    value = ctx.sub["plan"].get(p["field"])
    if not value:
        return
    if ("min" in p and value < p["min"]) or ("max" in p and value > p["max"]):
        yield Hit(ctx.field(p["field"]), {"actual": value, "min": p.get("min"), "max": p.get("max")},
                  expected={"min": p.get("min"), "max": p.get("max")}, actual=value)


@check("period_at_most")
def period_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    start, end = date(ctx.sub["plan"].get("period_start")), date(ctx.sub["plan"].get("period_end"))
    if start is None or end is None or end < start:
        return
    limit = add_months(start, p["months"])
    if end >= limit:
        yield Hit(ctx.field("period_end"), {"start": start.isoformat(), "end": end.isoformat(),
                                            "months": p["months"]},
                  expected=f"< {limit.isoformat()}", actual=end.isoformat())


@check("period_order")
def period_order(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    start, end = ctx.sub["plan"].get("period_start"), ctx.sub["plan"].get("period_end")
    if start and end and end < start:
        yield Hit(ctx.field("period_end"), {"start": start, "end": end}, expected=f">= {start}", actual=end)


@check("dates_not_before")
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


@check("total_at_most")
def total_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    levels = _money_levels(ctx)
    if not levels:
        return
    total = ctx.sub["totals"]["total"]
    limit = levels[p["max_from"]]
    if total <= limit:
        return
    if "up_to_from" in p and total > levels[p["up_to_from"]]:
        return
    reason = ctx.sub["plan"].get(p.get("unless_filled") or p.get("only_if_filled") or "", None)
    if "unless_filled" in p and reason:
        return
    if "only_if_filled" in p and not reason:
        return
    loc = ctx.field(p["unless_filled"]) if "unless_filled" in p else ctx.field("total")
    yield Hit(loc, {"actual": total, "max": limit, "base": levels["base"], "cap": levels["cap"]},
              expected=limit, actual=total)


@check("overhead_at_most")
def overhead_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    totals = ctx.sub["totals"]
    ratio = ctx.pack.money["overhead_max_ratio"]
    limit = formulas.ratio_floor(totals["direct_total"], ratio)
    if totals["overhead"] > limit:
        yield Hit(ctx.field("overhead"), {"actual": totals["overhead"], "direct": totals["direct_total"],
                                          "max": limit, "ratio_pct": f"{ratio * 100:g}"},
                  expected=limit, actual=totals["overhead"])


@check("monthly_rate_at_most")
def monthly_rate_at_most(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    rate = ctx.pack.money[p["rate_from"]]
    for i, it in enumerate(ctx.items("budget")):
        if it.get("subcategory") == p["subcategory"] and (it.get("unit_price") or 0) > rate:
            yield Hit(ctx.cell("budget", i, "unit_price"), {"actual": it["unit_price"], "max": rate},
                      expected=rate, actual=it["unit_price"])


@check("budget_months_at_most_stay")
def budget_months_at_most_stay(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for pair in p["pairs"]:
        lines = [(i, it) for i, it in enumerate(ctx.items("budget")) if it.get("subcategory") == pair["subcategory"]]
        if not lines:
            continue
        budgeted = round(sum(float(it.get("quantity") or 0) for _, it in lines), 2)
        stays = sum(_visit_months(v) for no, visits in ctx.visits_by_person.items()
                    if ctx.people.get(no, {}).get("role") == pair["role"] for _, v in visits)
        allowed = math.ceil(round(stays, 2))
        if "max_months_from" in pair:
            allowed = min(allowed, ctx.pack.money[pair["max_months_from"]])
        if budgeted > allowed:
            sub = ctx.pack.choice_by_code("budget_subcategories", pair["subcategory"])
            yield Hit(ctx.cell("budget", lines[-1][0], "quantity"),
                      {"actual": budgeted, "max": allowed, "subcategory_ja": sub.ja if sub else pair["subcategory"],
                       "subcategory_en": sub.en if sub else pair["subcategory"]},
                      expected=allowed, actual=budgeted)


@check("amount_arithmetic")
def amount_arithmetic(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for i, it in enumerate(ctx.items("budget")):
        stated, expected = it.get("amount_stated"), it.get("amount")
        if stated is not None and expected is not None and stated != expected:
            yield Hit(ctx.cell("budget", i, "amount"), {"stated": stated, "expected": expected},
                      expected=expected, actual=stated)


@check("totals_arithmetic")
def totals_arithmetic(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    totals, stated = ctx.sub["totals"], ctx.sub["stated"]
    for key, spec in ctx.pack.fields.items():
        if not spec.get("total") or not spec.get("formula") or stated.get(key) is None or key not in totals:
            continue
        expected, value = totals[key], stated[key]
        same = abs(float(value) - float(expected)) < 1e-4 if spec["type"] == "number" else value == expected
        if not same:
            yield Hit(ctx.field(key), {"stated": value, "expected": expected, "label_ja": spec["label"]["ja"],
                                       "label_en": spec["label"]["en"]}, expected=expected, actual=value)


@check("tax_equivalent")
def tax_equivalent(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for i, it in enumerate(ctx.items("tax_items")):
        stated, expected = it.get("tax_equivalent_stated"), it.get("tax_equivalent")
        if stated is None or expected is None or stated == expected:
            continue
        share = it.get("deduction_rate") or 0
        yield Hit(ctx.cell("tax_items", i, "tax_equivalent"),
                  {"amount": it.get("transaction_amount"), "date": it.get("transaction_date"),
                   "deductible_pct": f"{share * 100:g}", "expected": expected, "stated": stated},
                  expected=expected, actual=stated)


@check("tax_equivalent_total")
def tax_equivalent_total(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    lines = [(i, it) for i, it in enumerate(ctx.items("budget")) if it.get("subcategory") == p["subcategory"]]
    table = [it.get("tax_equivalent") or 0 for it in ctx.items("tax_items")]
    if not lines and not table:
        return
    stated = sum(it.get("amount") or 0 for _, it in lines)
    expected = sum(table)
    if stated != expected:
        loc = ctx.cell("budget", lines[-1][0], "amount") if lines else ctx.cell("tax_items", 0, "tax_equivalent")
        yield Hit(loc, {"stated": stated, "expected": expected}, expected=expected, actual=stated)


@check("included_tax")
def included_tax(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    totals = ctx.sub["totals"]
    if totals.get("total") and "included_tax" in totals:
        yield Hit(ctx.field("included_tax") if "included_tax" in ctx.sub["source"]["fields"] else ctx.field("total"),
                  {"total": totals["total"], "tax": totals["included_tax"]},
                  expected=totals["included_tax"], actual=totals["included_tax"])


# ---- completeness -----------------------------------------------------------------------------

@check("required_fields")
def required_fields(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for key, spec in ctx.pack.fields.items():
        if spec.get("required") and ctx.sub["plan"].get(key) in (None, "") and key in ctx.sub["source"]["fields"]:
            yield Hit(ctx.field(key), {"label_ja": spec["label"]["ja"], "label_en": spec["label"]["en"]},
                      expected="value", actual=None)
    for table in ctx.pack.form["tables"]:
        for i, it in enumerate(ctx.items(table["key"])):
            for col in table["columns"]:
                if col.get("required") and it.get(col["key"]) in (None, ""):
                    yield Hit(ctx.cell(table["key"], i, col["key"]),
                              {"label_ja": f"{table['title']['ja']}：{col['label']['ja']}",
                               "label_en": f"{table['title']['en']}: {col['label']['en']}"},
                              expected="value", actual=None)


# ---- the submitted file itself (pre-submission stage) -----------------------------------------

_WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


@check("file_name_convention")
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
    expected = p["pattern"].format(**{field_key: value if value else p.get("placeholder", "…")})
    head, _, tail = p["pattern"].partition("{" + field_key + "}")
    m = re.fullmatch(re.escape(norm(head)) + "(.+)" + re.escape(norm(tail)), norm(stem))
    if m and (not value or m.group(1) == norm(str(value))):
        return
    yield Hit(Location(path="/source/file"), {"file": name, "expected": expected}, expected=expected, actual=name)


# ---- cost eligibility (the classifier) --------------------------------------------------------

@check("cost_eligibility")
def cost_eligibility(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    from pipeline.eligibility import load_classifier

    clf = load_classifier(ctx.pack)
    for i, it in enumerate(ctx.items("budget")):
        res = clf.classify(category=it.get("category"), description=it.get("description"),
                           unit_price=it.get("unit_price"), quantity=it.get("quantity"))
        if res.verdict == "ok":
            continue
        reason = (res.reason or "other").replace("_", "-")
        ng = res.verdict == "ng"
        yield Hit(ctx.cell("budget", i, "description"), {"message_ja": res.message_ja, "message_en": res.message_en},
                  expected="ok", actual={"verdict": res.verdict, "reason": res.reason, "matched": res.matched},
                  code=f"cost.{'ineligible' if ng else 'review'}.{reason}",
                  severity="error" if ng else p.get("review_severity", "warning"),
                  message_ja=res.message_ja, message_en=res.message_en, clause=res.clause)
