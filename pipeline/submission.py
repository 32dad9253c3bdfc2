"""Turn a raw workbook into the normalised submission (JSON-shaped, schema-valid).

Values are cleaned by type (full-width digits, ¥ and 円, era dates, serial dates, fiscal years as
people write them, stray spaces), choices are mapped to their list codes, every number is held to
its field's plausible range, and every value remembers its cell so a finding can point at it.
Formula results are recomputed here from the formulas and inputs the form names; what the sheet
states is kept beside them so the rules can report a mismatch. A cell that shows an error (#REF!,
#NAME? …) where the engine computes a number, and a defined name that no longer points at its cell,
are findings on their cell, never a silent 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from pipeline import formulas, settings
from pipeline.findings import Finding, Location, input_catalogue, render
from pipeline.normalise import (
    NormaliseError,
    fold_for_match,
    strip_controls,
    to_bool,
    to_date,
    to_fiscal_year,
    to_int,
    to_number,
    to_text,
    to_yen,
)
from pipeline.packs import Pack
from pipeline.workbook import RawTable, RawWorkbook, column_letter

SCHEMA_VERSION = 1
_EXCEL_ERRORS = frozenset({"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#SPILL!", "#CALC!",
                           "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"})


# Types a sheet's formulas compute with: a cell of these typed as text is read by the engine, not by the sheet.
_SHEET_TYPED = frozenset({"yen", "number", "int", "fiscal_year", "date"})


class SheetError(str):
    """A calculated cell's error value (#REF! …), kept until the engine knows whether it computes a number there."""


class _Collector:
    """Collects input findings while values are read (pandera-style: everything, then report)."""

    def __init__(self, pack: Pack, date1904: bool) -> None:
        self.pack = pack
        self.date1904 = date1904
        self.findings: list[Finding] = []
        self.catalogue = input_catalogue()
        self.clause = pack.clause("form")
        # Numbers and dates typed as text ("¥98,000", "令和8年5月10日" as strings): the engine reads them, the
        # sheet's formulas cannot (#VALUE!, or 0 in N() and SUM). By JSON path; each is reported once: a number
        # a formula reads at once, a date only where a calculated cell of the sheet shows the consequence.
        self.text_inputs: dict[str, tuple[Location, Any, Any, dict[str, Any]]] = {}
        self.reported: set[str] = set()
        # A number typed as text that a formula of the sheet reads: reported at once, whatever the sheet cached
        # (openpyxl caches nothing; Excel will show #VALUE! or count it as 0).
        self.formula_inputs = _formula_inputs(pack)

    def add(self, code: str, location: Location | Callable[[], Location], values: dict[str, Any],
            expected: Any = None) -> None:
        if callable(location):
            location = location()
        kind = self.catalogue[code]
        self.findings.append(Finding(
            code=code, severity=kind["severity"], clause=self.clause,
            message_ja=render(kind["message"]["ja"], values), message_en=render(kind["message"]["en"], values),
            location=location, expected=expected, actual=values.get("value"),
        ))

    def text_input(self, path: str) -> bool:
        """Whether the cell at ``path`` is a number or date typed as text; reported once (the root of what
        the sheet then computes wrong)."""
        found = self.text_inputs.get(path)
        if found is None:
            return False
        if path not in self.reported:
            self.reported.add(path)
            location, raw, value, spec = found
            date = spec["type"] == "date"
            self.add("input.typed-as-text", location, {**_labels(spec), "value": shown_value(raw), "number": value,
                                                       "kind_ja": "日付" if date else "数値",
                                                       "kind_en": "date" if date else "number"}, expected=value)
        return True

    def flagged(self, top: str) -> bool:
        """Whether a finding already points into ``/top/…`` (a table or a field): the root of what follows."""
        prefixes = (f"/{top}/", f"/plan/{top}", f"/stated/{top}")
        return any((f.location.path or "").startswith(prefixes) for f in self.findings)

    def value(self, raw: Any, spec: dict[str, Any], location: Location | Callable[[], Location],
              checked_by_rule: bool = False) -> Any:
        """One cell's value by its type; unreadable values become findings and None.

        ``location`` may be a function that makes it: most cells are fine and never need one. A number
        or date typed as text is read, and remembered (the sheet's own formulas cannot read it).
        """
        if raw is None:
            return None
        if isinstance(raw, str):
            if not raw:
                return None
            if "#" in raw and raw.strip() in _EXCEL_ERRORS:
                if spec.get("formula"):
                    return SheetError(raw.strip())  # judged once the engine has computed the cell
                self.add("input.formula-error", location, {**_labels(spec), "value": raw.strip()})
                return None
            if spec["type"] in _SHEET_TYPED and not spec.get("formula"):
                value = self._typed(raw, spec, location, checked_by_rule)
                if value is not None:
                    where = location() if callable(location) else location
                    self.text_inputs[where.path or ""] = (where, raw, value, spec)
                    if spec["type"] != "date" and _input_key(where.path or "") in self.formula_inputs:
                        self.text_input(where.path or "")
                return value
        return self._typed(raw, spec, location, checked_by_rule)

    def _typed(self, raw: Any, spec: dict[str, Any], location: Location | Callable[[], Location],
               checked_by_rule: bool) -> Any:
        kind = spec["type"]
        try:
            if kind == "text":
                return to_text(raw)
            if kind == "choice":
                text, code = _choice(self.pack, spec, raw)
                if text is None or code is not None:
                    return code
                if not checked_by_rule:
                    self.add("input.unknown-choice", location, {**_labels(spec), "value": shown_value(text)})
                return text
            if kind == "yen":
                return self.bounded(to_yen(raw), spec, location, raw)
            if kind == "number":
                n = to_number(raw)
                return self.bounded(int(n) if n is not None and float(n).is_integer() else n, spec, location, raw)
            if kind == "int":
                return self.bounded(to_int(raw), spec, location, raw)
            if kind == "date":
                d = to_date(raw, date1904=self.date1904)
                return d.isoformat() if d else None
            if kind == "fiscal_year":
                return self.bounded(to_fiscal_year(raw), spec, location, raw)
            if kind == "bool":
                return to_bool(raw)
        except NormaliseError as exc:
            if spec.get("formula"):
                return None
            self.add(f"input.invalid-{exc.kind.replace('_', '-')}", location,
                     {**_labels(spec), "value": shown_value(raw)})
            return None
        raise ValueError(f"unknown field type {kind!r}")

    def bounded(self, value: int | float | None, spec: dict[str, Any], location: Location | Callable[[], Location],
                raw: Any) -> int | float | None:
        """``value`` if it is a plausible figure for its field, else an out-of-range finding and None.

        Every number the rules, the totals and the database use passes here: a negative price, a
        25-digit price or a quantity of 1e-300 is a located error, never a 0, an overflow in a sum,
        a division or an INTEGER column. The form gives each field its ``range``.
        """
        if value is None:
            return None
        low, high = value_range(spec)
        if _plausible(value, spec["type"], low, high):
            return value
        self.add("input.out-of-range", location, {**_labels(spec), "value": shown_value(raw),
                                                  "min": _figure(low, spec), "max": _figure(high, spec)})
        return None



_FORMULA_INPUTS: dict[int, tuple[Pack, frozenset[str]]] = {}


def _formula_inputs(pack: Pack) -> frozenset[str]:
    """The inputs the sheet's formulas read (``table.column`` or a field key), as the form names them."""
    found = _FORMULA_INPUTS.get(id(pack))
    if found is None or found[0] is not pack:
        keys: set[str] = set()
        for table in pack.form["tables"]:
            keys |= {f"{table['key']}.{a}" for c in table["columns"] if c.get("formula") for a in c["args"]}
        for f in pack.form["totals"]["fields"]:
            keys |= set(f.get("args", [])) if f.get("formula") else set()
        if len(_FORMULA_INPUTS) > 64:
            _FORMULA_INPUTS.clear()
        found = _FORMULA_INPUTS[id(pack)] = (pack, frozenset(keys))
    return found[1]


def _input_key(path: str) -> str:
    """``/budget/3/unit_price`` -> ``budget.unit_price``; ``/stated/overhead`` -> ``overhead``."""
    parts = path.split("/")
    if len(parts) == 4:
        return f"{parts[1]}.{parts[3]}"
    return parts[-1]


def value_range(spec: dict[str, Any]) -> tuple[int | float, int | float]:
    """The plausible range of a numeric field: the form's ``range: [min, max]``, else the type's bounds."""
    if "range" in spec:
        low, high = spec["range"]
        return low, high
    limit = settings.MAX_ABS_YEN if spec["type"] == "yen" else settings.MAX_ABS_NUMBER
    return -limit, limit


def _choice(pack: Pack, spec: dict[str, Any], raw: Any) -> tuple[str | None, str | None]:
    """A choice cell's text, and the code its list gives that text (None: no text, or one the list lacks)."""
    text = to_text(raw)
    choice = pack.choice(spec["list"], text) if text is not None else None
    return text, None if choice is None else choice.code


_UNUSUAL = object()  # what _usual_value returns for a cell it leaves to _Collector.value


def _usual_value(raw: Any, kind: str, pack: Pack, spec: dict[str, Any], low: float, high: float) -> Any:
    """``_Collector.value`` of the cells most rows are made of, which need no location because nothing is
    wrong with them: a text, a choice its list knows, a date cell, a number cell within its field's range.
    Anything else (an error value, a number or date typed as text, a figure out of range, an unknown choice,
    a fraction where a count goes) is ``_UNUSUAL``, and ``value`` reads it with its location, as before.

    ~0.9 µs a cell instead of ~1.5 with a location made for it, over the ~140 filled table cells of a file.
    tests/test_submission_cells.py checks it gives what ``value`` gives, finding nothing, on every cell it takes.
    """
    cls = raw.__class__
    if cls is str:
        if "#" in raw:  # perhaps an error value (#REF!)
            return _UNUSUAL
        if kind == "text":
            return to_text(raw)
        if kind == "choice":
            text, code = _choice(pack, spec, raw)
            return _UNUSUAL if text is not None and code is None else code
        return _UNUSUAL
    if cls is float:
        read = _NUMBER_READERS.get(kind)
        if read is None:
            return _UNUSUAL
        try:
            n = read(raw)
        except NormaliseError:  # infinite, NaN, a fraction where whole yen or a count goes
            return _UNUSUAL
        if kind == "number" and n.is_integer():
            n = int(n)  # as _typed reads it
        return n if _plausible(n, kind, low, high) else _UNUSUAL
    if kind == "date":
        if cls is dt.date:
            return raw.isoformat()
        if cls is dt.datetime:
            return raw.date().isoformat()
    return _UNUSUAL


# The readers of the numeric kinds, as _Collector._typed uses them (each reads a float cell first)
_NUMBER_READERS = {"yen": to_yen, "int": to_int, "number": to_number, "fiscal_year": to_fiscal_year}


def _plausible(value: int | float, kind: str, low: int | float, high: int | float) -> bool:
    """Whether a figure is within its field's range, and, for a quantity, not vanishingly small."""
    return low <= value <= high and not (kind == "number" and 0 < abs(value) < settings.MIN_ABS_QUANTITY)


def _figure(n: int | float, spec: dict[str, Any]) -> str:
    """A bound as people write it: 1,000,000,000,000円, 1,000,000,000, 0.01."""
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
    from pipeline.rules.checks import CONTRACTS

    out = set()
    for rule in pack.rules:
        contract = CONTRACTS.get(rule["check"])
        if contract is not None and contract.judges:
            out |= {(table, rule["params"]["column"]) for table in rule["params"]["tables"]}
    return out


def _header_index(table: RawTable, spec: dict[str, Any]) -> dict[str, int]:
    """Column positions by header text (Japanese + English, either alone, an earlier header, or the key).

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
                          col["label"]["en"], *col.get("aliases", []), col["key"]):
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
                source: dict[str, Any], checked: set[tuple[str, str]]) -> list[dict[str, Any]]:
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
    errors = {cell: text for (sh, cell), text in raw.errors.items() if sh == table.sheet} if raw.errors else {}
    input_idx = [index[c["key"]] for c in spec["columns"] if not c.get("formula") and c["key"] in index]
    plan = [(c, index.get(c["key"]), (spec["key"], c["key"]) in checked, c["type"], *value_range(c))
            for c in spec["columns"]]
    items: list[dict[str, Any]] = []
    rows: list[int] = []
    blank = frozenset((None, ""))
    pick = itemgetter(*input_idx, input_idx[0]) if input_idx else None  # always a tuple (two or more indexes)
    for excel_row, values in table.rows:
        if errors:  # error cells read as '': put their error text back (only workbooks that have any)
            values = list(values)
            for i in range(len(values)):
                text = errors.get(f"{column_letter(table.first_column + i)}{excel_row}")
                if text is not None:
                    values[i] = text
        # Most template rows are empty: judged at C speed first, the full test only for the rest.
        if (pick is None or blank.issuperset(pick(values))) or all(_blank(values[i]) for i in input_idx):
            continue
        item: dict[str, Any] = {}
        for c, i, is_checked, kind, low, high in plan:
            raw_value = values[i] if i is not None and i < len(values) else None
            if raw_value is None or raw_value == "":
                item[c["key"]] = None
                continue
            usual = _usual_value(raw_value, kind, pack, c, low, high)
            if usual is not _UNUSUAL:
                item[c["key"]] = usual
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
        sheet = pack.sheets[spec["sheet"]]
        ref = raw.names.get(spec["name"])
        if ref is not None and ref.sheet != sheet and sheet in raw.sheet_names:
            # The name survives but points at another sheet (a cut-and-paste, a deleted row): what it
            # reads there is not this field. A broken name is a finding, never a value read elsewhere.
            col.add("input.broken-name", Location(sheet=sheet, path=f"/{'stated' if only_totals else 'plan'}/{key}"),
                    {**_labels(spec), "name": spec["name"], "value": str(ref)})
            out[key] = None
            continue
        if ref is None:
            code = "input.broken-name" if spec["name"] in raw.broken_names else "input.missing-field"
            col.add(code, Location(sheet=sheet, path=f"/{'stated' if only_totals else 'plan'}/{key}"),
                    {**_labels(spec), "name": spec["name"], "value": "#REF!"})
            out[key] = None
            continue
        source["fields"][key] = str(ref)
        value = raw.values.get(spec["name"])
        if value == "" and raw.errors:
            value = raw.errors.get((ref.sheet, ref.a1), value)
        usual = _usual_value(value, spec["type"], pack, spec, *value_range(spec))
        out[key] = usual if usual is not _UNUSUAL else col.value(
            value, spec, Location(sheet=ref.sheet, cell=ref.a1, path=f"/{'stated' if only_totals else 'plan'}/{key}"))
    return out


def _recompute_rows(items: list[dict[str, Any]], spec: dict[str, Any], pack: Pack, col: _Collector,
                    source: dict[str, Any]) -> None:
    """Replace each formula column by the engine's own result (the form names the formula and its
    inputs); keep the sheet's as <key>_stated.

    A result outside its field's range (a bounded price times a bounded quantity can still be absurd)
    is an out-of-range finding on that cell and None, like a typed value. A cell that shows an error
    or a different value only because an input was typed as text follows from that input (one
    finding, on the input; the stated value, computed from a misread input, is dropped); a cell that
    shows an error where the engine computes a value is otherwise a formula-error finding.
    """
    located = source["tables"].get(spec["key"], {})
    marked = False
    for c in spec["columns"]:
        kind = c.get("formula")
        if not kind:
            continue
        formula, args, key = formulas.ROW[kind], c["args"], c["key"]
        stated_key, follows_key = f"{key}_stated", f"{key}_follows"
        numeric = c["type"] in ("yen", "int", "number")
        for n, it in enumerate(items):
            stated = it.get(key)
            value = formula.compute(pack, *[it.get(a) for a in args])

            def loc(c: dict[str, Any] = c, n: int = n) -> Location:
                row = located["rows"][n]
                return Location(located["sheet"], f"{located['columns'].get(c['key'], '?')}{row}", None, row,
                                f"/{spec['key']}/{n}/{c['key']}")
            if stated is not None and value is not None and stated != value:
                # What explains it: an input the sheet misread (any text when the cell shows an error; a date
                # typed as text, which no comparison or subtraction reads, when it shows another number), or
                # an input that itself follows from one. Otherwise the cell was typed over: the rules say so.
                error = isinstance(stated, SheetError)
                roots = [a for a in args if it.get(f"{a}_follows") or (
                    f"/{spec['key']}/{n}/{a}" in col.text_inputs
                    and (error or col.text_inputs[f"/{spec['key']}/{n}/{a}"][3]["type"] == "date"))]
                for a in roots:
                    col.text_input(f"/{spec['key']}/{n}/{a}")
                if roots:
                    it[follows_key] = marked = True
                    stated = None
                elif error:
                    col.add("input.formula-error", loc, {**_labels(c), "value": str(stated)}, expected=value)
            it[stated_key] = None if isinstance(stated, SheetError) else stated
            if numeric and isinstance(value, int | float):
                value = col.bounded(value, c, loc, value)
            it[key] = value
    if marked:  # the marks were only for the columns after them
        for it in items:
            for c in spec["columns"]:
                it.pop(f"{c['key']}_follows", None)


def _arg_value(arg: str, sub: dict[str, Any], totals: dict[str, Any]) -> Any:
    if "." in arg:
        table, column = arg.split(".", 1)
        return [it.get(column) for it in sub.get(table) or []]
    return totals[arg] if arg in totals else sub["plan"].get(arg)


def _totals(sub: dict[str, Any], stated: dict[str, Any], pack: Pack, col: _Collector,
            source: dict[str, Any]) -> dict[str, Any]:
    """The totals section, computed in the form's order from the formulas it names: an input (the
    overhead) is what the sheet states, or 0 when blank; a formula is the engine's own result.

    A total whose cell shows an error is a finding only when nothing upstream explains it (an input
    finding in the table it sums, a total above it that already shows the error, a number typed as
    text that N() and SUM read as 0).
    """
    totals: dict[str, Any] = {}
    explained: set[str] = set()
    budget = pack.bound_table("budget")
    category, amount = pack.bind("budget", "category"), pack.bind("budget", "amount")
    for f in pack.form["totals"]["fields"]:
        key = f["key"]
        if not f.get("formula"):
            totals[key] = stated.get(key) or 0
            continue
        value = formulas.TOTAL[f["formula"]].compute(pack, *(_arg_value(a, sub, totals) for a in f["args"]))
        if stated.get(key) is not None and stated[key] != value:
            texts = [col.text_input(f"/{'stated' if pack.fields.get(a, {}).get('total') else 'plan'}/{a}")
                     for a in f["args"] if "." not in a]
            upstream = any(texts) or any(a in explained for a in f["args"]) or any(
                col.flagged(a.split(".", 1)[0]) for a in f["args"] if "." in a)
            if upstream:
                explained.add(key)
            if isinstance(stated[key], SheetError):
                if not upstream:
                    col.add("input.formula-error", _field_location(source, key, f, pack),
                            {**_labels(f), "value": str(stated[key])}, expected=value)
                stated[key] = None
        totals[key] = value
        if budget and amount and category and f["formula"] == "sum" and f["args"] == [f"{budget}.{amount}"]:
            by_category: dict[str, int] = {}
            for it in sub.get(budget, []):
                k = it.get(category) or "(none)"
                by_category[k] = by_category.get(k, 0) + (it.get(amount) or 0)
            totals["by_category"] = by_category
    return totals


def _field_location(source: dict[str, Any], key: str, spec: dict[str, Any], pack: Pack) -> Location:
    ref = source["fields"].get(key)
    if not ref:
        return Location(sheet=pack.sheets[spec["sheet"]], path=f"/stated/{key}")
    sheet, _, cell = ref.rpartition("!")
    return Location(sheet=sheet.strip("'").replace("''", "'"), cell=cell, path=f"/stated/{key}")


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
    checked = _checked_columns(pack)
    for spec in pack.form["tables"]:
        items = _read_table(raw, spec, pack, col, source, checked)
        _recompute_rows(items, spec, pack, col, source)
        sub[spec["key"]] = items
    stated = _read_fields(raw, pack, col, source, only_totals=True)
    sub["totals"] = _totals(sub, stated, pack, col, source)
    if col.text_inputs:  # what the sheet's formulas read as 0 or an error (the rules' view of the sheet)
        source["text_inputs"] = sorted(col.text_inputs)
    sub["stated"] = dict(stated)
    sub["source"] = source
    return sub, col.findings


_CHECKED: dict[int, tuple[Pack, set[tuple[str, str]]]] = {}


def _checked_columns(pack: Pack) -> set[tuple[str, str]]:
    found = _CHECKED.get(id(pack))
    if found is None or found[0] is not pack:
        if len(_CHECKED) > 64:
            _CHECKED.clear()
        found = _CHECKED[id(pack)] = (pack, _rule_checked_columns(pack))
    return found[1]
