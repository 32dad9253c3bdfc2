"""The worklist in review.xlsx: what a finance reviewer reads, decides and sends back.

要確認 Flagged lines   one row per flagged or sampled line of each application's latest version, with
                       the call's clause and quoted sentence, and the reviewer's columns (decision from a
                       dropdown, allowed amount, comment to the applicant, internal note) filled with the
                       decisions already taken; ``shinsei review import`` reads them back.
申請別 Applications    per application: requested, flagged, disallowed and allowed totals, overhead
                       recomputed on the allowed direct costs, status, undecided lines.
ファイル Files         every file taken in, its version, whether a later version superseded it.

Rows are built here; pipeline.ingest.review writes them (one workbook, one look).
"""

from __future__ import annotations

from typing import Any

from pipeline.finance.decisions import decisions, label, status_label
from pipeline.finance.ledger import Application
from pipeline.finance.lines import vocabulary

FLAGGED_SHEET = "要確認 Flagged lines"
APPLICATIONS_SHEET = "申請別 Applications"
FILES_SHEET = "ファイル Files"
OVERVIEW_SHEET = "概要 Overview"

# The reviewer's columns: what ``shinsei review import`` reads back (by header, so a reordered sheet still works).
REVIEWER_COLUMNS = ("decision", "allowed", "comment", "internal_note")
FLAGGED_COLUMNS = ["line_id", "application", "file", "sheet", "row", "category_label", "category_code", "description",
                   "unit_price", "quantity", "amount", "verdict_label", "reason_ja", "reason_en", "clause", "quote",
                   "mark", *REVIEWER_COLUMNS, "reviewer", "decided_at", "submission_key", "sha256", "seq"]
HIDDEN = frozenset({"category_code", "submission_key", "sha256", "seq"})  # codes and keys the import needs
APPLICATION_COLUMNS = ["application_id", "program", "institution", "pi_name", "title", "file", "version", "status",
                       "requested", "flagged", "disallowed", "allowed_direct", "allowed_overhead", "allowed_total",
                       "flagged_lines", "undecided"]
FILE_COLUMNS = ["name", "status", "application", "version", "versions", "superseded", "error_code", "error_ja",
                "error_en", "error_detail", "size", "sha256"]
LOG_COLUMNS = ["id", "at", "reviewer", "kind", "submission_key", "line_key", "sha256", "previous", "value",
               "requested", "allowed", "comment", "note", "source", "seq"]
# Narrow enough that the worklist prints one A4 page wide at a readable size; text wraps, rows grow.
WIDTHS = {"line_id": 11, "application": 18, "file": 16, "sheet": 9, "row": 5, "category_label": 9, "description": 20,
          "unit_price": 10, "quantity": 5, "amount": 10, "verdict_label": 8, "reason_ja": 24, "reason_en": 24,
          "clause": 14, "quote": 24, "mark": 12, "decision": 10, "allowed": 10, "comment": 18, "internal_note": 14,
          "reviewer": 9, "decided_at": 10}
MONEY_COLUMNS = ("requested", "flagged", "disallowed", "allowed_direct", "allowed_overhead", "allowed_total",
                 "allowed")

HEADERS = {
    "line_id": "行ID Line ID",
    "application": "申請 Application",
    "category_label": "費目 Category",
    "category_code": "費目コード Category code",
    "verdict_label": "判定 Verdict",
    "reason_ja": "理由",
    "reason_en": "Reason",
    "quote": "公募要領の記載 The call's words",
    "mark": "変更・抽出 Changed / sampled",
    "decision": "判断 Decision",
    "allowed": "認める額 Allowed (yen)",
    "comment": "申請者への連絡 Comment to applicant",
    "internal_note": "内部メモ Internal note",
    "reviewer": "担当者 Reviewer",
    "decided_at": "判断日時 Decided at",
    "submission_key": "申請キー Application key",
    "seq": "版 Line version",
    "sha256": "SHA-256",
    "application_id": "申請ID Application ID",
    "status": "状態 Status",
    "requested": "申請額 Requested",
    "flagged": "要確認額 Flagged",
    "disallowed": "不認定額 Disallowed",
    "allowed_direct": "認定直接経費 Allowed direct",
    "allowed_overhead": "一般管理費（再計算） Overhead recomputed",
    "allowed_total": "認定総額 Allowed total",
    "flagged_lines": "要確認行 Flagged lines",
    "undecided": "未判断 Undecided",
    "versions": "版数 Versions",
    "superseded": "新版あり Superseded",
    "status_file": "状態 Status",
}


def decision_choices() -> list[str]:
    """What the dropdown offers, as the sheet shows it (認める approve …)."""
    return [label(code) for code in decisions()]


def _mark(line: dict[str, Any]) -> str | None:
    marks = vocabulary()["marks"]
    words = [f"{marks[line['mark']]['ja']} {marks[line['mark']]['en']}"] if line.get("mark") else []
    if line.get("mark") == "changed" and line.get("entry"):
        prev = line["entry"]
        words.append(f"前回 previous: {label(prev['value'])} {_yen(prev['allowed'])} / {_yen(prev['requested'])}")
    if line.get("sampled"):
        words.append(f"{marks['sampled']['ja']} {marks['sampled']['en']} ({line['sampled']})")
    return "\n".join(words) or None


def _yen(n: int | None) -> str:
    return "—" if n is None else f"{n:,}円"


def flagged_rows(app: Application) -> list[dict[str, Any]]:
    """The worklist rows of one application."""
    verdicts = vocabulary()["verdicts"]
    out = []
    for line in app.lines:
        v = verdicts.get(line["verdict"], {"ja": line["verdict"], "en": line["verdict"]})
        out.append({
            "line_id": line["line_key"], "application": app.label, "file": app.file, "sheet": line["sheet"],
            "row": line["row"], "category_label": line["category_label"], "category_code": line["category"],
            "description": line["description"] if line["kind"] == "cost" else line["code"],
            "unit_price": line["unit_price"], "quantity": line["quantity"], "amount": line["amount"],
            "verdict_label": f"{v['ja']} {v['en']}", "reason_ja": line["message_ja"], "reason_en": line["message_en"],
            "clause": line["clause"], "quote": line["quote"], "mark": _mark(line),
            "decision": label(line["decision"]) if line["decision"] else None,
            "allowed": line["allowed"], "comment": line["comment"], "internal_note": line["note"],
            "reviewer": line["reviewer"], "decided_at": line["decided_at"], "submission_key": app.key,
            "sha256": app.sha256, "seq": line["seq"],
        })
    return out


def application_row(app: Application) -> dict[str, Any]:
    return {"application_id": app.key[:12], "program": app.program, "institution": app.institution,
            "pi_name": app.pi_name, "title": app.title, "file": app.file, "version": app.versions,
            "status": status_label(app.status), **{k: app.totals.get(k) for k in (
                "requested", "flagged", "disallowed", "allowed_direct", "allowed_overhead", "allowed_total")},
            "flagged_lines": len(app.lines), "undecided": app.undecided}


def file_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the Files sheet from the files table joined with its submission."""
    superseded = row["status"] == "ok" and row["version"] is not None and row["version"] < (row["versions"] or 0)
    application = " / ".join(x for x in (row.get("institution"), row.get("pi_name"), row.get("title")) if x) or None
    status = {"ok": "取込済 read", "quarantined": "隔離 quarantined", "pending": "未処理 pending"}.get(
        row["status"], row["status"])
    return {"name": row["name"], "status": status, "application": application, "version": row["version"],
            "versions": row["versions"], "superseded": "はい yes" if superseded else None,
            "error_code": row["error_code"], "error_ja": row["error_ja"], "error_en": row["error_en"],
            "error_detail": row.get("error_detail"), "size": row["size"], "sha256": row["sha256"]}


def overview_lines(files: int, superseded: int, quarantined: int, apps: int, totals: dict[str, int],
                   undecided: int, flagged_lines: int) -> list[str]:
    """The Overview sheet's sentences: what the batch holds and where the review stands."""
    return [
        f"{files:,} ファイル、{apps:,} 申請、{superseded:,} 件は新しい版で置き換え、{quarantined:,} 件は隔離 / "
        f"{files:,} files, {apps:,} submissions, {superseded:,} superseded by a later version, "
        f"{quarantined:,} quarantined",
        f"要確認の行 {flagged_lines:,}（未判断 {undecided:,}） / "
        f"{flagged_lines:,} flagged lines ({undecided:,} undecided)",
        f"申請額 {totals.get('requested', 0):,}円、要確認額 {totals.get('flagged', 0):,}円、"
        f"不認定額 {totals.get('disallowed', 0):,}円、認定総額 {totals.get('allowed_total', 0):,}円 / "
        f"requested {totals.get('requested', 0):,} yen, flagged {totals.get('flagged', 0):,} yen, "
        f"disallowed {totals.get('disallowed', 0):,} yen, allowed {totals.get('allowed_total', 0):,} yen",
        f"判断の選択肢 Decisions: {'、'.join(decision_choices())}。"
        "「要確認 Flagged lines」の判断・認める額・申請者への連絡・内部メモを記入し、"
        "shinsei review import review.xlsx --out DIR --reviewer 氏名 で取り込みます / fill in the decision columns "
        "and import them with that command",
        "ファイル一覧は「ファイル Files」、申請ごとの合計は「申請別 Applications」 / every file: the Files sheet; "
        "totals per application: the Applications sheet",
    ]
