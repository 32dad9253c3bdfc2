"""The finance review workbook (review.xlsx), and the rows its tables and the exports share.

Summary (one row per submission), Items (every cost line with its verdict), Unknown categories,
Findings, Cross-checks, Concentration, Quarantine and charts. Built with xlsxwriter: fast, charts
and conditional formats, and strings written as strings; every text is neutralised anyway, since
the same tables go to CSV (pipeline.ingest.exports) where nothing protects them.

No single file may change the shape of these outputs: the Summary has one column per budget
category of the packs' category lists plus one bucket for categories the packs do not know (those
are listed on their own sheet and in their own export), and every sheet stops at Excel's row limit
with a row saying where the rest is. xlsxwriter drops cells past the limits silently.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import xlsxwriter
import xlsxwriter.workbook

from pipeline.cellsafe import TRIGGERS, neutralise
from pipeline.finance import worklist
from pipeline.finance.ledger import Application
from pipeline.finance.lines import cost_findings
from pipeline.finance.worklist import HEADERS as WORKLIST_HEADERS
from pipeline.ingest.crosscheck import CONCENTRATION_DIMS
from pipeline.ingest.xlsx_rows import RowWorksheet
from pipeline.packs import Pack, all_packs, load_pack
from pipeline.settings import TEMP_PREFIX
from pipeline.tempfiles import output_temp_path

try:  # Intel ISA-L's deflate: ~4x zlib's at level 1, a valid deflate stream of about the same size
    from isal import isal_zlib as _isal_zlib
except ImportError:  # a platform without its wheels: zlib's
    _isal_zlib = None  # type: ignore[assignment]

FIXED_TIME = dt.datetime(2000, 1, 1)  # document properties: two runs over the same files give the same bytes
MAX_SHEET_ROWS = 1_048_576  # Excel's rows per sheet, the header row included
_OVERVIEW_WIDTH = 120     # the Overview's one column, in characters: its sentences wrap at this width
CHART_COUNTRIES = 30        # the country chart shows the largest this many; the rest are one bar
UNKNOWN = "unknown"         # the Summary's bucket column is direct_unknown
UNKNOWN_LABEL = ("その他（不明な費目）", "Other (unknown categories)")
_NUMBERING = re.compile(r"^[IVXLC]+\s+")  # the call's numbering of a category: "IV その他"


# ---- budget categories ------------------------------------------------------------------------

def _category_list(pack: Pack) -> str | None:
    """The list the budget table's category column takes its choices from (the form's bindings say which)."""
    column = pack.column(pack.bound_table("budget") or "", pack.bind("budget", "category") or "") or {}
    return column.get("list")


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
    pack = load_pack(doc["program"])
    amounts: dict[str, int] = {}
    unknown: dict[str | None, list[int]] = {}
    for line in pack.rows(doc["submission"], "budget"):
        category, amount = pack.cell(line, "budget", "category"), pack.cell(line, "budget", "amount") or 0
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


def submission_rows(doc: dict[str, Any], report: dict[str, Any]) -> tuple[
        dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """One submission's rows: (its Summary row, its Items, its Findings, its unknown categories).

    ``doc`` is {"program", "file", "versions", "sha256", "submission"}; ``report`` its findings report.
    The outputs are built one submission at a time from these, so memory does not grow with the batch.
    """
    sub = doc["submission"]
    pack = load_pack(doc["program"])
    totals = sub["totals"]
    base = pack.money.get("base_amount")
    institution = pack.field(sub, "institution")
    amounts, unknown = _by_category(doc)
    amounts[UNKNOWN] = sum(amount for amount, _ in unknown.values())
    summary: dict[str, Any] = {
        "program": doc["program"], "file": doc["file"], "version": doc["versions"],
        "institution": institution, "pi_name": pack.field(sub, "pi"), "title": pack.field(sub, "title"),
    }
    summary.update({f"direct_{code}": amounts.get(code, 0) for code, _, _ in category_columns()})
    summary.update({
        "direct_total": totals["direct_total"], "overhead": totals["overhead"],
        "overhead_pct": round(totals["overhead_rate"] * 100, 2), "total": totals["total"],
        "over_base": bool(base and totals["total"] > base),
        "over_base_reason": bool(pack.field(sub, "over_base_reason")),
        "errors": report["counts"]["error"], "warnings": report["counts"]["warning"],
    })
    verdicts = {i: (f["actual"]["verdict"], f["actual"].get("reason"), f["message_ja"])
                for i, f in cost_findings(report.get("findings", []), pack.bound_table("budget") or "").items()}
    src = sub["source"]["tables"].get(pack.bound_table("budget") or "", {}) if sub.get("source") else {}
    lines = src.get("rows", [])
    items = []
    for i, b in enumerate(pack.rows(sub, "budget")):
        verdict, reason, note = verdicts.get(i, ("ok", None, None))
        items.append({"program": doc["program"], "file": doc["file"], "institution": institution,
                      "row": lines[i] if i < len(lines) else None,
                      **{c: pack.cell(b, "budget", c) for c in ("category", "subcategory", "description",
                                                                "unit_price", "quantity", "amount", "fiscal_year")},
                      "verdict": verdict, "reason": reason, "note": note})
    findings = [{"program": doc["program"], "file": doc["file"], "severity": f["severity"], "code": f["code"],
                 "sheet": f["location"].get("sheet"), "cell": f["location"].get("cell") or f["location"].get("range"),
                 "message_ja": f["message_ja"], "message_en": f["message_en"],
                 "clause": f"{f['clause']['document']} {f['clause']['section']}"} for f in report.get("findings", [])]
    return summary, items, findings, _unknown_listing(doc, unknown)


def application_rows(app: Application) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """One application's rows as the review shows them: (its worklist rows, its Applications row, its totals)."""
    return worklist.flagged_rows(app), worklist.application_row(app), app.totals


def summary_rows(docs: list[dict[str, Any]], reports: dict[str, dict[str, Any]]) -> SummaryRows:
    rows = SummaryRows()
    rows.unknown = []
    for d in docs:
        summary, _, _, unknown = submission_rows(d, reports[d["sha256"]])
        rows.append(summary)
        rows.unknown += unknown
    return rows


def _unknown_listing(doc: dict[str, Any], unknown: dict[str | None, list[int]]) -> list[dict[str, Any]]:
    pack, sub = load_pack(doc["program"]), doc["submission"]
    return [{"program": doc["program"], "file": doc["file"], "institution": pack.field(sub, "institution"),
             "title": pack.field(sub, "title"), "category": category, "amount": amount, "lines": lines}
            for category, (amount, lines) in unknown.items()]


def unknown_category_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every budget category a pack does not know, as typed, per submission: the bucket column's detail."""
    return [row for d in docs for row in _unknown_listing(d, _by_category(d)[1])]


def cross_rows(cross: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"program": c["program"], "severity": c["severity"], "code": c["code"], "value": c["value"],
             "files": "\n".join(c["files"]), "message_ja": c["message_ja"], "message_en": c["message_en"],
             "clause": f"{c['clause_document']} {c['clause_section']}"} for c in cross]


ITEM_COLUMNS = ["program", "file", "institution", "row", "category", "subcategory", "description", "unit_price",
                "quantity", "amount", "fiscal_year", "verdict", "reason", "note"]
FINDING_COLUMNS = ["program", "file", "severity", "code", "sheet", "cell", "message_ja", "message_en", "clause"]
CROSS_COLUMNS = ["program", "severity", "code", "value", "files", "message_ja", "message_en", "clause"]
QUARANTINE_COLUMNS = ["name", "error_code", "error_ja", "error_en", "error_detail", "size", "sha256"]
MONEY = ("direct_total", "overhead", "total", "unit_price", "amount", "requested_yen", *worklist.MONEY_COLUMNS)


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
    "applications": "件数（関係する申請） Applications involved",
    "requested_yen": "申請額（複数の国・機関の申請は等分） Requested (yen; split equally among a plan's several)",
    "name": "ファイル名 File name",
    "sha256": "SHA-256",
    "size": "サイズ Size",
    "error_code": "理由コード Code",
    "error_ja": "理由",
    "error_en": "Reason",
    "error_detail": "詳細（どこが） Detail (where)",
}


def _header(col: str) -> str:
    if col in WORKLIST_HEADERS:
        return WORKLIST_HEADERS[col]
    if col.startswith("direct_") and col != "direct_total":
        code = col.removeprefix("direct_")
        for c, ja, en in category_columns():
            if c == code:
                return f"{ja} {en}"  # beside 直接経費 Direct, of which these are the parts
    return HEADERS.get(col, col)


def _lines(text: str, width: int) -> int:
    """About how many lines ``text`` wraps to in a column ``width`` characters wide (CJK counts double).

    A character of three or four bytes in UTF-8 (kana, kanji, full-width forms) counts about two: the
    extra bytes, halved, without a Python loop over the characters."""
    units = len(text) + (len(text.encode("utf-8", "replace")) - len(text)) // 2
    return max(text.count("\n") + 1, -(-units // max(width - 2, 1)))


def _cell(value: object) -> object:
    """A value as review.xlsx holds it: numbers and booleans as they are, anything else as neutralised text."""
    if value is None or isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return neutralise(str(value))  # a NaN or infinity too: xlsxwriter refuses them as numbers


# Counts, flags and codes: the sheets print one page wide, so every wide column shrinks the print.
_NARROW = frozenset({"version", "overhead_pct", "over_base", "over_base_reason", "errors", "warnings", "row",
                     "quantity", "fiscal_year", "applications", "lines", "severity", "verdict", "versions", "seq",
                     "flagged_lines", "undecided", "superseded"})
_WIDE = frozenset({"description", "message_ja", "message_en", "reason_ja", "reason_en", "quote", "comment",
                   "internal_note",
                   "application", "mark"})


def _text(ws: Any, row: int, col: int, value: object, fmt: Any = None) -> None:
    """Every text of review.xlsx goes through here: neutralised, whatever its source."""
    ws.write_string(row, col, str(neutralise(str(value))), fmt)


class _Sheet:
    """One sheet written row by row, as xlsxwriter's constant_memory mode wants: header first, rows in order.

    Stops at Excel's row limit (xlsxwriter drops cells past it silently) with a row saying where the rest is.
    """

    def __init__(self, wb: Any, formats: dict[str, Any], name: str, columns: list[str],
                 money: tuple[str, ...] = MONEY, export: str = "", hidden: frozenset[str] = frozenset(),
                 widths: dict[str, int] | None = None) -> None:
        self.ws = wb.add_worksheet(name, worksheet_class=RowWorksheet)
        self.columns, self.export, self.title = columns, export, name
        self.n, self.extra, self.pending = 0, 0, None
        self.wraps: list[tuple[int, int]] = []  # (column, width) of the text columns, to size each row
        lines = 1
        column_formats = []
        for c, col in enumerate(columns):
            is_money = col in money or col.startswith("direct_")
            width = (widths or {}).get(col) or (
                22 if col == f"direct_{UNKNOWN}" else 14 if is_money else  # その他（不明な費目） on one line
                10 if col in _NARROW else 40 if col in _WIDE else 24)
            if not is_money and col not in hidden:
                self.wraps.append((c, width))
            _text(self.ws, 0, c, _header(col), formats["bold"])
            column_formats.append(formats["yen"] if is_money else formats["wrap"])
            self.ws.set_column(c, c, width, column_formats[-1], {"hidden": True} if col in hidden else None)
            lines = max(lines, _lines(_header(col), width))
        self.ws.column_formats(column_formats)
        # Excel fits a row to its wrapped text only when the row has no height of its own, LibreOffice not
        # even then: the header (our text) gets the height it needs; data rows are left to the application.
        self.ws.set_row(0, 15 * min(lines, 6))

    def add(self, row: dict[str, Any]) -> None:
        if self.n < MAX_SHEET_ROWS - 2:
            self._write(row)
        else:  # the last row that fits is written only if no other follows it; else a note takes its place
            self.extra += 1
            self.pending = row if self.extra == 1 else None

    def _write(self, row: dict[str, Any]) -> None:
        self.n += 1
        # _cell of each value, with the common types (text, int, None) taken first: _cell's tests in turn
        # for every cell were a tenth of the workbook's time.
        values: list[Any] = []
        for v in map(row.get, self.columns):
            kind = type(v)
            if kind is str:
                values.append("'" + v if v.startswith(TRIGGERS) else v)  # neutralise, without a call per cell
            elif v is None or kind is int or kind is bool:
                values.append(v)
            else:
                values.append(_cell(v))
        # LibreOffice does not fit a row to wrapped text: give each row the height its longest text needs.
        tall = 1
        for c, w in self.wraps:
            v = values[c]
            if type(v) is str and len(v) > w - 2:
                tall = max(tall, _lines(v, w))
        self.ws.write_values(self.n, values, 15 * min(tall, 12) if tall > 1 else None)

    def close(self) -> int:
        """Finish the sheet (print setup, filter); returns how many data rows it shows."""
        if self.pending is not None:
            self._write(self.pending)
        elif self.extra:
            where = f"exports/{self.export}.csv" if self.export else "exports/"
            _text(self.ws, self.n + 1, 0, f"ほかに {self.extra:,} 行（Excel の行数の上限）: {where} を参照 / "
                                          f"{self.extra:,} more rows past Excel's row limit: see {where}")
        self.ws.freeze_panes(1, 0)
        self.ws.autofilter(0, 0, max(self.n, 1), len(self.columns) - 1)
        print_a4(self.ws, self.title)
        self.ws.repeat_rows(0)
        return self.n


class _FastZip(zipfile.ZipFile):
    """The zip XlsxWriter assembles the workbook in, deflated at level 1 instead of zlib's default 6, by ISA-L
    where it is installed (as the pre-check uses it): 12 MB of sheet XML in 10 ms instead of zlib's 40, for
    the same 1.4 MB, on the ingest's critical path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("compresslevel", 1)
        super().__init__(*args, **kwargs)

    def _open_to_write(self, zinfo: zipfile.ZipInfo, force_zip64: bool = False) -> Any:
        dest = super()._open_to_write(zinfo, force_zip64)
        if _isal_zlib is not None and zinfo.compress_type == zipfile.ZIP_DEFLATED:
            # zipfile's own compressor (zlib's, the same raw deflate stream format), replaced before any byte
            dest._compressor = _isal_zlib.compressobj(1, _isal_zlib.DEFLATED, -15)
        return dest


_ASSEMBLING = threading.Lock()  # one workbook at a time is assembled with the module's ZipFile swapped


@contextlib.contextmanager
def _deflated_fast() -> Iterator[None]:
    """While XlsxWriter assembles review.xlsx, its zip deflates at level 1 (it has no option for it).

    Over 1,000 submissions (12 MB of sheet XML) that takes 0.07 s instead of 0.18, on the ingest's critical
    path (the parent waits for the workbook), for a file of 1.4 MB instead of 1.05. Under a lock: a host
    that writes workbooks from several threads never sees the swap outlive the assembly."""
    with _ASSEMBLING:
        saved = xlsxwriter.workbook.ZipFile
        xlsxwriter.workbook.ZipFile = _FastZip
        try:
            yield
        finally:
            xlsxwriter.workbook.ZipFile = saved


def print_a4(ws: Any, title: str, *, landscape: bool = True) -> None:
    """A4, one page wide, the title in the header and page N/M in the footer (every sheet of review.xlsx)."""
    ws.set_paper(9)
    if landscape:
        ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.set_header(f"&L&8shinsei review.xlsx&C&10{title.replace('&', '&&')}")
    ws.set_footer("&C&8&P / &N")


class ReviewWriter:
    """review.xlsx, written as the submissions come (one at a time) and finished with the small tables.

    xlsxwriter's constant_memory mode keeps one row per sheet in memory: the workbook costs the same
    memory for 50 submissions as for 50,000. Written to a temporary file (settings.TEMP_PREFIX) and
    renamed when finished; ``abort`` (or leaving a ``with`` block by an exception) deletes it.
    """

    STREAMED = ("summary", "items", "unknown_categories", "findings")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = str(output_temp_path(path.parent, ".xlsx"))
        # constant_memory buffers each sheet in a temporary file: in the output folder too, so a killed
        # run's leftovers are found and deleted by the next run (pipeline.ingest.run.clean_temp).
        self.buffers = tempfile.mkdtemp(dir=path.parent, prefix=TEMP_PREFIX)
        self.wb = xlsxwriter.Workbook(self.tmp, {"strings_to_formulas": False, "strings_to_urls": False,
                                                 "constant_memory": True, "tmpdir": self.buffers})
        self.wb.set_properties({"title": "shinsei review", "created": FIXED_TIME, "author": "shinsei"})
        self.formats = {"bold": self.wb.add_format({"bold": True, "bg_color": "#DDEBF7", "text_wrap": True,
                                                    "valign": "top"}),
                        "yen": self.wb.add_format({"num_format": "#,##0", "valign": "top"}),
                        "wrap": self.wb.add_format({"text_wrap": True, "valign": "top"})}
        # The worklist first: it is what a reviewer opens the workbook for. The overview is written last.
        self.overview = self.wb.add_worksheet(worklist.OVERVIEW_SHEET)
        self.sheets = {
            "worklist": _Sheet(self.wb, self.formats, worklist.FLAGGED_SHEET, worklist.FLAGGED_COLUMNS,
                               export="worklist", hidden=worklist.HIDDEN, widths=worklist.WIDTHS),
            "applications": _Sheet(self.wb, self.formats, worklist.APPLICATIONS_SHEET, worklist.APPLICATION_COLUMNS,
                                   export="applications"),
            "summary": _Sheet(self.wb, self.formats, "Summary", summary_columns(), export="summary"),
            "items": _Sheet(self.wb, self.formats, "Items", ITEM_COLUMNS, export="items"),
            "unknown_categories": _Sheet(self.wb, self.formats, "Unknown categories", UNKNOWN_COLUMNS,
                                         export="unknown_categories"),
            "findings": _Sheet(self.wb, self.formats, "Findings", FINDING_COLUMNS, export="findings"),
        }
        self.by_category = {code: 0 for code, _, _ in category_columns()}
        self.review_totals: dict[str, int] = {}
        self.flagged_lines = self.undecided = self.applications = 0
        self.files = self.superseded = self.quarantined = 0  # counted by close_streamed, for the overview

    def add_submission(self, summary: dict[str, Any], items: list[dict[str, Any]], findings: list[dict[str, Any]],
                       unknown: list[dict[str, Any]]) -> None:
        self.add("summary", summary)
        for table, rows in (("items", items), ("findings", findings), ("unknown_categories", unknown)):
            for row in rows:
                self.add(table, row)

    def add_application(self, app: Application) -> None:
        """One application's worklist rows and totals (pipeline.finance.worklist)."""
        self.add_application_rows(*application_rows(app))

    def add_application_rows(self, flagged: list[dict[str, Any]], row: dict[str, Any], totals: dict[str, int]) -> None:
        """``add_application`` from its rows (``application_rows``), as the ingest works them out once for
        the exports and this workbook."""
        for line in flagged:
            self.add("worklist", line)
        self.add("applications", row)
        for k, v in totals.items():
            self.review_totals[k] = self.review_totals.get(k, 0) + v
        self.flagged_lines += row["flagged_lines"]
        self.undecided += row["undecided"]
        self.applications += 1

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.sheets[table].add(row)
        if table == "summary":
            for code in self.by_category:
                self.by_category[code] += row.get(f"direct_{code}", 0) or 0

    def finish(self, cross: list[dict[str, Any]], conc: dict[str, list[dict[str, Any]]],
               quarantine: list[dict[str, Any]], files: Iterable[dict[str, Any]] = ()) -> Path:
        """Close the streamed sheets, write the small ones and the overview, assemble the file; returns its path."""
        self.close_streamed(quarantine, files, tuple(conc))
        return self.finish_cross(cross, conc)

    def close_streamed(self, quarantine: list[dict[str, Any]], files: Iterable[dict[str, Any]] = (),
                       dims: Iterable[str] = CONCENTRATION_DIMS) -> None:
        """All but the cross-checks and the concentration tables (``finish_cross``): the ingest's child does
        this while the parent still runs the cross-checks. Their sheets are placed now, empty, before Files
        and Quarantine, so the sheets' order is the same either way."""
        wb = self.wb
        self._close_worklist()
        self.sheets["applications"].close()
        n = self.sheets["summary"].close()
        if n:
            e = summary_columns().index("errors")
            self.sheets["summary"].ws.conditional_format(1, e, n, e, {
                "type": "cell", "criteria": ">", "value": 0, "format": wb.add_format({"bg_color": "#FFC7CE"})})
        n = self.sheets["items"].close()
        if n:
            v = ITEM_COLUMNS.index("verdict")
            for verdict, colour in (("ng", "#FFC7CE"), ("review", "#FFEB9C")):
                self.sheets["items"].ws.conditional_format(1, v, n, v, {
                    "type": "cell", "criteria": "==", "value": f'"{verdict}"',
                    "format": wb.add_format({"bg_color": colour})})
        self.sheets["unknown_categories"].close()
        self.sheets["findings"].close()
        self.sheets["cross_checks"] = _Sheet(wb, self.formats, "Cross-checks", CROSS_COLUMNS, export="cross_checks")
        for dim in dims:
            self.sheets[f"by_{dim}"] = _Sheet(wb, self.formats, f"By {dim}",
                                              ["program", dim, "applications", "requested_yen"], export=f"by_{dim}")
        sheet = _Sheet(wb, self.formats, worklist.FILES_SHEET, worklist.FILE_COLUMNS, export="files")
        for row in (worklist.file_row(r) for r in files):
            sheet.add(row)
            self.files += 1
            self.superseded += bool(row["superseded"])
        sheet.close()
        sheet = _Sheet(wb, self.formats, "Quarantine", QUARANTINE_COLUMNS, export="quarantine")
        for row in quarantine:
            sheet.add(row)
        sheet.close()
        self.quarantined = len(quarantine)

    def finish_cross(self, cross: list[dict[str, Any]], conc: dict[str, list[dict[str, Any]]]) -> Path:
        """The cross-checks' and the concentration tables' sheets, the overview and the charts; then the file
        is assembled and renamed into place. After ``close_streamed``."""
        wb = self.wb
        for name, rows in [("cross_checks", cross)] + [(f"by_{dim}", rows) for dim, rows in conc.items()]:
            sheet = self.sheets[name]
            for row in rows:
                sheet.add(row)
            sheet.close()
        self._write_overview(self.files, self.superseded, self.quarantined)
        _charts(wb, self.by_category, conc.get("country", []), bool(self.sheets["summary"].n))
        with _deflated_fast():
            wb.close()
        os.replace(self.tmp, self.path)
        shutil.rmtree(self.buffers, ignore_errors=True)
        return self.path

    def _close_worklist(self) -> None:
        """The worklist's dropdown, colours and column groups, once its rows are written."""
        sheet, wb = self.sheets["worklist"], self.wb
        n = sheet.close()
        cols = worklist.FLAGGED_COLUMNS
        last = max(n, 1)
        d = cols.index("decision")
        sheet.ws.data_validation(1, d, last, d, {
            "validate": "list", "source": worklist.decision_choices(), "error_type": "stop",
            "input_title": "判断 Decision", "input_message": "一覧から選択 / pick from the list",
            "error_title": "判断 Decision", "error_message": "一覧から選んでください / choose from the list"})
        a = cols.index("allowed")
        sheet.ws.data_validation(1, a, last, a, {
            "validate": "integer", "criteria": ">=", "value": 0, "error_type": "stop",
            "input_title": "認める額 Allowed", "input_message": "円・整数（減額のとき） / whole yen, when reducing",
            "error_title": "認める額 Allowed", "error_message": "0以上の整数（円） / a whole number of yen, 0 or more"})
        if n:
            v = cols.index("verdict_label")
            for word, colour in (("対象外", "#FFC7CE"), ("要確認", "#FFEB9C"), ("規程違反", "#FFC7CE")):
                sheet.ws.conditional_format(1, v, n, v, {"type": "text", "criteria": "begins with", "value": word,
                                                         "format": wb.add_format({"bg_color": colour})})
            entry = wb.add_format({"bg_color": "#E2EFDA"})  # the reviewer's columns: where to type
            sheet.ws.conditional_format(1, d, n, cols.index("internal_note"), {"type": "no_errors", "format": entry})

    def _write_overview(self, files: int, superseded: int, quarantined: int) -> None:
        ws, width = self.overview, _OVERVIEW_WIDTH
        ws.set_column(0, 0, width, self.formats["wrap"])
        _text(ws, 0, 0, "shinsei review.xlsx — 概要 Overview", self.formats["bold"])
        lines = worklist.overview_lines(files, superseded, quarantined, self.applications, self.review_totals,
                                        self.undecided, self.flagged_lines)
        for i, line in enumerate(lines, start=2):
            # wrapped in the cell's own format (a column's format is only a default for empty cells), each row
            # as tall as its text: LibreOffice fits no row to its text, and drew a long sentence over the next
            ws.set_row(i, 15 * _lines(line, width))
            _text(ws, i, 0, line, self.formats["wrap"])
        print_a4(ws, worklist.OVERVIEW_SHEET)
        # a narrow empty column printed too: LibreOffice's wrapped Japanese overruns its column by a character or
        # two, which the page's edge cut off when the column was the whole print width
        ws.set_column(1, 1, 4)
        ws.print_area(0, 0, len(lines) + 1, 1)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.wb.close()
        Path(self.tmp).unlink(missing_ok=True)
        shutil.rmtree(self.buffers, ignore_errors=True)

    def __enter__(self) -> ReviewWriter:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None:
            self.abort()


def _charts(wb: Any, by_category: dict[str, int], countries: list[dict[str, Any]], any_submission: bool) -> None:
    """Requested amounts by budget category (the Summary's fixed columns) and by country (the largest)."""
    charts = wb.add_worksheet("Charts")
    charts.set_column(0, 0, 42)
    charts.set_column(1, 1, 14, wb.add_format({"num_format": "#,##0"}))
    print_a4(charts, "Charts")
    charts.fit_to_pages(1, 1)  # the tables and both charts on one page
    axis = {"num_format": "#,##0"}
    _text(charts, 0, 0, "費目 Category")
    _text(charts, 0, 1, "金額 Amount")
    categories = category_columns()
    for i, (code, ja, en) in enumerate(categories, start=1):
        _text(charts, i, 0, f"{ja} {en}")
        charts.write_number(i, 1, by_category.get(code, 0))
    if any_submission:
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


def write_review(path: Path, summary: list[dict[str, Any]], items: list[dict[str, Any]],
                 findings: list[dict[str, Any]], cross: list[dict[str, Any]], conc: dict[str, list[dict[str, Any]]],
                 quarantine: list[dict[str, Any]], unknown: list[dict[str, Any]] | None = None) -> Path:
    """Write review.xlsx atomically from whole tables. ``unknown``: the unknown categories (default: the
    summary rows' listing). The ingest streams instead (pipeline.ingest.outputs); same workbook."""
    if unknown is None:
        unknown = getattr(summary, "unknown", [])
    with ReviewWriter(path) as writer:
        for table, rows in (("summary", summary), ("items", items), ("unknown_categories", unknown),
                            ("findings", findings)):
            for row in rows:
                writer.add(table, row)
        return writer.finish(cross, conc, quarantine)
