"""The database tables of the ingest (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Every content row is keyed by content (file hash, row index), never by an autoincrement, so
the same files give the same database whatever the order or number of runs. Only ``runs``
records when and how often the job ran.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("status", String(16), nullable=False),           # running | finished
    Column("sources", JSON, nullable=False),
    Column("files_seen", Integer, nullable=False, default=0),
    Column("files_processed", Integer, nullable=False, default=0),
    Column("files_quarantined", Integer, nullable=False, default=0),
    Column("version", String(32), nullable=False),
)

files = Table(
    "files", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("name", Text, nullable=False),                   # the first name the content was seen under
    Column("size", BigInteger, nullable=False),
    Column("first_run", Integer, nullable=False),           # run that first listed it (orders versions)
    Column("status", String(16), nullable=False),           # pending | ok | quarantined
    Column("error_code", String(64)),
    Column("error_ja", Text),
    Column("error_en", Text),
    Column("submission_key", String(64), ForeignKey("submissions.key")),
    Column("version", Integer),
    Column("program", String(64)),
)

submissions = Table(
    "submissions", metadata,
    Column("key", String(64), primary_key=True),            # hash of programme + institution + PI + title/invitee
    Column("program", String(64), nullable=False),
    Column("institution", Text),
    Column("pi_name", Text),
    Column("title", Text),
    Column("latest_sha256", String(64), nullable=False),
    Column("versions", Integer, nullable=False),
)

participants = Table(
    "participants", metadata,
    Column("sha256", String(64), ForeignKey("files.sha256"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("no", Integer),
    Column("name", Text),
    Column("role", String(64)),
    Column("direction", String(64)),
    Column("country", String(64)),
    Column("affiliation", Text),
    Column("category", String(64)),
    Column("birth_date", String(10)),
    Column("visit_days", Integer),
)

cost_items = Table(
    "cost_items", metadata,
    Column("sha256", String(64), ForeignKey("files.sha256"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("category", String(64)),
    Column("subcategory", String(64)),
    Column("description", Text),
    Column("unit_price", BigInteger),
    Column("quantity", Float),
    Column("amount", BigInteger),
    Column("fiscal_year", Integer),
    Column("verdict", String(8), nullable=False),           # ok | ng | review
    Column("reason", String(32)),
    Column("sheet", Text),
    Column("row", Integer),
)

findings = Table(
    "findings", metadata,
    Column("sha256", String(64), ForeignKey("files.sha256"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("code", String(96), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("sheet", Text),
    Column("cell", String(16)),
    Column("row", Integer),
    Column("message_ja", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    Column("clause_document", Text, nullable=False),
    Column("clause_section", Text, nullable=False),
)

cross_findings = Table(
    "cross_findings", metadata,
    Column("id", String(64), primary_key=True),             # hash of code + the submissions involved
    Column("code", String(96), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("program", String(64), nullable=False),
    Column("value", Text, nullable=False),
    Column("submissions", JSON, nullable=False),
    Column("files", JSON, nullable=False),
    Column("message_ja", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    Column("clause_document", Text, nullable=False),
    Column("clause_section", Text, nullable=False),
)

CONTENT_TABLES = ("files", "submissions", "participants", "cost_items", "findings", "cross_findings")
