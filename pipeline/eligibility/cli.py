"""``shinsei classify``: classify cost lines from a TSV/CSV file or stdin, one JSON object per line.

Finance pastes budget lines from any workbook; scripts pipe them. The lead wires ``add_parser`` into
``shinsei``; ``python -m pipeline.eligibility.cli classify ...`` works without that wiring.
Exit codes: 0 done, 2 the input or the program id is unusable (nothing is printed to stdout).

``shinsei`` imports this module to build its parser for every command: the classifier, the lexicon
and the number parsing are imported by the functions that run ``classify``, never at module level.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

COLUMNS = ("category", "description", "unit_price", "quantity")
HEADER_NAMES = {       # accepted spellings of each column (compared after NFKC, casefold, no spaces)
    "category": ("category", "費目", "区分", "経費区分", "費目区分"),
    "description": ("description", "内容", "摘要", "品名", "説明", "項目", "品名・内容"),
    "unit_price": ("unit_price", "unitprice", "unit price", "price", "単価", "単価(円)"),
    "quantity": ("quantity", "qty", "数量", "数"),
    "program": ("program", "program_id", "pack", "制度", "制度id"),
}
HELP = """\
経費の各行が JST 支援金の対象かどうかを判定します（ok 対象 / ng 対象外 / review 要確認）。
Classify cost lines as ok (eligible), ng (ineligible) or review (a person should look).

入力 Input: UTF-8（BOM可）または Shift_JIS のタブ区切りテキスト。CSV も可（区切り文字は1行目から判定）。
  1行目は見出し category, description, unit_price, quantity（日本語の 費目 / 内容 / 単価 / 数量 も可）。
  単価は "¥12,000"、"12,000円"、全角数字でも可。数量は空欄でも構いません。
  A tab-separated file (CSV accepted: the delimiter is taken from the header line), UTF-8 with or
  without BOM, or Shift_JIS. The header line names the columns category, description, unit_price,
  quantity; a unit price may be written "¥12,000", "12,000円" or in full-width digits; quantity may be
  empty. A column `program` may give a pack id per line instead of --program.

例 Example (lines.tsv):
  category<TAB>description<TAB>unit_price<TAB>quantity
  III 旅費<TAB>京都観光ツアー<TAB>15,000<TAB>4
  I 物品費<TAB>試薬<TAB>¥12,000<TAB>2
  IV その他<TAB>Meeting room rental<TAB>10000<TAB>

  shinsei classify --program nexus-ytec-youth-2025 lines.tsv
  shinsei classify --program india-circulation-2025 - < lines.csv

出力 Output: 入力1行につき JSON 1行（同じ順、空行も ok として1行）/ one JSON object per input line, in order:
  {"verdict": "ng", "reason": "sightseeing", "clause": {"document": ..., "document_en": ...,
   "section": ..., "quote": ...}, "message_ja": "...", "message_en": "...", "matched": "観光ツアー"}
理由コード Reasons: sightseeing cultural admission social souvenir deposit travel research application
  equipment overseas_side language
終了コード Exit: 0 完了 done; 2 見出し・文字コード・制度IDの誤り / bad header, encoding or program id.

--score CORPUS はラベル付きコーパス（program, category, description, unit_price, quantity, verdict, reason）
で適合率・再現率を表示します / prints precision and recall per reason on a labelled corpus.
"""


class InputError(ValueError):
    """The input cannot be classified as a whole (header, encoding, program id)."""


def add_parser(subparsers: Any) -> None:
    """Add the ``classify`` sub-command to an argparse subparsers object."""
    p = subparsers.add_parser("classify", help="経費行の対象判定 / classify cost lines (ok, ng, review)",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--program", metavar="ID",
                   help="制度ID（ルールパック）/ rule pack id: nexus-ytec-youth-2025, "
                        "nexus-ytec-instructor-2025, india-circulation-2025")
    p.add_argument("file", nargs="?", default="-",
                   help="TSV/CSV ファイル、- または省略で標準入力 / input file, - or nothing for stdin")
    p.add_argument("--score", metavar="CORPUS",
                   help="ラベル付きコーパスを採点 / score a labelled corpus instead of classifying")
    p.set_defaults(func=run)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError("文字コードを判別できません（UTF-8 または Shift_JIS で保存してください）/ "
                     "unknown text encoding: save the file as UTF-8 or Shift_JIS")


def _header_key(name: str) -> str | None:
    key = unicodedata.normalize("NFKC", name).strip().lstrip("\ufeff").casefold().replace(" ", "")
    for column, names in HEADER_NAMES.items():
        if key in {n.replace(" ", "") for n in names}:
            return column
    return None


def read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, cells by column) of every record after the header, whose line gives the delimiter."""
    text = text.rstrip("\r\n")
    if not text.strip():
        raise InputError(f"1行目: 入力が空です（見出し {', '.join(COLUMNS)} が必要です）/ "
                         f"line 1: the input is empty (a header {', '.join(COLUMNS)} is needed)")
    header_line = text.splitlines()[0]
    delimiter = max(("\t", ",", ";"), key=lambda d: (header_line.count(d), d == "\t"))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader)
    columns = [_header_key(h) for h in header]
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        found = ", ".join(h.strip() for h in header) or "-"
        lacking, needed = ", ".join(missing), ", ".join(COLUMNS)
        raise InputError(
            f"1行目: 見出しに列 {lacking} がありません（必要な列: {needed}、見つかった列: {found}）/ "
            f"line 1: the header lacks the column(s) {lacking} (needed: {needed}; found: {found})")
    rows = []
    for record in reader:
        cells = {}
        for column, value in zip(columns, record, strict=False):
            if column is not None and column not in cells:
                cells[column] = value.strip()
        rows.append((reader.line_num, cells))
    return rows


def _warn(line: int, column: str, value: str) -> None:
    print(f"shinsei classify: {line}行目: {column} の値 {value!r} を数値として読めません"
          f"（空欄として扱います）/ line {line}: {column} {value!r} is not a number (treated as empty)",
          file=sys.stderr)


def classify_rows(program: str | None, rows: list[tuple[int, dict[str, str]]]) -> list[dict[str, Any]]:
    """Classify each row with its program (the row's own `program` cell, else ``program``)."""
    from pipeline.eligibility import load_classifier
    from pipeline.eligibility.lexicon import LexiconError
    from pipeline.normalise import NormaliseError, to_number, to_yen

    out = []
    for line, cells in rows:
        pack_id = cells.get("program") or program
        if not pack_id:
            raise InputError(f"{line}行目: 制度IDがありません（--program を指定してください）/ "
                             f"line {line}: no program id (give --program)")
        try:
            clf = load_classifier(pack_id)
        except LexiconError as exc:
            raise InputError(f"{line}行目 / line {line}: {exc}") from exc
        try:
            price = to_yen(cells.get("unit_price") or None)
        except NormaliseError:
            price = None
            _warn(line, "unit_price", cells.get("unit_price", ""))
        try:
            quantity = to_number(cells.get("quantity") or None)
        except NormaliseError:
            quantity = None
            _warn(line, "quantity", cells.get("quantity", ""))
        out.append(clf.classify(category=cells.get("category") or None,
                                description=cells.get("description") or None,
                                unit_price=price, quantity=quantity).to_dict())
    return out


def _score(path: str) -> int:
    from pipeline.eligibility.scoring import read_corpus, score

    try:
        rows = read_corpus(path)
    except (OSError, ValueError) as exc:
        print(f"shinsei classify: {exc}", file=sys.stderr)
        return 2
    print(score(rows).report())
    return 0


def run(args: argparse.Namespace) -> int:
    """Classify the input (or score a corpus with --score); print JSON Lines; return the exit code."""
    from pipeline.eligibility import load_classifier
    from pipeline.eligibility.lexicon import LexiconError

    if getattr(args, "score", None):
        return _score(args.score)
    try:
        if args.program:
            try:
                load_classifier(args.program)
            except LexiconError as exc:
                raise InputError(f"--program: {exc}") from exc
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        results = classify_rows(args.program, read_rows(_decode(data)))
    except InputError as exc:
        print(f"shinsei classify: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"shinsei classify: 入力を読めません / cannot read the input: {exc}", file=sys.stderr)
        return 2
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    stream = getattr(sys.stdout, "buffer", None)
    if stream is not None:
        sys.stdout.flush()
        stream.write(text.encode("utf-8"))
        stream.flush()
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shinsei", description="shinsei classify (standalone)")
    add_parser(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
