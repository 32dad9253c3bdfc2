"""Database access of the ingest: one transaction per file, deterministic keys, SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import math
from collections.abc import Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Engine, bindparam, create_engine, delete, event, func, insert, select, update

from pipeline import __version__
from pipeline.ingest import tables as t
from pipeline.ingest.migrate import upgrade
from pipeline.ingest.sources import Skipped, SourceFile

# identity: the fields the form's ``identity`` names
from pipeline.packs import Pack, load_pack, search_folders, submission_key

log = logging.getLogger("shinsei.ingest")


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'shinsei.db').resolve()}"


def make_engine(url: str, *, deferred: bool = False) -> Engine:
    """An engine for ``url``. On SQLite every transaction takes the write lock at BEGIN (IMMEDIATE), so two
    writers queue instead of failing half-way; ``deferred`` makes one for reading only, whose snapshot
    (WAL) neither waits for a writer nor makes one wait."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # orjson parses the stored documents (JSON on SQLite, JSONB on PostgreSQL) ~5x faster than the json module
    engine = create_engine(url, future=True, json_deserializer=orjson.loads,
                           json_serializer=lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode())
    if engine.dialect.name == "sqlite":
        # pysqlite runs DDL outside transactions: a run killed during a migration would leave half a
        # schema. Take over BEGIN so every transaction, DDL included, is all or nothing.
        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            conn.isolation_level = None
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")
    return engine


@functools.cache
def packs_fingerprint() -> str:
    """A hash of every rule pack, form and lexicon file: a changed pack rebuilds the outputs.

    Cached for the process: packs do not change while an ingest runs."""
    h = hashlib.sha256()
    for folder in search_folders():  # the shipped packs, and any on SHINSEI_PACKS_PATH
        for path in sorted(folder.rglob("*.yaml")):
            h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.reader = make_engine(url, deferred=True) if self.engine.dialect.name == "sqlite" else self.engine
        self._sql = self._statements()

    # -- runs ------------------------------------------------------------------------------------
    def start_run(self, sources: list[str], found: list[SourceFile], refused: list[Skipped]) -> tuple[int, set[str]]:
        """A new run with every file it lists, in one transaction; returns its id and the hashes still to process.

        Any run still marked running was killed (the caller holds the ingest lock). One transaction: a
        run killed before it leaves nothing, one killed after it has listed every file, so the files'
        first run (which orders versions) is what an uninterrupted run gives them."""
        with self.engine.begin() as conn:
            conn.execute(update(t.runs).where(t.runs.c.status == "running").values(status="interrupted"))
            res = conn.execute(insert(t.runs).values(started_at=_now(), status="running", sources=sources,
                                                     files_seen=0, files_processed=0, files_quarantined=0,
                                                     version=__version__))
            run_id = int(res.inserted_primary_key[0])
            todo = self._register(conn, found, run_id)
            self._register_refused(conn, refused, run_id)
        return run_id, todo

    def finish_run(self, run_id: int, seen: int, processed: int, quarantined: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(
                finished_at=_now(), status="finished", files_seen=seen, files_processed=processed,
                files_quarantined=quarantined))

    # -- files -----------------------------------------------------------------------------------
    def _register(self, conn: Any, found: list[SourceFile], run_id: int) -> set[str]:
        """Record every listed file; return the hashes still to process."""
        known = {row.sha256: row.status for row in conn.execute(select(t.files.c.sha256, t.files.c.status))}
        new = {}
        for f in found:
            if f.sha256 not in known and f.sha256 not in new:
                new[f.sha256] = {"sha256": f.sha256, "name": f.name, "size": f.size, "first_run": run_id,
                                 "status": "pending"}
        if new:
            conn.execute(insert(t.files), list(new.values()))
        return {sha for sha, status in known.items() if status == "pending"} | set(new)

    def _register_refused(self, conn: Any, refused: list[Skipped], run_id: int) -> None:
        """Record every file sent that is not a workbook as quarantined, with its reason and advice.

        The secretariat sees every file an applicant sent (the Quarantine and Files sheets,
        quarantine.json); a file already recorded is left as it is.
        """
        rows: dict[str, dict[str, Any]] = {}
        for item in refused:
            rows.setdefault(item.record_id, {
                "sha256": item.record_id, "name": item.name, "size": item.size, "first_run": run_id,
                "status": "quarantined", "error_code": item.code or "not-a-workbook-file",
                "error_ja": item.reason_ja, "error_en": item.reason_en})
        if not rows:
            return
        known = set(conn.execute(select(t.files.c.sha256).where(t.files.c.sha256.in_(list(rows)))).scalars())
        new = [{k: _db_value(v) for k, v in row.items()} for sha, row in rows.items() if sha not in known]
        if new:
            conn.execute(insert(t.files), new)

    def record(self, results: list[tuple[str, FileRows | Quarantine]]) -> list[str]:
        """Store a batch of files in one transaction: each file's rows are all there or none are.

        Batching amortises the commit and turns ~11 statements per file into ~8 per batch (one
        executemany per table). A killed run loses at most the batch in flight, whose files stay
        pending and are processed again, with identical results, by the next run.

        A file can only ever quarantine itself: when the batch fails, each file is stored alone, and a
        file whose rows the database still refuses is quarantined as ``internal-error`` (its traceback
        logged). Returns the hashes quarantined that way.
        """
        if not results:
            return []
        try:
            self._record(results)
            return []
        except Exception:
            if len(results) == 1 and isinstance(results[0][1], Quarantine):
                raise  # storing a quarantine record failed: the database itself is unusable
        failed = []
        for sha, result in results:
            try:
                self._record([(sha, result)])
            except Exception as exc:
                log.error("storing %s failed; quarantined as internal-error", sha, exc_info=True)
                self._record([(sha, internal_error(exc, "storing"))])
                failed.append(sha)
        return failed

    def _record(self, results: list[tuple[str, FileRows | Quarantine]]) -> None:
        ok = [(sha, r) for sha, r in results if isinstance(r, FileRows)]
        bad = [tuple(map(_db_value, (r.code, r.message_ja, r.message_en, sha)))
               for sha, r in results if isinstance(r, Quarantine)]
        with self.engine.begin() as conn:
            if ok:
                shas = [sha for sha, _ in ok]
                for table in (t.participants, t.cost_items, t.findings, t.review_lines, t.documents):  # resumed files
                    conn.execute(delete(table).where(table.c.sha256.in_(shas)))
                keys = sorted({r.key for _, r in ok})
                have = set(conn.execute(select(t.submissions.c.key).where(t.submissions.c.key.in_(keys))).scalars())
                subs = []
                for sha, r in ok:  # a provisional name: name_submissions sets it from the latest version
                    if r.key not in have:
                        have.add(r.key)
                        subs.append((r.key, r.program, r.institution, r.pi_name, r.title, sha, 1))
                self._many(conn, t.submissions, subs)
                for table, part in ((t.participants, 0), (t.cost_items, 1), (t.findings, 2), (t.review_lines, 3)):
                    self._many(conn, table, [row for _, r in ok for row in r.rows[part]])
                self._many(conn, t.documents, [(sha, r.program, *r.documents) for sha, r in ok])
                conn.exec_driver_sql(self._sql["file_ok"], [("ok", r.program, r.key, sha) for sha, r in ok])
            if bad:
                conn.exec_driver_sql(self._sql["file_bad"], bad)

    def _many(self, conn: Any, table: Any, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn.exec_driver_sql(self._sql[table.name], rows)

    def _statements(self) -> dict[str, str]:
        """Plain SQL for the per-file writes: DBAPI executemany skips SQLAlchemy's per-row work."""
        dialect = self.engine.dialect
        q = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        out = {}
        # A document comes as its JSON's UTF-8 bytes (FileRows.documents), taken as text by the database itself.
        document = (f"CAST(convert_from({mark}, 'UTF8') AS jsonb)" if dialect.name == "postgresql"
                    else f"CAST({mark} AS TEXT)")
        for table in (t.submissions, t.participants, t.cost_items, t.findings, t.review_lines, t.documents):
            cols = ", ".join(q(c.name) for c in table.columns)
            marks = ", ".join(document if isinstance(c.type, t.Document) else mark for c in table.columns)
            out[table.name] = f"INSERT INTO {q(table.name)} ({cols}) VALUES ({marks})"
        out["file_ok"] = (f"UPDATE files SET status = {mark}, program = {mark}, submission_key = {mark}, "
                          f"error_code = NULL, error_ja = NULL, error_en = NULL WHERE sha256 = {mark}")
        out["file_bad"] = (f"UPDATE files SET status = 'quarantined', error_code = {mark}, error_ja = {mark}, "
                           f"error_en = {mark} WHERE sha256 = {mark}")
        return out

    # -- after all files -------------------------------------------------------------------------
    def assign_versions(self) -> None:
        """Number each submission's files in the order they were first listed (run, then name).

        Only what changed is written (on a re-run, usually nothing), in one executemany per table.
        """
        with self.engine.begin() as conn:
            rows = conn.execute(select(t.files.c.sha256, t.files.c.submission_key, t.files.c.first_run,
                                       t.files.c.name, t.files.c.version).where(t.files.c.status == "ok")).all()
            subs = {r.key: (r.latest_sha256, r.versions) for r in conn.execute(
                select(t.submissions.c.key, t.submissions.c.latest_sha256, t.submissions.c.versions))}
            by_key: dict[str, list[Any]] = {}
            for r in rows:
                by_key.setdefault(r.submission_key, []).append(r)
            file_updates, sub_updates = [], []
            for key, versions in by_key.items():
                versions.sort(key=lambda r: (r.first_run, r.name, r.sha256))
                file_updates += [{"b_sha": r.sha256, "b_version": n}
                                 for n, r in enumerate(versions, start=1) if r.version != n]
                latest = (versions[-1].sha256, len(versions))
                if subs.get(key) != latest:
                    sub_updates.append({"b_key": key, "b_latest": latest[0], "b_versions": latest[1]})
            if file_updates:
                conn.execute(update(t.files).where(t.files.c.sha256 == bindparam("b_sha"))
                             .values(version=bindparam("b_version")), file_updates)
            if sub_updates:
                conn.execute(update(t.submissions).where(t.submissions.c.key == bindparam("b_key"))
                             .values(latest_sha256=bindparam("b_latest"), versions=bindparam("b_versions")),
                             sub_updates)

    def name_submissions(self, names: dict[str, tuple[Any, Any, Any]]) -> None:
        """Set each submission's institution, PI and title (``names`` by key) as its latest version gives them.

        The key folds case and width, so versions may spell them differently; which file a worker
        finished first must not decide what the database shows.
        """
        with self.engine.begin() as conn:
            stored = {r.key: (r.institution, r.pi_name, r.title) for r in conn.execute(
                select(t.submissions.c.key, t.submissions.c.institution, t.submissions.c.pi_name,
                       t.submissions.c.title))}
            updates = [{"b_key": key, "b_inst": name[0], "b_pi": name[1], "b_title": name[2]}
                       for key, name in names.items() if stored.get(key) != name]
            if updates:
                conn.execute(update(t.submissions).where(t.submissions.c.key == bindparam("b_key"))
                             .values(institution=bindparam("b_inst"), pi_name=bindparam("b_pi"),
                                     title=bindparam("b_title")), updates)

    def latest(self) -> list[dict[str, Any]]:
        """The latest version of every submission: key, program, file hash and name."""
        q = (select(t.submissions.c.key, t.submissions.c.program, t.submissions.c.latest_sha256,
                    t.submissions.c.versions, t.files.c.name)
             .join(t.files, t.files.c.sha256 == t.submissions.c.latest_sha256)
             .order_by(t.submissions.c.program, t.files.c.name))
        with self.reader.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def documents(self, shas: list[str]) -> Iterator[tuple[str, Any, Any]]:
        """(hash, submission, report) of the given files, in the order given, a hundred at a time."""
        columns = [t.documents.c.sha256, t.documents.c.submission, t.documents.c.report]
        with self.reader.connect() as conn:
            for start in range(0, len(shas), 100):  # ~100 KB of Python objects a document: 100 at a time
                chunk = shas[start:start + 100]
                got = {r[0]: r[1:] for r in conn.execute(select(*columns).where(t.documents.c.sha256.in_(chunk)))}
                for sha in chunk:
                    submission, report = got[sha]
                    yield sha, submission, report

    def output_state(self) -> str:
        """A fingerprint of everything the outputs are built from: the latest version of each submission,
        the quarantine, the rule packs and shinsei's version. Equal fingerprints, equal outputs."""
        h = hashlib.sha256(f"{__version__}|{packs_fingerprint()}".encode())
        with self.reader.connect() as conn:
            for row in conn.execute(select(t.submissions.c.key, t.submissions.c.latest_sha256,
                                           t.submissions.c.versions).order_by(t.submissions.c.key)):
                h.update(f"s|{row.key}|{row.latest_sha256}|{row.versions}\n".encode())
            for row in conn.execute(select(t.files.c.sha256, t.files.c.name, t.files.c.status, t.files.c.error_code)
                                    .where(t.files.c.status != "pending").order_by(t.files.c.sha256)):
                h.update(f"f|{row.sha256}|{row.name}|{row.status}|{row.error_code}\n".encode())
            # the review log only grows: its last entry says whether a decision was taken since
            h.update(f"log|{conn.execute(select(func.max(t.review_log.c.id))).scalar()}".encode())
        return h.hexdigest()

    def files_listing(self) -> Iterator[dict[str, Any]]:
        """Every file taken in, with its submission's name and number of versions (the Files sheet), by name."""
        q = (select(t.files.c.name, t.files.c.sha256, t.files.c.size, t.files.c.status, t.files.c.version,
                    t.files.c.error_code, t.files.c.error_ja, t.files.c.error_en, t.submissions.c.versions,
                    t.submissions.c.institution, t.submissions.c.pi_name, t.submissions.c.title)
             .outerjoin(t.submissions, t.submissions.c.key == t.files.c.submission_key)
             .order_by(t.files.c.name, t.files.c.sha256))
        with self.reader.connect() as conn:
            for r in conn.execute(q):
                yield dict(r._mapping)

    def counts(self) -> dict[str, int]:
        with self.reader.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(t.metadata.tables[name])).scalar_one()
                    for name in ("submissions", "cross_findings")}

    def ok_files(self) -> list[str]:
        """Hashes of every file read successfully (every version of every submission)."""
        with self.reader.connect() as conn:
            return list(conn.execute(select(t.files.c.sha256).where(t.files.c.status == "ok")
                                     .order_by(t.files.c.sha256)).scalars())

    def replace_cross_findings(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.cross_findings))
            if rows:
                conn.execute(insert(t.cross_findings), rows)

    def quarantined(self) -> list[dict[str, Any]]:
        q = (select(t.files.c.name, t.files.c.sha256, t.files.c.size, t.files.c.error_code, t.files.c.error_ja,
                    t.files.c.error_en).where(t.files.c.status == "quarantined").order_by(t.files.c.name))
        with self.reader.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every content table, sorted: what two runs over the same files must agree on."""
        out = {}
        with self.reader.connect() as conn:
            for name in t.CONTENT_TABLES:
                table = t.metadata.tables[name]
                rows = conn.execute(select(table)).all()
                out[name] = sorted((tuple(r) for r in rows), key=repr)
        return out

    def close(self) -> None:
        self.engine.dispose()
        self.reader.dispose()


class FileRows(NamedTuple):
    """What the database keeps of one validated file, built in the worker: rows as tuples in column order.

    Only this crosses back to the parent (not the whole report), which keeps the parent's share small.
    """

    program: str
    key: str
    institution: str | None
    pi_name: str | None
    title: str | None
    rows: tuple[list[tuple[Any, ...]], ...]  # participants, cost items, findings, review lines
    # The submission and the findings report as JSON in UTF-8: bytes cross from the worker and into the database
    # as they are (a str was decoded, pickled, unpickled and encoded again: ~30 µs a file, 9 KB of JSON).
    documents: tuple[bytes, bytes] = (b"{}", b"{}")


class Quarantine(NamedTuple):
    code: str
    message_ja: str
    message_en: str


def internal_error(exc: BaseException, step: str = "") -> Quarantine:
    """The quarantine record of a file the engine or the database failed on (the traceback goes to the log)."""
    where = f"（{_STEPS_JA.get(step, step)}）" if step else ""
    return Quarantine("internal-error",
                      f"処理中にエラーが発生しました{where}: {type(exc).__name__}。"
                      "この1件だけを隔離し、他のファイルは処理を続けました",
                      f"the engine failed on this file{f' while {step}' if step else ''}: {type(exc).__name__}: "
                      f"{str(exc)[:300]}; only this file was set aside, the batch went on")


_STEPS_JA = {"storing": "データベースへの保存中"}
_BIGINT = 2**63 - 1


def _db_value(v: Any) -> Any:
    """A value the database accepts: text without NUL, integers within BIGINT (else None), finite floats.

    Called for every value of every row (~400 a file): the exact types first, subclasses the long way."""
    kind = type(v)
    if kind is str:
        return v if "\x00" not in v else v.replace("\x00", "")
    if kind is int:
        return v if -_BIGINT <= v <= _BIGINT else None
    if v is None or kind is bool:
        return v
    if kind is float:
        return v if math.isfinite(v) else None
    if isinstance(v, str):
        return _db_value(str(v))
    if isinstance(v, int):
        return _db_value(int(v))
    if isinstance(v, float):
        return _db_value(float(v))
    return v


def _db_row(values: Iterable[Any]) -> tuple[Any, ...]:
    """``_db_value`` of each value of a row, checked in one pass: the usual row (text without NUL, integers
    within BIGINT, None, booleans) as it is, without a call per value (~400 values a file); any other row
    value by value."""
    row = tuple(values)
    for v in row:
        kind = type(v)
        if kind is str:
            if "\x00" in v:
                break
        elif kind is int:
            if not -_BIGINT <= v <= _BIGINT:
                break
        elif v is not None and kind is not bool:
            break
    else:
        return row
    return tuple(map(_db_value, row))


@functools.cache
def _columns(table: Any) -> Any:
    """A function giving a row's values in ``table``'s column order (two or more columns: always a tuple)."""
    return itemgetter(*(c.name for c in table.columns))


def _ordered(table: Any, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    values = _columns(table)
    return [_db_row(values(row)) for row in rows]


def file_rows(sha: str, report: dict[str, Any], documents: tuple[bytes, bytes] = (b"{}", b"{}")) -> FileRows:
    """The rows of one file in participants, cost_items and findings, and its submission's identity.

    Tables and columns are found through the form's bindings (people, visits, budget, plan), so a form
    that names them otherwise fills the same database columns."""
    from pipeline.finance.lines import cost_findings, line_rows  # in the workers: not an ingest's start-up

    sub = report["submission"]
    pack = load_pack(sub["program"])
    budget, people_keys, budget_keys = _bound_keys(pack)
    verdicts = {i: (f["actual"]["verdict"], f["actual"].get("reason"))
                for i, f in cost_findings(report["findings"], budget).items()}
    src_rows = sub["source"]["tables"].get(budget, {})
    src_sheet, at = src_rows.get("sheet"), src_rows.get("rows", [])
    days = _visit_days(sub, pack)
    no = pack.bind("people", "no")
    people = [{"sha256": sha, "idx": i, **{c: p.get(k) if k else None for c, k in people_keys},
               "visit_days": days.get(p.get(no) if no else None)}
              for i, p in enumerate(pack.rows(sub, "people"))]
    ok = ("ok", None)
    items = [{"sha256": sha, "idx": i, **{c: b.get(k) if k else None for c, k in budget_keys},
              "verdict": verdicts.get(i, ok)[0], "reason": verdicts.get(i, ok)[1],
              "sheet": src_sheet, "row": at[i] if i < len(at) else None}
             for i, b in enumerate((sub.get(budget) or []) if budget else [])]
    found = [{"sha256": sha, "idx": i, "code": f["code"], "severity": f["severity"],
              "sheet": f["location"].get("sheet"), "cell": f["location"].get("cell"),
              "row": f["location"].get("row"), "message_ja": f["message_ja"], "message_en": f["message_en"],
              "clause_document": f["clause"]["document"], "clause_section": f["clause"]["section"]}
             for i, f in enumerate(report["findings"])]
    key = submission_key(sub, pack)
    lines = [_db_row(row) for row in line_rows(sha, sub["program"], key, sub, report["findings"])]
    return FileRows(sub["program"], key, *(_db_value(pack.field(sub, c)) for c in ("institution", "pi", "title")),
                    (_ordered(t.participants, people), _ordered(t.cost_items, items), _ordered(t.findings, found),
                     lines), documents)


# The database's columns, by the binding concept that fills them (the same names).
_PEOPLE = ("no", "name", "role", "direction", "country", "affiliation", "category", "birth_date")
_BUDGET = ("category", "subcategory", "description", "unit_price", "quantity", "amount", "fiscal_year")


def _bound_keys(pack: Pack) -> tuple[str, list[tuple[str, str | None]], list[tuple[str, str | None]]]:
    """The budget table's key, and (database column, the form's column key) of people and of budget lines.

    Looked up once per pack and process, not through Pack.cell for every value of every row."""
    found = _BOUND_KEYS.get(pack.id)
    if found is None or found[0] is not pack:
        found = _BOUND_KEYS[pack.id] = (pack, (pack.bound_table("budget") or "",
                                               [(c, pack.bind("people", c)) for c in _PEOPLE],
                                               [(c, pack.bind("budget", c)) for c in _BUDGET]))
    return found[1]


_BOUND_KEYS: dict[str, tuple[Pack, tuple[str, list[tuple[str, str | None]], list[tuple[str, str | None]]]]] = {}


def _visit_days(sub: dict[str, Any], pack: Pack) -> dict[int, int]:
    days: dict[int, int] = {}
    for v in pack.rows(sub, "visits"):
        person, n = pack.cell(v, "visits", "person"), pack.cell(v, "visits", "days")
        if person is not None and (n or 0) > 0:
            days[person] = days.get(person, 0) + n
    return days
