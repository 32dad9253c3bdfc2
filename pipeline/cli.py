"""``shinsei``: the command line over the engine. Thin: every command is one engine call.

One error path: whatever a user can get wrong (an option's value, a path that cannot be read or
written, a folder for a file, a missing certificate, Ctrl-C, a closed pipe) ends in ``main`` as one
line on stderr, Japanese then English with what to do, and a documented exit code (``EXIT_CODES``,
the README's table); never a traceback. The words come from the catalogue of refusals
(packs/common/refusals.yaml, pipeline.refusals), which the add-in and the ingest use too.

Start-up is part of every command's time (``shinsei validate`` is one short process): the parser is
built from argparse alone, and each command imports what it uses when it runs (the engine, the
classifier, pyarrow and SQLAlchemy for ingest, xlwings for the add-in). tests/test_startup.py holds
``--help`` and ``validate`` to that.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import __version__

if TYPE_CHECKING:
    from pipeline.safety import WorkbookRejected

# The exit codes of every shinsei command (README, "Exit codes"). 64-78 follow BSD sysexits.h.
EXIT_CODES: dict[int, str] = {
    0: "成功（検証: エラーなし）/ success (validate: no errors)",
    1: "検証: ルール違反あり、取り込み: 隔離したファイルあり / validate: rule errors; ingest: files quarantined",
    2: "読めないファイル / a file it cannot read (missing, a folder, refused, not a shinsei template)",
    64: "指定の誤り / usage: an unknown option, a bad option value",
    70: "内部エラー（不具合）/ internal error (a bug: SHINSEI_DEBUG=1 shows the traceback)",
    73: "書き込めない出力先 / an output it cannot write",
    74: "入出力・データベースのエラー / an I/O or database error",
    75: "使用中（別の取り込み、ポート）/ busy: another ingest, or the port is taken",
    78: "ルールパックの誤り / a broken rule pack (shinsei pack check)",
    130: "中断（Ctrl-C）/ interrupted (Ctrl-C)",
    141: "出力先が閉じられた（| head など）/ the reader of the output went away (| head): nothing printed",
}
EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PIPE = 70, 130, 141

EPILOG = """\
例 Examples:
  shinsei validate 申請書.xlsx                  検証して日英の報告を表示 / bilingual report
  shinsei validate 申請書.xlsx --json           JSON（schemas/findings.schema.json）
  shinsei validate 申請書.xlsx --annotate 注釈.xlsx   該当セルに色とコメント / annotated copy
  shinsei validate 申請書.xlsx --presubmission  提出前チェック（ファイル名等）/ pre-submission check
  shinsei export 申請書.xlsx -o 申請書.json      正規化JSON / normalised submission JSON
  shinsei template build                        様式を生成 / build the templates
  shinsei demo                                  同梱サンプルで検証 / validate the bundled samples

終了コード Exit codes:
""" + "\n".join(f"  {code:<4}{text}" for code, text in EXIT_CODES.items())


# ---- the console ------------------------------------------------------------------------------

# Characters a Japanese Windows console (cp932) cannot show, and what stands in for them.
_FALLBACK = {"—": "-", "–": "-", "‐": "-", "−": "-", "¥": "\\", "‘": "'", "’": "'", "“": '"', "”": '"',
             "•": "*", "≤": "<=", "≥": ">=", "×": "x", "…": "...", "✓": "v", "\u00a0": " "}


def _fallback(err: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a character the console cannot encode becomes its ASCII stand-in, else "?"."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    import unicodedata

    out = []
    for ch in err.object[err.start:err.end]:
        rep = _FALLBACK.get(ch)
        if rep is None:
            rep = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii") or "?"
        out.append(rep)
    return "".join(out), err.end


def console() -> None:
    """stdout and stderr never fail on a character: cp932 gets "-" for "—", "\\" for "¥", "?" at worst."""
    codecs.register_error("shinsei.fallback", _fallback)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="shinsei.fallback")


def say(line: str) -> None:
    """One line on stderr; a closed stderr is not worth an error of its own."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


# ---- what the user gives: options, paths ------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is the one-line refusal ``usage`` (exit 64), not usage + exit 2.

    ``help_prog``: whose --help the refusal points to (the top-level parser reports an unknown option of
    ``shinsei validate``, whose help is the one to read).
    """

    help_prog: str | None = None

    def error(self, message: str) -> None:  # type: ignore[override]
        from pipeline.refusals import CommandError

        raise CommandError("usage", message=message, prog=self.help_prog or self.prog)


def _command(prog: str) -> str:
    return f"shinsei {prog}".strip()


def at_least(low: int, option: str, prog: str) -> Callable[[str], int]:
    """An argparse type: a whole number of ``low`` or more (``--workers 0`` is refused, not a traceback)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            _bad_option(option, text, prog, f"{low} 以上の整数を指定してください",
                        f"give a whole number of {low} or more")
        return value
    return parse


def seconds(option: str, prog: str) -> Callable[[str], float]:
    """An argparse type: a number of seconds, 0 or more."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value >= 0 or value == float("inf"):
            _bad_option(option, text, prog, "0 以上の秒数を指定してください", "give a number of seconds, 0 or more")
        return value
    return parse


def port(option: str, prog: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text) if text.isdigit() else -1
        if not 1 <= value <= 65535:
            _bad_option(option, text, prog, "1〜65535 のポート番号を指定してください",
                        "give a port number from 1 to 65535")
        return value
    return parse


def program_id(prog: str) -> Callable[[str], str]:
    """An argparse type: the id of a rule pack that exists (or a pack file), checked before any work."""
    def parse(text: str) -> str:
        from pipeline.packs import pack_file, pack_ids
        from pipeline.refusals import CommandError

        if text.endswith((".yaml", ".yml")) and Path(text).is_file():
            return text
        if pack_file(text) is None:
            raise CommandError("unknown-program", program=text, known=", ".join(pack_ids()) or "-", prog=prog)
        return text
    return parse


def _bad_option(option: str, value: str, prog: str, why_ja: str, why_en: str) -> None:
    from pipeline.refusals import CommandError

    raise CommandError("bad-option", option=option, value=value, why_ja=why_ja, why_en=why_en, prog=prog)


def output_file(path: str | Path) -> Path:
    """A file the command will write: refused now if it is a folder or a file stands where its folder must be."""
    from pipeline.refusals import CommandError

    out = Path(path)
    if out.is_dir():
        raise CommandError("output-is-folder", path=str(out))
    _folder_above(out.parent)
    return out


def output_folder(path: str | Path, *, create: bool = True) -> Path:
    """A folder the command will write into: refused now if a file is in the way; created if ``create``."""
    from pipeline.refusals import CommandError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CommandError("output-folder-is-file", path=str(out))
    _folder_above(out)
    if create:
        with writing(out):
            out.mkdir(parents=True, exist_ok=True)
    return out


def _folder_above(folder: Path) -> None:
    from pipeline.refusals import CommandError

    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise CommandError("output-folder-is-file", path=str(probe))


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """An OSError while writing ``path`` is the refusal ``cannot-write`` (exit 73), naming the file and why."""
    from pipeline.refusals import CommandError

    try:
        yield
    except OSError as exc:  # named by what the user asked for, not by the temporary file beside it
        raise CommandError("cannot-write", path=str(path), reason=exc.strerror or type(exc).__name__) from exc


def _print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _rejected(path: str, exc: WorkbookRejected, *, program: str | None = None, as_json: bool = False) -> int:
    """A file the engine would not read: its refusal, with the advice that fits the file's type."""
    from pipeline.refusals import for_file

    found = for_file(exc, path)
    if as_json:
        _print_json(found.report(Path(path).name, program=program, sha256=_sha256_or_none(path)))
    say(found.line(path))
    return found.exit


def _sha256_or_none(path: str) -> str | None:
    from pipeline.filehash import file_sha256

    try:
        return file_sha256(path) if Path(path).is_file() else None
    except OSError:
        return None


# ---- the commands -----------------------------------------------------------------------------

def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.report_text import render_report
    from pipeline.safety import WorkbookRejected
    from pipeline.validate import validate_file

    if args.annotate:
        _annotate_target(args.file, args.annotate)
    try:
        report = validate_file(args.file, args.program, isolate=not args.no_isolate,
                               stage="submission" if args.presubmission else "draft")
    except WorkbookRejected as exc:
        return _rejected(args.file, exc, program=args.program, as_json=args.json)
    if args.json:
        _print_json(report.to_dict(with_submission=args.with_submission))
    else:
        print(render_report(report, show_info=not args.no_info))
    if args.annotate:
        from pipeline.annotate import write_annotated  # openpyxl's full model: paid only when asked
        from pipeline.refusals import for_file

        try:
            with writing(args.annotate):
                out = write_annotated(args.file, report, args.annotate, isolate=not args.no_isolate)
        except WorkbookRejected as exc:  # the copy failed (worker-timeout, annotate-unreadable ...); the report stands
            found = for_file(exc)
            say(found.line(f"{args.annotate}: 注釈付きの写しを作れません / cannot write the annotated copy"))
            return found.exit
        say(f"注釈付きの写しを保存しました / annotated copy written: {out}")
    return 0 if report.valid else 1


def _annotate_target(source: str, target: str) -> None:
    """--annotate's file, judged before any work: not the original, a plain .xlsx, somewhere writable."""
    from pipeline.refusals import CommandError

    src, out = Path(source), Path(target)
    with contextlib.suppress(OSError):
        if out.resolve() == src.resolve() or (out.exists() and src.exists() and out.samefile(src)):
            raise CommandError("annotate-over-original")
    if out.suffix.lower() != ".xlsx":
        raise CommandError("annotate-not-xlsx", name=out.name)
    output_file(out)


def cmd_export(args: argparse.Namespace) -> int:
    if args.all or args.db:
        return _export_database(args)
    import json

    from pipeline.refusals import CommandError
    from pipeline.safety import WorkbookRejected
    from pipeline.tempfiles import write_atomically
    from pipeline.validate import validate_file

    if not args.file:
        raise CommandError("usage", message="書き出すブックを指定してください（または --db URL --all -o フォルダ）"
                                            " / name a workbook to export (or --db URL --all -o DIR)",
                           prog="shinsei export")
    out = None if args.output in (None, "-") else output_file(args.output)
    try:
        report = validate_file(args.file, args.program, isolate=not args.no_isolate)
    except WorkbookRejected as exc:
        return _rejected(args.file, exc)
    text = json.dumps(report.submission, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return 0
    with writing(out):
        write_atomically(out, text)
    c = report.counts
    say(f"{out} を書き出しました / wrote {out} (エラー errors {c['error']}, 警告 warnings {c['warning']})")
    return 0


def _export_database(args: argparse.Namespace) -> int:
    """Every stored submission's JSON files from an ingest database into a folder (only those missing)."""
    from pipeline.refusals import CommandError

    if not (args.all and args.db and args.output and args.output != "-" and not args.file):
        raise CommandError("usage", message="データベースからの書き出しは --db URL --all -o フォルダ の形で指定します"
                                            " / export from a database as --db URL --all -o DIR",
                           prog="shinsei export")
    out = output_folder(args.output)
    from pipeline.ingest.run import export_documents
    from pipeline.ingest.store import Store

    with database(args.db):
        store = Store(args.db)
        try:
            with writing(out):
                written = export_documents(store, out)
        finally:
            store.close()
    say(f"{written} 件を書き出しました / wrote {written} documents to {out}/submissions, {out}/findings")
    return 0


@contextlib.contextmanager
def database(url: str) -> Iterator[None]:
    """Refusals of a database URL or connection, by the ingest's driver or by SQLAlchemy, as one-line
    refusals (64 and 74)."""
    from pipeline.ingest.database import DatabaseUnavailable, DatabaseUrlError, shown
    from pipeline.refusals import CommandError

    try:
        yield
    except CommandError:
        raise
    except DatabaseUrlError as exc:
        raise CommandError("database-url", url=shown(url), reason=str(exc)) from exc
    except DatabaseUnavailable as exc:
        raise CommandError("database-unavailable", url=shown(url), reason=str(exc)) from exc
    except Exception as exc:
        module = type(exc).__module__ or ""
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        if module.startswith(("sqlite3", "psycopg")):  # the driver, once the database was opened
            raise CommandError("database-unavailable", url=shown(url), reason=reason) from exc
        if not module.startswith("sqlalchemy"):
            raise
        from sqlalchemy import exc as sa

        if isinstance(exc, sa.ArgumentError | sa.NoSuchModuleError):
            raise CommandError("database-url", url=shown(url), reason=reason) from exc
        if isinstance(exc, sa.DBAPIError):
            raise CommandError("database-unavailable", url=shown(url), reason=reason) from exc
        raise


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
    folder = output_folder(args.out) if args.out else None
    ids = [args.program] if args.program else pack_ids()
    for pid in ids:
        with writing(folder or "templates"):
            out = build_template(pid, folder)
        print(f"様式を生成しました / built {out}")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from pipeline.samples import build_samples

    folder = output_folder(args.out) if args.out else None
    with writing(folder or "samples"):
        for path in build_samples(folder):
            print(path)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from pipeline.schema_builder import write_submission_schema

    folder = output_folder(args.out) if args.out else None
    with writing(folder or "schemas"):
        print(write_submission_schema(folder))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.annotate import write_annotated
    from pipeline.refusals import CommandError, for_file
    from pipeline.resources import samples_dir
    from pipeline.safety import WorkbookRejected
    from pipeline.validate import validate_file

    folder = Path(args.samples) if args.samples else samples_dir()
    files = sorted(folder.glob("*.xlsx")) if folder.is_dir() else []
    if not files:
        raise CommandError("no-samples", folder=str(folder))
    out = output_folder(args.out or "out/demo")
    print(f"同梱サンプル {len(files)} 件を検証します / validating {len(files)} bundled samples from {folder}\n")
    print(f"{'ファイル file':60} {'エラー':>6} {'警告':>6} {'情報':>6}  主な指摘 main findings")
    for path in files:
        try:
            report = validate_file(path)
        except WorkbookRejected as exc:
            print(f"{path.name:60} {for_file(exc, path).line()}")
            continue
        c = report.counts
        codes = sorted({f.code for f in report.findings if f.severity != "info"})
        print(f"{path.name:60} {c['error']:>6} {c['warning']:>6} {c['info']:>6}  {', '.join(codes[:4]) or '-'}")
        try:
            with writing(out):
                write_annotated(path, report, out / f"{path.stem}.annotated.xlsx")
        except WorkbookRejected as exc:
            print(f"{'':60} 注釈付きの写しを作れません cannot annotate: {for_file(exc).line()}")
    print(f"\n注釈付きの写し / annotated copies: {out}/ (詳細 details: shinsei validate FILE)")
    return 0


# ---- the parsers --------------------------------------------------------------------------------

def _add_validate(sub: Any) -> None:
    prog = "shinsei validate"
    v = sub.add_parser("validate", help="ブックを検証 / validate a workbook",
                       description="ブックを制度のルールで検証し、日英の報告を表示します。終了コード: 0 エラーなし、"
                                   "1 ルール違反あり、2 読み込めない（shinsei --help に一覧）。 / Validate a workbook "
                                   "against its programme's rules. Exit 0: no errors, 1: rule errors, 2: the file "
                                   "cannot be read (every code: shinsei --help).")
    v.add_argument("file", help="検証する .xlsx/.xlsm / the workbook to check")
    v.add_argument("--program", type=program_id(prog),
                   help="制度ID（省略時は様式から判定）/ rule pack id (default: from the template)")
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
    prog = "shinsei export"
    e = sub.add_parser("export", help="正規化JSONを出力 / export the normalised JSON",
                       description="ブック1件の正規化JSON（schemas/submission.schema.json）を出力します。"
                                   "--db URL --all -o フォルダ で、取り込み済みの全申請のJSONを"
                                   "データベースから書き出します（未作成の分だけ）。 / "
                                   "Print the normalised JSON of one workbook (schemas/submission.schema.json); "
                                   "with --db URL --all -o DIR, write every ingested submission's JSON files from "
                                   "the ingest database (only those not there yet).")
    e.add_argument("file", nargs="?", help="ブック / the workbook")
    e.add_argument("-o", "--output",
                   help="出力先（省略時は標準出力）/ output file (default: stdout), or folder with --all")
    e.add_argument("--db", metavar="URL", help="取り込みのデータベース / the ingest database (with --all)")
    e.add_argument("--all", action="store_true", help="データベースの全申請 / every submission in --db")
    e.add_argument("--program", type=program_id(prog),
                   help="制度ID（省略時は様式から判定）/ rule pack id (default: from the template)")
    e.add_argument("--no-isolate", action="store_true", help="子プロセスを使わない（信頼できるファイルのみ）/ parse in "
                                                             "this process (trusted files only)")
    e.set_defaults(func=cmd_export)


def _add_template(sub: Any) -> None:
    t = sub.add_parser("template", help="様式の生成・一覧 / build or list templates",
                       description="ルールパックから公式様式のブックを生成（build）、または一覧表示（list）します。 / "
                                   "Build the official-style workbook of each rule pack (build), or list them (list).")
    t.add_argument("action", choices=["build", "list"], help="build: 生成 / build; list: 一覧 / list")
    t.add_argument("--program", type=program_id("shinsei template"), help="この制度だけ / only this pack")
    t.add_argument("--out", help="出力フォルダ（既定: templates/）/ output folder")
    t.set_defaults(func=cmd_template)


def _add_samples(sub: Any) -> None:
    s = sub.add_parser("samples", help="サンプルの生成 / build the sample workbooks",
                       description="scenarios/*.yaml から記入済みのサンプル申請書を生成します。 / Build the "
                                   "filled sample applications from scenarios/*.yaml.")
    s.add_argument("action", choices=["build"], help="build: 生成 / build")
    s.add_argument("--out", help="出力フォルダ（既定: samples/）/ output folder")
    s.set_defaults(func=cmd_samples)


def _add_schema(sub: Any) -> None:
    sc = sub.add_parser("schema", help="submission.schema.json を様式から生成 / regenerate the submission schema",
                        description="各様式から正規化JSONのスキーマ（schemas/submission.schema.json と制度ごとの "
                                    "schemas/submission/*.schema.json）を生成します。 / Regenerate the submission "
                                    "schemas (the envelope and one per pack) from the forms.")
    sc.add_argument("action", choices=["build"], help="build: 生成 / build")
    sc.add_argument("--out", help="出力フォルダ（既定: schemas/）/ output folder")
    sc.set_defaults(func=cmd_schema)


def _add_demo(sub: Any) -> None:
    d = sub.add_parser("demo", help="同梱サンプルを検証 / validate the bundled samples",
                       description="同梱のサンプル申請書をすべて検証し、件数と主な指摘の表と"
                                   "注釈付きの写しを作ります。 / "
                                   "Validate every bundled sample application: a table of counts and main findings, "
                                   "and an annotated copy of each.")
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


def _add_lexicon(sub: Any) -> None:
    from pipeline.finance.cli import add_lexicon_parser  # argparse only

    add_lexicon_parser(sub)


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
    "classify": _add_classify, "lexicon": _add_lexicon, "pack": _add_pack, "addin": _add_addin,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``shinsei`` parser; with ``command``, holding that sub-command only.

    Why: forty ``add_argument`` calls and three modules are a few ms of every ``shinsei validate``.
    A command line whose first word names a sub-command is parsed the same by either parser (the
    other sub-commands only appear in ``shinsei --help`` and in the error for an unknown command).
    """
    p = Parser(
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


# ---- the one error path -----------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run one command; whatever goes wrong for the user is one line on stderr and an exit code (EXIT_CODES)."""
    console()
    args_in = sys.argv[1:] if argv is None else argv
    prog = f"shinsei {args_in[0]}" if args_in and args_in[0] in COMMANDS else "shinsei"
    try:
        parser = build_parser(args_in[0] if args_in and args_in[0] in COMMANDS else None)
        parser.help_prog = prog  # type: ignore[attr-defined]
        args = parser.parse_args(args_in)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the error path, not at interpreter exit
        return code
    except KeyboardInterrupt:
        return _refused("interrupted", prog)
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except Exception as exc:
        try:
            return _failed(exc, prog)
        except Exception as worse:  # the catalogue itself unreadable: still one line, never a traceback
            if os.environ.get("SHINSEI_DEBUG"):
                raise
            say(f"{prog}: 内部エラー / internal error: {type(exc).__name__}: {exc} ({type(worse).__name__})")
            return EXIT_INTERNAL


def _refused(name: str, prog: str, **values: Any) -> int:
    from pipeline.refusals import refusal

    found = refusal(name, prog=prog, **values)
    say(found.line(prog))
    return found.exit


def _failed(exc: Exception, prog: str) -> int:
    """Every exception a user can cause, as its one line; anything else is a bug: one line too, exit 70."""
    from pipeline.packs import PackError
    from pipeline.refusals import CommandError, for_file, refusal
    from pipeline.safety import WorkbookRejected

    if isinstance(exc, CommandError):
        say(exc.refusal.line(prog))
        return exc.exit
    if isinstance(exc, WorkbookRejected):
        found = for_file(exc, getattr(exc, "path", None))
        say(found.line(prog))
        return found.exit
    if isinstance(exc, PackError):
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        found = refusal("pack-broken", detail=" | ".join(str(exc).splitlines()[1:4]), problem=first)
        say(found.line(prog))
        return found.exit
    if isinstance(exc, OSError):
        where = exc.filename if isinstance(exc.filename, str) else "-"
        found = refusal("io-error", detail=f"{type(exc).__name__}: {exc}", path=where,
                        reason=exc.strerror or type(exc).__name__)
        say(found.line(prog))
        return found.exit
    if os.environ.get("SHINSEI_DEBUG"):
        raise exc
    say(refusal("internal-error", error=f"{type(exc).__name__}: {exc}").line(prog))
    return EXIT_INTERNAL


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's last flush has nowhere to fail."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


# Commands that are done when main returns: they leave without the interpreter's teardown (see run).
QUICK_EXIT = frozenset({"validate", "export", "ingest"})


def run() -> None:
    """The ``shinsei`` command (the entry point in pyproject.toml): ``main``, then the exit.

    These commands end with ``os._exit`` once their output is flushed: freeing every module and object
    one by one took ~15 ms of a ~110 ms ``shinsei validate`` and ~80 ms of a ~430 ms ingest that finds
    nothing new (SQLAlchemy's objects), and the operating system frees them at once. Nothing of them
    waits on an exit handler: their children are reaped, their files written and closed, their
    database connections and locks released before main returns; logging's handlers are closed here.
    ``main`` itself returns, for callers in Python (tests, the add-in).

    No command does linear algebra, but where numpy is installed (pandas users have it) pyarrow imports
    it, and numpy's OpenBLAS starts a thread per core that spins while the import goes on: pyarrow's
    import took 0.25 s of CPU instead of 0.14, and an ingest's outputs 1.03 s in the parent instead of
    0.92 (five runs each, alternated). One BLAS thread, unless the user set a number."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = main()
    if sys.argv[1:2] and sys.argv[1] in QUICK_EXIT:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe was answered by main (141)
                stream.flush()
        if "logging" in sys.modules:
            import logging

            logging.shutdown()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
