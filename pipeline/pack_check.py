"""``shinsei pack``: check a rule pack before anyone validates with it, and list its rules.

``shinsei pack check FILE...`` loads each pack exactly as validation will (parents merged, schema,
references, formulas, every rule against its check kind's contract) and prints either what it holds
or every problem, each naming the rule and the parameter: the author of next year's pack finds a
typo here, not an applicant in a traceback. ``shinsei pack rules FILE`` lists each rule with its
severity and the words of the call it enforces (what the README's severity table is made of).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = """\
ルールパックを検査します（継承の解決、スキーマ、参照、計算式、各ルールのパラメータ・メッセージ・読む表と列）。
Check rule packs as validation will load them: what they extend, their schema, references, formulas, and
each rule against its check kind's contract (parameters and their types, message placeholders, the
tables and columns it reads). Exit 0: every pack is sound; 1: a pack is refused (the problems are printed).
"""


def _load(path: str) -> Any:
    from pipeline.packs import load_pack_file

    return load_pack_file(Path(path))


def check_files(paths: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """Each pack's summary or its problems; and whether all are sound."""
    from pipeline.packs import PackError

    out: list[dict[str, Any]] = []
    ok = True
    for path in paths:
        try:
            pack = _load(path)
        except PackError as exc:
            ok = False
            out.append({"file": path, "ok": False, "problems": str(exc).splitlines()})
            continue
        out.append({"file": path, "ok": True, "id": pack.id, "extends": [p.name for p in pack.lineage[1:]],
                    "form": str(pack.form_path), "rules": len(pack.rules), "cross_rules": len(pack.cross_rules)})
    return out, ok


def cmd_check(args: argparse.Namespace) -> int:
    results, ok = check_files(args.files)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0 if ok else 1
    for r in results:
        if r["ok"]:
            extends = f"、継承 extends {' -> '.join(r['extends'])}" if r["extends"] else ""
            print(f"OK {r['file']}: {r['id']}（ルール rules {r['rules']}、申請間 cross {r['cross_rules']}{extends}）")
        else:
            print(f"NG {r['file']}:", file=sys.stderr)
            for line in r["problems"]:
                print(f"  {line}", file=sys.stderr)
    return 0 if ok else 1


def rule_rows(path: str) -> list[dict[str, str]]:
    """Every rule of a pack: code, severity, check kind, clause section, and the words that justify the
    severity (the rule's ``basis``, else the clause's quotation)."""
    pack = _load(path)
    rows = []
    for rule in [*pack.rules, *pack.cross_rules]:
        clause = pack.clause(rule["clause"])
        rows.append({"code": rule["code"], "severity": rule["severity"], "check": rule["check"],
                     "section": clause["section"], "basis": rule.get("basis") or clause.get("quote", "")})
    return rows


def severity_table(rows: list[dict[str, str]]) -> str:
    """The rules as a Markdown table (what the README shows)."""
    lines = ["| rule | severity | clause | why this severity |", "| --- | --- | --- | --- |"]
    for r in rows:
        basis = r["basis"].replace("|", "｜") or "—"
        lines.append(f"| `{r['code']}` | {r['severity']} | {r['section']} | {basis} |")
    return "\n".join(lines)


def readme_tables(pack_files: list[str], against: dict[str, str] | None = None) -> str:
    """The README's severity tables: each pack's rules; a pack that extends another shown before it (or
    is compared with one, ``against``: pack id -> pack id) lists only the rules it changes."""
    from pipeline.packs import load_pack_file

    out = []
    shown: dict[str, dict[str, dict[str, str]]] = {}
    for path in pack_files:
        pack = load_pack_file(path)
        rows = rule_rows(path)
        bases = [p.stem for p in pack.lineage[1:]] + ([against[pack.id]] if against and pack.id in against else [])
        parent = next((shown[b] for b in bases if b in shown), None)
        shown[pack.id] = {r["code"]: r for r in rows}
        if parent is not None:
            changed = [r for r in rows if parent.get(r["code"]) != r]
            removed = sorted(set(parent) - {r["code"] for r in rows})
            note = f"; no {', '.join(f'`{c}`' for c in removed)}" if removed else ""
            out.append(f"**{pack.id}**: as the pack above, except{note}:\n\n{severity_table(changed)}")
        else:
            out.append(f"**{pack.id}**\n\n{severity_table(rows)}")
    return "\n\n".join(out)


def cmd_rules(args: argparse.Namespace) -> int:
    from pipeline.packs import PackError

    try:
        rows = rule_rows(args.file)
    except PackError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(severity_table(rows))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``shinsei pack check FILE...`` and ``shinsei pack rules FILE``."""
    p = subparsers.add_parser("pack", help="ルールパックの検査 / check rule packs", description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="pack_command", required=True)
    c = sub.add_parser("check", help="パックを検査 / check packs as validation loads them",
                       description="ルールパックを検証時と同じ手順で読み込み、契約（パラメータ・メッセージ・表と列）に反する"
                                   "ルールを名指しします。/ Loads each pack as validation does and names every rule "
                                   "that breaks its check kind's contract (parameters, messages, tables and columns).")
    c.add_argument("files", nargs="+", metavar="FILE", help="ルールパックのYAML / rule pack files")
    c.add_argument("--json", action="store_true", help="結果をJSONで出力 / print the results as JSON")
    c.set_defaults(func=cmd_check)
    r = sub.add_parser("rules", help="ルールと重要度・根拠の一覧 / list rules with severity and clause",
                       description="パックの各ルールの重要度と、その重要度の根拠となる公募要領の文言を一覧します。/ "
                                   "Lists each rule of a pack with its severity and the words of the call behind it.")
    r.add_argument("file", metavar="FILE", help="ルールパックのYAML / a rule pack file")
    r.add_argument("--json", action="store_true", help="JSONで出力 / print as JSON")
    r.set_defaults(func=cmd_rules)


def main(argv: list[str] | None = None) -> int:
    """Run ``shinsei pack …`` on its own (``python -m pipeline.pack_check check FILE``)."""
    parser = argparse.ArgumentParser(prog="shinsei")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pack", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
