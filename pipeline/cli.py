"""``shinsei``: the command line over the engine. Thin: every command is one engine call.

Exit codes of ``validate``: 0 no errors, 1 rule errors, 2 the file cannot be read.

Start-up is part of every command's time (``shinsei validate`` is one short process): the parser is
built from argparse alone, and each command imports what it uses when it runs (the engine, the
classifier, pandas and SQLAlchemy for ingest, xlwings for the add-in). tests/test_startup.py holds
``--help`` and ``validate`` to that.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import __version__

EPILOG = """\
例 Examples:
  shinsei validate 申請書.xlsx                  検証して日英の報告を表示 / bilingual report
  shinsei validate 申請書.xlsx --json           JSON（schemas/findings.schema.json）
  shinsei validate 申請書.xlsx --annotate 注釈.xlsx   該当セルに色とコメント / annotated copy
  shinsei validate 申請書.xlsx --presubmission  提出前チェック（ファイル名等）/ pre-submission check
  shinsei export 申請書.xlsx -o 申請書.json      正規化JSON / normalised submission JSON
  shinsei template build                        様式を生成 / build the templates
  shinsei demo                                  同梱サンプルで検証 / validate the bundled samples
"""


def _print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _rejected(path: str, exc: Exception) -> int:
    code = getattr(exc, "code", "unreadable")
    ja = getattr(exc, "message_ja", str(exc))
    en = getattr(exc, "message_en", "")
    detail = getattr(exc, "detail", "")
    print(f"読み込めません / cannot read: {path}\n  [{code}] {ja}\n  {en}" + (f"\n  ({detail})" if detail else ""),
          file=sys.stderr)
    return 2


def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.report_text import render_report
    from pipeline.safety import WorkbookRejected
    from pipeline.validate import validate_file

    try:
        report = validate_file(args.file, args.program, isolate=not args.no_isolate,
                               stage="submission" if args.presubmission else "draft")
    except WorkbookRejected as exc:
        if args.json:
            _print_json({"schema_version": 1, "file": Path(args.file).name, "program": args.program,
                         "valid": False, "error": {"code": getattr(exc, "code", "unreadable"),
                                                   "message_ja": getattr(exc, "message_ja", str(exc)),
                                                   "message_en": getattr(exc, "message_en", "")}})
        return _rejected(args.file, exc)
    if args.json:
        _print_json(report.to_dict(with_submission=args.with_submission))
    else:
        print(render_report(report, show_info=not args.no_info))
    if args.annotate:
        from pipeline.annotate import write_annotated  # openpyxl's full model: paid only when asked

        try:
            out = write_annotated(args.file, report, args.annotate, isolate=not args.no_isolate)
        except WorkbookRejected as exc:  # the copy failed (worker-timeout, annotate-unreadable ...); the report stands
            print(f"注釈付きの写しを作れません / cannot write the annotated copy: {args.annotate}\n"
                  f"  [{exc.code}] {exc.message_ja}\n  {exc.message_en}", file=sys.stderr)
            return 2
        except ValueError as exc:  # over the original, or not named .xlsx
            print(f"shinsei validate: {exc}", file=sys.stderr)
            return 2
        print(f"注釈付きの写しを保存しました / annotated copy written: {out}", file=sys.stderr)
    return 0 if report.valid else 1


def cmd_export(args: argparse.Namespace) -> int:
    if args.all or args.db:
        return _export_database(args)
    import json
    import tempfile

    from pipeline.safety import WorkbookRejected
    from pipeline.validate import validate_file

    if not args.file:
        print("書き出すブックを指定してください（または --db URL --all）/ name a workbook to export "
              "(or --db URL --all)", file=sys.stderr)
        return 64
    try:
        report = validate_file(args.file, args.program, isolate=not args.no_isolate)
    except WorkbookRejected as exc:
        return _rejected(args.file, exc)
    text = json.dumps(report.submission, ensure_ascii=False, indent=2) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=out.parent, delete=False, encoding="utf-8", suffix=".tmp") as fh:
            fh.write(text)
        Path(fh.name).replace(out)
        c = report.counts
        print(f"{out} を書き出しました / wrote {out} (エラー errors {c['error']}, 警告 warnings {c['warning']})",
              file=sys.stderr)
    return 0


def _export_database(args: argparse.Namespace) -> int:
    """Every stored submission's JSON files from an ingest database into a folder (only those missing)."""
    if not (args.all and args.db and args.output and args.output != "-" and not args.file):
        print("データベースからの書き出しは --db URL --all -o フォルダ の形で指定します / export from a database as "
              "--db URL --all -o DIR", file=sys.stderr)
        return 64
    from pipeline.ingest.run import export_documents
    from pipeline.ingest.store import Store

    store = Store(args.db)
    try:
        written = export_documents(store, Path(args.output))
    finally:
        store.close()
    print(f"{written} 件を書き出しました / wrote {written} documents to {args.output}/submissions, "
          f"{args.output}/findings", file=sys.stderr)
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from pipeline.packs import load_pack, pack_ids
    from pipeline.template_builder import build_template, template_path

    if args.action == "list":
        for pid in pack_ids():
            pack = load_pack(pid)
            t = pack.template
            path = template_path(pack)
            state = "" if path.exists() else "  (未生成 not built: shinsei template build)"
            print(f"{pid}\t{t['id']} v{t['version']}\t{pack.title['ja']} / {pack.title['en']}\t{path}{state}")
        return 0
    ids = [args.program] if args.program else pack_ids()
    for pid in ids:
        out = build_template(pid, Path(args.out) if args.out else None)
        print(f"様式を生成しました / built {out}")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from pipeline.samples import build_samples

    for path in build_samples(Path(args.out) if args.out else None):
        print(path)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from pipeline.schema_builder import write_submission_schema

    print(write_submission_schema(Path(args.out) if args.out else None))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.annotate import write_annotated
    from pipeline.resources import samples_dir
    from pipeline.safety import WorkbookRejected
    from pipeline.validate import validate_file

    folder = Path(args.samples) if args.samples else samples_dir()
    files = sorted(folder.glob("*.xlsx"))
    if not files:
        print(f"サンプルがありません / no samples in {folder}: run `shinsei samples build`", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("out/demo")
    print(f"同梱サンプル {len(files)} 件を検証します / validating {len(files)} bundled samples from {folder}\n")
    print(f"{'ファイル file':60} {'エラー':>6} {'警告':>6} {'情報':>6}  主な指摘 main findings")
    for path in files:
        try:
            report = validate_file(path)
        except WorkbookRejected as exc:
            print(f"{path.name:60} 読み込めません cannot read: {exc}")
            continue
        c = report.counts
        codes = sorted({f.code for f in report.findings if f.severity != "info"})
        print(f"{path.name:60} {c['error']:>6} {c['warning']:>6} {c['info']:>6}  {', '.join(codes[:4]) or '-'}")
        try:
            write_annotated(path, report, out / f"{path.stem}.annotated.xlsx")
        except WorkbookRejected as exc:
            print(f"{'':60} 注釈付きの写しを作れません cannot annotate: [{exc.code}] {exc.message_en}")
    print(f"\n注釈付きの写し / annotated copies: {out}/ (詳細 details: shinsei validate FILE)")
    return 0


def _add_validate(sub: Any) -> None:
    v = sub.add_parser("validate", help="ブックを検証 / validate a workbook",
                       description="ブックを制度のルールで検証し、日英の報告を表示します。終了コード: 0 エラーなし、"
                                   "1 ルール違反あり、2 読み込めない。 / Validate a workbook against its programme's "
                                   "rules. Exit 0: no errors, 1: rule errors, 2: the file cannot be read.")
    v.add_argument("file", help="検証する .xlsx/.xlsm / the workbook to check")
    v.add_argument("--program", help="制度ID（省略時は様式から判定）/ rule pack id (default: from the template)")
    v.add_argument("--json", action="store_true", help="JSONで出力 / print JSON (schemas/findings.schema.json)")
    v.add_argument("--with-submission", action="store_true", help="JSONに正規化データも含める / include the "
                                                                  "normalised submission in --json output")
    v.add_argument("--annotate", metavar="OUT.xlsx",
                   help="該当セルに色とコメントを付けた写しを保存（元ファイルは変更しません）"
                        " / write an annotated copy (the original is untouched)")
    v.add_argument("--no-info", action="store_true", help="情報を表示しない / hide info findings")
    v.add_argument("--presubmission", action="store_true",
                   help="提出前チェック：公募が定めるファイル名なども確認 / pre-submission check: also the call's "
                        "file-name convention (the add-in's 提出前チェック button)")
    v.add_argument("--no-isolate", action="store_true", help="子プロセスを使わない（信頼できるファイルのみ）/ parse in "
                                                             "this process (trusted files only)")
    v.set_defaults(func=cmd_validate)


def _add_export(sub: Any) -> None:
    e = sub.add_parser("export", help="正規化JSONを出力 / export the normalised JSON",
                       description="ブック1件の正規化JSONを出力します。--db URL --all -o フォルダ で、取り込み済みの"
                                   "全申請のJSONをデータベースから書き出します（未作成の分だけ）。 / "
                                   "Print the normalised JSON of one workbook; with --db URL --all -o DIR, write "
                                   "every ingested submission's JSON files from the ingest database "
                                   "(only those not there yet).")
    e.add_argument("file", nargs="?", help="ブック / the workbook")
    e.add_argument("-o", "--output",
                   help="出力先（省略時は標準出力）/ output file (default: stdout), or folder with --all")
    e.add_argument("--db", metavar="URL", help="取り込みのデータベース / the ingest database (with --all)")
    e.add_argument("--all", action="store_true", help="データベースの全申請 / every submission in --db")
    e.add_argument("--program")
    e.add_argument("--no-isolate", action="store_true")
    e.set_defaults(func=cmd_export)


def _add_template(sub: Any) -> None:
    t = sub.add_parser("template", help="様式の生成・一覧 / build or list templates")
    t.add_argument("action", choices=["build", "list"])
    t.add_argument("--program", help="この制度だけ / only this pack")
    t.add_argument("--out", help="出力フォルダ（既定: templates/）/ output folder")
    t.set_defaults(func=cmd_template)


def _add_samples(sub: Any) -> None:
    s = sub.add_parser("samples", help="サンプルの生成 / build the sample workbooks")
    s.add_argument("action", choices=["build"])
    s.add_argument("--out", help="出力フォルダ（既定: samples/）/ output folder")
    s.set_defaults(func=cmd_samples)


def _add_schema(sub: Any) -> None:
    sc = sub.add_parser("schema", help="submission.schema.json を様式から生成 / regenerate the submission schema")
    sc.add_argument("action", choices=["build"])
    sc.add_argument("--out")
    sc.set_defaults(func=cmd_schema)


def _add_demo(sub: Any) -> None:
    d = sub.add_parser("demo", help="同梱サンプルを検証 / validate the bundled samples")
    d.add_argument("--samples", help="サンプルのフォルダ / samples folder")
    d.add_argument("--out", help="注釈付きの写しの出力先（既定: out/demo）/ where annotated copies go")
    d.set_defaults(func=cmd_demo)


def _add_ingest(sub: Any) -> None:
    from pipeline.ingest.cli import add_parser  # argparse only: the ingest's modules load when it runs

    add_parser(sub)


def _add_classify(sub: Any) -> None:
    try:  # argparse only: the classifier and its lexicon load when classify runs
        from pipeline.eligibility.cli import add_parser
    except ImportError:
        return
    add_parser(sub)


def _add_review(sub: Any) -> None:
    from pipeline.finance.cli import add_parser  # argparse only: the review loads when a command runs

    add_parser(sub)


def _add_pack(sub: Any) -> None:
    from pipeline.pack_check import add_parser  # argparse only: packs load when the command runs

    add_parser(sub)


def _add_addin(sub: Any) -> None:
    from addin.cli import add_parser  # argparse only: xlwings is imported when a command runs

    add_parser(sub)


# Every sub-command, in the order ``shinsei --help`` lists them, with what adds its parser.
COMMANDS: dict[str, Callable[[Any], None]] = {
    "validate": _add_validate, "export": _add_export, "template": _add_template, "samples": _add_samples,
    "schema": _add_schema, "demo": _add_demo, "ingest": _add_ingest, "review": _add_review,
    "classify": _add_classify, "pack": _add_pack, "addin": _add_addin,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``shinsei`` parser; with ``command``, holding that sub-command only.

    Why: forty ``add_argument`` calls and three modules are a few ms of every ``shinsei validate``.
    A command line whose first word names a sub-command is parsed the same by either parser (the
    other sub-commands only appear in ``shinsei --help`` and in the error for an unknown command).
    """
    p = argparse.ArgumentParser(
        prog="shinsei",
        description="申請 shinsei — JST交流プログラム申請書（交流計画書・経費計画）の検証・正規化ツール / "
                    "validation and normalisation of JST exchange-programme application workbooks",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"shinsei {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, add in COMMANDS.items():
        if command is None or name == command:
            add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a cp932 console cannot show "—" or "¥": replace, never crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args_in = sys.argv[1:] if argv is None else argv
    parser = build_parser(args_in[0] if args_in and args_in[0] in COMMANDS else None)
    args = parser.parse_args(args_in)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
