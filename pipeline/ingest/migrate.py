"""Bring a database to the current schema with Alembic (SQLite file or PostgreSQL URL).

A new SQLite database (every first ingest into a folder) is not migrated step by step: it replays
``migrations/sqlite_head.sql``, the schema Alembic's migrations build on an empty SQLite database,
as one transaction. Importing and running Alembic (with Mako and its migration scripts) took ~100 ms
of every such run. The file is generated from Alembic itself (``python -m pipeline.ingest.migrate``),
and tests/test_ingest.py checks that it still equals what the migrations build.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

    from pipeline.ingest.database import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_HEAD = MIGRATIONS / "sqlite_head.sql"


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


HEAD = "0004"  # the newest revision in migrations/versions (a test checks it against Alembic's own head)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` with Alembic, step by step (``bring_to_head`` spares every run that
    needs no migration from loading it)."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def bring_to_head(db: Database, engine: Callable[[], Engine]) -> None:
    """Bring the store ``db`` to the head: a database already there (every run after the first) is told so by its
    driver alone, and a new SQLite database gets the head's schema replayed through it (see the module's
    docstring); only a migration loads SQLAlchemy and Alembic (``engine`` makes the store's engine)."""
    current = current_revision(db)
    if current == HEAD:
        return
    if current is None and db.kind == "sqlite":
        with db.transaction() as cur:
            # checked again inside the write lock: a concurrent first run may have won
            if cur.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                for statement in sqlite_head_statements():
                    cur.execute(statement)
                return
    upgrade(engine())


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None for an empty database)."""
    if db.kind == "sqlite":
        where = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    else:  # the schema the connection works in (a URL may set search_path), as SQLAlchemy's has_table looked
        where = ("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                 "AND table_name = 'alembic_version'")
    if not db.scalar(where):
        return None
    return db.scalar("SELECT version_num FROM alembic_version")


def sqlite_head_statements(path: Path = SQLITE_HEAD) -> list[str]:
    """The statements of ``sqlite_head.sql`` (a trigger's body holds semicolons: sqlite3 says where each ends)."""
    statements, pending = [], ""
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not pending and (not line.strip() or line.startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"{path}: the last statement does not end")
    return statements


def _lines(sql: str) -> str:
    """SQLite keeps a statement as written, SQLAlchemy's trailing spaces included: not in a file people open."""
    return "\n".join(line.rstrip() for line in sql.splitlines())


def sqlite_schema_by_alembic() -> str:
    """What ``sqlite_head.sql`` must hold: the schema and revision Alembic's migrations give a new SQLite database."""
    from alembic import command
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with engine.connect() as conn:
            schema = [_lines(row[0]) for row in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY "
                "CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid")]
            revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    finally:
        engine.dispose()
    head = ("-- The schema Alembic's migrations (migrations/versions) build on a new SQLite database, replayed by\n"
            "-- pipeline.ingest.migrate.upgrade. Generated: python -m pipeline.ingest.migrate (do not edit).\n")
    return head + "".join(f"{sql};\n" for sql in schema) + f"INSERT INTO alembic_version VALUES ('{revision}');\n"


if __name__ == "__main__":
    SQLITE_HEAD.write_text(sqlite_schema_by_alembic(), encoding="utf-8")
    print(f"wrote {SQLITE_HEAD}")
