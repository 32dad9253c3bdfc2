"""Turn a raw workbook into the normalised submission (JSON-shaped, schema-valid).

Values are cleaned by type (full-width digits, ¥ and 円, era dates, serial dates, stray
spaces), choices are mapped to their list codes, and every value remembers its cell so a
finding can point at it. Formula results are recomputed here; what the sheet states is kept
beside them so the rules can report a mismatch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from fractions import Fraction
from operator import itemgetter
from pathlib import Path
from typing import Any

from pipeline import formulas, settings
from pipeline.findings import Finding, Location, input_catalogue, render
from pipeline.normalise import (
    NormaliseError,
    fold_for_match,
    strip_controls,
    to_bool,
    to_date,
    to_int,
    to_number,
    to_text,
    to_yen,
)
from pipeline.packs import Pack
from pipeline.workbook import RawTable, RawWorkbook, column_letter

SCHEMA_VERSION = 1
_EXCEL_ERRORS = frozenset({"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#SPILL!", "#CALC!"})


class _Collector:
    """Collects input findings while values are read (pandera-style: everything, then report)."""

    def __init__(self, pack: Pack, date1904: bool) -> None:
        self.pack = pack
        self.date1904 = date1904
        self.findings: list[Finding] = []
        self.catalogue = input_catalogue()
        self.clause = pack.clause("form")

    def add(self, code: str, location: Location | Callable[[], Location], values: dict[str, Any]) -> None:
        if callable(location):
            location = location()
        kind = self.catalogue[code]
        self.findings.append(Finding(
            code=code, severity=kind["severity"], clause=self.clause,
            message_ja=render(kind["message"]["ja"], values), message_en=render(kind["message"]["en"], values),
            location=location, actual=values.get("value"),
        ))

    def value(self, raw: Any, spec: dict[str, Any], location: Location | Callable[[], Location],
              checked_by_rule: bool = False) -> Any:
        """One cell's value by its type; unreadable values become findings and None.

        ``location`` may be a function that makes it: most cells are fine and never need one.
        """
        if raw is None or raw == "":
            return None
        if isinstance(raw, str) and raw.strip() in _EXCEL_ERRORS:
            if spec.get("formula"):
                return None
            self.add("input.formula-error", location, {**_labels(spec), "value": raw.strip()})
            return None
        kind = spec["type"]
        try:
            if kind == "text":
                return to_text(raw)
            if kind == "yen":
                return self.bounded(to_yen(raw), spec, location, raw)
            if kind == "number":
                n = to_number(raw)
                return self.bounded(int(n) if n is not None and float(n).is_integer() else n, spec, location, raw)
            if kind == "int":
                return self.bounded(to_int(raw), spec, location, raw)
            if kind == "bool":
                return to_bool(raw)
            if kind == "date":
                d = to_date(raw, date1904=self.date1904)
                return d.isoformat() if d else None
            if kind == "choice":
                text = to_text(raw)
                if text is None:
                    return None
                choice = self.pack.choice(spec["list"], text)
                if choice is not None:
                    return choice.code
                if not checked_by_rule:
                    self.add("input.unknown-choice", location, {**_labels(spec), "value": shown_value(text)})
                return text
        except NormaliseError as exc:
            if spec.get("formula"):
                return None
            self.add(f"input.invalid-{exc.kind if exc.kind != 'text' else 'text'}", location,
                     {**_labels(spec), "value": shown_value(raw)})
            return None
        raise ValueError(f"unknown field type {kind!r}")

    def bounded(self, value: int | float | None, spec: dict[str, Any], location: Location | Callable[[], Location],
                raw: Any) -> int | float | None:
        """``value`` if it is a plausible figure for its field, else an out-of-range finding and None.

        Every number the rules, the totals and the database use passes here: a 25-digit price or a
        quantity of 1e-300 is a located error, never an overflow in a sum, a division or an INTEGER column.
        """
        if value is None:
            return None
        low, high = value_range(spec)
        if low <= value <= high and not (spec["type"] == "number" and 0 < abs(value) < settings.MIN_ABS_QUANTITY):
            return value
        self.add("input.out-of-range", location, {**_labels(spec), "value": shown_value(raw),
                                                  "min": _figure(low, spec), "max": _figure(high, spec)})
        return None


def value_range(spec: dict[str, Any]) -> tuple[int | float, int | float]:
    """The plausible range of a numeric field: the form's ``range: [min, max]``, else the type's bounds."""
    if "range" in spec:
        low, high = spec["range"]
        return low, high
    limit = settings.MAX_ABS_YEN if spec["type"] == "yen" else settings.MAX_ABS_NUMBER
    return -limit, limit


def _figure(n: int | float, spec: dict[str, Any]) -> str:
    """A bound as people write it: 1,000,000,000,000円, 1,000,000,000."""
    text = f"{int(n):,}" if float(n).is_integer() else f"{n:g}"
    return text + ("円" if spec["type"] == "yen" else "")


_SHOWN_MAX = 80


def shown_value(raw: Any) -> str:
    """A typed value as a message may quote it: readable text, control characters gone, at most 80 characters."""
    text = raw.strip() if isinstance(raw, str) else (to_text(raw) or "")
    text = strip_controls(text)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def _labels(spec: dict[str, Any]) -> dict[str, str]:
    return {"label_ja": spec["label"]["ja"], "label_en": spec["label"]["en"]}


def _rule_checked_columns(pack: Pack) -> set[tuple[str, str]]:
    """Table columns whose values a rule already judges (their unknown values get no second finding)."""
    return {(table, rule["params"]["column"]) for rule in pack.rules if rule["check"] == "allowed_values"
            for table in rule["params"]["tables"]}


def _header_index(table: RawTable, spec: dict[str, Any]) -> dict[str, int]:
    """Column positions by header text (Japanese + English, either alone, or the key).

    Every workbook of a template has the same headers: the answer is kept per (table spec, headers).
    """
    memo_key = (id(spec), tuple(table.headers))
    found = _HEADER_MEMO.get(memo_key)
    if found is not None and found[0] is spec:
        return dict(found[1])
    folded = {fold_for_match(h): i for i, h in enumerate(table.headers)}
    out: dict[str, int] = {}
    for col in spec["columns"]:
        for candidate in (f"{col['label']['ja']} {col['label']['en']}", col["label"]["ja"],
                          col["label"]["en"], col["key"]):
            i = folded.get(fold_for_match(candidate))
            if i is not None:
                out[col["key"]] = i
                break
    if len(_HEADER_MEMO) > 256:
        _HEADER_MEMO.clear()
    _HEADER_MEMO[memo_key] = (spec, dict(out))  # the spec itself is kept, so its id cannot be reused
    return out


_HEADER_MEMO: dict[tuple[int, tuple[str, ...]], tuple[dict[str, Any], dict[str, int]]] = {}


def _read_table(raw: RawWorkbook, spec: dict[str, Any], pack: Pack, col: _Collector,
                source: dict[str, Any]) -> list[dict[str, Any]]:
    sheet = pack.sheets[spec["sheet"]]
    table = raw.tables.get(spec["name"])
    if table is None:
        col.add("input.missing-table", Location(sheet=sheet), {
            "label_ja": spec["title"]["ja"], "label_en": spec["title"]["en"], "name": spec["name"]})
        return []
    index = _header_index(table, spec)
    letters = {k: column_letter(table.first_column + i) for k, i in index.items()}
    for c in spec["columns"]:
        if c["key"] not in index:
            col.add("input.missing-column", Location(sheet=table.sheet, row=table.header_row), {
                **_labels(c), "table_ja": spec["title"]["ja"], "table_en": spec["title"]["en"]})
    input_idx = [index[c["key"]] for c in spec["columns"] if not c.get("formula") and c["key"] in index]
    checked = _rule_checked_columns(pack)
    plan = [(c, index.get(c["key"]), (spec["key"], c["key"]) in checked) for c in spec["columns"]]
    items: list[dict[str, Any]] = []
    rows: list[int] = []
    blank = frozenset((None, ""))
    pick = itemgetter(*input_idx, input_idx[0]) if input_idx else None  # always a tuple (two or more indexes)
    for excel_row, values in table.rows:
        # Most template rows are empty: judged at C speed first, the full test only for the rest.
        if (pick is None or blank.issuperset(pick(values))) or all(_blank(values[i]) for i in input_idx):
            continue
        item: dict[str, Any] = {}
        for c, i, is_checked in plan:
            raw_value = values[i] if i is not None and i < len(values) else None
            if raw_value is None or raw_value == "":
                item[c["key"]] = None
                continue
            def loc(c: dict[str, Any] = c, row: int = excel_row, n: int = len(items)) -> Location:
                return Location(table.sheet, f"{letters.get(c['key'], '?')}{row}", None, row,
                                f"/{spec['key']}/{n}/{c['key']}")
            item[c["key"]] = col.value(raw_value, c, loc, is_checked)
        items.append(item)
        rows.append(excel_row)
    source["tables"][spec["key"]] = {"sheet": table.sheet, "header_row": table.header_row,
                                     "columns": letters, "rows": rows}
    return items


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _read_fields(raw: RawWorkbook, pack: Pack, col: _Collector, source: dict[str, Any],
                 only_totals: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in pack.fields.items():
        if bool(spec.get("total")) != only_totals:
            continue
        ref = raw.names.get(spec["name"])
        if ref is None:
            col.add("input.missing-field", Location(sheet=pack.sheets[spec["sheet"]]),
                    {**_labels(spec), "name": spec["name"]})
            out[key] = None
            continue
        source["fields"][key] = str(ref)
        out[key] = col.value(raw.values.get(spec["name"]), spec,
                             Location(sheet=ref.sheet, cell=ref.a1, path=f"/plan/{key}"))
    return out


_RECOMPUTE: dict[str, Callable[[dict[str, Any], Pack], Any]] = {
    "amount": lambda it, p: formulas.amount(it.get("unit_price"), it.get("quantity")),
    "days": lambda it, p: formulas.days(it.get("start"), it.get("end")),
    "deduction_rate": lambda it, p: formulas.deductible_share(
        p.money["tax_equivalent"]["transitional_deduction"], it.get("transaction_date")),
}


def _recompute_rows(items: list[dict[str, Any]], spec: dict[str, Any], pack: Pack, col: _Collector,
                    source: dict[str, Any]) -> None:
    """Replace each formula column by the engine's own result; keep the sheet's as <key>_stated.

    A result outside its field's range (a bounded price times a bounded quantity can still be
    absurd) is an out-of-range finding on that cell and None, like a typed value.
    """
    located = source["tables"].get(spec["key"], {})
    for c in spec["columns"]:
        kind = c.get("formula")
        if not kind:
            continue
        for n, it in enumerate(items):
            it[f"{c['key']}_stated"] = it.get(c["key"])
            if kind == "tax_equivalent":
                te = pack.money["tax_equivalent"]
                share = formulas.deductible_share(te["transitional_deduction"], it.get("transaction_date"))
                value = formulas.tax_equivalent(it.get("transaction_amount"), te["rate"], share, te["rounding"])
            else:
                value = _RECOMPUTE[kind](it, pack)
            if isinstance(value, int | float) and c["type"] in ("yen", "int", "number"):
                def loc(c: dict[str, Any] = c, n: int = n) -> Location:
                    row = located["rows"][n]
                    return Location(located["sheet"], f"{located['columns'].get(c['key'], '?')}{row}", None, row,
                                    f"/{spec['key']}/{n}/{c['key']}")
                value = col.bounded(value, c, loc, value)
            it[c["key"]] = value


def _totals(sub: dict[str, Any], stated: dict[str, Any], pack: Pack) -> dict[str, Any]:
    items = sub.get("budget", [])
    direct = sum(it["amount"] or 0 for it in items)
    by_category: dict[str, int] = {}
    for it in items:
        key = it.get("category") or "(none)"
        by_category[key] = by_category.get(key, 0) + (it["amount"] or 0)
    overhead = stated.get("overhead") or 0
    totals: dict[str, Any] = {
        "direct_total": direct,
        "by_category": by_category,
        "overhead": overhead,
        "overhead_rate": float(round(Fraction(overhead, direct), 6)) if direct else 0,
        "total": direct + overhead,
    }
    tax = pack.money.get("included_tax")
    if tax:
        totals["included_tax"] = formulas.included_tax(direct + overhead, tax["numerator"], tax["denominator"])
    return totals


def build_submission(raw: RawWorkbook, pack: Pack, *, template: dict[str, str] | None = None,
                     sha256: str | None = None) -> tuple[dict[str, Any], list[Finding]]:
    """Normalise ``raw`` for ``pack``: the submission dict and the input findings met on the way."""
    col = _Collector(pack, raw.date1904)
    source: dict[str, Any] = {"file": raw.path.name, "sha256": sha256, "application": raw.application,
                              "fields": {}, "tables": {}}
    sub: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "program": pack.id,
        "fiscal_year": pack.data["fiscal_year"],
        "template": template or {"id": pack.template["id"], "version": pack.template["version"]},
        "plan": _read_fields(raw, pack, col, source, only_totals=False),
    }
    for spec in pack.form["tables"]:
        items = _read_table(raw, spec, pack, col, source)
        _recompute_rows(items, spec, pack, col, source)
        sub[spec["key"]] = items
    stated = _read_fields(raw, pack, col, source, only_totals=True)
    sub["totals"] = _totals(sub, stated, pack)
    sub["stated"] = {k: v for k, v in stated.items()}
    sub["source"] = source
    return sub, col.findings


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content; file_digest reuses one buffer (reading 1 MiB chunks allocated 1 MiB per file)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()

