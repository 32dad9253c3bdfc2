"""``shinsei ingest``: the secretariat's bulk job, as a sub-command of the shinsei CLI."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

HELP = """\
フォルダ・zip・ファイルから申請ブックを一括で取り込み、正規化JSON・指摘・データベース・review.xlsx を作ります。
同じファイルを再度取り込んでも何も増えません（内容のハッシュで識別）。中断しても同じコマンドを再実行すれば続きから完了します。
Ingest application workbooks from folders (recursive), zip archives and files: normalised JSON,
findings, database rows, cross-checks and the finance review workbook. Re-ingesting the same files
changes nothing (files are known by content hash); an interrupted run completes when run again.

正規化JSONと指摘はデータベースに保存されます（記録の正本）。ファイルが必要なら --json-dir を指定するか、
後で shinsei export --db URL --all -o DIR で書き出します。
The normalised submissions and findings are kept in the database (the store of record); ask for files
with --json-dir, or later with shinsei export --db URL --all -o DIR.

出力 Output (DIR):
  review.xlsx                 財務レビュー用ブック / finance review workbook
  exports/*.csv, *.parquet    同じ表 / the same tables for pandas
  quarantine.json             読めなかったファイルと理由 / files that could not be read, with reasons
  crosscheck.json             申請間チェック / cross-submission findings
  shinsei.db                  SQLite（--db 省略時）/ SQLite database unless --db is given
--json-dir JSONDIR:
  submissions/<sha256>.json   正規化JSON / normalised submission (schemas/submission.schema.json)
  findings/<sha256>.json      指摘 / findings (schemas/findings.schema.json)
別の取り込みが同じ出力フォルダやデータベースを使用中なら、待つ（--wait）か、はっきり断ります。
Another ingest using the same folder or database is waited for (--wait) or refused with a clear message.
終了コード Exit: 0 all files read, 1 some files quarantined, 2 a source does not exist or nothing could be
  ingested, 64 a bad option, 73 the output folder cannot be written, 74 the database cannot be used,
  75 another ingest holds the folder or database, 130 interrupted (Ctrl-C: run the same command to resume).
取り込み元が存在しない・出力先に書けない場合は、何も作成せずに終了します。
A source that does not exist or an output folder that cannot be written is refused before anything is created.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from pipeline.cli import at_least, seconds  # argparse types only: nothing heavy

    prog = "shinsei ingest"
    p = subparsers.add_parser("ingest", help="申請ブックの一括取り込み / bulk ingest", description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", metavar="SRC", help="フォルダ・zip・.xlsx/.xlsm / folders, zips or files")
    p.add_argument("--out", required=True, metavar="DIR", help="出力フォルダ / output folder")
    p.add_argument("--db", metavar="URL",
                   help="データベースURL（例 postgresql://user@host/db）。省略時は DIR/shinsei.db / "
                        "database URL (default: SQLite DIR/shinsei.db)")
    p.add_argument("--json-dir", metavar="JSONDIR",
                   help="正規化JSONと指摘をファイルにも書き出すフォルダ（未作成の分だけ）/ also write the normalised "
                        "JSON and findings as files here (only those not there yet)")
    p.add_argument("--workers", type=at_least(1, "--workers", prog), default=os.cpu_count() or 1,
                   help="並列数 / worker processes")
    p.add_argument("--wait", type=seconds("--wait", prog), default=None, metavar="SECONDS",
                   help="別の取り込みが終わるのを待つ秒数（既定 0: すぐに断る）/ seconds to wait for another ingest "
                        "on the same folder or database (default 0: refuse at once)")
    p.add_argument("--quiet", action="store_true", help="進捗を表示しない / no progress bar")
    p.add_argument("--json", action="store_true", help="結果をJSONで出力 / print the summary as JSON")
    p.set_defaults(func=run)


EXIT_BUSY = 75      # EX_TEMPFAIL: try again later
EXIT_INTERRUPTED = 130
PROG = "shinsei ingest"


def run(args: argparse.Namespace) -> int:
    """The ingest, behind the command line's one error path: a source that does not exist, an output
    folder that cannot be written or a database URL that cannot be read is refused before anything is
    created; Ctrl-C at any moment (imports included) is one line and exit 130."""
    from pipeline.cli import database, output_folder, say, writing
    from pipeline.refusals import CommandError, refusal

    try:
        for src in args.sources:
            if not os.path.exists(src):
                raise CommandError("source-not-found", path=src)
        if args.db:
            _check_url(args.db)
        out = output_folder(args.out, create=False)
        if args.json_dir:
            output_folder(args.json_dir, create=False)
        from pipeline.ingest.lock import IngestBusy
        from pipeline.ingest.run import ingest

        try:
            with database(args.db or str(out / "shinsei.db")):
                summary = ingest(args.sources, out, db_url=args.db, workers=args.workers, wait=args.wait,
                                 json_dir=args.json_dir,
                                 progress=not args.quiet and not args.json and sys.stderr.isatty())
        except IngestBusy as exc:
            say(f"{PROG}: {exc.message_ja} / {exc.message_en} [{exc.code}]")
            return EXIT_BUSY
        except OSError as exc:  # what the ingest writes (the output folder, --json-dir) or reads (a source)
            for folder in (out, args.json_dir):
                if folder and isinstance(exc.filename, str) and _within(exc.filename, folder):
                    with writing(folder):
                        raise
            raise
    except KeyboardInterrupt:
        _clean_after_interrupt(args)
        say(refusal("ingest-interrupted").line(PROG))
        return EXIT_INTERRUPTED
    _print_summary(args, summary)
    if summary.files_seen == 0:
        say(refusal("no-workbooks").line(PROG))
        return 2
    return 1 if summary.quarantined else 0


def _within(path: str, folder: str | os.PathLike[str]) -> bool:
    from pathlib import Path

    target, top = Path(path).resolve(), Path(folder).resolve()
    return target == top or top in target.parents


def _check_url(url: str) -> None:
    from pipeline.cli import database

    with database(url):
        from pipeline.ingest.database import parse_url

        parse_url(url)


def _print_summary(args: argparse.Namespace, summary: Any) -> None:
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
        return
    if args.quiet:
        return
    rate = summary.processed / summary.seconds if summary.seconds else 0.0
    print(f"取り込み完了 / ingest finished: {summary.files_seen} 件 files "
          f"(新規 new {summary.processed}, 既知 already known {summary.already_known}, "
          f"隔離 quarantined {summary.quarantined}) → 申請 submissions {summary.submissions}, "
          f"申請間の指摘 cross-checks {summary.cross_findings}  [{summary.seconds:.1f}s, {rate:,.0f} files/s]")
    # files that are not workbooks are quarantined (listed in quarantine.json); what is left here is what
    # no applicant sent: Excel lock files, hidden files
    passed = [item for item in summary.skipped if not item.recorded]
    if passed:
        print(f"対象外 skipped: {len(passed)} 件 files（理由 reasons: --json）")
        for item in passed[:SHOWN_SKIPPED]:
            print(f"  {item.name}: {item.reason_ja} / {item.reason_en}")
        if len(passed) > SHOWN_SKIPPED:
            print(f"  … ほか {len(passed) - SHOWN_SKIPPED} 件 / {len(passed) - SHOWN_SKIPPED} more")
    if summary.quarantined:
        print(f"読めなかったファイル / quarantined: {args.out}/quarantine.json", file=sys.stderr)
    if not summary.outputs_rebuilt:
        print("変更なし: review.xlsx と出力は最新のままです / nothing changed: review.xlsx and the exports are "
              "up to date, none was rebuilt")
    print(f"出力 output: {args.out}/review.xlsx, {summary.database}")


SHOWN_SKIPPED = 10  # entries not taken listed by name in the summary (all of them: --json, review.xlsx)


def _clean_after_interrupt(args: argparse.Namespace) -> None:
    """After Ctrl-C: the temporary files a worker killed mid-write left (its --json-dir included).

    Under the ingest's own lock, taken without waiting: if another ingest already holds it, its files are
    not ours to touch, and the next run on this folder deletes what is left (run.clean_temp).
    """
    from pathlib import Path

    from pipeline.settings import TEMP_PREFIX

    out = Path(args.out)
    if not out.is_dir():
        return
    try:
        from pipeline.ingest.lock import ingest_lock
        from pipeline.ingest.run import clean_temp
        from pipeline.ingest.store import default_url

        with ingest_lock(out, args.db or default_url(out), 0.0):
            clean_temp(out)
            if args.json_dir:
                for sub in ("submissions", "findings"):
                    for leftover in (Path(args.json_dir) / sub).glob(f"{TEMP_PREFIX}*"):
                        leftover.unlink(missing_ok=True)
    except (Exception, KeyboardInterrupt):  # a second Ctrl-C, a busy lock, a gone database: nothing to add
        return
