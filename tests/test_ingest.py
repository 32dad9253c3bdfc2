"""Bulk ingest on real files: idempotence, kill -9 and resume, quarantine, versions, cross-checks, review.

Runs against SQLite, and against PostgreSQL when SHINSEI_TEST_PG_URL is set (.ci/run sets it
where a local server answers).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text

from pipeline.fill import fill_template
from pipeline.ingest import tables
from pipeline.ingest.executor import InlineExecutor
from pipeline.ingest.run import ingest
from pipeline.ingest.store import Store, _db_row, _db_value, default_url
from pipeline.samples import synthetic_applications
from pipeline.submission import SheetError
from tests.conftest import soffice
from tests.test_hostile_validate import far_cell, ole2

PG = os.environ.get("SHINSEI_TEST_PG_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG else [])


@pytest.fixture(params=BACKENDS)
def new_db(request: pytest.FixtureRequest) -> Iterator[Callable[[], str | None]]:
    """A factory of empty databases: None (SQLite in the output folder) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield lambda: None
        return
    admin = create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
    made: list[str] = []

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        made.append(schema)
        return f"{PG}?options=-csearch_path%3D{schema}"

    try:
        yield make
    finally:
        with admin.begin() as conn:
            for schema in made:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def db_url(new_db: Callable[[], str | None]) -> str | None:
    return new_db()


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 12 distinct filled workbooks (clean and faulty) written by the templates."""
    folder = tmp_path_factory.mktemp("batch")
    for pack_id, stem, data in synthetic_applications(12, seed=1):
        fill_template(pack_id, data, folder / f"{stem}.xlsx")
    return folder


def outputs(out: Path) -> dict[str, str]:
    """Every output file and its hash, except the database files themselves."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith("shinsei.db")}


def dump(out: Path, db_url: str | None) -> dict[str, Any]:
    store = Store(db_url or f"sqlite:///{out / 'shinsei.db'}")
    try:
        return store.dump()
    finally:
        store.close()


def test_ingest_twice_changes_nothing(batch: Path, tmp_path: Path, db_url: str | None) -> None:
    out = tmp_path / "out"
    first = ingest([batch], out, db_url=db_url, workers=2, progress=False, json_dir=out)
    assert first.files_seen == 12 and first.processed == 12 and first.quarantined == 0
    assert first.submissions == 12
    assert set(first.phases) == {"discover", "files", "outputs"} and min(first.phases.values()) > 0
    # The CPU is told by phase and process: the files were read by the workers, review.xlsx by its child.
    assert first.cpu["files: workers"] > 0 and first.cpu["outputs: children"] > 0
    before_db, before_files = dump(out, db_url), outputs(out)
    second = ingest([batch], out, db_url=db_url, workers=2, progress=False, json_dir=out)
    assert second.processed == 0 and second.already_known == 12
    assert second.cpu["files: workers"] == 0 and second.cpu["outputs: children"] == 0  # no worker, no rebuild
    assert first.outputs_rebuilt and not second.outputs_rebuilt  # nothing changed: nothing rebuilt
    assert second.submissions == 12
    assert dump(out, db_url) == before_db
    assert outputs(out) == before_files
    for sha_json in (out / "submissions").glob("*.json"):
        from pipeline import schemas
        assert schemas.errors("submission", json.loads(sha_json.read_text(encoding="utf-8"))) == []


def _run_cli(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", *args, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("kill_after", [0, 3, 9])
def test_kill_9_and_resume_equals_uninterrupted(batch: Path, tmp_path: Path, new_db: Callable[[], str | None],
                                                kill_after: int) -> None:
    reference = tmp_path / "reference"
    ref_db, db_url = new_db(), new_db()
    ingest([batch], reference, db_url=ref_db, workers=1, progress=False, json_dir=reference)

    out = tmp_path / "killed"
    args = [str(batch), "--out", str(out), "--json-dir", str(out), "--workers", "1"] + (
        ["--db", db_url] if db_url else [])
    proc = _run_cli(args)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        done = len(list((out / "findings").glob("*.json"))) if (out / "findings").exists() else 0
        if done >= kill_after and (kill_after or (out / "shinsei.db").exists() or db_url):
            break
        time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for child in _children_of(proc.pid):
        os.kill(child, signal.SIGKILL)
    resumed = _run_cli(args)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read().decode() if resumed.stderr else ""
    assert outputs(out) == outputs(reference)
    assert dump(out, db_url) == dump(reference, ref_db)


def _children_of(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(x) for x in out.split()]


def test_quarantine_never_stops_the_batch(batch: Path, tmp_path: Path, db_url: str | None) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for p in sorted(batch.glob("*.xlsx"))[:3]:
        (mixed / p.name).write_bytes(p.read_bytes())
    ole2(mixed)                                              # encrypted / legacy
    (mixed / "old-format.xlsx").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"xls" * 900)  # .xls renamed
    (mixed / "corrupt.xlsx").write_bytes(b"PK\x03\x04" + os.urandom(2000))
    far_cell(mixed)                                          # would abort python-calamine
    wb = openpyxl.Workbook()
    wb.active["A1"] = "他の様式"
    wb.save(mixed / "unknown-template.xlsx")
    out = tmp_path / "out"
    summary = ingest([mixed], out, db_url=db_url, workers=2, progress=False)
    assert summary.processed == 3
    assert summary.quarantined == 5
    reasons = {q["name"].split("/")[-1]: q["error_code"] for q in json.loads((out / "quarantine.json").read_text())}
    assert reasons["暗号化.xlsx"] == "encrypted-or-xls" and reasons["old-format.xlsx"] == "encrypted-or-xls"
    assert reasons["corrupt.xlsx"] in ("corrupt-zip", "not-a-workbook")
    assert reasons["far.xlsx"] == "sheet-too-large"  # named after its worker died (run._named)
    assert reasons["unknown-template.xlsx"] == "unknown-template"
    review = openpyxl.load_workbook(out / "review.xlsx", read_only=True)
    assert review["Quarantine"].max_row == 6
    # where, as `shinsei validate` says it: the part and the row of the far cell, in every output that lists it
    from pipeline.safety import WorkbookRejected, precheck

    with pytest.raises(WorkbookRejected) as said:
        precheck(mixed / "far.xlsx")
    where = said.value.detail
    assert "sheet1.xml" in where and "1,048,576" in where
    detail = {q["name"].split("/")[-1]: q["error_detail"] for q in json.loads((out / "quarantine.json").read_text())}
    assert detail["far.xlsx"] == where
    sheet = [[c.value for c in row] for row in review["Quarantine"].iter_rows()]
    column = sheet[0].index("詳細（どこが） Detail (where)")
    assert [row[column] for row in sheet if row[0].endswith("far.xlsx")] == [where]
    for table in ("quarantine", "files"):
        with (out / "exports" / f"{table}.csv").open(encoding="utf-8-sig", newline="") as fh:
            assert [r["error_detail"] for r in csv.DictReader(fh) if r["name"].endswith("far.xlsx")] == [where], table


def test_progress_goes_to_stderr_and_names_the_outputs_phase(batch: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    ingest([batch], tmp_path / "out", executor=InlineExecutor(), progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout stays clean for --json and pipes
    assert "12/12" in captured.err and "files/s" in captured.err
    assert "review.xlsx" in captured.err.splitlines()[-1]


def test_cli_exit_code_and_summary(batch: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", str(batch), "--out", str(out), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["files_seen"] == 12 and summary["quarantined"] == 0


def test_zip_archives_with_japanese_names(tmp_path: Path, make_workbook: Callable, base: Callable) -> None:
    wb_path = make_workbook("nexus-ytec-youth-2025", base("nexus-ytec-youth-2025"))
    data = wb_path.read_bytes()
    name = "2025年度若手人材交流プログラム申請_交流計画書（東都大学）.xlsx"
    utf8 = tmp_path / "utf8.zip"
    with zipfile.ZipFile(utf8, "w") as zf:
        zf.writestr(name, data)
    legacy = tmp_path / "cp932.zip"        # as written by Windows tools: cp932 bytes, no UTF-8 flag
    with zipfile.ZipFile(legacy, "w") as zf:
        zf.writestr(_Cp932Info(name), data)
    out = tmp_path / "out"
    summary = ingest([utf8, legacy], out, executor=InlineExecutor(), progress=False)
    assert summary.files_seen == 2 and summary.processed == 1 and summary.already_known == 1  # same content
    stored = Store(f"sqlite:///{out / 'shinsei.db'}")
    try:
        names = [f[1] for f in stored.dump()["files"]]
    finally:
        stored.close()
    assert names == [f"cp932.zip/{name}"] or names == [f"utf8.zip/{name}"]


class _Cp932Info(zipfile.ZipInfo):
    """A member name stored as cp932 bytes without the UTF-8 flag, as Windows archivers write it."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("cp932"), self.flag_bits & ~0x800


def test_changed_file_is_a_new_version(tmp_path: Path, base: Callable) -> None:
    data = base("nexus-ytec-youth-2025")
    first = tmp_path / "in1"
    fill_template("nexus-ytec-youth-2025", data, first / "plan.xlsx")
    out = tmp_path / "out"
    ingest([first], out, executor=InlineExecutor(), progress=False)
    data["totals"]["overhead"] = 500_000
    second = tmp_path / "in2"
    fill_template("nexus-ytec-youth-2025", data, second / "plan-revised.xlsx")
    summary = ingest([second], out, executor=InlineExecutor(), progress=False)
    assert summary.submissions == 1 and summary.outputs_rebuilt
    review = openpyxl.load_workbook(out / "review.xlsx", read_only=True)
    rows = list(review["Summary"].iter_rows(values_only=True))
    header = rows[0]
    assert len(rows) == 2
    assert rows[1][header.index("一般管理費 Overhead")] == 500_000
    assert rows[1][header.index("版 Versions")] == 2


def test_cross_checks(tmp_path: Path, base: Callable) -> None:
    folder = tmp_path / "in"
    youth = base("nexus-ytec-youth-2025")
    fill_template("nexus-ytec-youth-2025", youth, folder / "a.xlsx")
    second = base("nexus-ytec-youth-2025")
    second["plan"]["title_ja"] = "別の交流計画"            # same PI, same course, another plan
    second["participants"] = second["participants"][:1]
    second["participants"][0]["name"] = "Somebody Else"
    second["visits"] = [v for v in second["visits"] if v["participant_no"] == 1]
    fill_template("nexus-ytec-youth-2025", second, folder / "b.xlsx")
    instr = base("nexus-ytec-instructor-2025")
    instr["participants"][0].update(name=youth["participants"][2]["name"],
                                    birth_date=youth["participants"][2]["birth_date"])
    fill_template("nexus-ytec-instructor-2025", instr, folder / "c.xlsx")
    india1 = base("india-circulation-2025")
    fill_template("india-circulation-2025", india1, folder / "d.xlsx")
    india2 = base("india-circulation-2025")
    india2["plan"]["pi_name"] = "別の 教員"
    fill_template("india-circulation-2025", india2, folder / "e.xlsx")
    out = tmp_path / "out"
    ingest([folder], out, executor=InlineExecutor(), progress=False)
    cross = json.loads((out / "crosscheck.json").read_text(encoding="utf-8"))
    codes = {c["code"]: c for c in cross}
    assert set(codes) >= {"cross.same-pi-same-course", "cross.same-person-both-courses", "cross.same-invitee",
                          "cross.overlapping-stays"}
    assert sorted(codes["cross.same-pi-same-course"]["files"]) == ["in/a.xlsx", "in/b.xlsx"]
    assert sorted(codes["cross.same-person-both-courses"]["files"]) == ["in/a.xlsx", "in/c.xlsx"]
    assert codes["cross.same-invitee"]["clause_section"].startswith("1.5(1)")
    assert codes["cross.same-pi-same-course"]["clause_section"].startswith("3.(3)")

    # review.xlsx's child closes every other sheet while the parent runs the cross-checks, then fills theirs:
    # the sheets keep their order, and the late ones their rows
    from pipeline.finance import worklist

    review = openpyxl.load_workbook(out / "review.xlsx", read_only=True)
    assert review.sheetnames == [worklist.OVERVIEW_SHEET, worklist.FLAGGED_SHEET, worklist.APPLICATIONS_SHEET,
                                 "Summary", "Items", "Unknown categories", "Findings", "Cross-checks", "By country",
                                 "By institution", "By counterpart", worklist.FILES_SHEET, "Quarantine", "Charts"]
    assert len(list(review["Cross-checks"].iter_rows(values_only=True))) - 1 == len(cross)
    assert len(list(review[worklist.FILES_SHEET].iter_rows(values_only=True))) - 1 == 5
    summary = list(review["Summary"].iter_rows(values_only=True))
    for dim in ("country", "institution", "counterpart"):  # each table shares out every application's amount
        table = list(review[f"By {dim}"].iter_rows(values_only=True))
        assert sum(r[3] for r in table[1:]) == sum(r[summary[0].index("総額 Total")] for r in summary[1:]) > 0


def test_the_cross_checks_read_each_stored_document_without_its_bulk(batch: Path, tmp_path: Path,
                                                                     db_url: str | None) -> None:
    """The slim documents the cross-checks and the names read are cut from the documents the rows are read
    from: the stored submission without its cell map, stated values and cost tables, on either database."""
    from pipeline.ingest.outputs import _heavy, slim_document, submissions

    out = tmp_path / "out"
    ingest([batch], out, db_url=db_url, executor=InlineExecutor(), progress=False)
    store = Store(db_url or default_url(out))
    try:
        latest = store.latest()
        seen = 0
        for doc, _ in submissions(store, latest):
            slim, heavy = slim_document(doc), _heavy(doc["program"])
            assert {"source", "budget"} <= heavy & set(doc["submission"])  # there was bulk to cut
            assert slim["submission"] == {k: v for k, v in doc["submission"].items() if k not in heavy}
            assert dict(slim) == {k: doc[k] for k in ("key", "program", "sha256", "file", "versions")}
            seen += 1
        assert seen == len(latest) > 1
    finally:
        store.close()


def test_review_workbook_totals_and_formula_safety(tmp_path: Path, base: Callable, batch: Path) -> None:
    folder = tmp_path / "in"
    data = base("nexus-ytec-youth-2025")
    data["budget"].append({"category": "IV その他", "description": "=HYPERLINK(\"http://evil\",\"click\")",
                           "unit_price": 1000, "quantity": 1})
    data["plan"]["institution"] = "@SUM(1+1)大学"
    fill_template("nexus-ytec-youth-2025", data, folder / "evil.xlsx")
    for p in sorted(batch.glob("*.xlsx"))[:4]:
        (folder / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "out"
    ingest([folder], out, executor=InlineExecutor(), progress=False, json_dir=out)
    assert len(list((out / "submissions").glob("*.json"))) == 5
    review = openpyxl.load_workbook(out / "review.xlsx")
    for ws in review.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert not (isinstance(c.value, str) and c.value[:1] in "=+-@"), (ws.title, c.coordinate, c.value)
                assert c.data_type != "f", (ws.title, c.coordinate)
    summary = list(review["Summary"].iter_rows(values_only=True))
    header = summary[0]
    totals = {r[header.index("ファイル File")]: r[header.index("総額 Total")] for r in summary[1:]}
    for sha_json in (out / "submissions").glob("*.json"):
        sub = json.loads(sha_json.read_text(encoding="utf-8"))
        assert totals[sub["source"]["file"]] == sum(b["amount"] for b in sub["budget"]) + sub["totals"]["overhead"]
    items = list(review["Items"].iter_rows(values_only=True))
    assert len(items) - 1 == sum(len(json.loads(p.read_text(encoding="utf-8"))["budget"])
                                 for p in (out / "submissions").glob("*.json"))
    csv_text = (out / "exports" / "items.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in csv_text and ",=HYPERLINK" not in csv_text
    assert (out / "exports" / "items.parquet").is_file()


@pytest.mark.skipif(soffice() is None, reason="LibreOffice is not installed")
def test_review_opens_in_libreoffice(batch: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ingest([batch], out, workers=2, progress=False)
    res = subprocess.run([soffice(), f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless",
                          "--convert-to", "pdf", "--outdir", str(tmp_path / "pdf"), str(out / "review.xlsx")],
                         capture_output=True, text=True, timeout=180)
    pdf = tmp_path / "pdf" / "review.pdf"
    assert res.returncode == 0 and pdf.is_file() and pdf.stat().st_size > 1000, res.stderr
    assert "repair" not in (res.stdout + res.stderr).lower()


@pytest.mark.parametrize("latest_pi", ["YAMADA HANAKO", "yamada hanako"])
def test_submission_is_named_by_its_latest_version(tmp_path: Path, base: Callable, latest_pi: str) -> None:
    """Two versions whose PI differs only in case are one submission (the key folds case); the submission's
    stored PI comes from the latest version, whatever order the workers finished in."""
    data = base("nexus-ytec-youth-2025")
    data["plan"]["title_en"] = "Hydrogen exchange"
    folder = tmp_path / "in"
    data["plan"]["pi_name"] = "yamada hanako" if latest_pi == "YAMADA HANAKO" else "YAMADA HANAKO"
    fill_template("nexus-ytec-youth-2025", data, folder / "a-first.xlsx")
    data["plan"]["pi_name"] = latest_pi
    data["totals"]["overhead"] = 500_000
    fill_template("nexus-ytec-youth-2025", data, folder / "b-revised.xlsx")
    out = tmp_path / "out"
    summary = ingest([folder], out, executor=InlineExecutor(), progress=False)
    assert summary.submissions == 1
    store = Store(default_url(out))
    try:
        with store.engine.connect() as conn:
            pi = conn.execute(select(tables.submissions.c.pi_name)).scalar_one()
    finally:
        store.close()
    assert pi == latest_pi


def test_migrate_head_constant_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from pipeline.ingest.migrate import HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


def test_the_replayed_sqlite_schema_is_what_alembic_builds() -> None:
    """migrations/sqlite_head.sql, which a new SQLite database replays, is generated from the migrations:
    a migration added or changed without regenerating it fails here."""
    from pipeline.ingest.migrate import SQLITE_HEAD, sqlite_schema_by_alembic

    assert SQLITE_HEAD.read_text(encoding="utf-8") == sqlite_schema_by_alembic(), \
        "regenerate it: python -m pipeline.ingest.migrate"


def test_a_new_sqlite_database_gets_alembics_schema_without_loading_alembic(tmp_path: Path) -> None:
    """The same tables, indexes, triggers and revision as Alembic's migrations give, Alembic never imported;
    the append-only trigger works; a database Alembic built and the replayed one then upgrade alike."""
    code = ("import sys; from pipeline.ingest.store import Store; Store(sys.argv[1]).close(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))")
    replayed = f"sqlite:///{tmp_path / 'replayed.db'}"
    res = subprocess.run([sys.executable, "-c", code, replayed], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"

    from alembic import command

    from pipeline.ingest.migrate import alembic_config

    by_alembic = create_engine(f"sqlite:///{tmp_path / 'alembic.db'}")
    cfg = alembic_config()
    with by_alembic.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    def schema(engine: Any) -> list[tuple[str, ...]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"))
            version = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            return [(kind, name, table, " ".join((sql or "").split())) for kind, name, table, sql in rows] + version

    new = create_engine(replayed)
    assert schema(new) == schema(by_alembic)
    assert {row[0] for row in schema(new)} >= {"table", "index", "trigger"}
    with new.begin() as conn:
        conn.execute(text("INSERT INTO review_log (at, reviewer, kind, subject, seq, submission_key, value, source) "
                          "VALUES ('t', 'r', 'line', 's', 1, 'k', 'approve', 'web')"))
    with pytest.raises(Exception, match="append-only"), new.begin() as conn:
        conn.execute(text("DELETE FROM review_log"))
    new.dispose()
    by_alembic.dispose()


@pytest.mark.parametrize("fails", ["review child", "parent"])
def test_a_failed_output_build_leaves_nothing_half_written(batch: Path, tmp_path: Path, fails: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """review.xlsx and the Parquet exports are written by a forked child from rows the parent works out,
    writes to the CSV exports and pipes to it (pipeline.ingest.outputs).

    Either side failing midway fails the run with that side's error, leaves no temporary file and no
    marker saying the outputs are current; the next run builds the same outputs as a run that never failed.
    """
    from pipeline.ingest import outputs as outputs_module
    from pipeline.ingest import review as review_module
    from pipeline.settings import TEMP_PREFIX

    reference = tmp_path / "reference"
    ingest([batch], reference, workers=1, progress=False)

    out = tmp_path / "out"
    calls = {"n": 0}

    def broken(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:  # midway: some rows were sent, written and piped before it
            raise RuntimeError(f"{fails} failed on purpose")
        return real(*args)

    # the child is forked during the run: it has the patch too, but only one side calls each of these
    owner, name = ((review_module.ReviewWriter, "add_submission") if fails == "review child"
                   else (outputs_module, "submission_rows"))
    real = getattr(owner, name)
    monkeypatch.setattr(owner, name, broken)
    with pytest.raises(Exception, match=f"{fails} failed on purpose"):
        ingest([batch], out, workers=1, progress=False)
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)], "no temporary file left"
    assert not (out / ".shinsei-outputs").exists()

    monkeypatch.setattr(owner, name, real)
    again = ingest([batch], out, workers=1, progress=False)
    assert again.outputs_rebuilt and again.processed == 0  # the files were stored; only the outputs remained
    assert outputs(out) == outputs(reference)


def test_the_files_are_listed_in_a_child_while_the_database_opens(batch: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """ingest() hashes the files in a forked child while it imports the store and opens the database
    (pipeline.ingest.run), neither of which loads SQLAlchemy (~0.15 s of CPU: pipeline.ingest.database); and
    a listing that fails in the child fails the run with its own error, before the database is written to.
    """
    code = ("import sys, pipeline.ingest.run, pipeline.ingest.store, pipeline.ingest.outputs; "
            "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]", "SQLAlchemy is imported with the ingest"

    from pipeline.ingest import run as run_module

    listed_by: list[int] = []

    def unreadable(sources: list[Any], staging: Path) -> Any:
        listed_by.append(os.getpid())  # in the child: the parent's list stays empty
        raise PermissionError(13, "Permission denied", str(Path(sources[0]) / "locked.xlsx"))

    monkeypatch.setattr(run_module, "discover", unreadable)
    out = tmp_path / "out"
    with pytest.raises(PermissionError) as raised:
        ingest([batch], out, workers=1, progress=False)
    assert raised.value.filename == str(batch / "locked.xlsx")  # the CLI names the file from this
    assert listed_by == []
    engine = create_engine(f"sqlite:///{out / 'shinsei.db'}")
    with engine.connect() as conn:  # nothing registered: the run never started
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM files")).scalar() == 0
    engine.dispose()

    monkeypatch.undo()
    summary = ingest([batch], out, workers=1, progress=False)
    assert summary.processed == summary.files_seen == len(list(batch.glob("*.xlsx")))


@pytest.mark.parametrize("umask", [0o002, 0o077])
def test_outputs_get_the_mode_a_new_file_gets(batch: Path, tmp_path: Path, umask: int) -> None:
    """Every output is written aside and renamed into place; the temporary file's owner-only mode (mkstemp's
    0600) must not stick: in a folder the secretariat shares, colleagues read review.xlsx and the exports."""
    out, docs = tmp_path / "out", tmp_path / "json"
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", str(batch), "--out", str(out),
                          "--json-dir", str(docs), "--quiet"], capture_output=True, text=True, check=False,
                         preexec_fn=lambda: os.umask(umask))
    assert res.returncode in (0, 1), res.stderr[-2000:]
    written = [out / "review.xlsx", out / "quarantine.json", out / "crosscheck.json",
               *(out / "exports").iterdir(), *docs.rglob("*.json")]
    assert len(written) > 20
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in written}
    assert set(modes.values()) == {oct(0o666 & ~umask)}, modes


@pytest.mark.parametrize(("value", "stored"), [
    ("航空券\x00代", "航空券代"), (SheetError("#REF!\x00"), "#REF!"), ("plain", "plain"),
    (2**63 - 1, 2**63 - 1), (-(2**63 - 1), -(2**63 - 1)), (2**63, None), (-(10**30), None),
    (True, True), (False, False), (None, None), (2.5, 2.5), (float("inf"), None), (float("nan"), None),
])
def test_what_the_database_is_given(value: Any, stored: Any) -> None:
    """Text without NUL (a str subclass too), integers within BIGINT, finite floats; booleans stay booleans."""
    got = _db_value(value)
    assert got == stored and type(got) is type(stored)


_values = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5),
                    st.sampled_from(["a\x00b", SheetError("#N/A\x00"), 2**63 - 1, 2**63, -(2**63)]))


@settings(max_examples=300, deadline=None)
@given(row=st.lists(_values, max_size=8))
def test_a_row_is_given_to_the_database_as_its_values_are(row: list[Any]) -> None:
    """_db_row's one pass gives the row _db_value gives value by value, whatever the row holds."""
    got, expected = _db_row(row), tuple(map(_db_value, row))
    assert [type(v) for v in got] == [type(v) for v in expected]
    assert all(g == e or (g != g and e != e) for g, e in zip(got, expected, strict=True))
