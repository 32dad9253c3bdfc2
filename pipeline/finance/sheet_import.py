"""Decisions typed into review.xlsx's worklist, read back, checked and stored: all of them or none.

A row is refused, and with it the whole sheet (nothing is written), when its line id is unknown,
when the line belongs to another application than the row says, when the decision or the amount
cannot stand (pipeline.finance.decisions), when someone else decided the line since the sheet was
made, or when the application was resubmitted since (the decision is held back as stale, with the
amount the sheet showed beside the amount now asked; ``skip_stale`` imports the rest without them).
A row whose decision equals the current one changes nothing, so importing a sheet twice adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipeline.finance.decisions import DecisionError, label, parse_decision, settle, yen
from pipeline.finance.ledger import Conflict, Ledger, decision_entry
from pipeline.finance.worklist import FLAGGED_SHEET, HEADERS
from pipeline.ingest import tables as t

NEEDED = ("line_id", "submission_key", "sha256", "seq", "decision", "allowed", "comment", "internal_note")


@dataclass
class Problem:
    row: int | None          # the sheet's row number as Excel shows it
    line_id: str | None
    ja: str
    en: str
    stale: bool = False

    def __str__(self) -> str:
        where = f"{FLAGGED_SHEET} 行 row {self.row}" if self.row else FLAGGED_SHEET
        return f"{where}: {self.ja} / {self.en}"


@dataclass
class ImportResult:
    entries: list[dict[str, Any]] = field(default_factory=list)   # written to the log
    unchanged: int = 0
    blank: int = 0
    problems: list[Problem] = field(default_factory=list)         # refused rows (nothing written if any)
    notes: list[Problem] = field(default_factory=list)            # not errors: said, nothing done


class ImportRefused(Exception):
    def __init__(self, result: ImportResult) -> None:
        super().__init__(f"{len(result.problems)} rows refused")
        self.result = result


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(Excel row number, {column key: value}) of every row of the worklist sheet, found by its headers."""
    from python_calamine import CalamineWorkbook

    from pipeline.safety import precheck

    precheck(path)  # a sheet sent back is a file from outside like any other
    book = CalamineWorkbook.from_path(str(path))
    if FLAGGED_SHEET not in book.sheet_names:
        raise DecisionError(f"シート「{FLAGGED_SHEET}」がありません。"
                            "shinsei ingest が作った review.xlsx を使ってください",
                            f"no sheet '{FLAGGED_SHEET}': use the review.xlsx written by shinsei ingest")
    rows = book.get_sheet_by_name(FLAGGED_SHEET).to_python(skip_empty_area=False)
    if not rows:
        return []
    by_header = {str(h).strip(): i for i, h in enumerate(rows[0])}
    where = {key: by_header.get(HEADERS.get(key, "")) for key in NEEDED}
    missing = [HEADERS.get(k, k) for k, i in where.items() if i is None]
    if missing:
        raise DecisionError(f"見出し {'、'.join(missing)} が見つかりません（列を削除しないでください）",
                            f"the headers {', '.join(missing)} are missing (do not delete columns)")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        values = {key: _cell(row[i]) if i < len(row) else None for key, i in where.items() if i is not None}
        if values.get("line_id"):
            out.append((n, values))
    return out


def _cell(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        return v.strip() or None
    return v


def plan_import(ledger: Ledger, rows: list[tuple[int, dict[str, Any]]], reviewer: str) -> ImportResult:
    """Check every row against the database; the entries to write, or the problems (nothing is written here)."""
    result = ImportResult()
    ids = sorted({str(v["line_id"]) for _, v in rows})
    with ledger.reader.connect() as conn:
        known: dict[str, dict[str, int | None]] = {}   # line key -> {file sha: amount}
        owner: dict[str, str] = {}
        for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
            for r in conn.execute(select(t.review_lines.c.line_key, t.review_lines.c.sha256, t.review_lines.c.amount,
                                         t.files.c.submission_key)
                                  .join(t.files, t.files.c.sha256 == t.review_lines.c.sha256)
                                  .where(t.review_lines.c.line_key.in_(chunk))):
                known.setdefault(r.line_key, {})[r.sha256] = r.amount
                owner[r.line_key] = r.submission_key
    apps = {a.key: a for a in ledger.applications(sorted(set(owner.values())))}
    seen: set[str] = set()
    for n, v in rows:
        line_id = str(v["line_id"])
        if line_id in seen:
            result.problems.append(Problem(n, line_id, f"行ID {line_id} が2回あります",
                                           f"line id {line_id} appears twice"))
            continue
        seen.add(line_id)
        if line_id not in known:
            result.problems.append(Problem(n, line_id,
                                           f"行ID {line_id} はデータベースにありません（書き換えないでください）",
                                           f"line id {line_id} is not in the database (do not edit the ids)"))
            continue
        if v.get("submission_key") != owner[line_id]:
            result.problems.append(Problem(n, line_id, "この行は、行に記された申請のものではありません"
                                           "（行をほかの申請の所へ写していませんか）",
                                           "this line does not belong to the application the row names "
                                           "(was it copied from another application's rows?)"))
            continue
        app = apps.get(owner[line_id])
        line = next((ln for ln in app.lines if ln["line_key"] == line_id), None) if app else None
        try:
            decision = parse_decision(v.get("decision"))
        except DecisionError as exc:
            result.problems.append(Problem(n, line_id, exc.ja, exc.en))
            continue
        if decision is None:
            if line is not None and line["decision"] and (v.get("sha256") == app.sha256):
                result.notes.append(Problem(n, line_id, f"判断が空欄ですが、記録済みの判断（{label(line['decision'])}）"
                                            "は取り消されません",
                                            f"the decision is blank; the recorded one ({label(line['decision'])}) "
                                            "stays (decisions are never withdrawn by a blank)"))
            result.blank += 1
            continue
        if app is None or v.get("sha256") != app.sha256:
            then = known[line_id].get(str(v.get("sha256")))
            now = line["amount"] if line else None
            result.problems.append(Problem(
                n, line_id, f"この申請はシート作成後に再提出されました（当時 {yen(then)}、現在 "
                f"{yen(now) if line else '行なし'}）。判断は保留します。新しい review.xlsx で判断してください",
                f"the application was resubmitted after this sheet was made (then {yen(then)}, now "
                f"{yen(now) if line else 'no such line'}); the decision is held back: decide on the new review.xlsx",
                stale=True))
            continue
        if line is None:
            result.problems.append(Problem(n, line_id, "この行は最新版の要確認行ではありません",
                                           "this line is not on the latest version's worklist"))
            continue
        comment, note = _text(v.get("comment")), _text(v.get("internal_note"))
        try:
            allowed = settle(decision, line["amount"], v.get("allowed"), comment)
        except DecisionError as exc:
            result.problems.append(Problem(n, line_id, exc.ja, exc.en))
            continue
        if (decision, allowed, comment, note) == (line["decision"], line["allowed"], line["comment"], line["note"]):
            result.unchanged += 1
            continue
        if v.get("seq") != line["seq"]:
            who = (line.get("entry") or {}).get("reviewer", "?")
            result.problems.append(Problem(n, line_id, f"シート作成後に {who} さんがこの行を判断しています。"
                                           "新しい review.xlsx で確認してください",
                                           f"{who} decided this line after the sheet was made; check it on the "
                                           "new review.xlsx"))
            continue
        try:
            result.entries.append(decision_entry(app, line, decision, reviewer=reviewer, seq=line["seq"],
                                                 allowed=allowed, comment=comment, note=note, source="sheet"))
        except (DecisionError, Conflict) as exc:
            ja, en = (exc.ja, exc.en) if isinstance(exc, DecisionError) else (str(exc), str(exc))
            result.problems.append(Problem(n, line_id, ja, en))
    return result


def _text(v: Any) -> str | None:
    return str(v).strip() or None if v is not None else None


def import_sheet(ledger: Ledger, path: Path, reviewer: str, *, skip_stale: bool = False) -> ImportResult:
    """Store the decisions of a worklist sheet in one transaction; raises ImportRefused (nothing stored)."""
    if not (reviewer or "").strip():
        raise DecisionError("--reviewer に担当者名を指定してください（匿名では記録できません）",
                            "give the reviewer's name with --reviewer (decisions are never anonymous)")
    result = plan_import(ledger, read_rows(path), reviewer.strip())
    refused = [p for p in result.problems if not (skip_stale and p.stale)]
    if refused:
        result.problems = refused
        raise ImportRefused(result)
    ledger.append(result.entries)
    return result
