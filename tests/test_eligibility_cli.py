"""``shinsei classify`` as finance and scripts run it: TSV, CSV, Shift_JIS, stdin, order kept, errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.eligibility import load_classifier
from pipeline.normalise import to_number, to_yen

YOUTH, INDIA = "nexus-ytec-youth-2025", "india-circulation-2025"
HEADER = ("category", "description", "unit_price", "quantity")
ROWS = [
    ("III 旅費", "京都観光ツアー", "15,000", "4"),
    ("I 物品費", "試薬", "￥12,000", "2"),
    ("IV その他", "記念品（参加者）", "3000", ""),
    ("IV Other", "Meeting room rental, 2 days", "１０，０００円", "2"),
    ("I 物品費", "分光光度計", "¥250,000", "1"),
    ("II 謝金", "講師謝金", "30000", "1.5"),
    ("IV その他", "歓迎ﾊﾟｰﾃｨｰ", "4,000", "20"),
]


def run_cli(*args: str, stdin: bytes | None = None, module: str = "pipeline.eligibility.cli"
            ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", module, "classify", *args], input=stdin, capture_output=True,
                          timeout=120)


def expected(program: str) -> list[dict]:
    clf = load_classifier(program)
    return [clf.classify(category=c, description=d, unit_price=to_yen(p or None),
                         quantity=to_number(q or None)).to_dict() for c, d, p, q in ROWS]


def lines(out: bytes) -> list[dict]:
    return [json.loads(line) for line in out.decode("utf-8").splitlines()]


def write_tsv(path: Path, rows: list[tuple[str, ...]] = ROWS, encoding: str = "utf-8") -> Path:
    path.write_text("\t".join(HEADER) + "\n" + "".join("\t".join(r) + "\n" for r in rows), encoding=encoding)
    return path


def test_tsv_file_gives_one_json_line_per_input_line_in_order(tmp_path: Path) -> None:
    res = run_cli("--program", YOUTH, str(write_tsv(tmp_path / "lines.tsv")))
    assert res.returncode == 0, res.stderr.decode()
    out = lines(res.stdout)
    assert out == expected(YOUTH)
    assert [o["verdict"] for o in out] == ["ng", "ok", "ng", "ok", "ng", "ok", "ng"]
    assert [o["reason"] for o in out] == ["sightseeing", None, "souvenir", None, "equipment", None, "social"]
    assert out[6]["matched"] == "ﾊﾟｰﾃｨｰ"
    assert set(out[0]) == {"verdict", "reason", "clause", "message_ja", "message_en", "matched"}


def test_csv_in_shift_jis_on_stdin_and_utf8_bom_give_the_same_lines(tmp_path: Path) -> None:
    csv_text = ",".join(HEADER) + "\r\n" + "".join(",".join(f'"{c}"' for c in r) + "\r\n" for r in ROWS)
    sjis = run_cli("--program", YOUTH, "-", stdin=csv_text.replace("￥", "").replace("¥", "").encode("cp932"))
    assert sjis.returncode == 0, sjis.stderr.decode()
    assert [o["verdict"] for o in lines(sjis.stdout)] == [o["verdict"] for o in expected(YOUTH)]
    bom = tmp_path / "lines.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + csv_text.encode("utf-8"))
    res = run_cli("--program", YOUTH, str(bom))
    assert res.returncode == 0 and lines(res.stdout) == expected(YOUTH)


def test_the_shinsei_entry_point_and_japanese_headers(tmp_path: Path) -> None:
    path = tmp_path / "費目.tsv"
    path.write_text("費目\t内容\t単価\t数量\n" + "".join("\t".join(r) + "\n" for r in ROWS), encoding="utf-8")
    res = run_cli("--program", YOUTH, str(path), module="pipeline.cli")
    assert res.returncode == 0, res.stderr.decode()
    assert lines(res.stdout) == expected(YOUTH)


def test_blank_lines_keep_their_place(tmp_path: Path) -> None:
    rows = [ROWS[0], ("", "", "", ""), ROWS[2]]
    path = tmp_path / "gaps.tsv"
    path.write_text("\t".join(HEADER) + "\n" + "\t".join(rows[0]) + "\n\n" + "\t".join(rows[2]) + "\n\n",
                    encoding="utf-8")
    out = lines(run_cli("--program", YOUTH, str(path)).stdout)
    assert [o["verdict"] for o in out] == ["ng", "ok", "ng"]


def test_a_program_column_chooses_the_pack_per_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.tsv"
    path.write_text("program\tcategory\tdescription\tunit_price\tquantity\n"
                    f"{YOUTH}\tIII 旅費\t往復航空券\t90000\t1\n"
                    f"{INDIA}\tI 滞在費\t往復航空券\t90000\t1\n", encoding="utf-8")
    out = lines(run_cli(str(path)).stdout)
    assert [(o["verdict"], o["reason"]) for o in out] == [("ok", None), ("ng", "travel")]


def test_a_bad_header_is_a_bilingual_error_naming_the_line() -> None:
    res = run_cli("--program", YOUTH, "-", stdin=b"cat\tdesc\tunit_price\tquantity\nx\ty\t1\t1\n")
    err = res.stderr.decode()
    assert res.returncode == 2 and res.stdout == b""
    assert "1行目" in err and "line 1" in err and "見出し" in err and "header" in err
    assert "category" in err and "description" in err


def test_an_unknown_program_is_a_bilingual_error(tmp_path: Path) -> None:
    res = run_cli("--program", "no-such-pack-2025", str(write_tsv(tmp_path / "l.tsv")))
    err = res.stderr.decode()
    assert res.returncode == 64 and "no-such-pack-2025" in err         # a bad option value: usage, as elsewhere
    assert "ありません" in err and "no rule pack" in err
    assert YOUTH in err                                               # says which packs exist
    per_line = tmp_path / "p.tsv"
    per_line.write_text("program\t" + "\t".join(HEADER) + f"\n{YOUTH}\tx\ty\t1\t1\nnope-2025\tx\ty\t1\t1\n",
                        encoding="utf-8")
    res = run_cli(str(per_line))
    assert res.returncode == 2 and "3行目" in res.stderr.decode() and "line 3" in res.stderr.decode()
    res = run_cli(str(write_tsv(tmp_path / "nopack.tsv")))
    assert res.returncode == 2 and "--program" in res.stderr.decode()


def test_an_unreadable_number_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    res = run_cli("--program", YOUTH, str(write_tsv(tmp_path / "n.tsv", [("I 物品費", "試薬", "高い", "")])))
    assert res.returncode == 0 and len(lines(res.stdout)) == 1
    assert "2行目" in res.stderr.decode() and "line 2" in res.stderr.decode()


@pytest.mark.parametrize("module", ["pipeline.eligibility.cli", "pipeline.cli"])
def test_help_explains_the_input_format_with_an_example(module: str) -> None:
    res = run_cli("--help", module=module)
    text = res.stdout.decode()
    assert res.returncode == 0
    assert "category<TAB>description<TAB>unit_price<TAB>quantity" in text
    assert "III 旅費<TAB>京都観光ツアー" in text and "Shift_JIS" in text and "JSON" in text


def test_score_option_prints_the_figures() -> None:
    corpus = Path(__file__).parent / "data" / "eligibility" / "holdout.tsv"
    res = run_cli("--score", str(corpus))
    assert res.returncode == 0 and "ng recall" in res.stdout.decode()


# ---- --format tsv | xlsx: each input line beside its verdict, for people ----------------------------

FORMAT_ROWS = [*ROWS, ("IV Other", "Admission tickets for the sightseeing tour", "1500", "3"),
               ("IV その他", '=HYPERLINK("http://x")', "1", "1")]


def test_tsv_repeats_each_line_beside_its_verdict_reason_and_clause(tmp_path: Path) -> None:
    res = run_cli("--program", YOUTH, "--format", "tsv", str(write_tsv(tmp_path / "l.tsv", FORMAT_ROWS)))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.startswith("\ufeff".encode())                      # Excel opens UTF-8 with a BOM
    table = list(csv.reader(io.StringIO(res.stdout.decode("utf-8-sig")), delimiter="\t"))
    header, body = table[0], table[1:]
    assert header[:6] == ["行 Line", "制度 Programme", "費目 Category", "内容 Description", "単価 Unit price",
                          "数量 Qty"]
    assert {"判定 Verdict", "理由", "Reason", "該当語 Matched words", "根拠 Clause"} <= set(header)
    col = {h: i for i, h in enumerate(header)}
    assert len(body) == len(FORMAT_ROWS)
    for (category, description, price, qty), row in zip(FORMAT_ROWS, body, strict=True):
        if not description.startswith("="):
            assert row[2:6] == [category, description, price, qty]          # the input, as typed
    first = body[0]
    assert first[col["判定 Verdict"]] == "対象外 ineligible" and first[col["理由"]] == "観光"
    assert first[col["Reason"]] == "sightseeing" and first[col["該当語 Matched words"]] == "観光ツアー"
    assert "2.(2)" in first[col["根拠 Clause"]]
    assert body[1][col["判定 Verdict"]] == "対象 eligible" and body[1][col["理由"]] == ""
    both = body[len(ROWS)]
    assert both[col["理由"]] == "見学料・入場料" and "観光にも当たります" in both[col["説明"]]
    assert body[-1][3].startswith("'=")                                  # a formula is shown, never run


def test_xlsx_has_the_worklist_look(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    out = tmp_path / "判定.xlsx"
    src = write_tsv(tmp_path / "l.tsv", FORMAT_ROWS)
    res = run_cli("--program", YOUTH, "--format", "xlsx", "-o", str(out), str(src))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b"" and f"wrote {len(FORMAT_ROWS)} lines" in res.stderr.decode()
    wb = openpyxl.load_workbook(out)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["行 Line", "制度 Programme", "費目 Category", "内容 Description"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9   # A4
    assert ws["A1"].fill.fgColor.rgb.endswith("DDEBF7") and ws["A1"].font.b
    verdict = header.index("判定 Verdict") + 1
    assert ws.cell(2, verdict).value == "対象外 ineligible" and ws.cell(3, verdict).value == "対象 eligible"
    assert ws.cell(2, header.index("単価 Unit price") + 1).value == 15000        # a number, shown with separators
    rules = [r for rng in ws.conditional_formatting for r in rng.rules]
    assert {r.text for r in rules} >= {"対象外", "要確認"}
    assert ws.cell(len(FORMAT_ROWS) + 1, 4).value.startswith("'=")


def test_xlsx_needs_an_output_file_and_a_tsv_can_go_to_one(tmp_path: Path) -> None:
    src = str(write_tsv(tmp_path / "l.tsv"))
    res = run_cli("--program", YOUTH, "--format", "xlsx", src)
    err = res.stderr.decode()
    assert res.returncode == 2 and res.stdout == b"" and "-o" in err and "出力ファイル" in err and "output file" in err
    res = run_cli("--program", YOUTH, "--format", "xlsx", "-o", str(tmp_path / "x.csv"), src)
    assert res.returncode == 2 and ".xlsx" in res.stderr.decode()
    res = run_cli("--program", YOUTH, "--format", "xlsx", "-o", str(tmp_path / "no" / "x.xlsx"), src)
    assert res.returncode == 2 and "folder" in res.stderr.decode()
    target = tmp_path / "out.tsv"
    assert run_cli("--program", YOUTH, "--format", "tsv", "-o", str(target), src).returncode == 0
    assert target.read_bytes().decode("utf-8-sig").startswith("行 Line\t")


def test_jsonl_stays_the_default_and_names_other_reasons(tmp_path: Path) -> None:
    res = run_cli("--program", YOUTH, str(write_tsv(tmp_path / "l.tsv", FORMAT_ROWS)))
    out = lines(res.stdout)
    assert out[:len(ROWS)] == expected(YOUTH)
    assert out[len(ROWS)]["reason"] == "admission" and out[len(ROWS)]["also"] == ["sightseeing"]


def test_india_lines_the_call_does_not_fund(tmp_path: Path) -> None:
    rows = [("II その他", "講師謝金", "30000", "1"), ("II その他", "会議室使用料", "15000", "2"),
            ("I 滞在費", "", "200000", "12")]
    out = lines(run_cli("--program", INDIA, str(write_tsv(tmp_path / "i.tsv", rows))).stdout)
    assert [(o["verdict"], o["reason"]) for o in out] == [("ng", "not_funded"), ("ng", "not_funded"),
                                                         ("review", "not_funded")]
