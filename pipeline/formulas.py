"""Spreadsheet formulas the templates carry, and the same arithmetic done exactly in Python.

A workbook's cached formula results cannot be trusted (openpyxl writes none, xlsxwriter
writes 0, users overwrite them), so the engine recomputes every value it relies on with
the functions here and only compares against what the sheet states.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from typing import Any


def _to_fraction(x: float | int) -> Fraction:
    # Quantities come from cells as floats (2.5 months); limit_denominator undoes binary noise.
    return Fraction(x).limit_denominator(1_000_000) if isinstance(x, float) else Fraction(x)


def amount(unit_price: int | None, quantity: float | None) -> int | None:
    """Line amount: unit price x quantity, rounded down to whole yen (ROUNDDOWN in the sheet)."""
    if unit_price is None or quantity is None:
        return None
    return math.floor(_to_fraction(unit_price) * _to_fraction(quantity))


def days(start: str | None, end: str | None) -> int | None:
    """Calendar days of a visit, both ends included."""
    if not start or not end:
        return None
    return (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1


def ratio_floor(total: int, ratio: float) -> int:
    """The largest whole-yen amount not above ``ratio`` of ``total`` (e.g. overhead caps)."""
    return math.floor(Fraction(total) * _to_fraction(ratio))


def deductible_share(table: list[dict[str, Any]], on: str | None) -> float | None:
    """The transitional deductible share in force on a transaction date, from the pack's table."""
    if not on:
        return None
    for band in table:
        if band["from"] <= on <= band["to"]:
            return float(band["deductible"])
    return 0.0


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


def sheet_deduction(date_cell: str, table: list[dict[str, Any]]) -> str:
    expr = "0"
    for band in reversed(table):
        y1, m1, d1 = (int(x) for x in band["from"].split("-"))
        y2, m2, d2 = (int(x) for x in band["to"].split("-"))
        expr = (f"IF(AND({date_cell}>=DATE({y1},{m1},{d1}),{date_cell}<=DATE({y2},{m2},{d2})),"
                f"{band['deductible']},{expr})")
    return f'=IF({date_cell}="","",{expr})'


def sheet_tax_equivalent(amount_cell: str, share_cell: str, rate: float) -> str:
    r = f"{rate}"
    return (f'=IF(OR({amount_cell}="",{share_cell}=""),"",'
            f"ROUNDDOWN(ROUND({amount_cell}*{r}/(1+{r})*(1-{share_cell})*(1+{r}),6),0))")
