"""Spreadsheet formulas the templates carry, and the same arithmetic done exactly in Python.

A workbook's cached formula results cannot be trusted (openpyxl writes none, xlsxwriter writes 0,
users overwrite them), so the engine recomputes every value it relies on with the functions here
and only compares against what the sheet states.

The form names a calculated cell's formula and its inputs (``formula: amount, args: [unit_price,
quantity]``); ``ROW`` and ``TOTAL`` say what each formula kind computes in Python and writes in the
sheet, so the template and the engine cannot drift, and no table or column is named here.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, NamedTuple


def _to_fraction(x: float | int) -> Fraction:
    # Quantities come from cells as floats (2.5 months); limit_denominator undoes binary noise.
    return _float_fraction(x) if isinstance(x, float) else Fraction(x)


@functools.lru_cache(maxsize=4096)
def _float_fraction(x: float) -> Fraction:
    """A float as the fraction it stands for. Cached: the same few rates (0.1, 0.3, 0.8 …) come back for
    every file, and limit_denominator takes ~10 µs of Python each time (Fractions are immutable)."""
    return Fraction(x).limit_denominator(1_000_000)


def amount(unit_price: int | None, quantity: float | None) -> int | None:
    """Line amount: unit price x quantity, rounded down to whole yen (ROUNDDOWN in the sheet)."""
    if unit_price is None or quantity is None:
        return None
    if type(unit_price) is int and type(quantity) is int:  # the usual line: exact without Fractions
        return unit_price * quantity
    return math.floor(_to_fraction(unit_price) * _to_fraction(quantity))


def days(start: str | None, end: str | None) -> int | None:
    """Calendar days of a visit, both ends included; none for a visit that ends before it starts
    (that is its own finding, not a negative number of days)."""
    if not start or not end:
        return None
    n = (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1
    return n if n > 0 else None


def ratio_floor(total: int, ratio: float) -> int:
    """The largest whole-yen amount not above ``ratio`` of ``total`` (e.g. overhead caps)."""
    exact = _to_fraction(ratio)
    if type(total) is int:  # floor(total × p / q) in integers: a Fraction's arithmetic costs ~8 µs a call
        return total * exact.numerator // exact.denominator
    return math.floor(Fraction(total) * exact)


def deduction_band(bands: list[dict[str, Any]], on: str | None) -> dict[str, Any] | None:
    """The band of the transitional deduction in force on a transaction date (None: no band covers it)."""
    if not on:
        return None
    for band in bands:
        if band["from"] <= on <= band["to"]:
            return band
    return None


def deductible_share(bands: list[dict[str, Any]], on: str | None) -> float | None:
    """The deductible share on a transaction date: the band's, or 0 outside every band (the measure ended)."""
    if not on:
        return None
    band = deduction_band(bands, on)
    return float(band["deductible"]) if band else 0.0


def tax_equivalent(amount_incl_tax: int | None, rate: float, deductible: float | None,
                   rounding: str = "floor") -> int | None:
    """Tax a non-registered supplier's invoice leaves the institution to pay.

    amount x rate/(1+rate) x (1 - deductible) x (1+rate): the call's worked example gives
    110,000 yen at 80 % deductible -> 10,000 x 0.2 x 1.1 = 2,200 yen.
    """
    if amount_incl_tax is None or deductible is None:
        return None
    r = _to_fraction(rate)
    value = Fraction(amount_incl_tax) * r / (1 + r) * (1 - _to_fraction(deductible)) * (1 + r)
    return _round(value, rounding)


def included_tax(total: int, numerator: int, denominator: int) -> int:
    """Consumption tax contained in a tax-inclusive total (10/110), rounded down."""
    return math.floor(Fraction(total * numerator, denominator))


def rate(part: int | None, whole: int | None) -> float:
    """``part`` / ``whole`` to six places (the overhead rate); 0 when there is no whole."""
    if not whole or part is None:
        return 0
    return float(round(Fraction(part, whole), 6))


def _round(value: Fraction, rounding: str) -> int:
    if rounding == "floor":
        return math.floor(value)
    if rounding == "ceil":
        return math.ceil(value)
    return math.floor(value + Fraction(1, 2))


# ---- the same formulas as spreadsheet text (used by the template builder) -------------------

def sheet_amount(unit_price_cell: str, quantity_cell: str) -> str:
    return (f'=IF(OR({unit_price_cell}="",{quantity_cell}=""),"",'
            f"ROUNDDOWN(ROUND({unit_price_cell}*{quantity_cell},6),0))")


def sheet_days(start_cell: str, end_cell: str) -> str:
    return f'=IF(OR({start_cell}="",{end_cell}=""),"",{end_cell}-{start_cell}+1)'


def sheet_deduction(date_cell: str, bands: list[dict[str, Any]]) -> str:
    expr = "0"
    for band in reversed(bands):
        y1, m1, d1 = (int(x) for x in band["from"].split("-"))
        y2, m2, d2 = (int(x) for x in band["to"].split("-"))
        expr = (f"IF(AND({date_cell}>=DATE({y1},{m1},{d1}),{date_cell}<=DATE({y2},{m2},{d2})),"
                f"{band['deductible']},{expr})")
    return f'=IF({date_cell}="","",{expr})'


def sheet_tax_equivalent(amount_cell: str, share_cell: str, rate: float) -> str:
    r = f"{rate}"
    return (f'=IF(OR({amount_cell}="",{share_cell}=""),"",'
            f"ROUNDDOWN(ROUND({amount_cell}*{r}/(1+{r})*(1-{share_cell})*(1+{r}),6),0))")


# ---- formula kinds a form may name --------------------------------------------------------------

class Formula(NamedTuple):
    """A formula kind: how many inputs, what it computes (from the pack and the inputs' values) and
    what it writes in the sheet (from the pack and the inputs' references). ``money`` names what it
    needs from the pack's money section. A NamedTuple, immutable like the frozen dataclass it was,
    without importing ``dataclasses`` (~7 ms of every ``shinsei validate``, see pipeline.record)."""

    arity: int | None                       # None: one or more
    compute: Callable[..., Any]
    sheet: Callable[..., str]
    money: str | None = None


def _bands(pack: Any) -> list[dict[str, Any]]:
    return pack.money["tax_equivalent"]["transitional_deduction"]["bands"]


def _tax_equivalent(pack: Any, amount_incl_tax: int | None, share: float | None) -> int | None:
    te = pack.money["tax_equivalent"]
    return tax_equivalent(amount_incl_tax, te["rate"], share, te["rounding"])


def _included_tax(pack: Any, total: int | None) -> int:
    tax = pack.money["included_tax"]
    return included_tax(total or 0, tax["numerator"], tax["denominator"])


ROW: dict[str, Formula] = {
    "amount": Formula(2, lambda pack, price, qty: amount(price, qty),
                      lambda pack, price, qty: sheet_amount(price, qty)),
    "days": Formula(2, lambda pack, start, end: days(start, end), lambda pack, start, end: sheet_days(start, end)),
    "deduction_rate": Formula(1, lambda pack, on: deductible_share(_bands(pack), on),
                              lambda pack, on: sheet_deduction(on, _bands(pack)), money="tax_equivalent"),
    "tax_equivalent": Formula(2, _tax_equivalent,
                              lambda pack, amt, share: sheet_tax_equivalent(amt, share,
                                                                            pack.money["tax_equivalent"]["rate"]),
                              money="tax_equivalent"),
}

TOTAL: dict[str, Formula] = {
    # sum(table.column): the column's amounts, blanks as nothing
    "sum": Formula(1, lambda pack, values: sum(v for v in values if v is not None),
                   lambda pack, ref: f"=SUM({ref})"),
    "add": Formula(None, lambda pack, *values: sum(v or 0 for v in values),
                   lambda pack, *refs: "=" + "+".join(f"N({r})" for r in refs)),
    "ratio": Formula(2, lambda pack, part, whole: rate(part, whole),
                     lambda pack, part, whole: f"=IF(N({whole})>0,N({part})/{whole},0)"),
    "included_tax": Formula(1, _included_tax,
                            lambda pack, total: (f"=ROUNDDOWN(N({total})*{pack.money['included_tax']['numerator']}/"
                                                 f"{pack.money['included_tax']['denominator']},0)"),
                            money="included_tax"),
}


def formula_problems(pack: Any) -> list[str]:
    """A form's formulas that cannot work: unknown kind, wrong number of inputs, inputs the form lacks
    or computed later, money the pack does not give."""
    out: list[str] = []

    def check(where: str, spec: dict[str, Any], registry: dict[str, Formula], known: list[str]) -> None:
        kind, args = spec["formula"], spec.get("args", [])
        f = registry.get(kind)
        if f is None:
            out.append(f"{where}: unknown formula {kind!r} (known: {', '.join(sorted(registry))})")
            return
        if (f.arity is None and not args) or (f.arity is not None and len(args) != f.arity):
            out.append(f"{where}: formula {kind} takes {f.arity or 'one or more'} inputs, not {len(args)}")
        for a in args:
            if a not in known:
                out.append(f"{where}: input {a!r} of formula {kind} is not a value computed before it")
        if f.money and f.money not in pack.money:
            out.append(f"{where}: formula {kind} needs money.{f.money} in the pack")

    for table in pack.form["tables"]:
        seen: list[str] = []
        for col in table["columns"]:
            if col.get("formula"):
                check(f"table {table['key']}.{col['key']}", col, ROW, seen)
            seen.append(col["key"])
    known = [f["key"] for s in pack.form["sections"] for f in s["fields"]]
    known += [f"{t['key']}.{c['key']}" for t in pack.form["tables"] for c in t["columns"]]
    for f in pack.form["totals"]["fields"]:
        if f.get("formula"):
            check(f"totals.{f['key']}", f, TOTAL, known)
        known.append(f["key"])
    return out
