"""The ingest's database through its driver (pipeline.ingest.database): the same tables, URLs and answers as
through SQLAlchemy, which the finance commands and the migrations still use.

Runs against SQLite, and against PostgreSQL when SHINSEI_TEST_PG_URL is set (as tests/test_ingest.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import JSON
from sqlalchemy.engine import make_url

from pipeline.finance.ledger import Ledger
from pipeline.ingest import tables
from pipeline.ingest.columns import COLUMNS, CONTENT_TABLES, JSON_COLUMNS
from pipeline.ingest.database import Database, DatabaseUnavailable, DatabaseUrlError, parse_url, shown
from pipeline.ingest.run import ingest
from pipeline.ingest.store import Store, default_url
from tests.finance_batch import write_batch
from tests.test_ingest import db_url, new_db  # noqa: F401  (fixtures: SQLite and PostgreSQL)


def test_the_plain_columns_are_the_declared_tables() -> None:
    """columns.py is what tables.py declares for SQLAlchemy and Alembic: every table, every column in order, and
    the JSON ones (a column added to one and not the other fails here)."""
    assert set(COLUMNS) == set(tables.metadata.tables)
    for name, table in tables.metadata.tables.items():
        assert COLUMNS[name] == tuple(c.name for c in table.columns), name
        assert JSON_COLUMNS.get(name, frozenset()) == {c.name for c in table.columns
                                                      if isinstance(c.type, JSON | tables.Document)}, name
    assert set(CONTENT_TABLES) <= set(COLUMNS) and tables.CONTENT_TABLES == CONTENT_TABLES


@pytest.mark.parametrize("url", [
    "sqlite:///relative/shinsei.db", "sqlite:////tmp/absolute/shinsei.db", "sqlite:///日本語/申請.db",
    "sqlite+pysqlite:////tmp/x.db", "sqlite://", "sqlite:///:memory:"])
def test_sqlite_urls_name_the_file_sqlalchemy_would_open(url: str) -> None:
    assert parse_url(url).kind == "sqlite"
    assert parse_url(url).where == (make_url(url).database or ":memory:")


@pytest.mark.parametrize("url", [
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://user:p%40ss%3Aword@db.example.jp:6543/shinsei?options=-csearch_path%3Dbatch_7",
    "postgresql://reviewer:secret@localhost/review?sslmode=require&application_name=shinsei",
    "postgresql:///test"])
def test_postgresql_urls_connect_as_sqlalchemy_would(url: str) -> None:
    """What libpq reads of the URL is what SQLAlchemy's psycopg dialect gives psycopg: host, port, user, password
    (percent-decoded), database and the options."""
    target = parse_url(url)
    assert target.kind == "postgresql"
    got = psycopg.conninfo.conninfo_to_dict(target.where)
    sa = make_url(url)
    expected = {"host": sa.host, "port": None if sa.port is None else str(sa.port), "user": sa.username,
                "password": sa.password, "dbname": sa.database, **sa.query}
    assert got == {k: v for k, v in expected.items() if v is not None}


@pytest.mark.parametrize("url", ["mysql://root@localhost/test", "shinsei.db", "sqlite://host/x.db",
                                 "postgres+asyncpg://u@h/db", "sqlite:///x.db?mode=ro", "oracle://x"])
def test_a_url_of_no_database_the_ingest_uses_is_refused_clearly(url: str) -> None:
    with pytest.raises(DatabaseUrlError):
        parse_url(url)


@pytest.mark.parametrize(("url", "says"), [("postgres://u@h/db", "write postgresql://"),
                                           ("sqlite:/x.db", "not a URL"), ("shinsei.db", "not a URL"),
                                           ("mysql://root@h/x", "'mysql' is not a database shinsei uses")])
def test_a_refused_url_says_how_to_write_it(url: str, says: str) -> None:
    with pytest.raises(DatabaseUrlError, match=says):
        parse_url(url)


def test_a_password_is_never_shown() -> None:
    for url in ("postgresql://reviewer:s3cret@db.example.jp:5432/review", "postgresql+psycopg://u:p%40x@h/d?sslmode=require"):
        assert "s3cret" not in shown(url) and "p%40x" not in shown(url)
        assert shown(url) == make_url(url).render_as_string(hide_password=True)
    assert shown("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_a_database_that_cannot_be_opened_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable, match="unable to open"):
        Database(f"sqlite:///{tmp_path}/no/such/folder/shinsei.db")
    with pytest.raises(DatabaseUnavailable):
        Database("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_the_ingest_cli_refuses_a_bad_database_url(tmp_path: Path) -> None:
    from pipeline.cli import main

    src = tmp_path / "in"
    write_batch(src, 1)
    assert main(["ingest", str(src), "--out", str(tmp_path / "out"), "--db", "mysql://root@localhost/x",
                 "--quiet"]) == 64
    assert main(["ingest", str(src), "--out", str(tmp_path / "out2"), "--db",
                 "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", "--quiet"]) == 74


def _plain(apps: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(a) for a in apps]


def test_the_ledger_reads_the_same_through_the_driver_and_through_sqlalchemy(tmp_path: Path,
                                                                             db_url: str | None) -> None:  # noqa: F811
    """The ingest's outputs read the worklist through the driver, the finance commands through SQLAlchemy: the
    same applications, lines, decisions, statuses, totals and log, with decisions and statuses taken."""
    src, out = tmp_path / "in", tmp_path / "out"
    write_batch(src, 2)
    ingest([src], out, db_url=db_url, workers=1, progress=False)
    store = Store(db_url or default_url(out))
    try:
        by_sa, by_driver = Ledger(store.engine, store.reader), Ledger(store.db)
        apps = by_sa.applications()
        assert apps and any(a.lines for a in apps)
        app = next(a for a in apps if a.lines)
        first = app.lines[0]
        by_driver.decide(first["line_key"], "query", reviewer="佐藤", seq=0, comment="内訳を送ってください")
        by_sa.decide(first["line_key"], "approve", reviewer="鈴木", seq=1)
        by_driver.set_status(app.key, "changes_requested", reviewer="佐藤", comment="観光を除いてください")
        from pipeline.finance.ledger import Conflict

        with pytest.raises(Conflict):  # the unique (subject, kind, seq) refuses a stale write through either
            by_driver.decide(first["line_key"], "reject", reviewer="田中", seq=1)
        assert _plain(by_driver.applications()) == _plain(by_sa.applications())
        keys = [a.key for a in apps][::-1]
        assert _plain(by_driver.applications(keys)) == _plain(by_sa.applications(keys))
        assert list(by_driver.log()) == list(by_sa.log()) and len(list(by_sa.log())) == 3
        assert list(by_driver.log(app.key)) == list(by_sa.log(app.key))
        assert by_driver.line(first["line_key"]) == by_sa.line(first["line_key"])
        assert by_driver.last_id() == by_sa.last_id() == 3
    finally:
        store.close()
