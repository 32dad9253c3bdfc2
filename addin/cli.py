"""``shinsei addin``: serve the add-in, write its manifest, or show the payload Excel would send."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SERVE_HELP = """\
Excel は HTTPS のアドインしか読み込みません。信頼された証明書を用意してください（例: mkcert）。
Excel loads add-ins over HTTPS only, with a certificate it trusts, e.g.:
  mkcert -install && mkcert localhost 127.0.0.1
  shinsei addin serve --cert localhost+1.pem --key localhost+1-key.pem
Then in Excel: ホーム > アドイン > 個人用アドイン > マニフェストのアップロード (Home > Add-ins >
Upload My Add-in) with the manifest from https://localhost:8000/manifest.xml
(shinsei addin manifest --url https://localhost:8000 -o shinsei-manifest.xml).
Licence: xlwings Server is free for non-commercial use with XLWINGS_LICENSE_KEY=noncommercial
(PolyForm Noncommercial; universities and JST qualify); commercial use needs a paid key.
"""


def cmd_serve(args: argparse.Namespace) -> int:
    from pipeline.refusals import CommandError

    if args.key and not args.cert:
        raise CommandError("key-without-certificate")
    if args.cert:
        check_tls(args.cert, args.key)
    check_port(args.host, args.port)
    from addin.server import DEFAULTS, serve  # FastAPI, xlwings: only once the options are known to be good

    scheme = "https" if args.cert else "http"
    base = f"{scheme}://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}"
    key = os.environ.get("XLWINGS_LICENSE_KEY", DEFAULTS["XLWINGS_LICENSE_KEY"])
    print(f"shinsei 申請チェック add-in\n  作業ウィンドウ task pane: {base}/taskpane.html\n"
          f"  マニフェスト manifest:    {base}/manifest.xml  (shinsei addin manifest --url {base})\n"
          f"  ライセンス licence:       XLWINGS_LICENSE_KEY={'noncommercial' if key == 'noncommercial' else '(set)'}"
          " — 非商用は無償 free for non-commercial use (PolyForm Noncommercial)", file=sys.stderr)
    if not args.cert:
        print("  注意: HTTP のため Excel からは読み込めません（--cert/--key で HTTPS に） / "
              "note: plain HTTP, which Excel will not load: give --cert and --key for HTTPS", file=sys.stderr)
    serve(host=args.host, port=args.port, certfile=args.cert, keyfile=args.key, workers=args.workers,
          environment=args.environment)
    return 0


def check_tls(cert: str, key: str | None) -> None:
    """The certificate and key load as uvicorn will load them, before any banner says https://.

    A missing or unreadable file, a file that is not PEM, a key that does not belong to the
    certificate or needs a password: one refusal naming the file, never uvicorn's traceback.
    """
    import ssl

    from pipeline.refusals import CommandError

    for path, what_ja, what_en in ((cert, "証明書", "certificate"), (key, "秘密鍵", "private key")):
        if path is None:
            continue
        try:
            with open(path, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise CommandError("certificate-unreadable", path=path, what_ja=what_ja, what_en=what_en,
                               reason=exc.strerror or type(exc).__name__) from exc
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")  # never a password prompt on the terminal
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        raise CommandError("certificate-invalid", cert=cert, key=key or cert, reason=reason) from exc


def check_port(host: str, port: int) -> None:
    """Refuse now a port that is taken or an address that cannot be listened on (uvicorn would log and exit)."""
    import socket

    from pipeline.refusals import CommandError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        raise CommandError("port-in-use", host=host, port=port,
                           reason=exc.strerror or str(exc) or type(exc).__name__) from exc


def cmd_manifest(args: argparse.Namespace) -> int:
    import warnings

    from pipeline.cli import output_file, say, writing

    out = output_file(args.out) if args.out else None
    warnings.filterwarnings("ignore", message=".*httpx.*")   # starlette's notice about httpx
    from fastapi.testclient import TestClient

    from addin.server import create_app

    if not args.url.startswith("https://"):
        say("警告: Excel は https:// のアドインしか読み込みません / warning: Excel loads https:// add-ins only")
    response = TestClient(create_app(), base_url=args.url.rstrip("/")).get("/manifest.xml")
    response.raise_for_status()
    if out is not None:
        with writing(out):
            out.write_text(response.text, encoding="utf-8")
        say(f"マニフェストを保存しました / manifest written: {out}")
    else:
        sys.stdout.write(response.text)
    return 0


def cmd_payload(args: argparse.Namespace) -> int:
    from pipeline.cli import output_file, writing
    from pipeline.safety import precheck
    from pipeline.validate import regular_file

    out = output_file(args.out) if args.out else None
    precheck(regular_file(Path(args.file)))  # the same refusals as shinsei validate, before openpyxl sees it
    from addin.officejs_payload import payload_from_file

    try:
        payload = payload_from_file(args.file)
    except (OSError, KeyError, ValueError) as exc:  # openpyxl on a file python-calamine would refuse
        from pipeline.refusals import reject

        raise reject("corrupt-workbook", detail=f"{type(exc).__name__}: {exc}") from exc
    text = json.dumps(payload, ensure_ascii=False, indent=1, default=str)
    if out is not None:
        with writing(out):
            out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipeline.cli import at_least, port  # argparse types only: nothing heavy

    a = sub.add_parser("addin", help="Excelアドイン（xlwings Server）/ the Excel add-in (xlwings Server)",
                       description="Excel のボタン（検証・提出前チェック・表示クリア・JSON出力）を提供するサーバー。 / "
                                   "The server behind the workbook buttons (Validate, Pre-submission check, Clear, "
                                   "Export).", epilog=SERVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    asub = a.add_subparsers(dest="addin_command", required=True, metavar="ACTION")

    s = asub.add_parser("serve", help="サーバーを起動 / start the server", epilog=SERVE_HELP,
                        description="アドインのサーバーを起動します。証明書と鍵は起動前に確かめます（読めない・"
                                    "対応しない場合は起動しません）。 / Start the add-in's server; the certificate "
                                    "and key are checked before it starts.",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    prog = "shinsei addin serve"
    s.add_argument("--host", default="127.0.0.1", help="待ち受けアドレス / address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=port("--port", prog), default=8000, help="ポート / port (default 8000)")
    s.add_argument("--cert", help="TLS証明書 (PEM) / TLS certificate; Excel needs HTTPS")
    s.add_argument("--key", help="TLS秘密鍵 (PEM) / TLS private key")
    s.add_argument("--workers", type=at_least(1, "--workers", prog), default=1,
                   help="ワーカー数 / uvicorn worker processes (default 1)")
    s.add_argument("--environment", default="prod", choices=["dev", "qa", "uat", "staging", "prod"],
                   help="xlwings Server の環境（マニフェストIDが変わる）/ xlwings Server environment (manifest id)")
    s.set_defaults(func=cmd_serve)

    m = asub.add_parser("manifest", help="サイドロード用マニフェストを出力 / write the manifest for sideloading",
                        description="Excel に読み込ませるアドインのマニフェスト（XML）を出力します。 / Write the "
                                    "add-in's manifest (XML) for Excel to load.")
    m.add_argument("--url", default="https://localhost:8000",
                   help="サーバーのURL / the server's public URL (default https://localhost:8000)")
    m.add_argument("-o", "--out", help="保存先 / output file (default: standard output)")
    m.set_defaults(func=cmd_manifest)

    p = asub.add_parser("payload", help="Excel が送る JSON をファイルから作成（開発用）/ the JSON Excel would send, "
                                        "built from a file (for development)",
                        description="ブックのファイルから、Excel がアドインに送るのと同じ JSON を作ります"
                                    "（開発・試験用）。 / Build, from a workbook file, the JSON Excel would send "
                                    "the add-in (for development and tests).")
    p.add_argument("file", help=".xlsx/.xlsm")
    p.add_argument("-o", "--out", help="保存先 / output file (default: standard output)")
    p.set_defaults(func=cmd_payload)
