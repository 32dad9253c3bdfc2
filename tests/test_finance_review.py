"""The finance review on real batches: the worklist in review.xlsx, decisions imported from it, the audit
log, decisions across resubmissions, totals after decisions, statuses, letters and audit samples.

Runs against SQLite, and against PostgreSQL when SHINSEI_TEST_PG_URL is set (as tests/test_ingest.py).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import delete, text, update

from pipeline.fill import fill_template
from pipeline.finance.decisions import DecisionError
from pipeline.finance.ledger import Conflict, Ledger
from pipeline.finance.sampling import sample
from pipeline.finance.sheet_import import ImportRefused, import_sheet
from pipeline.finance.worklist import APPLICATIONS_SHEET, FILES_SHEET, FLAGGED_SHEET, HEADERS, OVERVIEW_SHEET
from pipeline.ingest import tables as t
from pipeline.ingest.run import ingest
from pipeline.ingest.store import Store, default_url
from tests.finance_batch import FLAGGED_LINES, fill, worklist_rows, write_batch, youth_application
from tests.test_ingest import db_url, new_db  # noqa: F401  (fixtures: SQLite and PostgreSQL)

H = HEADERS


def _ingest(src: Path, out: Path, url: str | None) -> Ledger:
    ingest([src], out, db_url=url, workers=1, progress=False)
    store = Store(url or default_url(out))
    return Ledger(store.engine, store.reader)


@pytest.fixture
def batch(tmp_path: Path, db_url: str | None) -> tuple[Path, Path, str | None, Ledger]:  # noqa: F811
    src = tmp_path / "in"
    write_batch(src, 2)
    out = tmp_path / "out"
    return src, out, db_url, _ingest(src, out, db_url)


def _log(ledger: Ledger) -> list[dict[str, Any]]:
    return list(ledger.log())


def test_worklist_shows_every_flagged_line_with_clause_and_reviewer_columns(batch: Any) -> None:
    _src, out, _, ledger = batch
    header, rows = worklist_rows(out / "review.xlsx")
    apps = ledger.applications()
    assert len(apps) == 2
    # per application: the three ineligible lines, and the rule finding on money their cost causes
    assert len(rows) == sum(len(a.lines) for a in apps) == 2 * (len(FLAGGED_LINES) + 1)
    findings = [r for r in rows if r["判定 Verdict"].startswith("規程違反")]
    assert [r["内容 Description"] for r in findings] == ["budget.over-base-without-reason"] * 2
    assert all(r["金額 Amount"] == apps[0].totals["requested"] and "基本額" in r[H["quote"]] for r in findings)
    rows = [r for r in rows if r not in findings]
    described = {r[H["application"]].split(" / ")[1]: set() for r in rows}
    for r in rows:
        described[r[H["application"]].split(" / ")[1]].add(r["内容 Description"])
        assert r["判定 Verdict"].startswith("対象外")
        assert r[H["reason_ja"]] and r[H["reason_en"]] and r["根拠 Clause"] and r[H["quote"]]
        assert r[H["category_label"]] in ("III 旅費", "IV その他")          # as the call writes it
        assert r[H["category_code"]] in ("travel", "other")                  # the code, hidden
    assert all(d == {x["description"] for x in FLAGGED_LINES} for d in described.values())
    wb = openpyxl.load_workbook(out / "review.xlsx")
    ws = wb[FLAGGED_SHEET]
    hidden = {header[i - 1] for dim in ws.column_dimensions.values() if dim.hidden
              for i in range(dim.min, dim.max + 1)}  # adjacent columns alike are stored as one range
    assert hidden == {H["category_code"], H["submission_key"], H["sha256"], H["seq"]}
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert lists and "認める approve" in lists[0].formula1 and "認めない disallow" in lists[0].formula1
    assert ws.page_setup.paperSize == 9 and ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows
    assert "&P" in ws.oddFooter.center.text
    # per application: the flagged total is the flagged lines' amounts
    book = CalamineWorkbook.from_path(str(out / "review.xlsx"))
    apps_sheet = book.get_sheet_by_name(APPLICATIONS_SHEET).to_python()
    head = apps_sheet[0]
    flagged_total = sum(x["unit_price"] * x["quantity"] for x in FLAGGED_LINES)
    for row in apps_sheet[1:]:
        assert row[head.index(H["flagged"])] == flagged_total
        assert row[head.index(H["undecided"])] == len(FLAGGED_LINES) + 1
        assert row[head.index(H["status"])] == "受付 received"
    overview = [r[0] for r in book.get_sheet_by_name(OVERVIEW_SHEET).to_python() if r and r[0]]
    assert any("2 ファイル、2 申請、0 件は新しい版で置き換え" in line for line in overview)


def _decide_all(out: Path, tmp: Path, ledger: Ledger) -> tuple[Path, dict[str, dict[str, Any]]]:
    """A filled copy of the worklist: the party disallowed, the tour reduced, the souvenir approved (each app)."""
    _, rows = worklist_rows(out / "review.xlsx")
    decisions = {}
    for r in rows:
        d = r["内容 Description"]
        if "パーティー" in d:
            decisions[r[H["line_id"]]] = {"decision": "認めない disallow", "comment": "懇親会は対象外です（2.(2)）"}
        elif "観光" in d:
            decisions[r[H["line_id"]]] = {"decision": "減額", "allowed": 20000, "comment": "移動費のみ認めます",
                                          "internal_note": "バス代相当"}
        else:
            decisions[r[H["line_id"]]] = {"decision": "approve"}
    return fill(out / "review.xlsx", tmp / "filled.xlsx", decisions), decisions


def test_import_round_trip_totals_and_idempotence(batch: Any, tmp_path: Path) -> None:
    src, out, url, ledger = batch
    before = {a.key: a for a in ledger.applications()}
    filled, decisions = _decide_all(out, tmp_path, ledger)
    result = import_sheet(ledger, filled, "佐藤 経理")
    assert len(result.entries) == len(decisions) == 8
    again = import_sheet(ledger, filled, "佐藤 経理")
    assert again.entries == [] and again.unchanged == 8, "importing the same sheet twice changes nothing"
    log = _log(ledger)
    assert len(log) == 8 and {e["reviewer"] for e in log} == {"佐藤 経理"} and {e["source"] for e in log} == {"sheet"}
    for app in ledger.applications():
        # by hand: the party (100,000) cut, the tour 60,000 -> 20,000, the souvenir kept
        direct, overhead = before[app.key].totals["direct"], before[app.key].totals["overhead"]
        cut = 5000 * 20 + (15000 * 4 - 20000)
        allowed_direct = direct - cut
        new_overhead = min(math.floor(overhead * allowed_direct / direct), math.floor(allowed_direct * 0.10))
        assert app.totals["disallowed"] == cut
        assert app.totals["allowed_direct"] == allowed_direct
        assert app.totals["allowed_overhead"] == new_overhead
        assert app.totals["allowed_total"] == allowed_direct + new_overhead
        assert app.undecided == 0 and app.status == "in_review"
    # the next outputs show the decisions in the reviewer's columns
    ingest([src], out, db_url=url, workers=1, progress=False)
    _, rows = worklist_rows(out / "review.xlsx")
    shown = {r[H["line_id"]]: r for r in rows}
    for line_id, _d in decisions.items():
        assert shown[line_id][H["decision"]].split()[0] in ("認めない", "減額", "認める")
        assert shown[line_id][H["reviewer"]] == "佐藤 経理"
    assert {r[H["allowed"]] for r in rows if "観光" in r["内容 Description"]} == {20000}


BAD = {  # case -> (how the filled sheet is spoiled, words the refusal must contain)
    "unknown line id": (lambda row, other: {"line_id": "ffffffffffffffffffff"}, "データベースにありません"),
    "allowed above requested": (lambda row, other: {"decision": "減額", "allowed": 10_000_000, "comment": "x"},
                                "申請額"),
    "disallow without comment": (lambda row, other: {"decision": "認めない", "comment": None}, "連絡"),
    "line of another application": (lambda row, other: {"submission_key": other}, "申請のものではありません"),
    "not a decision": (lambda row, other: {"decision": "たぶんOK"}, "選択肢にありません"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_and_changes_nothing(batch: Any, tmp_path: Path, case: str) -> None:
    _, out, _, ledger = batch
    filled, _ = _decide_all(out, tmp_path, ledger)
    _, rows = worklist_rows(filled)
    first = rows[0]
    other = next(r[H["submission_key"]] for r in rows if r[H["submission_key"]] != first[H["submission_key"]])
    spoil, words = BAD[case]
    wb = openpyxl.load_workbook(filled)
    ws = wb[FLAGGED_SHEET]
    header = [c.value for c in ws[1]]
    for key, value in spoil(first, other).items():
        ws.cell(2, header.index(H[key]) + 1).value = value
    wb.save(filled)
    with pytest.raises(ImportRefused) as refused:
        import_sheet(ledger, filled, "佐藤")
    problems = refused.value.result.problems
    assert [p.row for p in problems] == [2] and words in problems[0].ja, problems
    assert _log(ledger) == [], "nothing was stored"


def test_stale_sheet_is_held_with_both_amounts(batch: Any, tmp_path: Path) -> None:
    _src, out, url, ledger = batch
    filled, _ = _decide_all(out, tmp_path, ledger)
    changed = youth_application(1)
    party = next(x for x in changed["budget"] if "パーティー" in x["description"])
    party["quantity"] = 30  # 150,000 instead of 100,000
    resubmitted = tmp_path / "again"
    fill_template("nexus-ytec-youth-2025", changed, resubmitted / "app1-v2.xlsx")
    ingest([resubmitted], out, db_url=url, workers=1, progress=False)
    with pytest.raises(ImportRefused) as refused:
        import_sheet(ledger, filled, "佐藤")
    stale = refused.value.result.problems
    assert len(stale) == 4 and all(p.stale for p in stale)  # the four lines of the resubmitted application
    party_note = next(p for p in stale if "100,000円" in p.ja)
    assert "150,000円" in party_note.ja and "150,000円" in party_note.en
    assert _log(ledger) == []
    held = import_sheet(ledger, filled, "佐藤", skip_stale=True)
    assert len(held.entries) == 4 and not {e["line_key"] for e in held.entries} & {p.line_id for p in stale}


def test_decisions_survive_a_resubmission_with_one_changed_line(batch: Any, tmp_path: Path) -> None:
    _src, out, url, ledger = batch
    filled, _ = _decide_all(out, tmp_path, ledger)
    import_sheet(ledger, filled, "佐藤")
    extra = {"category": "IV その他", "subcategory": "会議費", "description": "送別会 飲食代", "unit_price": 4000,
             "quantity": 10, "unit": "人", "fiscal_year": 2026}
    changed = youth_application(1, [*copy.deepcopy(FLAGGED_LINES), extra])
    tour = next(x for x in changed["budget"] if "観光" in x["description"])
    tour["unit_price"] = 18000
    fill_template("nexus-ytec-youth-2025", changed, tmp_path / "v2" / "app1-v2.xlsx")
    ingest([tmp_path / "v2"], out, db_url=url, workers=1, progress=False)
    app = next(a for a in ledger.applications() if a.versions == 2)
    by_text = {ln["description"]: ln for ln in app.lines}
    assert by_text["招へい者への記念品"]["decision"] == "approve" and by_text["招へい者への記念品"]["mark"] is None
    assert by_text["歓迎パーティー 飲食代"]["decision"] == "disallow"
    assert by_text["京都観光ツアー(招へい者)"]["decision"] is None
    assert by_text["京都観光ツアー(招へい者)"]["mark"] == "changed"
    assert by_text["送別会 飲食代"]["decision"] is None and by_text["送別会 飲食代"]["mark"] == "new"
    _, rows = worklist_rows(out / "review.xlsx")
    marks = {r["内容 Description"]: r[H["mark"]] for r in rows if r[H["submission_key"]] == app.key}
    tour_mark = marks["京都観光ツアー(招へい者)"]
    assert "前回審査から変更" in tour_mark and "前回 previous: 減額" in tour_mark
    assert "前回審査後に追加" in marks["送別会 飲食代"] and marks["招へい者への記念品"] is None
    files = CalamineWorkbook.from_path(str(out / "review.xlsx")).get_sheet_by_name(FILES_SHEET).to_python()
    superseded = [r for r in files[1:] if r[files[0].index(H["superseded"])]]
    assert [r[0] for r in superseded] == ["in/app1.xlsx"]


def test_the_log_is_append_only(batch: Any, tmp_path: Path) -> None:
    _, _out, _, ledger = batch
    app = ledger.applications()[0]
    line = app.lines[0]
    ledger.decide(line["line_key"], "query", reviewer="佐藤", seq=0, comment="内訳を送ってください")
    with pytest.raises(Conflict):  # writing over the first entry (seq 0 again) is refused, not applied
        ledger.decide(line["line_key"], "approve", reviewer="鈴木", seq=0)
    for statement in (update(t.review_log).values(reviewer="改ざん"), delete(t.review_log)):
        with pytest.raises(Exception, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(statement)
    if ledger.engine.dialect.name == "postgresql":
        with pytest.raises(Exception, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text("TRUNCATE review_log"))
    assert [(e["reviewer"], e["value"]) for e in _log(ledger)] == [("佐藤", "query")]
    ledger.decide(line["line_key"], "approve", reviewer="鈴木", seq=1)
    entries = [(e["seq"], e["previous"], e["value"]) for e in _log(ledger)]
    assert entries == [(1, None, "query"), (2, "query", "approve")]


def test_statuses_letters_and_the_eligible_guard(batch: Any, tmp_path: Path) -> None:
    _, out, _, ledger = batch
    app = ledger.applications()[0]
    with pytest.raises(DecisionError, match="未判断"):
        ledger.set_status(app.key, "eligible", reviewer="佐藤")
    filled, _ = _decide_all(out, tmp_path, ledger)
    import_sheet(ledger, filled, "佐藤")
    ledger.set_status(app.key, "changes_requested", reviewer="佐藤", comment="観光と懇親会を除いてください")
    with pytest.raises(DecisionError, match="変更できません"):
        ledger.set_status(app.key, "received", reviewer="佐藤")
    statuses = [(e["previous"], e["value"]) for e in _log(ledger) if e["kind"] == "status"]
    assert statuses == [("in_review", "changes_requested")]
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "review-log.schema.json").read_text("utf-8"))
    for entry in _log(ledger):  # every kind of entry is a valid decision record
        jsonschema.validate(entry, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**_log(ledger)[0], "value": "maybe"}, schema)
    from pipeline.finance.letters import write_letters

    written = write_letters(ledger, tmp_path / "letters", pdf=False)
    assert len(written) == 1
    cells = [c for row in CalamineWorkbook.from_path(str(written[0])).get_sheet_by_name(
        "修正依頼 Changes requested").to_python() for c in row if c]
    assert "懇親会は対象外です（2.(2)）" in cells and "移動費のみ認めます" in cells
    assert "バス代相当" not in cells, "internal notes never reach the applicant"


def test_sampling_is_reproducible(batch: Any) -> None:
    _, _out, _, ledger = batch
    first = sample(ledger, reviewer="監査", rate=0.3, seed="2026")
    picked = {e["line_key"] for e in first}
    assert sample(ledger, reviewer="監査", rate=0.3, seed="2026") == [], "the same rule marks nothing new"
    from pipeline.finance.sampling import drawn

    with ledger.reader.connect() as conn:
        all_lines = conn.execute(t.review_lines.select().where(t.review_lines.c.kind == "cost")).all()
    assert picked == {r.line_key for r in all_lines if drawn("2026", r.line_key, 0.3)}
    assert 0 < len(picked) < len(all_lines)
    above = sample(ledger, reviewer="監査", above=500_000)
    assert {e["line_key"] for e in above} == {r.line_key for r in all_lines if (r.amount or 0) >= 500_000}
    sampled = {ln["line_key"] for a in ledger.applications() for ln in a.lines if ln["sampled"]}
    assert sampled == picked | {e["line_key"] for e in above}


def _shinsei(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_import_refusal_log_and_status(batch: Any, tmp_path: Path) -> None:
    _, out, url, ledger = batch
    if url:
        pytest.skip("the CLI is run against the SQLite database of the output folder")
    filled, _ = _decide_all(out, tmp_path, ledger)
    wb = openpyxl.load_workbook(filled)
    ws = wb[FLAGGED_SHEET]
    header = [c.value for c in ws[1]]
    ws.cell(2, header.index(H["decision"]) + 1).value = "認めない"
    ws.cell(2, header.index(H["comment"]) + 1).value = None
    wb.save(tmp_path / "bad.xlsx")
    bad = _shinsei("review", "import", str(tmp_path / "bad.xlsx"), "--out", str(out), "--reviewer", "佐藤")
    assert bad.returncode == 1 and "何も取り込みませんでした" in bad.stderr and "行 row 2" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = _shinsei("review", "import", str(filled), "--out", str(out), "--reviewer", "佐藤")
    assert good.returncode == 0 and "8 decisions stored" in good.stdout and "review.xlsx" in good.stdout
    log = _shinsei("review", "log", "--out", str(out), "--csv")
    assert log.returncode == 0 and len(log.stdout.strip().splitlines()) == 1 + 8
    key = ledger.applications()[0].key
    st = _shinsei("review", "status", key[:8], "rejected", "--out", str(out), "--reviewer", "佐藤")
    assert st.returncode == 0 and "不採択 rejected" in st.stdout
    none = _shinsei("review", "log", "--out", str(tmp_path / "nowhere"))
    assert none.returncode == 2 and "shinsei ingest" in none.stderr and "Traceback" not in none.stderr
    exported = (out / "exports" / "review_log.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(exported) == 1 + 9  # the eight decisions and the status, in the exports too


def test_log_csv_keeps_a_comments_lone_carriage_return_in_its_field(batch: Any) -> None:
    """A comment with a lone carriage return (text pasted from an old Mac file) is one field of one row,
    in `review log --csv` and in exports/review_log.csv alike (Python 3.11's writer quotes it only when
    the line ends hold a CR)."""
    _, out, url, ledger = batch
    if url:
        pytest.skip("the CLI is run against the SQLite database of the output folder")
    from pipeline.finance.worklist import LOG_COLUMNS
    from pipeline.ingest.run import refresh_outputs

    key = ledger.applications()[0].key
    comment = "予算超過\r再提出を依頼"
    ledger.set_status(key, "rejected", reviewer="佐藤", comment=comment)
    log = subprocess.run([sys.executable, "-m", "pipeline.cli", "review", "log", "--out", str(out), "--csv"],
                         capture_output=True, timeout=300)
    assert log.returncode == 0, log.stderr.decode()
    rows = list(csv.reader(io.StringIO(log.stdout.decode(), newline="")))
    assert len(rows) == 2 and rows[1][LOG_COLUMNS.index("comment")] == comment
    assert refresh_outputs(out)
    with (out / "exports" / "review_log.csv").open(encoding="utf-8-sig", newline="") as fh:
        exported = list(csv.reader(fh))
    assert len(exported) == 2 and exported[1][LOG_COLUMNS.index("comment")] == comment


def test_every_flagged_line_of_every_sample_is_on_the_worklist(tmp_path: Path) -> None:
    """``shinsei ingest samples``: each sample is its own application, and no flagged line is out of sight."""
    from pipeline.finance.lines import _money_codes
    from pipeline.resources import samples_dir
    from pipeline.validate import validate_file

    samples = sorted(samples_dir().glob("*.xlsx"))
    out = tmp_path / "out"
    ingest([samples_dir()], out, workers=1, progress=False)
    _, rows = worklist_rows(out / "review.xlsx")
    shown: dict[str, list[str]] = {}
    for r in rows:
        shown.setdefault(r["ファイル File"].split("/")[-1], []).append(r["内容 Description"])
    store = Store(default_url(out))
    assert len(Ledger(store.engine, store.reader).applications()) == len(samples), "one application per sample"
    for path in samples:
        report = validate_file(path, isolate=False).to_dict()
        money = _money_codes(report["program"])
        expected = [f for f in report["findings"]
                    if (f["code"].startswith("cost.") and isinstance(f.get("actual"), dict)
                        and f["actual"]["verdict"] in ("ng", "review")) or f["code"] in money]
        assert len(shown.get(path.name, [])) == len(expected), path.name
    assert sum(len(v) for v in shown.values()) >= 10


def test_lexicon_suggest_reads_the_decisions(batch: Any, tmp_path: Path) -> None:
    """``shinsei lexicon suggest``: the lines finance approved though the classifier said ng, as a proposal."""
    _, out, url, ledger = batch
    if url:
        pytest.skip("the CLI is run against the SQLite database of the output folder")
    filled, _ = _decide_all(out, tmp_path, ledger)
    import_sheet(ledger, filled, "佐藤")
    decided = list(ledger.decided_lines())
    assert {d["decision"] for d in decided} == {"approve", "disallow", "reduce"} and all(d["verdict"] == "ng"
                                                                                         for d in decided)
    res = _shinsei("lexicon", "suggest", "--db", default_url(out))
    assert res.returncode == 0 and "Never applied automatically" in res.stdout
    assert "招へい者への記念品" in res.stdout  # approved although judged a souvenir: a proposal to look at


def test_migration_backfills_the_worklist_of_files_ingested_before_it(batch: Any) -> None:
    """A database from before revision 0003 gets the same worklist lines from its stored documents."""
    from alembic import command

    from pipeline.ingest.migrate import alembic_config

    _, out, url, ledger = batch
    with ledger.reader.connect() as conn:
        before = sorted(map(tuple, conn.execute(t.review_lines.select()).all()))
    assert before
    cfg = alembic_config()
    with ledger.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    again = Store(url or default_url(out))   # upgrades to the head: 0003 backfills review_lines
    with again.reader.connect() as conn:
        assert sorted(map(tuple, conn.execute(t.review_lines.select()).all())) == before


def test_a_worklist_saved_by_libreoffice_imports_the_same(batch: Any, tmp_path: Path,
                                                          libreoffice: Callable[..., Path]) -> None:
    """A reviewer's spreadsheet application re-saves the sheet (hidden columns, numbers as it stores them):
    the import reads the same decisions, and importing it after the original changes nothing."""
    _, out, _, ledger = batch
    filled, decisions = _decide_all(out, tmp_path, ledger)
    resaved = libreoffice(filled)
    result = import_sheet(ledger, resaved, "佐藤")
    assert len(result.entries) == len(decisions) and not result.problems
    assert {e["line_key"]: e["value"] for e in result.entries} == {
        k: {"認めない disallow": "disallow", "減額": "reduce", "approve": "approve"}[d["decision"]]
        for k, d in decisions.items()}
    assert {e["allowed"] for e in result.entries if e["value"] == "reduce"} == {20000}
    again = import_sheet(ledger, filled, "佐藤")
    assert again.entries == [] and again.unchanged == len(decisions)
