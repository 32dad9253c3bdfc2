"""The finance review workbook (review.xlsx) and the same tables as CSV and Parquet.

Summary (one row per submission), Items (every cost line with its verdict), Unknown categories,
Findings, Cross-checks, Concentration, Quarantine and charts. Built with xlsxwriter: fast, charts
and conditional formats, and strings written as strings; every text is neutralised anyway, since
the same tables go to CSV where nothing protects them.

No single file may change the shape of these outputs: the Summary has one column per budget
category of the packs' category lists plus one bucket for categories the packs do not know (those
are listed on their own sheet and in their own export), and every sheet stops at Excel's row limit
with a row saying where the rest is. xlsxwriter drops cells past the limits silently.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter

from pipeline.cellsafe import neutralise
from pipeline.ingest.store import cost_findings
from pipeline.packs import Pack, all_packs, load_pack
from pipeline.settings import TEMP_PREFIX

FIXED_TIME = dt.datetime(2000, 1, 1)  # document properties: two runs over the same files give the same bytes
MAX_SHEET_ROWS = 1_048_576  # Excel's rows per sheet, the header row included
CHART_COUNTRIES = 30        # the country chart shows the largest this many; the rest are one bar
UNKNOWN = "unknown"         # the Summary's bucket column is direct_unknown
UNKNOWN_LABEL = ("その他（不明な費目）", "Other (unknown categories)")
_NUMBERING = re.compile(r"^[IVXLC]+\s+")  # the call's numbering of a category: "IV その他"


# ---- budget categories ------------------------------------------------------------------------

def _category_list(pack: Pack) -> str | None:
    """The list the budget table's category column takes its choices from (the form says which)."""
    budget = pack.tables.get("budget") or {}
    return next((c.get("list") for c in budget.get("columns", []) if c["key"] == "category"), None)


def pack_categories(pack: Pack) -> list[tuple[str, str, str]]:
    """(code, Japanese, English) of the pack's budget categories, in the form's order."""
    name = _category_list(pack)
    return [(c.code, c.ja, c.en) for c in pack.lists.get(name, [])] if name else []


def _merge_order(lists: list[list[str]]) -> list[str]:
    """The codes of all lists in one order that keeps each list's order where they agree.

    NEXUS [goods, honorarium, travel, other] and India [stay, other] give stay, goods, honorarium,
    travel, other: "other" stays last, beside the unknown bucket. A conflict falls back to first seen.
    """
    first: dict[str, int] = {}
    after: dict[str, set[str]] = {}
    for codes in lists:
        for i, code in enumerate(codes):
            first.setdefault(code, len(first))
            after.setdefault(code, set()).update(codes[:i])
    order: list[str] = []
    left = sorted(first, key=first.__getitem__)
    while left:
        ready = next((c for c in left if after[c] <= set(order)), left[0])
        order.append(ready)
        left.remove(ready)
    return order


def _label(labels: list[str]) -> str:
    """One heading for a code across packs, without the numbering each call gives it.

    NEXUS "IV その他" and India "II その他" are one column, その他; and NEXUS "I 物品費" beside India
    "I 滞在費" would read as if both were category I of one list.
    """
    return "／".join(dict.fromkeys(_NUMBERING.sub("", label) for label in labels))


@cache
def category_columns() -> tuple[tuple[str, str, str], ...]:
    """(code, Japanese, English) of the Summary's category columns: every pack's categories, then the bucket.

    From the pack data, so the same for every batch: a new category in next year's pack is a new
    column, a category typed by an applicant never is.
    """
    found = [pack_categories(p) for p in all_packs()]
    columns = []
    for code in _merge_order([[code for code, _, _ in cats] for cats in found]):
        named = [(ja, en) for cats in found for c, ja, en in cats if c == code]
        columns.append((code, _label([ja for ja, _ in named]), _label([en for _, en in named])))
    if any(code == UNKNOWN for code, _, _ in columns):
        raise ValueError(f"a pack's budget category uses the code {UNKNOWN!r}, kept for unknown categories")
    return (*columns, (UNKNOWN, *UNKNOWN_LABEL))


@cache
def _known_codes(program: str) -> frozenset[str]:
    return frozenset(code for code, _, _ in pack_categories(load_pack(program)))


def _by_category(doc: dict[str, Any]) -> tuple[dict[str, int], dict[str | None, list[int]]]:
    """The submission's direct costs by known category code, and its unknown categories' [amount, lines].

    From the budget lines, as the totals are: the columns and the bucket add up to the direct total.
    """
    known = _known_codes(doc["program"])
    amounts: dict[str, int] = {}
    unknown: dict[str | None, list[int]] = {}
    for line in doc["submission"].get("budget") or []:
        category, amount = line.get("category"), line.get("amount") or 0
        if category in known:
            amounts[category] = amounts.get(category, 0) + amount
        else:
            seen = unknown.setdefault(category, [0, 0])
            seen[0] += amount
            seen[1] += 1
    return amounts, unknown


# ---- tables -----------------------------------------------------------------------------------

SUMMARY_HEAD = ["program", "file", "version", "institution", "pi_name", "title"]
SUMMARY_TAIL = ["direct_total", "overhead", "overhead_pct", "total", "over_base", "over_base_reason", "errors",
                "warnings"]
UNKNOWN_COLUMNS = ["program", "file", "institution", "title", "category", "amount", "lines"]


def summary_columns() -> list[str]:
    """The Summary's columns: the same for every batch (see category_columns)."""
    return [*SUMMARY_HEAD, *(f"direct_{code}" for code, _, _ in category_columns()), *SUMMARY_TAIL]


class SummaryRows(list[dict[str, Any]]):
    """The Summary's rows, and (``unknown``) the unknown categories whose amounts went to the bucket column.

    Built in one pass so the bucket and its listing always agree; write_review and write_exports take
    the listing from here when they are not given it.
    """

    unknown: list[dict[str, Any]]


def summary_rows(docs: list[dict[str, Any]], reports: dict[str, dict[str, Any]]) -> SummaryRows:
    codes = [code for code, _, _ in category_columns()]
    rows = SummaryRows()
    rows.unknown = []
    for d in docs:
        sub, rep = d["submission"], reports[d["sha256"]]
        plan, totals = sub.get("plan") or {}, sub["totals"]
        money = load_pack(d["program"]).money
        base = money.get("base_amount")
        amounts, unknown = _by_category(d)
        amounts[UNKNOWN] = sum(amount for amount, _ in unknown.values())
        row: dict[str, Any] = {
            "program": d["program"], "file": d["file"], "version": d["versions"],
            "institution": plan.get("institution"), "pi_name": plan.get("pi_name"), "title": plan.get("title_ja"),
        }
        row.update({f"direct_{code}": amounts.get(code, 0) for code in codes})
        row.update({
            "direct_total": totals["direct_total"], "overhead": totals["overhead"],
            "overhead_pct": round(totals["overhead_rate"] * 100, 2), "total": totals["total"],
            "over_base": bool(base and totals["total"] > base),
            "over_base_reason": bool(plan.get("over_base_reason")),
            "errors": rep["counts"]["error"], "warnings": rep["counts"]["warning"],
        })
        rows.append(row)
        rows.unknown += _unknown_listing(d, unknown)
    return rows


def _unknown_listing(doc: dict[str, Any], unknown: dict[str | None, list[int]]) -> list[dict[str, Any]]:
    plan = doc["submission"].get("plan") or {}
    return [{"program": doc["program"], "file": doc["file"], "institution": plan.get("institution"),
             "title": plan.get("title_ja"), "category": category, "amount": amount, "lines": lines}
            for category, (amount, lines) in unknown.items()]


def unknown_category_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every budget category a pack does not know, as typed, per submission: the bucket column's detail."""
    return [row for d in docs for row in _unknown_listing(d, _by_category(d)[1])]


def item_rows(docs: list[dict[str, Any]], reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for d in docs:
        verdicts = {i: (f["actual"]["verdict"], f["actual"].get("reason"), f["message_ja"])
                    for i, f in cost_findings(reports[d["sha256"]]["findings"]).items()}
        src = d["submission"]["source"]["tables"].get("budget", {})
        for i, b in enumerate(d["submission"].get("budget") or []):
            verdict, reason, note = verdicts.get(i, ("ok", None, None))
            rows.append({"program": d["program"], "file": d["file"],
                         "institution": (d["submission"].get("plan") or {}).get("institution"),
                         "row": src.get("rows", [None] * (i + 1))[i], "category": b.get("category"),
                         "subcategory": b.get("subcategory"), "description": b.get("description"),
                         "unit_price": b.get("unit_price"), "quantity": b.get("quantity"), "amount": b.get("amount"),
                         "fiscal_year": b.get("fiscal_year"), "verdict": verdict, "reason": reason, "note": note})
    return rows


def finding_rows(docs: list[dict[str, Any]], reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"program": d["program"], "file": d["file"], "severity": f["severity"], "code": f["code"],
             "sheet": f["location"].get("sheet"), "cell": f["location"].get("cell") or f["location"].get("range"),
             "message_ja": f["message_ja"], "message_en": f["message_en"],
             "clause": f"{f['clause']['document']} {f['clause']['section']}"}
            for d in docs for f in reports[d["sha256"]]["findings"]]


def cross_rows(cross: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"program": c["program"], "severity": c["severity"], "code": c["code"], "value": c["value"],
             "files": "\n".join(c["files"]), "message_ja": c["message_ja"], "message_en": c["message_en"],
             "clause": f"{c['clause_document']} {c['clause_section']}"} for c in cross]


HEADERS = {  # column -> Japanese / English header
    "program": "制度 Programme",
    "file": "ファイル File",
    "version": "版 Versions",
    "institution": "機関 Institution",
    "pi_name": "実施主担当者 PI",
    "title": "課題名 Title",
    "direct_total": "直接経費 Direct",
    "overhead": "一般管理費 Overhead",
    "overhead_pct": "一般管理費率% Overhead %",
    "total": "総額 Total",
    "over_base": "基本額超過 Over base",
    "over_base_reason": "超過理由あり Reason given",
    "errors": "エラー Errors",
    "warnings": "警告 Warnings",
    "row": "行 Row",
    "category": "費目 Category",
    "subcategory": "細目 Sub-category",
    "description": "内容 Description",
    "unit_price": "単価 Unit price",
    "quantity": "数量 Qty",
    "amount": "金額 Amount",
    "lines": "行数 Lines",
    "fiscal_year": "年度 FY",
    "verdict": "判定 Verdict",
    "reason": "理由 Reason",
    "note": "説明 Note",
    "severity": "重要度 Severity",
    "code": "コード Code",
    "sheet": "シート Sheet",
    "cell": "セル Cell",
    "message_ja": "メッセージ",
    "message_en": "Message",
    "clause": "根拠 Clause",
    "value": "対象 Value",
    "files": "ファイル Files",
    "country": "国 Country",
    "counterpart": "相手機関 Counterpart",
    "applications": "件数 Applications",
    "requested_yen": "申請額 Requested (yen)",
    "name": "ファイル名 File name",
    "sha256": "SHA-256",
    "size": "サイズ Size",
    "error_code": "理由コード Code",
    "error_ja": "理由",
    "error_en": "Reason",
}


def _header(col: str) -> str:
    if col.startswith("direct_") and col != "direct_total":
        code = col.removeprefix("direct_")
        for c, ja, en in category_columns():
            if c == code:
                return f"{ja} {en}"  # beside 直接経費 Direct, of which these are the parts
    return HEADERS.get(col, col)


def _lines(text: str, width: int) -> int:
    """About how many lines ``text`` wraps to in a column ``width`` characters wide (CJK counts double)."""
    units = len(text) + sum(ord(ch) >= 0x1100 for ch in text)
    return max(text.count("\n") + 1, -(-units // max(width - 2, 1)))


# Counts, flags and codes: the sheets print one page wide, so every wide column shrinks the print.
_NARROW = frozenset({"version", "overhead_pct", "over_base", "over_base_reason", "errors", "warnings", "row",
                     "quantity", "fiscal_year", "applications", "lines", "severity", "verdict"})


def _text(ws: Any, row: int, col: int, value: object, fmt: Any = None) -> None:
    """Every text of review.xlsx goes through here: neutralised, whatever its source."""
    ws.write_string(row, col, str(neutralise(str(value))), fmt)


def _write_table(wb: Any, name: str, rows: list[dict[str, Any]], columns: list[str] | None = None,
                 money: tuple[str, ...] = (), export: str = "") -> tuple[Any, int]:
    """One sheet of ``rows``; returns it and the number of rows written (Excel's limit, less a note row)."""
    ws = wb.add_worksheet(name)
    columns = columns or (list(rows[0]) if rows else ["—"])
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "text_wrap": True, "valign": "top"})
    yen = wb.add_format({"num_format": "#,##0"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    lines = 1
    for c, col in enumerate(columns):
        is_money = col in money or col.startswith("direct_")
        width = (22 if col == f"direct_{UNKNOWN}" else 14 if is_money else  # その他（不明な費目） on one line
                 10 if col in _NARROW else 48 if col in ("description", "message_ja", "message_en") else 24)
        _text(ws, 0, c, _header(col), bold)
        ws.set_column(c, c, width, yen if is_money else wrap)
        lines = max(lines, _lines(_header(col), width))
    # Excel fits a row to its wrapped text only when the row has no height of its own, LibreOffice not
    # even then: the header (our text) gets the height it needs; data rows are left to the application.
    ws.set_row(0, 15 * min(lines, 6))
    shown = rows if len(rows) < MAX_SHEET_ROWS else rows[:MAX_SHEET_ROWS - 2]
    for r, row in enumerate(shown, start=1):
        for c, col in enumerate(columns):
            value = row.get(col)
            if value is None:
                continue
            if isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, int | float):
                ws.write_number(r, c, value)
            else:
                _text(ws, r, c, value)
    if len(shown) < len(rows):
        where = f"exports/{export}.csv" if export else "exports/"
        _text(ws, len(shown) + 1, 0, f"ほかに {len(rows) - len(shown):,} 行（Excel の行数の上限）: {where} を参照 / "
                                     f"{len(rows) - len(shown):,} more rows past Excel's row limit: see {where}")
    ws.freeze_panes(1, 0)
    ws.repeat_rows(0)
    ws.autofilter(0, 0, max(len(shown), 1), len(columns) - 1)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    return ws, len(shown)


def _charts(wb: Any, summary: list[dict[str, Any]], countries: list[dict[str, Any]]) -> None:
    """Requested amounts by budget category (the Summary's fixed columns) and by country (the largest)."""
    charts = wb.add_worksheet("Charts")
    charts.set_column(0, 0, 42)
    charts.set_column(1, 1, 14, wb.add_format({"num_format": "#,##0"}))
    charts.set_landscape()
    charts.fit_to_pages(1, 1)  # the tables and both charts on one page
    axis = {"num_format": "#,##0"}
    _text(charts, 0, 0, "費目 Category")
    _text(charts, 0, 1, "金額 Amount")
    categories = category_columns()
    for i, (code, ja, en) in enumerate(categories, start=1):
        _text(charts, i, 0, f"{ja} {en}")
        charts.write_number(i, 1, sum(row.get(f"direct_{code}", 0) for row in summary))
    if summary:
        chart = wb.add_chart({"type": "column"})
        chart.add_series({"name": "費目別 By category", "categories": ["Charts", 1, 0, len(categories), 0],
                          "values": ["Charts", 1, 1, len(categories), 1]})
        chart.set_title({"name": "費目別申請額 Requested amounts by category"})
        chart.set_y_axis(axis)
        chart.set_legend({"none": True})
        charts.insert_chart("D2", chart, {"x_scale": 1.6, "y_scale": 1.3})
    ranked = sorted(countries, key=lambda r: (-r["requested_yen"], r["program"], str(r["country"])))
    bars = [(f"{r['program']}:{r['country']}", r["requested_yen"]) for r in ranked[:CHART_COUNTRIES]]
    if len(ranked) > CHART_COUNTRIES:
        bars.append((f"その他 {len(ranked) - CHART_COUNTRIES} か国 Others",
                     sum(r["requested_yen"] for r in ranked[CHART_COUNTRIES:])))
    start = len(categories) + 3
    _text(charts, start, 0, "国 Country")
    _text(charts, start, 1, "申請額 Requested")
    for i, (label, amount) in enumerate(bars, start=start + 1):
        _text(charts, i, 0, label)
        charts.write_number(i, 1, amount)
    if bars:
        chart = wb.add_chart({"type": "bar"})
        chart.add_series({"name": "国別 By country", "categories": ["Charts", start + 1, 0, start + len(bars), 0],
                          "values": ["Charts", start + 1, 1, start + len(bars), 1]})
        chart.set_title({"name": "国別申請額 Requested amounts by country"})
        chart.set_x_axis(axis)
        chart.set_legend({"none": True})
        charts.insert_chart("D23", chart, {"x_scale": 1.6, "y_scale": 1.3 + len(bars) / 20})


def _atomic(final: Path, suffix: str, write: Callable[[str], object]) -> None:
    """``write`` a temporary file beside ``final``, then rename it; the temporary file never outlives a failure.

    Its name starts with settings.TEMP_PREFIX: what a killed run leaves, the next run deletes.
    """
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=TEMP_PREFIX, suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_review(path: Path, summary: list[dict[str, Any]], items: list[dict[str, Any]],
                 findings: list[dict[str, Any]], cross: list[dict[str, Any]], conc: dict[str, list[dict[str, Any]]],
                 quarantine: list[dict[str, Any]], unknown: list[dict[str, Any]] | None = None) -> Path:
    """Write review.xlsx atomically. ``unknown``: the unknown categories (default: summary_rows' listing)."""
    if unknown is None:
        unknown = getattr(summary, "unknown", [])

    def build(tmp: str) -> None:
        # in_memory: the sheets' XML is assembled in memory, not in temporary files (~7% faster here).
        wb = xlsxwriter.Workbook(tmp, {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True})
        wb.set_properties({"title": "shinsei review", "created": FIXED_TIME, "author": "shinsei"})
        money = ("direct_total", "overhead", "total", "unit_price", "amount", "requested_yen")
        columns = summary_columns()
        ws, n = _write_table(wb, "Summary", summary, columns=columns, money=money, export="summary")
        if n:
            red = wb.add_format({"bg_color": "#FFC7CE"})
            e = columns.index("errors")
            ws.conditional_format(1, e, n, e, {"type": "cell", "criteria": ">", "value": 0, "format": red})
        ws, n = _write_table(wb, "Items", items, money=money, export="items")
        if n:
            v = list(items[0]).index("verdict")
            for verdict, colour in (("ng", "#FFC7CE"), ("review", "#FFEB9C")):
                ws.conditional_format(1, v, n, v, {"type": "cell", "criteria": "==", "value": f'"{verdict}"',
                                                   "format": wb.add_format({"bg_color": colour})})
        _write_table(wb, "Unknown categories", unknown, columns=UNKNOWN_COLUMNS, money=money,
                     export="unknown_categories")
        _write_table(wb, "Findings", findings, export="findings")
        _write_table(wb, "Cross-checks", cross, export="cross_checks")
        for dim, rows in conc.items():
            _write_table(wb, f"By {dim}", rows, money=money, export=f"by_{dim}")
        _write_table(wb, "Quarantine", quarantine, columns=["name", "error_code", "error_ja", "error_en", "size",
                                                            "sha256"], export="quarantine")
        _charts(wb, summary, conc.get("country", []))
        wb.close()

    _atomic(path, ".xlsx", build)
    return path


_EXPORT_TYPES = {  # tables whose columns are fixed even when empty (an empty frame has none, and no types)
    "unknown_categories": {"program": "object", "file": "object", "institution": "object", "title": "object",
                           "category": "object", "amount": "int64", "lines": "int64"},
}


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    types = _EXPORT_TYPES.get(name)
    if name == "summary":
        return pd.DataFrame(rows, columns=summary_columns())
    if types is None:
        return pd.DataFrame(rows)
    return pd.DataFrame(rows, columns=list(types)).astype(types)


def write_exports(folder: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    """The review tables as CSV (UTF-8 with BOM, for Excel) and Parquet, for pandas users.

    ``unknown_categories`` is taken from the summary's listing when not given (see SummaryRows).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if "unknown_categories" not in tables and "summary" in tables:
        tables = {**tables, "unknown_categories": getattr(tables["summary"], "unknown", [])}
    for name, rows in tables.items():
        frame = _frame(name, rows)
        # Neutralising maps every cell (most of the export's cost): only done when some text needs it.
        risky = any(isinstance(v, str) and neutralise(v) is not v for row in rows for v in row.values())
        safe = frame.map(lambda v: neutralise(v) if isinstance(v, str) else v) if risky and not frame.empty else frame
        _atomic(folder / f"{name}.csv", ".csv", lambda p, f=safe: f.to_csv(p, index=False, encoding="utf-8-sig"))
        _atomic(folder / f"{name}.parquet", ".parquet", lambda p, f=frame: f.to_parquet(p, index=False))
