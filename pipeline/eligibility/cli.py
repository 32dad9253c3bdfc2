"""``shinsei classify``: classify cost lines from a TSV/CSV file or stdin.

Finance pastes budget lines from any workbook; scripts pipe them. The lead wires ``add_parser`` into
``shinsei``; ``python -m pipeline.eligibility.cli classify ...`` works without that wiring.
``--format jsonl`` (the default) prints one JSON object per line; ``tsv`` and ``xlsx`` repeat each
input line beside its verdict, its reason in Japanese and English, the words that decided and the
clause, for people (the xlsx has the look of the finance worklist in review.xlsx, and needs ``-o``).
Exit codes: 0 done, 2 the input, the program id or the output is unusable (nothing is printed to stdout).

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
FORMATS = ("jsonl", "tsv", "xlsx")
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

出力 Output (--format):
  jsonl（既定 default）入力1行につき JSON 1行（同じ順、空行も ok として1行）/ one JSON object per input line, in order:
    {"verdict": "ng", "reason": "sightseeing", "clause": {"document": ..., "document_en": ...,
     "section": ..., "quote": ...}, "message_ja": "...", "message_en": "...", "matched": "観光ツアー"}
    （ほかの理由にも当たる行は "also": [...] / a line that is ng for other reasons too has "also": [...]）
  tsv   入力の各行の横に判定・理由（日本語）・該当語・根拠条項 / each input line beside its verdict,
        reason (Japanese and English), the words that decided and the clause (UTF-8 with BOM, for Excel)
  xlsx  同じ内容の Excel ファイル（-o 必須、要確認シートの体裁）/ the same as a workbook (-o required),
        in the look of the finance worklist
理由コード Reasons: sightseeing cultural admission social souvenir deposit travel research application
  equipment overseas_side language not_funded
終了コード Exit: 0 完了 done; 2 見出し・文字コード・制度ID・出力先の誤り / bad header, encoding, program id or output.

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
    p.add_argument("--format", choices=FORMATS, default="jsonl",
                   help="出力形式 / output format: jsonl (default), tsv, xlsx")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="出力ファイル（xlsx では必須）/ write to FILE (required for xlsx)")
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


# ---- tsv and xlsx: each input line beside its verdict ---------------------------------------------

VERDICTS = {"ng": ("対象外", "ineligible"), "review": ("要確認", "to check"), "ok": ("対象", "eligible")}
# (key, header, width in the workbook): the input's own columns first, then the verdict
OUTPUT_COLUMNS = (
    ("line", "行 Line", 6), ("program", "制度 Programme", 14), ("category", "費目 Category", 12),
    ("description", "内容 Description", 30), ("unit_price", "単価 Unit price", 11), ("quantity", "数量 Qty", 7),
    ("verdict_label", "判定 Verdict", 10), ("reason_ja", "理由", 22), ("reason_en", "Reason", 22),
    ("matched", "該当語 Matched words", 18), ("clause", "根拠 Clause", 24),
    ("quote", "公募要領の記載 The call's words", 36),
    ("message_ja", "説明", 40), ("message_en", "Explanation", 40), ("verdict", "verdict", 8), ("reason", "reason", 12),
)


def _verdict_words() -> dict[str, tuple[str, str]]:
    """判定の言葉 (対象外 ineligible …): the finance review's vocabulary when it is there, else the defaults."""
    import contextlib

    from pipeline import datacache
    from pipeline.resources import packs_dir

    words = dict(VERDICTS)
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        found = datacache.load_yaml(packs_dir() / "common" / "finance-review.yaml").get("verdicts", {})
        for code in words:
            if code in found:
                words[code] = (found[code]["ja"], found[code]["en"])
    return words


def output_rows(program: str | None, rows: list[tuple[int, dict[str, str]]],
                results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per input line: its own cells, then its verdict, reason, matched words and clause."""
    from pipeline.eligibility import load_classifier

    words = _verdict_words()
    out = []
    for (line, cells), res in zip(rows, results, strict=True):
        pack_id = cells.get("program") or program
        reason = res.get("reason")
        info = load_classifier(pack_id).lexicon.reasons.get(reason, {}) if reason and pack_id else {}
        clause = res.get("clause") or {}
        ja, en = words.get(res["verdict"], (res["verdict"], res["verdict"]))
        out.append({
            "line": line, "program": pack_id, **{c: cells.get(c, "") for c in COLUMNS},
            "verdict_label": f"{ja} {en}", "reason_ja": info.get("label", {}).get("ja", ""),
            "reason_en": info.get("label", {}).get("en", ""), "matched": res.get("matched") or "",
            "clause": f"{clause.get('document', '')} {clause.get('section', '')}".strip(),
            "quote": clause.get("quote", ""), "message_ja": res.get("message_ja") or "",
            "message_en": res.get("message_en") or "", "verdict": res["verdict"], "reason": reason or "",
        })
    return out


def to_tsv(rows: list[dict[str, Any]]) -> str:
    """The rows as TSV with bilingual headers; every cell neutralised against formula injection."""
    from pipeline.cellsafe import neutralise

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow([header for _, header, _ in OUTPUT_COLUMNS])
    for row in rows:
        writer.writerow([neutralise(str(row.get(key, "") if row.get(key) is not None else ""))
                         for key, _, _ in OUTPUT_COLUMNS])
    return buffer.getvalue()


def write_xlsx(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as a workbook in the worklist's look: header colours, verdict colours, A4 landscape."""
    import xlsxwriter

    from pipeline.cellsafe import neutralise

    sheet_name = "判定 Verdicts"
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    try:
        import datetime as dt

        wb.set_properties({"title": "shinsei classify", "author": "shinsei", "created": dt.datetime(2000, 1, 1)})
        bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "text_wrap": True, "valign": "top"})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        yen = wb.add_format({"num_format": "#,##0", "valign": "top"})
        ws = wb.add_worksheet(sheet_name)
        for c, (key, header, width) in enumerate(OUTPUT_COLUMNS):
            ws.write_string(0, c, header, bold)
            hidden = {"hidden": True} if key in ("verdict", "reason") else None
            ws.set_column(c, c, width, yen if key == "unit_price" else wrap, hidden)
        ws.set_row(0, 30)
        for r, row in enumerate(rows, start=1):
            for c, (key, _, _) in enumerate(OUTPUT_COLUMNS):
                value = row.get(key)
                if value is None or value == "":
                    continue
                if key == "line":
                    ws.write_number(r, c, value)
                elif key == "unit_price":
                    number = _yen(value)
                    if number is None:
                        ws.write_string(r, c, str(neutralise(str(value))))
                    else:
                        ws.write_number(r, c, number)
                else:
                    ws.write_string(r, c, str(neutralise(str(value))))
        n = max(len(rows), 1)
        v = [key for key, _, _ in OUTPUT_COLUMNS].index("verdict_label")
        for verdict, colour in (("ng", "#FFC7CE"), ("review", "#FFEB9C")):
            word = _verdict_words()[verdict][0]
            ws.conditional_format(1, v, n, v, {"type": "text", "criteria": "begins with", "value": word,
                                               "format": wb.add_format({"bg_color": colour})})
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, n, len(OUTPUT_COLUMNS) - 1)
        ws.set_paper(9)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.set_header(f"&L&8shinsei classify&C&10{sheet_name}")
        ws.set_footer("&C&8&P / &N")
        ws.repeat_rows(0)
    finally:
        wb.close()


def _yen(text: Any) -> int | None:
    from pipeline.normalise import NormaliseError, to_yen

    try:
        return to_yen(str(text) or None)
    except NormaliseError:
        return None


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
    fmt = getattr(args, "format", "jsonl")
    output = getattr(args, "output", None)
    try:
        if fmt == "xlsx":
            _check_xlsx_output(output)
        if args.program:
            try:
                load_classifier(args.program)
            except LexiconError as exc:  # a bad option value: a usage error, as in every command (exit 64)
                print(f"shinsei classify: --program: {exc}", file=sys.stderr)
                return 64
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        rows = read_rows(_decode(data))
        results = classify_rows(args.program, rows)
    except InputError as exc:
        print(f"shinsei classify: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"shinsei classify: 入力を読めません / cannot read the input: {exc}", file=sys.stderr)
        return 2
    try:
        if fmt == "xlsx":
            assert output is not None
            write_xlsx(output_rows(args.program, rows, results), Path(output))
            print(f"shinsei classify: {len(results)} 行を書き出しました / wrote {len(results)} lines: {output}",
                  file=sys.stderr)
            return 0
        if fmt == "tsv":
            raw = ("\ufeff" + to_tsv(output_rows(args.program, rows, results))).encode("utf-8")
        else:
            raw = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results).encode("utf-8")
        if output:
            Path(output).write_bytes(raw)
            return 0
    except OSError as exc:
        print(f"shinsei classify: 出力を書けません / cannot write the output: {exc}", file=sys.stderr)
        return 2
    stream = getattr(sys.stdout, "buffer", None)
    if stream is not None:
        sys.stdout.flush()
        stream.write(raw)
        stream.flush()
    else:
        sys.stdout.write(raw.decode("utf-8"))
    return 0


def _check_xlsx_output(output: str | None) -> None:
    """An xlsx goes to a file named .xlsx in a folder that exists (never to the terminal)."""
    if not output:
        raise InputError("--format xlsx には出力ファイル -o FILE.xlsx が必要です / "
                         "--format xlsx needs an output file: -o FILE.xlsx")
    path = Path(output)
    if path.suffix.lower() != ".xlsx":
        raise InputError(f"-o {output}: 拡張子は .xlsx にしてください / the output file must end in .xlsx")
    if not path.parent.is_dir():
        raise InputError(f"-o {output}: フォルダがありません / the folder does not exist: {path.parent}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shinsei", description="shinsei classify (standalone)")
    add_parser(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
