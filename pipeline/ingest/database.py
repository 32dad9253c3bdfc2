"""The ingest's database through its driver alone (sqlite3, or psycopg for PostgreSQL), without SQLAlchemy.

An ingest writes a few statements per fifty files and reads each table once: SQLAlchemy's expression
language and result rows gave it nothing its driver does not, and importing SQLAlchemy cost ~0.15 s of
CPU, about a tenth of a 1,000-file ingest's and half of a re-ingest that finds nothing new. The finance
commands, which build queries as they go and serve several threads, keep SQLAlchemy (``Store.engine``), as
do the migrations (Alembic). The SQL here is what SQLAlchemy sent: the same tables, the same transactions.

URLs are SQLAlchemy's: ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://`` (in memory),
``postgresql://user:password@host:port/db?options=...`` (with or without ``+psycopg``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import orjson


class DatabaseUrlError(ValueError):
    """A URL that names no database the ingest can use (refusal ``database-url``)."""


class DatabaseUnavailable(RuntimeError):
    """A database that cannot be opened (refusal ``database-unavailable``); ``orig`` is the driver's error."""

    def __init__(self, reason: str, orig: BaseException | None = None) -> None:
        super().__init__(reason)
        self.orig = orig


class Target(NamedTuple):
    """What a URL names: ``kind`` is "sqlite" or "postgresql"; ``where`` the file (":memory:" in memory) or
    the libpq connection string."""

    kind: str
    where: str


def parse_url(url: str) -> Target:
    """The database ``url`` names, read as SQLAlchemy reads it; DatabaseUrlError for anything else."""
    scheme, sep, rest = url.partition("://")
    backend = scheme.split("+", 1)[0].lower()
    driver = scheme.partition("+")[2].lower()
    if not sep:
        raise DatabaseUrlError("not a URL: sqlite:///relative.db, sqlite:////absolute/path.db or "
                               "postgresql://user@host/db")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        host, _, path = rest.partition("/")
        if host:
            raise DatabaseUrlError("an SQLite URL has no host: sqlite:///relative.db or sqlite:////absolute.db")
        if "?" in path:
            raise DatabaseUrlError("options in an SQLite URL are not supported")
        return Target("sqlite", path if path not in ("", ":memory:") else ":memory:")
    if backend == "postgresql" and driver in ("", "psycopg"):
        return Target("postgresql", "postgresql://" + rest)  # libpq reads the URL itself
    if backend == "postgres":  # libpq's and Heroku's spelling, which SQLAlchemy refuses too
        raise DatabaseUrlError("write postgresql:// (not postgres://)")
    raise DatabaseUrlError(f"'{scheme}' is not a database shinsei uses: sqlite or postgresql (psycopg)")


def shown(url: str) -> str:
    """``url`` with its password hidden, as messages and logs show it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def connect(url: str) -> Any:
    """A driver connection to ``url``: sqlite3 in autocommit mode (every transaction is an explicit BEGIN) with
    the ingest's pragmas, or psycopg (JSON parsed by orjson). DatabaseUnavailable when it cannot be opened."""
    target = parse_url(url)
    try:
        if target.kind == "sqlite":
            conn = sqlite3.connect(target.where, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                conn.execute(f"PRAGMA {pragma}")
            return conn
        import psycopg
        from psycopg.types.json import set_json_loads

        conn = psycopg.connect(target.where, autocommit=True)  # every transaction is a conn.transaction()
        set_json_loads(orjson.loads, conn)
        return conn
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}", exc) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("psycopg"):
            raise DatabaseUnavailable(" ".join(str(exc).split())[:200], exc) from exc
        raise


class Database:
    """One database for one process: a writing connection, and reading ones that see a snapshot each.

    On SQLite every write transaction takes the write lock at BEGIN (IMMEDIATE), so two writers queue instead
    of failing half-way, and each reading is a deferred transaction whose snapshot (WAL) neither waits for a
    writer nor makes one wait. Readings may be open at once (a generator of rows while another is read): each
    takes a connection of its own, kept for the next.
    """

    def __init__(self, url: str) -> None:
        target = parse_url(url)
        self.url, self.kind = url, target.kind
        self.mark = "?" if self.kind == "sqlite" else "%s"
        self.memory = self.kind == "sqlite" and target.where == ":memory:"
        self.writer = connect(url)
        self._idle: list[Any] = []

    def marks(self, n: int) -> str:
        """``n`` parameter marks, comma-separated (an IN list)."""
        return ", ".join([self.mark] * n)

    def json(self) -> str:
        """The mark of a JSON column's value given as text: cast on PostgreSQL (its column is json)."""
        return f"CAST({self.mark} AS json)" if self.kind == "postgresql" else self.mark

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in one write transaction: committed at the end, rolled back on an error."""
        conn = self.writer
        if self.kind == "postgresql":
            with conn.transaction(), conn.cursor() as cur:
                yield cur
            return
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cur.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor that reads one snapshot of the database (SQLite); on PostgreSQL each statement reads what is
        committed when it starts, as SQLAlchemy's connections did (READ COMMITTED)."""
        if self.memory:  # one connection holds the whole database: read it there
            yield self.writer.cursor()
            return
        conn = self._idle.pop() if self._idle else connect(self.url)
        cur = conn.cursor()
        try:
            if self.kind == "sqlite":
                cur.execute("BEGIN")
            yield cur
        finally:
            with contextlib.suppress(Exception):
                cur.close()
                if self.kind == "sqlite":
                    conn.rollback()
            self._idle.append(conn)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of one query as a dict by column name, read in one snapshot."""
        with self.reading() as cur:
            return dicts(cur.execute(sql, params))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.reading() as cur:
            row = cur.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        for conn in [self.writer, *self._idle]:
            with contextlib.suppress(Exception):
                conn.close()
        self._idle = []


IN_LIST = 500  # values in one IN (...) list: far inside SQLite's and PostgreSQL's limits on parameters


def chunks(items: list[Any], n: int = IN_LIST) -> Iterator[list[Any]]:
    """``items`` in consecutive slices of at most ``n`` (an IN list each, or a batch of rows)."""
    for i in range(0, len(items), n):
        yield items[i:i + n]


def dicts(cur: Any) -> list[dict[str, Any]]:
    """The rows a cursor holds as dicts by column name."""
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def iter_dicts(cur: Any) -> Iterator[dict[str, Any]]:
    """The rows a cursor holds as dicts by column name, one at a time."""
    names = [d[0] for d in cur.description]
    for row in cur:
        yield dict(zip(names, row, strict=True))


def loads(value: Any) -> Any:
    """A JSON column's value: SQLite gives its text (parsed here); psycopg has parsed it already."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def dumps(value: Any) -> str:
    """A JSON column's text, as SQLAlchemy's JSON type wrote it (the ingest's serializer: orjson)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
