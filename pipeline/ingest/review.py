"""The finance review workbook (review.xlsx) and the same tables as CSV and Parquet.

Summary (one row per submission), Items (every cost line with its verdict), Findings,
Cross-checks, Concentration, Quarantine and charts. Built with xlsxwriter: fast, charts and
conditional formats, and strings written as strings; every text is neutralised anyway, since
the same tables go to CSV where nothing protects them.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter

from pipeline.cellsafe import neutralise
from pipeline.ingest.store import cost_findings
from pipeline.packs import load_pack

FIXED_TIME = dt.datetime(2000, 1, 1)  # document properties: two runs over the same files give the same bytes


def summary_rows(docs: list[dict[str, Any]], reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    categories = sorted({c for d in docs for c in d["submission"]["totals"]["by_category"]})
    rows = []
    for d in docs:
        sub, rep = d["submission"], reports[d["sha256"]]
        plan, totals = sub.get("plan") or {}, sub["totals"]
        money = load_pack(d["program"]).money
        base = money.get("base_amount")
        row: dict[str, Any] = {
            "program": d["program"], "file": d["file"], "version": d["versions"],
            "institution": plan.get("institution"), "pi_name": plan.get("pi_name"), "title": plan.get("title_ja"),
        }
        for c in categories:
            row[f"direct_{c}"] = totals["by_category"].get(c, 0)
        row.update({
            "direct_total": totals["direct_total"], "overhead": totals["overhead"],
            "overhead_pct": round(totals["overhead_rate"] * 100, 2), "total": totals["total"],
            "over_base": bool(base and totals["total"] > base),
            "over_base_reason": bool(plan.get("over_base_reason")),
            "errors": rep["counts"]["error"], "warnings": rep["counts"]["warning"],
        })
        rows.append(row)
    return rows


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
        return f"直接経費 {col.removeprefix('direct_')}"
    return HEADERS.get(col, col)


def _write_table(wb: Any, name: str, rows: list[dict[str, Any]], columns: list[str] | None = None,
                 money: tuple[str, ...] = ()) -> Any:
    ws = wb.add_worksheet(name)
    columns = columns or (list(rows[0]) if rows else ["—"])
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "text_wrap": True, "valign": "top"})
    yen = wb.add_format({"num_format": "#,##0"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    for c, col in enumerate(columns):
        ws.write_string(0, c, _header(col), bold)
        is_money = col in money or col.startswith("direct_")
        ws.set_column(c, c, 14 if is_money else 24 if col not in ("description", "message_ja", "message_en") else 48,
                      yen if is_money else wrap)
    for r, row in enumerate(rows, start=1):
        for c, col in enumerate(columns):
            value = row.get(col)
            if value is None:
                continue
            if isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, int | float):
                ws.write_number(r, c, value)
            else:
                ws.write_string(r, c, str(neutralise(str(value))))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    return ws


def write_review(path: Path, summary: list[dict[str, Any]], items: list[dict[str, Any]],
                 findings: list[dict[str, Any]], cross: list[dict[str, Any]], conc: dict[str, list[dict[str, Any]]],
                 quarantine: list[dict[str, Any]]) -> Path:
    """Write review.xlsx atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".xlsx")
    os.close(fd)
    # in_memory: the sheets' XML is assembled in memory, not in temporary files (~7% faster here).
    wb = xlsxwriter.Workbook(tmp, {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True})
    wb.set_properties({"title": "shinsei review", "created": FIXED_TIME, "author": "shinsei"})
    money = ("direct_total", "overhead", "total", "unit_price", "amount", "requested_yen")
    ws = _write_table(wb, "Summary", summary, money=money)
    if summary:
        red = wb.add_format({"bg_color": "#FFC7CE"})
        cols = list(summary[0])
        e = cols.index("errors")
        ws.conditional_format(1, e, len(summary), e, {"type": "cell", "criteria": ">", "value": 0, "format": red})
    ws = _write_table(wb, "Items", items, money=money)
    if items:
        cols = list(items[0])
        v = cols.index("verdict")
        for verdict, colour in (("ng", "#FFC7CE"), ("review", "#FFEB9C")):
            ws.conditional_format(1, v, len(items), v, {"type": "cell", "criteria": "==", "value": f'"{verdict}"',
                                                        "format": wb.add_format({"bg_color": colour})})
    _write_table(wb, "Findings", findings)
    _write_table(wb, "Cross-checks", cross)
    for dim, rows in conc.items():
        _write_table(wb, f"By {dim}", rows, money=money)
    _write_table(wb, "Quarantine", quarantine,
                 columns=["name", "error_code", "error_ja", "error_en", "size", "sha256"])
    charts = wb.add_worksheet("Charts")
    by_category: dict[str, int] = {}
    for row in summary:
        for k, v in row.items():
            if k.startswith("direct_") and k != "direct_total":
                by_category[k.removeprefix("direct_")] = by_category.get(k.removeprefix("direct_"), 0) + v
    charts.write_row(0, 0, ["費目 Category", "金額 Amount"])
    for i, (k, v) in enumerate(sorted(by_category.items()), start=1):
        charts.write_string(i, 0, k)
        charts.write_number(i, 1, v)
    if by_category:
        chart = wb.add_chart({"type": "column"})
        chart.add_series({"name": "費目別 By category", "categories": ["Charts", 1, 0, len(by_category), 0],
                          "values": ["Charts", 1, 1, len(by_category), 1]})
        chart.set_title({"name": "費目別申請額 Requested amounts by category"})
        charts.insert_chart("D2", chart)
    countries = conc.get("country", [])
    start = len(by_category) + 3
    charts.write_row(start, 0, ["国 Country", "申請額 Requested"])
    for i, row in enumerate(countries, start=start + 1):
        charts.write_string(i, 0, f"{row['program']}:{row['country']}")
        charts.write_number(i, 1, row["requested_yen"])
    if countries:
        chart = wb.add_chart({"type": "bar"})
        chart.add_series({"name": "国別 By country", "categories": ["Charts", start + 1, 0, start + len(countries), 0],
                          "values": ["Charts", start + 1, 1, start + len(countries), 1]})
        chart.set_title({"name": "国別申請額 Requested amounts by country"})
        charts.insert_chart("D20", chart)
    wb.close()
    os.replace(tmp, path)
    return path


def write_exports(folder: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    """The review tables as CSV (UTF-8 with BOM, for Excel) and Parquet, for pandas users."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        frame = pd.DataFrame(rows)
        # Neutralising maps every cell (most of the export's cost): only done when some text needs it.
        risky = any(isinstance(v, str) and neutralise(v) is not v for row in rows for v in row.values())
        safe = frame.map(lambda v: neutralise(v) if isinstance(v, str) else v) if risky and not frame.empty else frame
        for suffix, write in ((".csv", lambda p, f=safe: f.to_csv(p, index=False, encoding="utf-8-sig")),
                              (".parquet", lambda p, f=frame: f.to_parquet(p, index=False))):
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=suffix)
            os.close(fd)
            write(tmp)
            os.replace(tmp, folder / f"{name}{suffix}")
