"""The review log in the database: decisions, statuses and audit samples, appended and never rewritten.

Every write is a new ``review_log`` entry; the current decision on a line (the status of an
application, the sampling of a line) is its subject's latest entry. A writer says which entry it saw
(``seq``); the unique (subject, kind, seq) makes the second of two concurrent writers fail instead of
silently overwriting the first (optimistic concurrency): ``Conflict`` carries what the other wrote.

The worklist of an application is computed here: its latest version's lines that are flagged or
sampled, each with its decision if the decision was taken on the same content, or marked changed/new
since the last review.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.finance.decisions import DecisionError, settle, statuses
from pipeline.finance.lines import FLAGGED, flagged
from pipeline.finance.totals import application_totals
from pipeline.ingest.columns import listed
from pipeline.ingest.database import IN_LIST, Database, chunks, dicts, iter_dicts, loads
from pipeline.packs import load_pack

if TYPE_CHECKING:
    from sqlalchemy import Engine

Query = Callable[..., list[dict[str, Any]]]  # (sql, params) -> rows as dicts


class Conflict(Exception):
    """Someone else wrote this subject since the writer looked: ``current`` is their entry."""

    def __init__(self, current: dict[str, Any] | None) -> None:
        who = (current or {}).get("reviewer", "?")
        super().__init__(f"ほかの担当者（{who}）が先に更新しました。最新の内容を確認してからやり直してください / "
                         f"{who} changed this first; look at the current state and try again")
        self.current = current


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Application:
    """One submission's latest version as the review sees it."""

    key: str
    program: str
    institution: str | None
    pi_name: str | None
    title: str | None
    sha256: str
    file: str
    versions: int
    status: str = "received"
    lines: list[dict[str, Any]] = field(default_factory=list)  # worklist lines with their decision state
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def undecided(self) -> int:
        return sum(1 for ln in self.lines if ln["decision"] in (None, "query"))

    @property
    def label(self) -> str:
        return " / ".join(x for x in (self.institution, self.pi_name, self.title) if x)


class Ledger:
    """Reads and appends the review log of one database: through the ingest's driver (a Database: the ingest's
    outputs, which never import SQLAlchemy) or SQLAlchemy's engines (the finance commands and pages, whose pool
    serves several threads). The same SQL either way."""

    def __init__(self, engine: Engine | Database, reader: Engine | None = None) -> None:
        if isinstance(engine, Database):
            self.db: Database | None = engine
            self.engine = self.reader = None
            self.mark = engine.mark
            self.sqlite = engine.kind == "sqlite"
        else:
            self.db = None
            self.engine = engine            # writes
            self.reader = reader or engine  # reads (on SQLite, an engine whose transactions take no write lock)
            self.sqlite = engine.dialect.name == "sqlite"
            self.mark = "?" if self.sqlite else "%s"

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Query]:
        """A query function over one reading of the database (one snapshot on SQLite)."""
        if self.db is not None:
            with self.db.reading() as cur:
                yield lambda sql, params=(): dicts(cur.execute(sql, tuple(params)))
            return
        with self.reader.connect() as conn:  # type: ignore[union-attr]
            yield lambda sql, params=(): [dict(r._mapping) for r in conn.exec_driver_sql(sql, tuple(params))]

    def _marks(self, n: int) -> str:
        return ", ".join([self.mark] * n)

    # -- reading ---------------------------------------------------------------------------------
    def applications(self, keys: Iterable[str] | None = None, *, with_lines: bool = True) -> list[Application]:
        """The latest version of every submission (or of ``keys``), with worklist lines and totals."""
        sql = ('SELECT s."key", s.program, s.institution, s.pi_name, s.title, s.latest_sha256, s.versions, f.name '
               "FROM submissions s JOIN files f ON f.sha256 = s.latest_sha256")
        wanted = None if keys is None else list(keys)
        order = " ORDER BY s.program, f.name"  # the database's collation orders the names, as everywhere
        with self._reading() as query:
            if wanted is None:
                rows = query(sql + order)
            elif len(wanted) <= IN_LIST:
                rows = query(sql + f' WHERE s."key" IN ({self._marks(len(wanted))})' + order, wanted)
            else:  # more than an IN list should hold: all of them, in order, kept if wanted
                keep = set(wanted)
                rows = [r for r in query(sql + order) if r["key"] in keep]
            apps = [Application(r["key"], r["program"], r["institution"], r["pi_name"], r["title"],
                                r["latest_sha256"], r["name"], r["versions"]) for r in rows]
            if not apps:
                return apps
            current = self._current(query, [a.key for a in apps])
            for app in apps:
                app.status = self._status(app.key, current)
            if with_lines:
                for chunk in chunks(apps, 200):
                    self._fill(query, chunk, current)
        return apps

    def application(self, key: str) -> Application | None:
        found = self.applications([key])
        return found[0] if found else None

    def _status(self, key: str, current: dict[tuple[str, str], dict[str, Any]]) -> str:
        entry = current.get(("status", key))
        if entry:
            return entry["value"]
        return "in_review" if current.get(("reviewed", key)) else "received"

    def _current(self, query: Query, keys: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
        """The latest entry of every subject of these submissions, by (kind, subject); ("reviewed", key) too."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        columns = ", ".join(f"g.{c}" for c in listed("review_log").split(", "))
        for chunk in chunks(keys):
            rows = query(f"SELECT {columns} FROM review_log g JOIN (SELECT kind, subject, max(seq) AS seq "
                         f"FROM review_log WHERE submission_key IN ({self._marks(len(chunk))}) "
                         "GROUP BY kind, subject) latest ON g.kind = latest.kind AND g.subject = latest.subject "
                         "AND g.seq = latest.seq", chunk)
            for entry in rows:
                out[(entry["kind"], entry["subject"])] = entry
                if entry["kind"] == "decision":
                    out[("reviewed", entry["submission_key"])] = entry
        return out

    def _fill(self, query: Query, apps: list[Application], current: dict[tuple[str, str], dict[str, Any]]) -> None:
        shas = [a.sha256 for a in apps]
        rows: dict[str, list[dict[str, Any]]] = {s: [] for s in shas}
        marks = self._marks(len(shas))
        # Only the lines that can be on the worklist (``flagged`` or sampled): most lines are neither.
        for r in query(f"SELECT {listed('review_lines')} FROM review_lines WHERE sha256 IN ({marks}) "
                       f"AND (verdict IN ({self._marks(len(FLAGGED))}) OR line_key IN "
                       "(SELECT subject FROM review_log WHERE kind = 'sample')) ORDER BY sha256, kind, idx",
                       [*shas, *FLAGGED]):
            rows[r["sha256"]].append(r)
        earlier = self._earlier_lines(query, [a for a in apps if a.versions > 1])
        totals_of = "json_extract(submission, '$.totals')" if self.sqlite else "submission -> 'totals'"
        docs = {r["sha256"]: loads(r["totals"]) for r in query(
            f"SELECT sha256, {totals_of} AS totals FROM documents WHERE sha256 IN ({marks})", shas)}
        for app in apps:
            pack = load_pack(app.program)
            lines = []
            for line in rows[app.sha256]:
                sampled = current.get(("sample", line["line_key"]))
                if not (flagged(line) or sampled):
                    continue
                lines.append(_state(line, current.get(("decision", line["line_key"])), sampled,
                                    earlier.get(app.key), bool(current.get(("reviewed", app.key)))))
            app.lines = lines
            stated = docs.get(app.sha256) or {}
            totals = {concept: stated.get(pack.bind("totals", concept) or concept) or 0
                      for concept in ("direct_total", "overhead", "total")}
            app.totals = application_totals(totals, lines, pack.money.get("overhead_max_ratio"))

    def _earlier_lines(self, query: Query, apps: list[Application]) -> dict[str, dict[str, str]]:
        """line key -> content key of the lines in earlier versions of these submissions."""
        if not apps:
            return {}
        out: dict[str, dict[str, str]] = {a.key: {} for a in apps}
        keys, latest = list(out), [a.sha256 for a in apps]
        for r in query("SELECT f.submission_key, l.line_key, l.content_key FROM review_lines l "
                       f"JOIN files f ON f.sha256 = l.sha256 WHERE f.submission_key IN ({self._marks(len(keys))}) "
                       f"AND f.status = 'ok' AND f.sha256 NOT IN ({self._marks(len(latest))}) ORDER BY f.version",
                       [*keys, *latest]):
            out[r["submission_key"]][r["line_key"]] = r["content_key"]  # the latest earlier version wins
        return out

    def decided_lines(self) -> Iterator[dict[str, Any]]:
        """Every cost line of a latest version with a decision standing on it, as the classifier's learning
        wants it (pipeline.eligibility.suggest): programme, category, description, the classifier's verdict
        and reason, and the reviewer's decision and comment."""
        for app in self.applications():
            for ln in app.lines:
                if ln["kind"] == "cost" and ln["decision"]:
                    yield {"program": app.program, "category": ln["category"], "subcategory": ln["subcategory"],
                           "description": ln["description"], "unit_price": ln["unit_price"],
                           "verdict": ln["verdict"], "reason": ln["reason"], "decision": ln["decision"],
                           "comment": ln["comment"]}

    def line(self, line_key: str) -> tuple[Application, dict[str, Any]] | None:
        """The application and the current worklist line of a line key (None if no latest version has it)."""
        m = self.mark
        with self._reading() as query:
            found = query(f"SELECT f.submission_key FROM files f JOIN review_lines l ON l.sha256 = f.sha256 "
                          f"WHERE l.line_key = {m} LIMIT 1", [line_key])
        key = found[0]["submission_key"] if found else None
        app = self.application(key) if key else None
        if app is None:
            return None
        for line in app.lines:
            if line["line_key"] == line_key:
                return app, line
        with self._reading() as query:  # a latest-version line that is not on the worklist (judged ok)
            r = query(f"SELECT {listed('review_lines')} FROM review_lines WHERE sha256 = {m} AND line_key = {m} "
                      "LIMIT 1", [app.sha256, line_key])
        return (app, _state(r[0], None, None, None, False)) if r else None

    def log(self, submission_key: str | None = None) -> Iterator[dict[str, Any]]:
        """Every entry, oldest first (of one submission, if given)."""
        sql, params = f"SELECT {listed('review_log')} FROM review_log", []
        if submission_key:
            sql, params = sql + f" WHERE submission_key = {self.mark}", [submission_key]
        if self.db is not None:
            with self.db.reading() as cur:
                yield from iter_dicts(cur.execute(sql + " ORDER BY id", params))
            return
        with self._reading() as query:
            yield from query(sql + " ORDER BY id", params)

    def last_id(self) -> int:
        with self._reading() as query:
            return query("SELECT coalesce(max(id), 0) AS id FROM review_log")[0]["id"]

    # -- writing ---------------------------------------------------------------------------------
    def append(self, entries: list[dict[str, Any]]) -> None:
        """Write entries in one transaction: all of them, or none (Conflict when one lost a race)."""
        if not entries:
            return
        columns = [c for c in listed("review_log").split(", ") if c != '"id"']
        sql = f"INSERT INTO review_log ({', '.join(columns)}) VALUES ({self._marks(len(columns))})"
        rows = [tuple(entry.get(c.strip('"')) for c in columns) for entry in entries]
        try:
            if self.db is not None:
                with self.db.transaction() as cur:
                    cur.executemany(sql, rows)
            else:
                with self.engine.begin() as conn:  # type: ignore[union-attr]
                    conn.exec_driver_sql(sql, rows)
        except Exception as exc:
            if not _integrity_error(exc):
                raise
            first = entries[0]
            raise Conflict(self._latest(first["kind"], first["subject"])) from None

    def decide(self, line_key: str, decision: str, *, reviewer: str, seq: int, allowed: Any = None,
               comment: str | None = None, note: str | None = None, source: str = "cli",
               sha256: str | None = None) -> dict[str, Any]:
        """Record a decision on the line; ``seq`` is the line's version the reviewer saw (0: none yet)."""
        found = self.line(line_key)
        if found is None:
            raise DecisionError(f"行ID {line_key} はどの申請の最新版にもありません",
                                f"line id {line_key} is in no application's latest version")
        app, line = found
        if sha256 is not None and sha256 != app.sha256:
            raise DecisionError("この行の申請は、判断の基になった版の後に再提出されています",
                                "this line's application was resubmitted after the version the decision was made on")
        entry = decision_entry(app, line, decision, reviewer=reviewer, seq=seq, allowed=allowed, comment=comment,
                               note=note, source=source)
        self.append([entry])
        return entry

    def set_status(self, key: str, status: str, *, reviewer: str, seq: int | None = None, comment: str | None = None,
                   source: str = "cli") -> dict[str, Any]:
        """Move an application to ``status`` (statuses' ``next`` says where it may go)."""
        app = self.application(key)
        if app is None:
            raise DecisionError(f"申請 {key} はありません", f"there is no application {key}")
        table = statuses()
        if status not in table:
            raise DecisionError(f"状態「{status}」はありません（{'、'.join(table)}）",
                                f"'{status}' is not a status; one of {', '.join(table)}")
        if status != app.status and status not in table[app.status]["next"]:
            raise DecisionError(f"「{table[app.status]['ja']}」から「{table[status]['ja']}」には変更できません",
                                f"an application cannot go from {table[app.status]['en']} to {table[status]['en']}")
        if status == "eligible" and app.undecided:
            raise DecisionError(f"未判断または照会中の行が {app.undecided} 行あります。"
                                "すべて判断してから「適格」にしてください",
                                f"{app.undecided} lines are undecided or queried; decide them all before "
                                "marking the application eligible")
        last = self._seq("status", key)
        if seq is not None and seq != last:
            raise Conflict(self._latest("status", key))
        entry = {"at": now(), "reviewer": reviewer, "kind": "status", "subject": key, "seq": last + 1,
                 "submission_key": key, "line_key": None, "sha256": app.sha256, "content_key": None,
                 "previous": app.status, "value": status, "requested": app.totals.get("requested"),
                 "allowed": app.totals.get("allowed_total"), "comment": comment, "note": None, "source": source}
        self.append([entry])
        return entry

    def _seq(self, kind: str, subject: str) -> int:
        with self._reading() as query:
            return query(f"SELECT coalesce(max(seq), 0) AS seq FROM review_log WHERE kind = {self.mark} "
                         f"AND subject = {self.mark}", [kind, subject])[0]["seq"]

    def _latest(self, kind: str, subject: str) -> dict[str, Any] | None:
        with self._reading() as query:
            found = query(f"SELECT {listed('review_log')} FROM review_log WHERE kind = {self.mark} "
                          f"AND subject = {self.mark} ORDER BY seq DESC LIMIT 1", [kind, subject])
        return found[0] if found else None


def _integrity_error(exc: BaseException) -> bool:
    """Whether the database refused a write for a constraint (the driver's error, or SQLAlchemy's around it)."""
    orig = getattr(exc, "orig", None) or exc
    return type(orig).__name__ in ("IntegrityError", "UniqueViolation") or any(
        c.__name__ == "IntegrityError" for c in type(orig).__mro__)


def decision_entry(app: Application, line: dict[str, Any], decision: str, *, reviewer: str, seq: int,
                   allowed: Any, comment: str | None, note: str | None, source: str) -> dict[str, Any]:
    """The log entry of a decision on ``line`` of ``app`` (checked: raises DecisionError or Conflict)."""
    if not (reviewer or "").strip():
        raise DecisionError("担当者名がありません（匿名では記録できません）",
                            "no reviewer name: decisions are never anonymous")
    if seq != line["seq"]:
        raise Conflict(line.get("entry"))
    amount = settle(decision, line["amount"], allowed, comment)
    return {"at": now(), "reviewer": reviewer.strip(), "kind": "decision", "subject": line["line_key"],
            "seq": seq + 1, "submission_key": app.key, "line_key": line["line_key"], "sha256": app.sha256,
            "content_key": line["content_key"], "previous": line["entry"]["value"] if line.get("entry") else None,
            "value": decision, "requested": line["amount"], "allowed": amount,
            "comment": (comment or "").strip() or None,
            "note": (note or "").strip() or None, "source": source}


def _state(line: dict[str, Any], entry: dict[str, Any] | None, sampled: dict[str, Any] | None,
           earlier: dict[str, str] | None, reviewed: bool) -> dict[str, Any]:
    """A worklist line: the stored line with its decision (if it stands), its marks and its version."""
    out = dict(line)
    stands = entry is not None and entry["content_key"] == line["content_key"]
    out.update(entry=entry, seq=entry["seq"] if entry else 0, sampled=sampled["value"] if sampled else None,
               decision=entry["value"] if stands else None, allowed=entry["allowed"] if stands else None,
               comment=entry["comment"] if stands else None, note=entry["note"] if stands else None,
               reviewer=entry["reviewer"] if stands else None, decided_at=entry["at"] if stands else None)
    if entry is not None and not stands:
        out["mark"] = "changed"
    elif reviewed and earlier is not None and line["line_key"] not in earlier:
        out["mark"] = "new"
    elif reviewed and earlier is not None and earlier.get(line["line_key"]) != line["content_key"]:
        out["mark"] = "changed"
    else:
        out["mark"] = None
    return out
