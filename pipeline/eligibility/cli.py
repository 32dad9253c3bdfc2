"""``shinsei classify``: classify cost lines from a TSV/CSV file or stdin, one JSON object per line."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.normalise import NormaliseError, to_number, to_yen

COLUMNS = ("category", "description", "unit_price", "quantity")
HELP = """\
経費の各行が JST 支援金の対象かどうかを判定します（ok 対象 / ng 対象外 / review 要確認）。
Classify cost lines as ok (eligible), ng (ineligible) or review (a person should look).

入力 Input: タブ区切り（CSVも可）、1行目は見出し / tab-separated (CSV accepted), header first:
  category<TAB>description<TAB>unit_price<TAB>quantity
  III 旅費<TAB>京都観光ツアー<TAB>15,000<TAB>4
  I 物品費<TAB>試薬<TAB>¥12,000<TAB>2
出力 Output: 入力1行につきJSON 1行（同じ順）/ one JSON object per input line, in order:
  {"verdict": "ng", "reason": "sightseeing", "clause": {...}, "message_ja": "...", "message_en": "...",
   "matched": "観光ツアー"}
理由コード Reasons: sightseeing cultural admission social souvenir deposit travel research application
  equipment overseas_side language
"""


class InputError(ValueError):
    pass


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("classify", help="経費行の対象判定 / classify cost lines", description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--program", required=True, help="制度ID / rule pack id (e.g. nexus-ytec-youth-2025)")
    p.add_argument("file", nargs="?", default="-", help="TSV/CSV ファイル、または - で標準入力 / file, or - for stdin")
    p.set_defaults(func=run)


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "cp932"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError("文字コードを判別できません（UTF-8 または Shift_JIS で保存してください）/ "
                     "unknown encoding: save the file as UTF-8 or Shift_JIS")


def read_lines(text: str) -> list[dict[str, str]]:
    """Rows of the input as dicts; the delimiter is sniffed from the header (tab or comma)."""
    if not text.strip():
        return []
    header = text.splitlines()[0]
    delimiter = "\t" if "\t" in header else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    missing = [c for c in COLUMNS[:2] if c not in fields]
    if missing:
        raise InputError(f"1行目: 見出しに {', '.join(missing)} がありません（必要: {' / '.join(COLUMNS)}）/ "
                         f"line 1: the header lacks {', '.join(missing)} (expected: {' / '.join(COLUMNS)})")
    reader.fieldnames = fields
    return [{k: (v or "") for k, v in row.items() if k} for row in reader]


def classify_rows(program: str, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    from pipeline.eligibility import load_classifier

    clf = load_classifier(program)
    out = []
    for n, row in enumerate(rows, start=2):
        try:
            price = to_yen(row.get("unit_price") or None)
            qty = to_number(row.get("quantity") or None)
        except NormaliseError as exc:
            raise InputError(f"{n}行目 / line {n}: {exc}") from exc
        out.append(clf.classify(category=row.get("category"), description=row.get("description"),
                                unit_price=price, quantity=qty).to_dict())
    return out


def run(args: argparse.Namespace) -> int:
    from pipeline.packs import PackError

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        results = classify_rows(args.program, read_lines(_decode(data)))
    except (InputError, PackError, OSError) as exc:
        print(f"shinsei classify: {exc}", file=sys.stderr)
        return 2
    write = sys.stdout.write
    for r in results:
        write(json.dumps(r, ensure_ascii=False) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shinsei")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
