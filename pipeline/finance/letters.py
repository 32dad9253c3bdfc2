"""Letter-ready lists for applications whose changes are requested: the comments to the applicant.

One workbook per application (xlsx; PDF too when LibreOffice is installed): the application, then each
decided line with its amount, decision, allowed amount and the comment to the applicant. Internal
notes never appear here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import xlsxwriter

from pipeline.cellsafe import neutralise
from pipeline.finance.decisions import label, status_label
from pipeline.finance.ledger import Application, Ledger
from pipeline.ingest.review import FIXED_TIME, print_a4

_UNSAFE = re.compile(r"[^\w\-]+")


def letter_path(folder: Path, app: Application) -> Path:
    name = _UNSAFE.sub("_", f"{app.institution or ''}_{app.pi_name or ''}").strip("_")[:60] or "application"
    return folder / f"changes-requested_{name}_{app.key[:8]}.xlsx"


def write_letter(app: Application, path: Path) -> Path:
    """The comment list of one application (the lines with a comment to the applicant)."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": "shinsei: changes requested", "created": FIXED_TIME, "author": "shinsei"})
    bold = wb.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    yen = wb.add_format({"num_format": "#,##0", "valign": "top"})
    ws = wb.add_worksheet("修正依頼 Changes requested")

    def text(r: int, c: int, v: object, fmt: object = wrap) -> None:
        ws.write_string(r, c, str(neutralise(str(v))), fmt)

    text(0, 0, "経費計画の修正依頼 / Changes requested to the budget", wb.add_format({"bold": True, "font_size": 14}))
    text(1, 0, f"申請 Application: {app.label}")
    text(2, 0, f"ファイル File: {app.file}（第{app.versions}版 version {app.versions}）")
    text(3, 0, f"状態 Status: {status_label(app.status)}")
    text(4, 0, f"申請額 Requested: {app.totals['requested']:,}円 → 認定見込 Allowed so far: "
               f"{app.totals['allowed_total']:,}円")
    head = ["行 Row", "費目 Category", "内容 Description", "金額 Amount", "判断 Decision", "認める額 Allowed",
            "連絡事項 Comment"]
    for c, h in enumerate(head):
        text(6, c, h, bold)
    r = 7
    for line in app.lines:
        if not line.get("comment"):
            continue
        text(r, 0, f"{line['sheet'] or ''} {line['row'] or ''}".strip())
        text(r, 1, line["category_label"] or "")
        text(r, 2, line["description"] or line["message_ja"] or "")
        if line["amount"] is not None:
            ws.write_number(r, 3, line["amount"], yen)
        text(r, 4, label(line["decision"]) if line["decision"] else "")
        if line["allowed"] is not None:
            ws.write_number(r, 5, line["allowed"], yen)
        text(r, 6, line["comment"])
        r += 1
    if r == 7:
        text(r, 0, "連絡事項のある行はありません / no line has a comment to the applicant")
    for c, w in enumerate((10, 12, 30, 12, 12, 12, 50)):
        ws.set_column(c, c, w)
    print_a4(ws, "修正依頼 Changes requested", landscape=False)
    ws.repeat_rows(6)
    wb.close()
    return path


def write_letters(ledger: Ledger, folder: Path, *, pdf: bool = True) -> list[Path]:
    """A letter for every application whose status is changes requested; PDFs too when soffice is there."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [write_letter(app, letter_path(folder, app)) for app in ledger.applications()
               if app.status == "changes_requested"]
    soffice = shutil.which("soffice") if pdf else None
    if soffice and written:
        subprocess.run([soffice, "--headless", "--convert-to", "pdf", "--outdir", str(folder), *map(str, written)],
                       check=False, capture_output=True, timeout=600)
    return written
