"""``shinsei ingest``: the secretariat's bulk job, as a sub-command of the shinsei CLI."""

from __future__ import annotations

import argparse
import json
import os
import sys

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
終了コード Exit: 0 all files read, 1 some files quarantined, 2 nothing could be ingested / bad arguments,
  75 another ingest holds the folder or database, 130 interrupted (Ctrl-C: run the same command to resume).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
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
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="並列数 / worker processes")
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="別の取り込みが終わるのを待つ秒数（既定 0: すぐに断る）/ seconds to wait for another ingest "
                        "on the same folder or database (default 0: refuse at once)")
    p.add_argument("--quiet", action="store_true", help="進捗を表示しない / no progress bar")
    p.add_argument("--json", action="store_true", help="結果をJSONで出力 / print the summary as JSON")
    p.set_defaults(func=run)


EXIT_BUSY = 75      # EX_TEMPFAIL: try again later
EXIT_INTERRUPTED = 130


def run(args: argparse.Namespace) -> int:
    from pipeline.ingest.lock import IngestBusy
    from pipeline.ingest.run import ingest

    try:
        summary = ingest(args.sources, args.out, db_url=args.db, workers=args.workers, wait=args.wait,
                         json_dir=args.json_dir,
                         progress=not args.quiet and not args.json and sys.stderr.isatty())
    except IngestBusy as exc:
        print(f"[{exc.code}] {exc.message_ja}\n  {exc.message_en}", file=sys.stderr)
        return EXIT_BUSY
    except KeyboardInterrupt:
        print("\n中断しました。同じコマンドを再実行すると、続きから取り込みを完了します。\n"
              "Interrupted: run the same command again to resume; nothing already stored is lost.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    elif not args.quiet:
        rate = summary.processed / summary.seconds if summary.seconds else 0.0
        print(f"取り込み完了 / ingest finished: {summary.files_seen} 件 files "
              f"(新規 new {summary.processed}, 既知 already known {summary.already_known}, "
              f"隔離 quarantined {summary.quarantined}) → 申請 submissions {summary.submissions}, "
              f"申請間の指摘 cross-checks {summary.cross_findings}  [{summary.seconds:.1f}s, {rate:,.0f} files/s]")
        if summary.skipped:
            print(f"対象外 skipped: {len(summary.skipped)} 件 (xlsx/xlsm/zip 以外など / not workbooks)")
        if summary.quarantined:
            print(f"読めなかったファイル / quarantined: {args.out}/quarantine.json", file=sys.stderr)
        if not summary.outputs_rebuilt:
            print("変更なし: review.xlsx と出力は最新のままです / nothing changed: review.xlsx and the exports are "
                  "up to date, none was rebuilt")
        print(f"出力 output: {args.out}/review.xlsx, {summary.database}")
    if summary.files_seen == 0:
        return 2
    return 1 if summary.quarantined else 0
