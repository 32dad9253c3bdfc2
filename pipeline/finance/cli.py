"""``shinsei review``: the finance reviewer's commands (import decisions, statuses, samples, log, letters, web).

Thin: each command opens the ingest's database and calls pipeline.finance; what it does, Python can do.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

HELP = """\
財務レビュー: review.xlsx の「要確認 Flagged lines」で判断した結果の取り込み、申請の状態、監査抽出、監査ログ、
修正依頼の一覧、ブラウザでのレビュー画面。すべての判断はデータベースの監査ログに追記されます（書き換え不可）。
Finance review: import the decisions typed into review.xlsx's worklist, set application statuses, draw
audit samples, print the audit log, write the changes-requested letters, or serve the review pages.
Every decision is appended to the database's audit log (never rewritten).

手順 Workflow:
  shinsei ingest samples --out out                              # review.xlsx と DB / worklist and database
  （review.xlsx の 判断・認める額・申請者への連絡 を記入 / fill in the decision columns）
  shinsei review import out/review.xlsx --out out --reviewer 佐藤   # 判断の取り込み / store the decisions
  shinsei review status KEY changes_requested --out out --reviewer 佐藤
  shinsei review letters --out out                              # 修正依頼の一覧 / letters
  shinsei review serve --out out                                # ブラウザ / in the browser
終了コード Exit: 0 done, 1 refused (nothing was changed), 2 no database or no such sheet, 64 bad arguments,
  75 busy (an ingest holds the folder).
"""

EXIT_REFUSED = 1
EXIT_NO_DATABASE = 2  # as a file shinsei cannot read (the CLI's exit codes)
EXIT_USAGE = 64


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("review", help="財務レビュー（判断の取り込み・状態・抽出・ログ・画面）/ finance review",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser, reviewer: bool = False) -> None:
        q.add_argument("--out", required=True, metavar="DIR",
                       help="shinsei ingest の出力フォルダ / the ingest's output folder")
        q.add_argument("--db", metavar="URL", help="データベースURL（省略時 DIR/shinsei.db）/ database URL")
        if reviewer:
            q.add_argument("--reviewer", required=True, metavar="NAME",
                           help="担当者名（ログに記録）/ your name, for the log")

    q = sub.add_parser("import", help="review.xlsx の判断を取り込む / import the decisions of a worklist",
                       description="review.xlsx の「要確認 Flagged lines」の判断を検証して取り込みます。"
                                   "1行でも誤りがあれば"
                                   "何も変更しません。/ Checks and stores the decisions of the worklist; one bad row "
                                   "and nothing is changed.")
    q.add_argument("sheet", metavar="REVIEW_XLSX", help="判断を記入した review.xlsx / the filled review.xlsx")
    common(q, reviewer=True)
    q.add_argument("--skip-stale", action="store_true",
                   help="再提出された申請の行を除いて取り込む / import the rest, leaving lines of "
                        "resubmitted applications")
    q.set_defaults(func=cmd_import)

    q = sub.add_parser("status", help="申請の状態を変更 / set an application's status",
                       description="申請の状態を変更し、監査ログに記録します（受付→審査中→適格・修正依頼・不採択）。"
                                   "未判断の行があると「適格」にはできません。/ Moves an application to a status and "
                                   "logs it; eligible needs every flagged line decided.")
    q.add_argument("application", metavar="APPLICATION_ID",
                   help="申請ID（先頭の数文字で可）/ application id (a prefix will do)")
    q.add_argument("status", help="状態 / status: received | in_review | eligible | changes_requested | rejected")
    common(q, reviewer=True)
    q.add_argument("--comment", help="申請者への連絡 / comment to the applicant")
    q.set_defaults(func=cmd_status)

    q = sub.add_parser("sample", help="監査対象の行を抽出 / mark lines for an audit sample",
                       description="監査対象の行に印を付けます: 無作為の割合（種を固定すれば再現可能）、"
                                   "エラーのある申請の"
                                   "全行、一定額以上の全行。/ Marks lines for audit: a share drawn reproducibly from a "
                                   "seed, every line of applications with errors, every line above an amount.")
    common(q, reviewer=True)
    q.add_argument("--rate", type=float, default=0.0, help="無作為に抽出する割合（例 0.1）/ share drawn at random")
    q.add_argument("--seed", default="0", help="乱数の種（同じ種なら同じ行）/ seed: the same seed draws the same lines")
    q.add_argument("--errors", action="store_true",
                   help="エラーのある申請の全行 / every line of applications with errors")
    q.add_argument("--above", type=int, metavar="YEN", help="この金額以上の全行 / every line of at least this amount")
    q.set_defaults(func=cmd_sample)

    q = sub.add_parser("log", help="監査ログを表示 / print the audit log",
                       description="判断・状態・抽出の記録を古い順に表示します（追記のみ・書き換え不可）。/ Prints "
                                   "every decision, status and sample, oldest first (append-only).")
    common(q)
    q.add_argument("--submission", metavar="APPLICATION_ID", help="この申請だけ / one application only")
    q.add_argument("--csv", action="store_true", help="CSVで出力 / as CSV")
    q.set_defaults(func=cmd_log)

    q = sub.add_parser("letters", help="修正依頼の一覧（xlsx・PDF）/ changes-requested letters",
                       description="状態が「修正依頼」の申請ごとに、申請者への連絡事項の一覧を "
                                   "xlsx（LibreOffice があれば"
                                   "PDF も）で書き出します。内部メモは含みません。/ Writes, per application whose "
                                   "changes are requested, the comments to the applicant (xlsx, and PDF when "
                                   "LibreOffice is installed); internal notes are left out.")
    common(q)
    q.add_argument("--to", metavar="FOLDER", help="出力先（既定 DIR/letters）/ where to write them")
    q.set_defaults(func=cmd_letters)

    q = sub.add_parser("serve", help="レビュー画面（ブラウザ）/ the review pages in a browser",
                       description="申請一覧・要確認の行・判断・履歴のページを提供します。担当者名はヘッダ（SSO・"
                                   "リバースプロキシ）かローカルログインから取り、匿名では使えません。/ Serves the "
                                   "review pages; the reviewer's name comes from a header or a local login.")
    common(q)
    q.add_argument("--host", default="127.0.0.1", help="待ち受けるアドレス / address to listen on")
    q.add_argument("--port", type=int, default=8010, help="ポート番号 / port")
    q.add_argument("--user-header", metavar="HEADER",
                   help="担当者名を受け取るHTTPヘッダ（SSO・リバースプロキシ用、例 X-Forwarded-User）/ header that "
                        "carries the reviewer's name from a proxy or SSO")
    q.add_argument("--users", metavar="FILE",
                   help="ローカルログインの利用者ファイル（shinsei review user で作成）/ local login users file")
    q.set_defaults(func=cmd_serve)

    q = sub.add_parser("user", help="ローカルログインの利用者を追加 / add a local-login user",
                       description="レビュー画面のローカルログイン用に、利用者とパスワード"
                                   "（PBKDF2 のハッシュのみ保存）を"
                                   "追加します。/ Adds a user of the local login (only a PBKDF2 hash is kept).")
    q.add_argument("name", help="担当者名 / the reviewer's name")
    q.add_argument("--users", required=True, metavar="FILE", help="利用者ファイル / the users file")
    q.add_argument("--password-stdin", action="store_true",
                   help="パスワードを標準入力から / read the password from stdin")
    q.set_defaults(func=cmd_user)


def add_lexicon_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lexicon", help="財務の判断から語彙の修正案を作る / lexicon changes proposed from finance's decisions",
        description="財務担当者の判断と分類器の判定が食い違った行（対象外とされた ok・review の行、認められた ng の行）"
                    "から、語彙（packs/lexicons/*.yaml）への追加案を YAML で示します。自動では適用しません。/ "
                    "Proposes lexicon changes (YAML, for a person to accept) from the lines where finance's "
                    "decisions and the classifier's verdicts differ; nothing is applied automatically.")
    sub = p.add_subparsers(dest="lexicon_command", required=True, metavar="ACTION")
    q = sub.add_parser("suggest", help="修正案を表示 / print the proposed patch",
                       description="判断が記録された行を読み、判定を変える語ごとにまとめた修正案を表示します。"
                                   "ラベル付きコーパスの判定を変える案は出しません。/ Groups the decided lines by the "
                                   "words that would change their verdict; proposes nothing that changes a "
                                   "labelled corpus line.")
    q.add_argument("--out", metavar="DIR",
                   help="shinsei ingest の出力フォルダ（--db を省くとき）/ the ingest's output folder (without --db)")
    q.add_argument("--db", metavar="URL", help="データベースURL（省略時 DIR/shinsei.db）/ database URL")
    q.add_argument("-o", "--output", metavar="FILE", help="YAML の書き出し先（省略時は画面）/ write the patch here")
    q.set_defaults(func=cmd_suggest)


def cmd_suggest(args: argparse.Namespace) -> int:
    from pipeline.eligibility.suggest import suggest_from_rows

    if not args.db and not args.out:
        _say("--db URL か --out DIR を指定してください", "give --db URL or --out DIR", sys.stderr)
        return EXIT_USAGE
    rows = list(_ledger(args).decided_lines())
    patch = suggest_from_rows(rows)
    if args.output:
        Path(args.output).write_text(patch, encoding="utf-8")
        _say(f"{len(rows)} 行の判断から修正案を {args.output} に書きました",
             f"proposed patch from {len(rows)} decided lines written to {args.output}")
    else:
        sys.stdout.write(patch)
    return 0


def _say(ja: str, en: str, stream: Any = None) -> None:
    print(f"{ja} / {en}", file=stream or sys.stdout)


def _ledger(args: argparse.Namespace) -> Any:
    from pipeline.finance.ledger import Ledger
    from pipeline.ingest.store import Store, default_url

    if args.db and not getattr(args, "out", None):  # lexicon suggest: the database alone
        store = Store(args.db)
        return Ledger(store.engine, store.reader)
    out = Path(args.out or ".")
    if not args.db and not (out / "shinsei.db").exists():
        _say(f"{out} にデータベースがありません。先に shinsei ingest ... --out {out} を実行してください",
             f"no database in {out}: run shinsei ingest ... --out {out} first", sys.stderr)
        raise SystemExit(EXIT_NO_DATABASE)
    store = Store(args.db or default_url(out))
    return Ledger(store.engine, store.reader)


def _refresh(args: argparse.Namespace) -> None:
    from pipeline.ingest.run import refresh_outputs

    if refresh_outputs(args.out, db_url=args.db):
        _say(f"{Path(args.out) / 'review.xlsx'} を更新しました", "review.xlsx rebuilt with the decisions")


def _app_key(ledger: Any, prefix: str) -> str:
    keys = [a.key for a in ledger.applications(with_lines=False) if a.key.startswith(prefix)]
    if len(keys) != 1:
        _say(f"申請ID「{prefix}」に当たる申請が{'ありません' if not keys else f'{len(keys)}件あります'}",
             f"application id '{prefix}' matches {len(keys)} applications", sys.stderr)
        raise SystemExit(EXIT_USAGE)
    return keys[0]


def cmd_import(args: argparse.Namespace) -> int:
    from pipeline.finance.decisions import DecisionError
    from pipeline.finance.sheet_import import ImportRefused, import_sheet
    from pipeline.safety import WorkbookRejected

    ledger = _ledger(args)
    try:
        result = import_sheet(ledger, Path(args.sheet), args.reviewer, skip_stale=args.skip_stale)
    except FileNotFoundError:
        _say(f"{args.sheet} がありません", f"{args.sheet}: no such file", sys.stderr)
        return EXIT_NO_DATABASE
    except (DecisionError, WorkbookRejected) as exc:
        _say(getattr(exc, "ja", str(exc)), getattr(exc, "en", str(exc)), sys.stderr)
        return EXIT_REFUSED
    except ImportRefused as refused:
        _say(f"{len(refused.result.problems)} 行に問題があるため、何も取り込みませんでした（直してからもう一度）",
             f"{len(refused.result.problems)} rows were refused, so nothing was imported (fix them and import again)",
             sys.stderr)
        for p in refused.result.problems:
            print(f"  {p}", file=sys.stderr)
        return EXIT_REFUSED
    for note in result.notes:
        print(f"  {note}")
    _say(f"取り込み {len(result.entries)} 件（変更なし {result.unchanged}、未記入 {result.blank}）",
         f"{len(result.entries)} decisions stored ({result.unchanged} unchanged, {result.blank} blank)")
    if result.entries:
        _refresh(args)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline.finance.decisions import DecisionError, status_label

    ledger = _ledger(args)
    key = _app_key(ledger, args.application)
    try:
        entry = ledger.set_status(key, args.status, reviewer=args.reviewer, comment=args.comment)
    except DecisionError as exc:
        _say(exc.ja, exc.en, sys.stderr)
        return EXIT_REFUSED
    print(f"{key[:12]}: {status_label(entry['previous'])} → {status_label(entry['value'])}")
    _refresh(args)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from pipeline.finance.sampling import sample

    ledger = _ledger(args)
    try:
        marks = sample(ledger, reviewer=args.reviewer, rate=args.rate, seed=args.seed, errors=args.errors,
                       above=args.above)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    _say(f"{len(marks)} 行を監査対象にしました", f"{len(marks)} lines marked for audit")
    if marks:
        _refresh(args)
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from pipeline.finance.decisions import label, status_label
    from pipeline.finance.worklist import LOG_COLUMNS

    ledger = _ledger(args)
    key = _app_key(ledger, args.submission) if args.submission else None
    if args.csv:
        from pipeline.cellsafe import CSV_LINE_END, neutralise_row

        w = csv.writer(sys.stdout, lineterminator=CSV_LINE_END)
        w.writerow(LOG_COLUMNS)
        for e in ledger.log(key):
            w.writerow(neutralise_row(e[c] for c in LOG_COLUMNS))
        return 0
    for e in ledger.log(key):
        def word(v: str | None, kind: str = e["kind"]) -> str:
            if v is None:
                return "—"
            return label(v) if kind == "decision" else status_label(v) if kind == "status" else v
        both = e["requested"] is not None and e["allowed"] is not None
        amounts = f" {e['requested']:,}円 → {e['allowed']:,}円" if both else ""
        comment = f" 「{e['comment']}」" if e["comment"] else ""
        print(f"#{e['id']} {e['at']} {e['reviewer']} [{e['source']}] {e['kind']} {e['submission_key'][:12]}"
              f"{' ' + e['line_key'] if e['line_key'] else ''}: {word(e['previous'])} → {word(e['value'])}"
              f"{amounts}{comment}")
    return 0


def cmd_letters(args: argparse.Namespace) -> int:
    from pipeline.finance.letters import write_letters

    ledger = _ledger(args)
    folder = Path(args.to) if args.to else Path(args.out) / "letters"
    written = write_letters(ledger, folder)
    _say(f"修正依頼 {len(written)} 件を {folder} に書きました", f"{len(written)} letters written to {folder}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pipeline.finance.web import create_app
    from pipeline.ingest.store import default_url

    if not args.user_header and not args.users:
        _say("--user-header か --users を指定してください（匿名の書き込みはできません）",
             "give --user-header or --users: there are no anonymous writes", sys.stderr)
        return EXIT_USAGE
    _ledger(args)  # the database must exist
    app = create_app(args.db or default_url(Path(args.out)), out_dir=Path(args.out), user_header=args.user_header,
                     users_file=Path(args.users) if args.users else None)
    _say(f"レビュー画面: http://{args.host}:{args.port}/review", f"review pages at http://{args.host}:{args.port}/review")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    import getpass

    from pipeline.finance.web import add_user

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("パスワード Password: ")
    if len(password) < 8:
        _say("パスワードは8文字以上にしてください", "use a password of at least 8 characters", sys.stderr)
        return EXIT_USAGE
    add_user(Path(args.users), args.name, password)
    _say(f"{args.name} を {args.users} に追加しました", f"added {args.name} to {args.users}")
    return 0
