"""The bilingual, human-readable report that ``shinsei validate`` prints."""

from __future__ import annotations

from typing import Any

from pipeline.findings import Finding, Report

SEVERITY_LABEL = {"error": "エラー ERROR", "warning": "警告 WARNING", "info": "情報 INFO"}


def clause_text(clause: dict[str, str]) -> str:
    return f"{clause.get('document', '')} {clause.get('section', '')}".strip()


def finding_lines(f: Finding, ctx: Any = None) -> list[str]:
    """A finding as the report prints it; with the report's context (result_sheet.RowContext) the clause
    is worded as on the findings sheet: the call's quoted sentence, or the template's own instructions."""
    where = str(f.location) or f.location.path or ""
    if ctx is not None:
        from pipeline.result_sheet import clause_text as worded

        clause = worded(f, ctx).replace("\n", "\n        ")
    else:
        clause = clause_text(f.clause)
    return [
        f"[{SEVERITY_LABEL[f.severity]}] {f.code}  {where}",
        f"    {f.message_ja}",
        f"    {f.message_en}",
        f"    根拠 Clause: {clause}",
    ]


def render_report(report: Report, *, show_info: bool = True) -> str:
    c = report.counts
    verdict = "提出可能（エラーなし） VALID: no errors" if report.valid else "要修正 NOT VALID: errors to fix"
    lines = [
        "shinsei 検証結果 / Validation report",
        f"ファイル File:       {report.file}",
        f"制度 Programme:      {report.program}  "
        f"(様式 template {report.template['id'] if report.template else '-'} "
        f"v{report.template['version'] if report.template else '-'})",
        f"件数 Counts:         エラー errors {c['error']} / 警告 warnings {c['warning']} / 情報 info {c['info']}",
        f"判定 Result:         {verdict}",
    ]
    sub = report.submission
    if sub:
        t = sub["totals"]
        lines.append(f"金額 Amounts:        直接経費 direct {t['direct_total']:,}円 + 一般管理費 overhead "
                     f"{t['overhead']:,}円 = 総額 total {t['total']:,}円")
    lines.append("-" * 72)
    shown = [f for f in report.findings if show_info or f.severity != "info"]
    if not shown:
        lines.append("指摘事項はありません。 No findings.")
    from pipeline.result_sheet import RowContext

    ctx = RowContext.of(report)
    for f in shown:
        lines.extend(finding_lines(f, ctx))
    lines.append(f"({report.seconds * 1000:.0f} ms)")
    return "\n".join(lines)
