"""Database access of the ingest: one transaction per batch of files, deterministic keys, SQLite or PostgreSQL.

Through the driver alone (pipeline.ingest.database): an ingest never imports SQLAlchemy unless the database
needs a migration, or a command asks for ``Store.engine``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import math
from collections.abc import Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline import __version__
from pipeline.ingest.columns import COLUMNS, CONTENT_TABLES, DOCUMENT_COLUMNS, JSON_COLUMNS, listed
from pipeline.ingest.database import Database, chunks, dumps, iter_dicts, loads
from pipeline.ingest.migrate import bring_to_head
from pipeline.ingest.sources import Skipped, SourceFile

# identity: the fields the form's ``identity`` names
from pipeline.packs import Pack, load_pack, search_folders, submission_key

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("shinsei.ingest")


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'shinsei.db').resolve()}"


def make_engine(url: str, *, deferred: bool = False) -> Engine:
    """An engine for ``url``. On SQLite every transaction takes the write lock at BEGIN (IMMEDIATE), so two
    writers queue instead of failing half-way; ``deferred`` makes one for reading only, whose snapshot
    (WAL) neither waits for a writer nor makes one wait."""
    import orjson
    from sqlalchemy import create_engine, event

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
    """The ingest's database: its runs, files, rows and documents, read and written through the driver
    (pipeline.ingest.database); ``engine`` and ``reader`` are SQLAlchemy's, made when first asked for (the
    finance commands and the migrations use them)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = Database(url)
        try:
            bring_to_head(self.db, lambda: self.engine)
        except BaseException:
            self.close()
            raise
        self._sql = self._statements()

    @functools.cached_property
    def engine(self) -> Engine:
        """SQLAlchemy's engine for writing (the finance review's ledger, Alembic)."""
        return make_engine(self.url)

    @functools.cached_property
    def reader(self) -> Engine:
        """SQLAlchemy's engine for reading: on SQLite one whose transactions take no write lock."""
        return make_engine(self.url, deferred=True) if self.db.kind == "sqlite" else self.engine

    # -- runs ------------------------------------------------------------------------------------
    def start_run(self, sources: list[str], found: list[SourceFile], refused: list[Skipped]) -> tuple[int, set[str]]:
        """A new run with every file it lists, in one transaction; returns its id and the hashes still to process.

        Any run still marked running was killed (the caller holds the ingest lock). One transaction: a
        run killed before it leaves nothing, one killed after it has listed every file, so the files'
        first run (which orders versions) is what an uninterrupted run gives them."""
        db, m = self.db, self.db.mark
        insert_run = (f"INSERT INTO runs (started_at, status, sources, files_seen, files_processed, files_quarantined, "
                      f"version) VALUES ({m}, {m}, {db.json()}, 0, 0, 0, {m})")
        with db.transaction() as cur:
            cur.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            params = (_now(), "running", dumps(sources), __version__)
            if db.kind == "postgresql":
                run_id = int(cur.execute(insert_run + " RETURNING id", params).fetchone()[0])
            else:
                run_id = int(cur.execute(insert_run, params).lastrowid)
            todo = self._register(cur, found, run_id)
            self._register_refused(cur, refused, run_id)
        return run_id, todo

    def finish_run(self, run_id: int, seen: int, processed: int, quarantined: int) -> None:
        m = self.db.mark
        with self.db.transaction() as cur:
            cur.execute(f"UPDATE runs SET finished_at = {m}, status = 'finished', files_seen = {m}, "
                        f"files_processed = {m}, files_quarantined = {m} WHERE id = {m}",
                        (_now(), seen, processed, quarantined, run_id))

    # -- files -----------------------------------------------------------------------------------
    def _register(self, cur: Any, found: list[SourceFile], run_id: int) -> set[str]:
        """Record every listed file; return the hashes still to process."""
        known = dict(cur.execute("SELECT sha256, status FROM files").fetchall())
        new = {}
        for f in found:
            if f.sha256 not in known and f.sha256 not in new:
                new[f.sha256] = (f.sha256, f.name, f.size, run_id, "pending")
        if new:
            m = self.db.marks(5)
            cur.executemany(f"INSERT INTO files (sha256, name, size, first_run, status) VALUES ({m})",
                            list(new.values()))
        return {sha for sha, status in known.items() if status == "pending"} | set(new)

    def _register_refused(self, cur: Any, refused: list[Skipped], run_id: int) -> None:
        """Record every file sent that is not a workbook as quarantined, with its reason and advice.

        The secretariat sees every file an applicant sent (the Quarantine and Files sheets,
        quarantine.json); a file already recorded is left as it is.
        """
        rows: dict[str, tuple[Any, ...]] = {}
        for item in refused:
            rows.setdefault(item.record_id, (item.record_id, item.name, item.size, run_id, "quarantined",
                                             item.code or "not-a-workbook-file", item.reason_ja, item.reason_en))
        if not rows:
            return
        known: set[str] = set()
        for chunk in chunks(list(rows)):
            known.update(r[0] for r in cur.execute(
                f"SELECT sha256 FROM files WHERE sha256 IN ({self.db.marks(len(chunk))})", chunk).fetchall())
        new = [_db_row(row) for sha, row in rows.items() if sha not in known]
        if new:
            cur.executemany("INSERT INTO files (sha256, name, size, first_run, status, error_code, error_ja, "
                            f"error_en) VALUES ({self.db.marks(8)})", new)

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
        bad = [tuple(map(_db_value, (r.code, r.message_ja, r.message_en, r.detail[:1000] or None, sha)))
               for sha, r in results if isinstance(r, Quarantine)]
        sql = self._sql
        with self.db.transaction() as cur:
            for chunk in chunks(ok):
                shas = [sha for sha, _ in chunk]
                marks = self.db.marks(len(shas))
                for table in _FILE_TABLES:  # resumed files
                    cur.execute(f'DELETE FROM "{table}" WHERE sha256 IN ({marks})', shas)
                keys = sorted({r.key for _, r in chunk})
                have = {row[0] for row in cur.execute(
                    f'SELECT "key" FROM submissions WHERE "key" IN ({self.db.marks(len(keys))})', keys).fetchall()}
                subs = []
                for sha, r in chunk:  # a provisional name: name_submissions sets it from the latest version
                    if r.key not in have:
                        have.add(r.key)
                        subs.append((r.key, r.program, r.institution, r.pi_name, r.title, sha, 1))
                self._many(cur, "submissions", subs)
                for table, part in (("participants", 0), ("cost_items", 1), ("findings", 2), ("review_lines", 3)):
                    self._many(cur, table, [row for _, r in chunk for row in r.rows[part]])
                self._many(cur, "documents", [(sha, r.program, *r.documents) for sha, r in chunk])
                cur.executemany(sql["file_ok"], [("ok", r.program, r.key, sha) for sha, r in chunk])
            if bad:
                cur.executemany(sql["file_bad"], bad)

    def _many(self, cur: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
        """``rows`` into ``table`` (its columns in order), in one executemany."""
        if rows:
            cur.executemany(self._sql[table], rows)

    def _statements(self) -> dict[str, str]:
        """The per-file writes, each one executemany."""
        mark = self.db.mark
        out = {}
        # A document comes as its JSON's UTF-8 bytes (FileRows.documents), taken as text by the database itself.
        document = (f"CAST(convert_from({mark}, 'UTF8') AS jsonb)" if self.db.kind == "postgresql"
                    else f"CAST({mark} AS TEXT)")
        for table in ("submissions", *_FILE_TABLES):
            marks = ", ".join(document if c in DOCUMENT_COLUMNS and table == "documents" else mark
                              for c in COLUMNS[table])
            out[table] = f'INSERT INTO "{table}" ({listed(table)}) VALUES ({marks})'
        out["file_ok"] = (f"UPDATE files SET status = {mark}, program = {mark}, submission_key = {mark}, "
                          f"error_code = NULL, error_ja = NULL, error_en = NULL, error_detail = NULL "
                          f"WHERE sha256 = {mark}")
        out["file_bad"] = (f"UPDATE files SET status = 'quarantined', error_code = {mark}, error_ja = {mark}, "
                           f"error_en = {mark}, error_detail = {mark} WHERE sha256 = {mark}")
        return out

    # -- after all files -------------------------------------------------------------------------
    def assign_versions(self) -> None:
        """Number each submission's files in the order they were first listed (run, then name).

        Only what changed is written (on a re-run, usually nothing), in one executemany per table.
        """
        m = self.db.mark
        with self.db.transaction() as cur:
            rows = cur.execute("SELECT sha256, submission_key, first_run, name, version FROM files "
                               "WHERE status = 'ok'").fetchall()
            subs = {key: (latest, versions) for key, latest, versions in cur.execute(
                'SELECT "key", latest_sha256, versions FROM submissions').fetchall()}
            by_key: dict[str, list[Any]] = {}
            for r in rows:
                by_key.setdefault(r[1], []).append(r)
            file_updates, sub_updates = [], []
            for key, versions in by_key.items():
                versions.sort(key=lambda r: (r[2], r[3], r[0]))  # first run, name, hash
                file_updates += [(n, r[0]) for n, r in enumerate(versions, start=1) if r[4] != n]
                latest = (versions[-1][0], len(versions))
                if subs.get(key) != latest:
                    sub_updates.append((*latest, key))
            if file_updates:
                cur.executemany(f"UPDATE files SET version = {m} WHERE sha256 = {m}", file_updates)
            if sub_updates:
                cur.executemany(f'UPDATE submissions SET latest_sha256 = {m}, versions = {m} WHERE "key" = {m}',
                                sub_updates)

    def name_submissions(self, names: dict[str, tuple[Any, Any, Any]]) -> None:
        """Set each submission's institution, PI and title (``names`` by key) as its latest version gives them.

        The key folds case and width, so versions may spell them differently; which file a worker
        finished first must not decide what the database shows.
        """
        m = self.db.mark
        with self.db.transaction() as cur:
            stored = {r[0]: tuple(r[1:]) for r in cur.execute(
                'SELECT "key", institution, pi_name, title FROM submissions').fetchall()}
            updates = [(*name, key) for key, name in names.items() if stored.get(key) != tuple(name)]
            if updates:
                cur.executemany(f'UPDATE submissions SET institution = {m}, pi_name = {m}, title = {m} '
                                f'WHERE "key" = {m}', updates)

    def latest(self) -> list[dict[str, Any]]:
        """The latest version of every submission: key, program, file hash and name."""
        return self.db.rows('SELECT s."key", s.program, s.latest_sha256, s.versions, f.name FROM submissions s '
                            "JOIN files f ON f.sha256 = s.latest_sha256 ORDER BY s.program, f.name")

    def documents(self, shas: list[str]) -> Iterator[tuple[str, Any, Any]]:
        """(hash, submission, report) of the given files, in the order given, a hundred at a time."""
        with self.db.reading() as cur:
            for chunk in chunks(shas, 100):  # ~100 KB of Python objects a document: 100 at a time
                got = {r[0]: r[1:] for r in cur.execute(
                    f"SELECT sha256, submission, report FROM documents WHERE sha256 IN ({self.db.marks(len(chunk))})",
                    chunk).fetchall()}
                for sha in chunk:
                    submission, report = got[sha]
                    yield sha, loads(submission), loads(report)

    def output_state(self) -> str:
        """A fingerprint of everything the outputs are built from: the latest version of each submission,
        the quarantine, the rule packs and shinsei's version. Equal fingerprints, equal outputs."""
        h = hashlib.sha256(f"{__version__}|{packs_fingerprint()}".encode())
        with self.db.reading() as cur:
            for key, latest, versions in cur.execute(
                    'SELECT "key", latest_sha256, versions FROM submissions ORDER BY "key"'):
                h.update(f"s|{key}|{latest}|{versions}\n".encode())
            for sha, name, status, code, detail in cur.execute(
                    "SELECT sha256, name, status, error_code, error_detail FROM files WHERE status != 'pending' "
                    "ORDER BY sha256"):
                h.update(f"f|{sha}|{name}|{status}|{code}|{detail or ''}\n".encode())
            # the review log only grows: its last entry says whether a decision was taken since
            h.update(f"log|{cur.execute('SELECT max(id) FROM review_log').fetchone()[0]}".encode())
        return h.hexdigest()

    def files_listing(self) -> Iterator[dict[str, Any]]:
        """Every file taken in, with its submission's name and number of versions (the Files sheet), by name."""
        with self.db.reading() as cur:
            yield from iter_dicts(cur.execute(
                "SELECT f.name, f.sha256, f.size, f.status, f.version, f.error_code, f.error_ja, f.error_en, "
                "f.error_detail, s.versions, s.institution, s.pi_name, s.title FROM files f "
                'LEFT OUTER JOIN submissions s ON s."key" = f.submission_key ORDER BY f.name, f.sha256'))

    def counts(self) -> dict[str, int]:
        with self.db.reading() as cur:
            return {name: cur.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                    for name in ("submissions", "cross_findings")}

    def ok_files(self) -> list[str]:
        """Hashes of every file read successfully (every version of every submission)."""
        with self.db.reading() as cur:
            return [r[0] for r in cur.execute("SELECT sha256 FROM files WHERE status = 'ok' ORDER BY sha256")]

    def replace_cross_findings(self, rows: list[dict[str, Any]]) -> None:
        db = self.db
        json_columns = JSON_COLUMNS["cross_findings"]
        columns = COLUMNS["cross_findings"]
        marks = ", ".join(db.json() if c in json_columns else db.mark for c in columns)
        with db.transaction() as cur:
            cur.execute("DELETE FROM cross_findings")
            if rows:
                cur.executemany(f"INSERT INTO cross_findings ({listed('cross_findings')}) VALUES ({marks})",
                                [tuple(dumps(row[c]) if c in json_columns else row.get(c) for c in columns)
                                 for row in rows])

    def quarantined(self) -> list[dict[str, Any]]:
        return self.db.rows("SELECT name, sha256, size, error_code, error_ja, error_en, error_detail FROM files "
                            "WHERE status = 'quarantined' ORDER BY name")

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every content table, sorted: what two runs over the same files must agree on."""
        out = {}
        with self.db.reading() as cur:
            for name in CONTENT_TABLES:
                json_columns = JSON_COLUMNS.get(name, frozenset())
                rows = cur.execute(f'SELECT {listed(name)} FROM "{name}"').fetchall()
                rows = [tuple(loads(v) if c in json_columns else v for c, v in zip(COLUMNS[name], r, strict=True))
                        for r in rows]
                out[name] = sorted(rows, key=repr)
        return out

    def close(self) -> None:
        self.db.close()
        for name in ("engine", "reader"):
            if name in self.__dict__:
                self.__dict__.pop(name).dispose()


_FILE_TABLES = ("participants", "cost_items", "findings", "review_lines", "documents")


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
    """Why a file was set aside: the refusal's code and message, and where (its detail: a part, a row)."""

    code: str
    message_ja: str
    message_en: str
    detail: str = ""


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
def _columns(table: str) -> Any:
    """A function giving a row's values in ``table``'s column order (two or more columns: always a tuple)."""
    return itemgetter(*COLUMNS[table])


def _ordered(table: str, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
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
                    (_ordered("participants", people), _ordered("cost_items", items), _ordered("findings", found),
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
