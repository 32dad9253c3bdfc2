"""The add-in's buttons: xlwings custom scripts, each a few lines over the engine.

Every script turns the book Excel sent into the engine's input (addin.book_input), calls the
engine (pipeline.validate), and writes the result back (addin.write_back). No rule lives
here: what is checked, and every message, comes from the workbook's rule pack. Each body runs
in a worker process, off the event loop and with a time limit (``off_loop``, addin.offload);
the request was checked before it got here (addin.limits).
"""

from __future__ import annotations

import xlwings as xw
from xlwings.server import script

from addin.book_input import raw_from_book
from addin.offload import off_loop
from addin.write_back import (
    EXPORT_SHEET,
    MARKS_SHEET,
    RESULT_SHEET,
    previous_marks,
    remove_marks,
    show_report,
    write_export,
)
from pipeline.findings import Report
from pipeline.safety import WorkbookRejected
from pipeline.validate import validate_raw

# Sheets the engine never reads: not sent by Excel, which keeps the request small.
_NOT_SENT = ",".join((RESULT_SHEET, EXPORT_SHEET))


def _engine(book: xw.Book, stage: str, title_ja: str, title_en: str) -> Report | None:
    """Run the engine; a workbook it cannot read gets a bilingual alert and no changes."""
    try:
        return validate_raw(raw_from_book(book), stage=stage)
    except WorkbookRejected as exc:
        book.app.alert(f"{exc.message_ja}\n\n{exc.message_en}", title=f"{title_ja} {title_en}",
                       buttons="ok", mode="critical", callback="")
        return None


@script(exclude=_NOT_SENT)
@off_loop
def validate(book: xw.Book) -> None:
    """検証 Validate: every rule of the workbook's pack; offending cells filled, 検証結果 sheet, summary alert."""
    report = _engine(book, "draft", "検証", "Validate")
    if report is not None:
        show_report(book, report, title_ja="検証", title_en="Validate")


@script(exclude=_NOT_SENT)
@off_loop
def presubmission_check(book: xw.Book) -> None:
    """提出前チェック Pre-submission check: Validate plus the call's file-name convention."""
    report = _engine(book, "submission", "提出前チェック", "Pre-submission check")
    if report is None:
        return
    required = sum(f.code == "field.required" for f in report.findings)
    names = [f for f in report.findings if f.code.startswith("submission.")]
    extra_ja = f"未記入の必須項目: {required} 件。" + (" ファイル名を公募の指定に合わせてください。" if names else "")
    extra_en = f"Required fields empty: {required}." + (" Rename the file as the call prescribes." if names else "")
    if report.valid:
        extra_ja += " エラーはありません。提出できます。"
        extra_en += " No errors: ready to submit."
    show_report(book, report, title_ja="提出前チェック", title_en="Pre-submission check",
                extra_ja=extra_ja, extra_en=extra_en)


@script(include=MARKS_SHEET)
@off_loop
def clear(book: xw.Book) -> None:
    """表示クリア Clear: restore the fills Validate changed and delete the sheets the add-in added."""
    had = bool(previous_marks(book)) or any(s["name"] in (RESULT_SHEET, EXPORT_SHEET) for s in book.api["sheets"])
    remove_marks(book)
    if not had:
        book.app.alert("消去する検証結果はありません。", title="表示クリア Clear", buttons="ok", mode="info",
                       callback="")


@script(exclude=_NOT_SENT)
@off_loop
def export_json(book: xw.Book) -> None:
    """JSON出力 Export: the normalised submission (schema-valid) in the JSON出力 sheet."""
    report = _engine(book, "draft", "JSON出力", "Export")
    if report is None or report.submission is None:
        return
    lines = write_export(book, report.submission)
    invalid = [f for f in report.findings if f.code == "submission.schema"]
    ja = f"「{EXPORT_SHEET}」シートに {lines} 行のJSONを書き出しました。A列をコピーして .json として保存できます。"
    en = f"{lines} lines of JSON written to the {EXPORT_SHEET} sheet; copy column A into a .json file."
    if invalid:
        ja += f" 注意: スキーマに合わない箇所が {len(invalid)} 件あります。"
        en += f" Note: {len(invalid)} schema violations."
    book.app.alert(f"{ja}\n\n{en}", title="JSON出力 Export", buttons="ok",
                   mode="critical" if invalid else "info", callback="")


__all__ = ["clear", "export_json", "presubmission_check", "validate"]
