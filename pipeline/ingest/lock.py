"""One ingest at a time per output folder and per database: a second run waits, then refuses clearly.

Two runs on one PostgreSQL database raced each other (duplicate keys, a half-created schema, files
marked done whose JSON was in the other run's folder). The lock is taken before anything is
created or migrated, and held until the run ends:

- the output folder: an exclusive ``flock`` on ``DIR/.shinsei-ingest.lock`` (released by the
  kernel when the process dies, so a killed run never leaves a stale lock);
- the database: PostgreSQL's session advisory lock (also released when the connection dies), or,
  for SQLite, a ``flock`` beside the database file.

An ingest takes the folder's lock first and lists and hashes its files (into the folder's staging area)
while it opens the database: the database's lock follows, before anything in the database is touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pipeline.ingest.database import Target, connect, parse_url, shown

try:
    import fcntl
except ImportError:  # Windows: no advisory file locks; the database lock still applies on PostgreSQL
    fcntl = None  # type: ignore[assignment]

_POLL = 0.2


class IngestBusy(RuntimeError):
    """Another ingest holds the output folder or the database."""

    code = "ingest-busy"

    def __init__(self, what_ja: str, what_en: str) -> None:
        self.message_ja = (f"別の取り込みが{what_ja}を使用中です。終わるのを待ってから同じコマンドを再実行するか、"
                           "--wait 秒数 で待ってください。")
        self.message_en = (f"another ingest is using {what_en}; run the same command again when it has finished, "
                           "or wait for it with --wait SECONDS.")
        super().__init__(f"{self.message_ja} / {self.message_en}")


def _flock(path: Path, wait: float, what_ja: str, what_en: str) -> IO[Any] | None:
    if fcntl is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115 - held open for the whole run; closed by the caller
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                raise IngestBusy(what_ja, what_en) from None
            time.sleep(_POLL)
            continue
        return fh  # left empty: the kernel, not the file's content, says who holds it


@contextlib.contextmanager
def _advisory(url: str, wait: float) -> Iterator[None]:
    conn = connect(url)  # autocommit: a session lock, held whatever the transactions do
    try:
        key = advisory_key(conn.execute("SELECT current_database() || '/' || current_schema()").fetchone()[0])
        deadline = time.monotonic() + wait
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise IngestBusy(f"データベース（{shown(url)}）", f"the database {shown(url)}")
            time.sleep(_POLL)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a lost connection has released the lock already
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def advisory_key(store: str | None) -> int:
    """The 63-bit advisory-lock key of one store (database and schema): runs on other schemas do not wait."""
    digest = hashlib.sha256(f"shinsei-ingest:{store}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _sqlite_file(target: Target) -> Path | None:
    if target.kind != "sqlite" or target.where == ":memory:":
        return None
    return Path(target.where).resolve()


@contextlib.contextmanager
def _file_lock(path: Path, wait: float, what_ja: str, what_en: str) -> Iterator[None]:
    held = _flock(path, wait, what_ja, what_en)
    try:
        yield
    finally:
        if held is not None:
            held.close()


@contextlib.contextmanager
def folder_lock(out: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the output folder's lock (a file lock: no database, nor SQLAlchemy, is needed for it)."""
    with _file_lock(out / ".shinsei-ingest.lock", wait, f"出力フォルダ {out}", f"the output folder {out}"):
        yield


@contextlib.contextmanager
def database_lock(url: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the database's lock: PostgreSQL's advisory lock, or a file lock beside the SQLite file."""
    target = parse_url(url)
    if target.kind == "postgresql":
        with _advisory(url, wait):
            yield
        return
    db_file = _sqlite_file(target)
    if db_file is None:  # in memory (no other process reaches it), or a backend with no file to lock
        yield
        return
    with _file_lock(db_file.with_name(db_file.name + ".lock"), wait, f"データベース {db_file}",
                    f"the database {db_file}"):
        yield


@contextlib.contextmanager
def ingest_lock(out: Path, url: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the output folder's and the database's lock for the duration of a run."""
    with folder_lock(out, wait), database_lock(url, wait):
        yield
