"""No single file stops a batch: template-built workbooks with hostile values, on SQLite and PostgreSQL.

Each case of tests/hostile_workbooks.py is validated alone (a located finding or a clean refusal,
never a traceback), then all of them are mixed with valid applications in a folder and a zip and
ingested through the CLI: every valid file is ok, every hostile one is quarantined or reported,
and review.xlsx keeps every submission's totals. The store's own guarantees (a failing file
quarantines only itself, values the database refuses never reach it, one run per folder and
database) are tested here too.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pipeline.ingest import tables
from pipeline.ingest.lock import IngestBusy, ingest_lock
from pipeline.ingest.run import ingest
from pipeline.ingest.store import Store, default_url, file_rows
from pipeline.safety import WorkbookRejected
from pipeline.samples import synthetic_applications
from pipeline.validate import read_raw, validate_file, validate_raw
from tests.hostile_workbooks import CASES, Case, write_case, write_valid
from tests.test_ingest import db_url, new_db  # noqa: F401 - fixtures: SQLite, and PostgreSQL when configured

VALID = 12


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_hostile_value_is_a_finding_or_a_refusal(case: Case, tmp_path: Path) -> None:
    path = write_case(case, tmp_path)
    if case.quarantine:
        with pytest.raises(WorkbookRejected) as refused:
            validate_file(path)
        assert refused.value.code == case.quarantine
        assert "None" not in refused.value.message_ja + refused.value.message_en
        return
    report = validate_file(path)
    codes = {f.code for f in report.findings}
    if case.finding:
        assert case.finding in codes, sorted(codes)
        found = next(f for f in report.findings if f.code == case.finding)
        assert found.location.sheet, found  # located: which sheet, which cell
    text = json.dumps(report.to_dict(with_submission=True), ensure_ascii=False)
    assert "\x00" not in text and "\\u0000" not in text
    text.encode("utf-8")  # nothing that cannot be written


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Case]]:
    """A folder: valid applications and every hostile case (twice where the pack allows), half of them zipped."""
    folder = tmp_path_factory.mktemp("mixed")
    made: dict[str, Case] = {}
    loose = folder / "loose"
    loose.mkdir()
    for case in CASES:
        made[write_case(case, loose).name] = case
    for case in CASES:  # the same hostile values again, as a different application of the other course
        if case.pack == "nexus-ytec-youth-2025" and case.after is None:
            twin = Case(case.name + "-instructor", "nexus-ytec-instructor-2025", case.change, case.finding,
                        case.quarantine)
            made[write_case(twin, loose).name] = twin
    write_valid(loose, VALID)
    files = sorted(loose.glob("*.xlsx"))
    with zipfile.ZipFile(folder / "受付.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files[::2]:
            zf.write(path, f"申請/{path.name}")
            path.unlink()
    return folder, made


def test_mixed_batch_every_valid_file_ok_every_hostile_one_reported(
        mixed: tuple[Path, dict[str, Case]], tmp_path: Path, db_url: str | None) -> None:  # noqa: F811
    folder, made = mixed
    assert len(made) >= 40
    out = tmp_path / "out"
    args = [sys.executable, "-m", "pipeline.cli", "ingest", str(folder / "loose"), str(folder / "受付.zip"),
            "--out", str(out), "--quiet", "--workers", "2"] + (["--db", db_url] if db_url else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    assert done.returncode == 1, done.stderr  # some files are quarantined

    store = Store(db_url or default_url(out))
    try:
        with store.engine.connect() as conn:
            files = {Path(r.name).name: r for r in conn.execute(select(tables.files))}
            codes: dict[str, set[str]] = {}
            for r in conn.execute(select(tables.findings.c.sha256, tables.findings.c.code)):
                codes.setdefault(r.sha256, set()).add(r.code)
    finally:
        store.close()
    assert len(files) == len(made) + VALID
    for name, row in files.items():
        case = made.get(name)
        if case is None:
            assert row.status == "ok", (name, row.error_code, row.error_en)
        elif case.quarantine:
            assert row.status == "quarantined" and row.error_code == case.quarantine, (name, row.error_code)
        else:
            assert row.status == "ok", (name, row.error_code, row.error_en)
            if case.finding:
                assert case.finding in codes[row.sha256], (name, codes[row.sha256])

    ok = [r for r in files.values() if r.status == "ok"]
    wb = openpyxl.load_workbook(out / "review.xlsx", read_only=True)
    rows = list(wb["Summary"].iter_rows(values_only=True))
    header = list(rows[0])
    assert len(header) < 100, "the Summary keeps a fixed set of columns"
    assert len(rows) - 1 == len(ok), "every submission has its row"
    total = header.index("総額 Total")
    for row in rows[1:]:
        assert isinstance(row[total], int | float), row
    quarantine = json.loads((out / "quarantine.json").read_text(encoding="utf-8"))
    assert {q["error_code"] for q in quarantine} == {c.quarantine for c in made.values() if c.quarantine}


def test_a_file_the_database_refuses_quarantines_only_itself(tmp_path: Path, db_url: str | None,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    paths = write_valid(folder, 6)
    victim = paths[3]
    from pipeline.filehash import file_sha256

    bad_sha = file_sha256(victim)
    original = Store._many

    def failing(self: Store, cur: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
        if table == "cost_items" and any(r[0] == bad_sha for r in rows):
            raise RuntimeError("injected failure while storing one file")
        original(self, cur, table, rows)

    monkeypatch.setattr(Store, "_many", failing)
    summary = ingest([folder], tmp_path / "out", db_url=db_url, workers=2, progress=False)
    assert summary.quarantined == 1 and summary.processed == 5 and summary.submissions == 5
    store = Store(db_url or default_url(tmp_path / "out"))
    try:
        with store.engine.connect() as conn:
            rows = {r.sha256: r for r in conn.execute(select(tables.files))}
            items = conn.execute(select(tables.cost_items.c.sha256).where(
                tables.cost_items.c.sha256 == bad_sha)).all()
    finally:
        store.close()
    assert rows[bad_sha].status == "quarantined" and rows[bad_sha].error_code == "internal-error"
    assert "injected failure" in rows[bad_sha].error_en
    assert not items, "nothing of the failed file is half-stored"
    assert all(r.status == "ok" for sha, r in rows.items() if sha != bad_sha)
    assert "injected failure" in caplog.text  # the traceback is in the log

    monkeypatch.setattr(Store, "_many", original)  # a later run with the failure gone: nothing changes for it
    again = ingest([folder], tmp_path / "out", db_url=db_url, workers=1, progress=False)
    assert again.processed == 0 and again.quarantined == 1


# ---- arbitrary values through the normaliser and into the database -----------------------------

_cells = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(st.characters(codec=None, categories=None), max_size=80),
    st.dates(), st.datetimes(),
    st.sampled_from(["9" * 400, "1e308", "-0", "¥-1,000", "令和999年1月1日", "#REF!", "#NAME?", "_x0000_",
                     "=SUM(A1)", "+cmd|' /C calc'!A0", "\x00\x01", "\ud800", "12,000円", "２０２６年度"]),
)


@pytest.fixture(scope="module")
def template_raw(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("raw")
    path = write_valid(folder, 1)[0]
    return read_raw(path, isolate=False)


@pytest.fixture(scope="module", params=["sqlite"] + (["postgresql"] if __import__("os").environ.get(
    "SHINSEI_TEST_PG_URL") else []))
def property_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "sqlite":
        store = Store(default_url(tmp_path_factory.mktemp("prop")))
        yield store
        store.close()
        return
    import os
    import uuid

    from sqlalchemy import create_engine, text

    pg = os.environ["SHINSEI_TEST_PG_URL"]
    admin = create_engine(pg.replace("postgresql://", "postgresql+psycopg://"))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    store = Store(f"{pg}?options=-csearch_path%3D{schema}")
    yield store
    store.close()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.lists(_cells, min_size=12, max_size=12), field=_cells, overhead=_cells)
def test_arbitrary_cell_values_normalise_and_store(template_raw: Any, property_store: Store,
                                                   row: list[Any], field: Any, overhead: Any) -> None:
    import copy
    import hashlib
    import uuid

    raw = copy.deepcopy(template_raw)
    budget = next(t for name, t in raw.tables.items() if "budget" in name.lower())
    excel_row, values = budget.rows[0]
    budget.rows[0] = (excel_row, (row + list(values))[: len(values)])
    raw.values["plan_institution"] = field
    raw.values["budget_overhead"] = overhead
    report = validate_raw(raw)  # never raises: every odd value is a finding
    doc = report.to_dict(with_submission=True)
    text = json.dumps(doc, ensure_ascii=False)
    assert "\x00" not in text
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()  # hypothesis may replay an example: a fresh file each time
    with property_store.engine.begin() as conn:
        conn.execute(tables.files.insert().values(sha256=sha, name="p.xlsx", size=1, first_run=1, status="pending"))
    doc.pop("seconds", None)
    rows = file_rows(sha, doc, (json.dumps(doc["submission"]).encode(), b"{}"))
    assert property_store.record([(sha, rows)]) == [], "the store takes every value the normaliser emits"


# ---- one run per folder and per database ---------------------------------------------------------

def test_a_second_ingest_refuses_then_waits(tmp_path: Path, db_url: str | None) -> None:  # noqa: F811
    folder = tmp_path / "in"
    folder.mkdir()
    write_valid(folder, 3)
    first, second = tmp_path / "first", tmp_path / "second"
    shared = db_url or f"sqlite:///{tmp_path / 'shared.db'}"
    with ingest_lock(first, shared):  # another run holds the database
        with pytest.raises(IngestBusy) as busy:
            ingest([folder], second, db_url=shared, workers=1, progress=False)
        assert "--wait" in busy.value.message_ja and "--wait" in busy.value.message_en
        assert not (second / "review.xlsx").exists()
    with ingest_lock(first, shared), pytest.raises(IngestBusy):  # the same output folder, another database
        ingest([folder], first, db_url=f"sqlite:///{tmp_path / 'other.db'}", workers=1, progress=False)

    hold = ingest_lock(first, shared)
    hold.__enter__()
    threading.Timer(1.0, hold.__exit__, (None, None, None)).start()
    summary = ingest([folder], second, db_url=shared, workers=1, progress=False, wait=30)
    assert summary.processed == 3


def test_two_output_folders_on_one_database_are_each_complete(tmp_path: Path, db_url: str | None) -> None:  # noqa: F811
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_valid(a, 3)
    for i, path in enumerate(write_valid(tmp_path, 5)[3:]):
        path.rename(b / f"b-{i}.xlsx")
    shared = db_url or f"sqlite:///{tmp_path / 'shared.db'}"
    ingest([a], tmp_path / "out-a", db_url=shared, workers=1, progress=False, json_dir=tmp_path / "out-a")
    summary = ingest([a, b], tmp_path / "out-b", db_url=shared, workers=1, progress=False,
                     json_dir=tmp_path / "out-b")
    assert summary.processed == 2 and summary.already_known == 3 and summary.submissions == 5
    assert len(list((tmp_path / "out-b" / "submissions").glob("*.json"))) == 5
    rows = list(openpyxl.load_workbook(tmp_path / "out-b" / "review.xlsx", read_only=True)["Summary"].values)
    assert len(rows) == 6


def test_concurrent_cli_ingests_on_one_database(tmp_path: Path, db_url: str | None) -> None:  # noqa: F811
    folder = tmp_path / "in"
    folder.mkdir()
    for pack_id, stem, data in synthetic_applications(8, seed=3):
        from pipeline.fill import fill_template

        fill_template(pack_id, data, folder / f"{stem}.xlsx")
    shared = db_url or f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", str(folder), "--out",
                               str(tmp_path / f"out{i}"), "--json-dir", str(tmp_path / f"out{i}"), "--db", shared,
                               "--quiet", "--wait", "120"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode in (0, 1), err
        assert "Traceback" not in out + err
    for i in range(2):
        assert len(list((tmp_path / f"out{i}" / "submissions").glob("*.json"))) >= 1
        assert (tmp_path / f"out{i}" / "review.xlsx").is_file()
    store = Store(shared)
    try:
        with store.engine.connect() as conn:
            statuses = [r.status for r in conn.execute(select(tables.runs))]
            files = conn.execute(select(tables.files)).all()
    finally:
        store.close()
    assert statuses == ["finished", "finished"]
    assert len(files) == 8 and all(f.status != "pending" for f in files)


def test_temp_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_valid(folder, 2)
    out = tmp_path / "out"
    ingest([folder], out, workers=1, progress=False)
    left = [out / "submissions" / ".shinsei-tmp-abc.json", out / "findings" / "x1y2.tmp",
            out / "exports" / "tmpab12.parquet", out / "tmpq9.xlsx", out / "staging" / "k.part",
            out / ".shinsei-tmp-review.xlsx", out / ".shinsei-tmp-k2j1" / "tmpab3"]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    store = Store(default_url(out))
    try:
        with store.engine.begin() as conn:  # and a run that was killed: still marked running
            conn.execute(tables.runs.insert().values(started_at="2026-12-04T00:00:00+00:00", status="running",
                                                     sources=[], files_seen=0, files_processed=0,
                                                     files_quarantined=0, version="0"))
    finally:
        store.close()
    ingest([folder], out, workers=1, progress=False)
    assert not [p for p in left if p.exists()]
    store = Store(default_url(out))
    try:
        with store.engine.connect() as conn:
            statuses = [r.status for r in conn.execute(select(tables.runs).order_by(tables.runs.c.id))]
    finally:
        store.close()
    assert statuses == ["finished", "interrupted", "finished"]


def test_ctrl_c_says_how_to_resume_and_exits_130(tmp_path: Path, make_workbook: Callable[..., Path]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    from pipeline.fill import fill_template

    for pack_id, stem, data in synthetic_applications(60, seed=5):
        fill_template(pack_id, data, folder / f"{stem}.xlsx")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", str(folder), "--out", str(out),
                             "--json-dir", str(out), "--quiet", "--workers", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((out / "submissions").glob("*.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode == 1 or proc.returncode == 0:
        pytest.skip("the ingest finished before Ctrl-C arrived")
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert "同じコマンド" in stderr and "run the same command again" in stderr
    resumed = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", str(folder), "--out", str(out),
                              "--json-dir", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(list((out / "submissions").glob("*.json"))) == 60
    assert not list(out.rglob(".shinsei-tmp-*"))
