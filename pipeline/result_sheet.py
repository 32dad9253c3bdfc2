"""What the 検証結果 (results) sheet shows and which cells get which fill.

One definition for both writers: the annotated copy (openpyxl, ``shinsei validate
--annotate``) and the add-in's Validate button (xlwings actions), so the two show the same.

A row is what a person reads: severity, code, location (a link to the cell), the messages, the clause
with the call's own sentence, the amount of money involved, and the expected and actual values as
people write them (7,700,000円, 95日, 10.8%, 大学院生 Graduate student), never a code, a Python
dict or ``ok``. The units come from the pack: a value's unit is the one its rule's message writes
after it (``{actual}日``), a check kind that judges money is in yen, and a value on a cell has its
field's type; a code is shown as its list's label.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from pipeline.cellsafe import neutralise
from pipeline.findings import Finding, Report
from pipeline.record import Record
from pipeline.report_text import SEVERITY_LABEL

RESULT_SHEET = "検証結果"
FILLS = {"error": "FFC7CE", "warning": "FFEB9C", "info": "DDEBF7"}   # Excel's bad / neutral / note colours
HEADERS = ["重要度 Severity", "コード Code", "場所 Location", "メッセージ（日本語）", "Message (English)",
           "根拠 Clause", "金額 Amount", "期待値 Expected", "実際 Actual"]
AMOUNT_COLUMN = 7                     # 1-based: the amount involved, a number shown as 7,700,000円
AMOUNT_FORMAT = '#,##0"円"'
# Characters, per column of HEADERS. Printed one page wide on A4 landscape, about 205 characters print at
# ~75 % (about 8 pt); long text wraps.
WIDTHS = (11, 22, 17, 36, 36, 34, 12, 18, 22)
_ORDER = {"error": 0, "warning": 1, "info": 2}
MAX_RANGE_CELLS = 1000
_CELL = re.compile(r"\$?([A-Z]{1,3})\$?([1-9][0-9]{0,6})")
# The unit a rule's message writes right after a value: {actual}日, {actual:,}円, {actual}名 …
_UNIT_AFTER = re.compile(r"\{(actual|stated|expected|max|min)(?::[^}]*)?\}(円|か月|ヶ月|日|名|歳|機関|件|%)")
_LIST_SHOWN = 6                       # list values shown before "…（全N件）"
_VERDICTS = {"ng": "対象外 not eligible", "review": "要確認 to be checked", "ok": "対象 eligible"}


def finding_cells(f: Finding) -> list[str]:
    """The cells a finding points at: its cell, or every cell of its range (the top-left one first).

    A whole range is marked (a budget row is A5:I5, not only A5). A range of more than
    MAX_RANGE_CELLS cells (no finding of ours spans one) is marked by its top-left cell only.
    """
    if f.location.cell:
        return [f.location.cell]
    if not f.location.range:
        return []
    ends = [_CELL.fullmatch(end) for end in f.location.range.split(":")]
    if not ends[0]:                     # a whole column or row ("A:C"): no cell to point at
        return []
    if len(ends) != 2 or not ends[1]:
        return [ends[0].group(1) + ends[0].group(2)]
    (c1, r1), (c2, r2) = ((_column(m.group(1)), int(m.group(2))) for m in ends)
    c1, c2, r1, r2 = min(c1, c2), max(c1, c2), min(r1, r2), max(r1, r2)
    if (c2 - c1 + 1) * (r2 - r1 + 1) > MAX_RANGE_CELLS:
        return [_letters(c1) + str(r1)]
    letters = [_letters(c) for c in range(c1, c2 + 1)]
    return [f"{letter}{row}" for row in range(r1, r2 + 1) for letter in letters]


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _letters(column: int) -> str:
    out = ""
    while column:
        column, rest = divmod(column - 1, 26)
        out = chr(65 + rest) + out
    return out


def worse(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if _ORDER[a] <= _ORDER[b] else b


def worst_by_cell(report: Report, sheets: list[str]) -> dict[tuple[str, str], str]:
    """(sheet, cell) -> the most severe severity among the findings on that cell."""
    worst: dict[tuple[str, str], str] = {}
    known = set(sheets)
    for f in report.findings:
        if not f.location.sheet or f.location.sheet not in known:
            continue
        for cell in finding_cells(f):
            key = (f.location.sheet, cell)
            worst[key] = worse(worst[key], f.severity) if key in worst else f.severity
    return worst


# ---- values as people write them ------------------------------------------------------------------

class RowContext(Record):
    """What a row needs beyond its finding: the report's pack (units, labels, the template's name) and
    submission (the amount of the line a finding is on). Without them a row still reads well.
    (No __slots__: the cached properties need a __dict__.)"""

    _fields = ("program", "submission", "_pack")
    _hidden = frozenset({"_pack"})

    def __init__(self, program: str | None = None, submission: dict[str, Any] | None = None,
                 _pack: Any = None) -> None:
        self.program = program
        self.submission = submission
        self._pack = _pack

    @classmethod
    def of(cls, report: Report) -> RowContext:
        return cls(report.program, report.submission)

    @cached_property
    def pack(self) -> Any:
        if self._pack is not None or not self.program:
            return self._pack
        from pipeline.packs import PackError, load_pack

        try:
            return load_pack(self.program)
        except (PackError, OSError):
            return None

    @cached_property
    def rules(self) -> dict[str, dict[str, Any]]:
        return {r["code"]: r for r in self.pack.rules} if self.pack else {}

    @cached_property
    def reasons(self) -> dict[str, dict[str, Any]]:
        """The classifier's reasons (labels) of the pack's lexicon, for a cost line's verdict."""
        if not self.pack or "lexicon" not in self.pack.data:
            return {}
        try:
            from pipeline import datacache
            from pipeline.eligibility.lexicon import lexicon_path

            return datacache.load_yaml(lexicon_path(self.pack.data)).get("reasons", {})
        except Exception:  # a lexicon that cannot be read costs the labels, never the sheet
            return {}

    def spec(self, path: str | None) -> dict[str, Any] | None:
        """The form's field or column a JSON path points at (``/budget/3/unit_price``, ``/stated/total``)."""
        if not self.pack or not path:
            return None
        parts = path.split("/")
        if len(parts) == 4 and parts[1] in self.pack.tables:
            return self.pack.column(parts[1], parts[3])
        if len(parts) == 3:
            return self.pack.fields.get(parts[2])
        return None

    def unit(self, f: Finding) -> str:
        """The unit of a finding's expected and actual values ("" when they have none)."""
        rule = self.rules.get(f.code)
        if rule is not None:
            found = _UNIT_AFTER.search(rule["message"]["ja"])
            if found:
                return found.group(2)
            from pipeline.rules.checks import CONTRACTS

            contract = CONTRACTS.get(rule["check"])
            if contract is not None and contract.money:
                return "円"
        spec = self.spec(f.location.path)
        if spec is not None:
            return {"yen": "円", "fiscal_year": "年度"}.get(spec["type"], "")
        return ""

    def label(self, f: Finding, value: str) -> str:
        """A list code as its list's label (大学院生 Graduate student); anything else as it is."""
        spec = self.spec(f.location.path)
        if not spec or not spec.get("list") or not self.pack:
            return value
        choice = self.pack.choice_by_code(spec["list"], value)
        return choice.label if choice else value

    def amount(self, f: Finding, unit: str) -> int | None:
        """The money a finding is about: the amount of the line it is on, else its own value in yen."""
        path = f.location.path or ""
        parts = path.split("/")
        if self.pack and self.submission and len(parts) >= 3 and parts[2].isdigit():
            for group in self.pack.bindings.values():
                if group.get("table") == parts[1] and group.get("amount"):
                    rows = self.submission.get(parts[1]) or []
                    n = int(parts[2])
                    value = rows[n].get(group["amount"]) if n < len(rows) else None
                    return value if isinstance(value, int) and not isinstance(value, bool) else None
        if unit == "円":
            for value in (f.actual, f.expected):
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
        return None


def _number(x: int | float) -> str:
    if isinstance(x, float):
        x = round(x, 2)
        if x.is_integer():
            x = int(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:,g}"


def shown(value: Any, f: Finding, ctx: RowContext, unit: str | None = None) -> str:
    """A finding's expected or actual value as people write it."""
    unit = ctx.unit(f) if unit is None else unit
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "はい Yes" if value else "いいえ No"
    if isinstance(value, int | float):
        if unit == "%":
            return f"{_number(value)}%"
        if unit == "年度":
            return f"{value}年度"
        return f"{_number(value)}{unit}"
    if isinstance(value, dict):
        return _verdict(value, ctx)
    if isinstance(value, list | tuple):
        items = [shown(v, f, ctx, unit) for v in value]
        if len(items) > _LIST_SHOWN:
            return "、".join(items[:_LIST_SHOWN]) + f" …（全{len(items)}件 / {len(items)} in all）"
        return "、".join(items)
    text = str(value)
    if f.code.startswith("cost.") and text in _VERDICTS:
        return _VERDICTS[text]
    return ctx.label(f, text)


def _verdict(value: dict[str, Any], ctx: RowContext) -> str:
    """The classifier's verdict on a cost line: 対象外 not eligible（観光 sightseeing:「観光ツアー」）."""
    verdict = _VERDICTS.get(str(value.get("verdict")), str(value.get("verdict", "")))
    reason = str(value.get("reason") or "")
    label = (ctx.reasons.get(reason) or {}).get("label") or {}
    why = f"{label['ja']} {label['en']}" if label else reason
    matched = value.get("matched")
    detail = ": ".join(x for x in (why, f"「{matched}」" if matched else "") if x)
    return f"{verdict}（{detail}）" if detail else verdict


def clause_text(f: Finding, ctx: RowContext) -> str:
    """The clause: the call's document and section with its quoted sentence, or, for a rule of the form
    itself, the template's own instructions by name (not "shinsei 様式 記入要領 記入要領 Instructions")."""
    c = f.clause or {}
    if c.get("id") == "form":
        pack = ctx.pack
        if pack is not None:
            where = pack.sheets.get("plan", "")
            t = pack.template
            head = (f"様式「{t['title']['ja']}」（{t['id']} 版{t['version']}）の記入要領（{where}シート冒頭） / "
                    f"Instructions of the template '{t['title']['en']}' ({t['id']} v{t['version']}, top of the "
                    f"{where} sheet)")
        else:
            head = "様式の記入要領 / the template's instructions"
    else:
        head = " ".join(x for x in (c.get("document", ""), c.get("section", "")) if x)
    quote = c.get("quote")
    return f"{head}\n「{quote}」" if quote else head


def result_row(f: Finding, ctx: RowContext | None = None) -> list[Any]:
    """One finding as a row under HEADERS; text is neutralised against formula injection."""
    ctx = ctx or RowContext()
    where = str(f.location) or (f.location.path or "")
    unit = ctx.unit(f)
    amount = ctx.amount(f, unit)
    return [SEVERITY_LABEL[f.severity], f.code, neutralise(where), neutralise(f.message_ja),
            neutralise(f.message_en), neutralise(clause_text(f, ctx)), "" if amount is None else amount,
            neutralise(shown(f.expected, f, ctx, unit)), neutralise(shown(f.actual, f, ctx, unit))]


def result_rows(report: Report) -> list[list[Any]]:
    """Every finding of ``report`` as a row (the report gives the pack and the submission)."""
    ctx = RowContext.of(report)
    return [result_row(f, ctx) for f in report.findings]


def link_target(f: Finding) -> str | None:
    """Where in the workbook the location cell links to ("'経費 Budget'!A5:I7"), or None when it points at no
    cell."""
    target = f.location.range or f.location.cell
    if not (f.location.sheet and target and finding_cells(f)):
        return None
    sheet = f.location.sheet.replace("'", "''")
    return f"'{sheet}'!{target}"
