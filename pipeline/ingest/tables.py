"""The database tables of the ingest (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Every content row is keyed by content (file hash, row index), never by an autoincrement, so
the same files give the same database whatever the order or number of runs. Only ``runs``
records when and how often the job ran.

Columns that hold what an applicant typed (or what is derived from it) are ``Text``: a length
limit would make the database refuse a whole batch for one long value (migration 0002).
Numbers are bounded by the normaliser before they get here (pipeline.settings).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from pipeline.ingest.columns import CONTENT_TABLES as CONTENT_TABLES

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
    Column("error_code", Text),
    Column("error_ja", Text),
    Column("error_en", Text),
    Column("submission_key", String(64), ForeignKey("submissions.key")),
    Column("version", Integer),
    Column("program", Text),
    Column("error_detail", Text),                           # where, for a refusal that says (migration 0004)
)

submissions = Table(
    "submissions", metadata,
    Column("key", String(64), primary_key=True),            # hash of programme + institution + PI + title/invitee
    Column("program", Text, nullable=False),
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
    Column("role", Text),
    Column("direction", Text),
    Column("country", Text),
    Column("affiliation", Text),
    Column("category", Text),
    Column("birth_date", Text),
    Column("visit_days", Integer),
)

cost_items = Table(
    "cost_items", metadata,
    Column("sha256", String(64), ForeignKey("files.sha256"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("category", Text),
    Column("subcategory", Text),
    Column("description", Text),
    Column("unit_price", BigInteger),
    Column("quantity", Float),
    Column("amount", BigInteger),
    Column("fiscal_year", Integer),
    Column("verdict", Text, nullable=False),           # ok | ng | review
    Column("reason", Text),
    Column("sheet", Text),
    Column("row", Integer),
)

findings = Table(
    "findings", metadata,
    Column("sha256", String(64), ForeignKey("files.sha256"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("code", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("sheet", Text),
    Column("cell", Text),
    Column("row", Integer),
    Column("message_ja", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    Column("clause_document", Text, nullable=False),
    Column("clause_section", Text, nullable=False),
)

class Document(TypeDecorator):  # type: ignore[type-arg]
    """JSONB on PostgreSQL, so the secretariat can query submissions in SQL (README: "Querying the database");
    JSON text on SQLite. Decided when a dialect asks, not with ``JSON().with_variant(JSONB(), ...)``: that
    needs SQLAlchemy's PostgreSQL dialect imported (~40 ms) by every run, SQLite ones included."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:  # type: ignore[type-arg]
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


documents = Table(
    "documents", metadata,
    Column("sha256", String(64), ForeignKey("files.sha256"), primary_key=True),
    Column("program", Text, nullable=False),
    Column("submission", Document(), nullable=False),         # the normalised submission
    Column("report", Document(), nullable=False),             # its findings report (without the submission)
)

cross_findings = Table(
    "cross_findings", metadata,
    Column("id", String(64), primary_key=True),             # hash of code + the submissions involved
    Column("code", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("program", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("submissions", JSON, nullable=False),
    Column("files", JSON, nullable=False),
    Column("message_ja", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    Column("clause_document", Text, nullable=False),
    Column("clause_section", Text, nullable=False),
)

# The finance worklist's lines: every cost line and every money finding of every file, with the keys
# that carry a decision across versions (pipeline.finance.lines). Derived from the documents, like
# cost_items, so the same files give the same rows.
review_lines = Table(
    "review_lines", metadata,
    Column("sha256", String(64), ForeignKey("files.sha256"), primary_key=True),
    Column("kind", String(8), primary_key=True),             # cost | finding
    Column("idx", Integer, primary_key=True),
    Column("line_key", String(32), nullable=False),
    Column("content_key", String(32), nullable=False),
    Column("code", Text),
    Column("category", Text),
    Column("category_label", Text),
    Column("subcategory", Text),
    Column("description", Text),
    Column("unit_price", BigInteger),
    Column("quantity", Float),
    Column("amount", BigInteger),
    Column("verdict", Text, nullable=False),                 # ok | ng | review | finding
    Column("severity", Text),
    Column("reason", Text),
    Column("message_ja", Text),
    Column("message_en", Text),
    Column("clause", Text),
    Column("quote", Text),
    Column("sheet", Text),
    Column("cell", Text),
    Column("row", Integer),
)

# The review's audit log: append-only (triggers refuse UPDATE and DELETE, migration 0003). The current
# decision on a line, the status of an application and the audit samples are each the latest entry of
# their subject; ``seq`` numbers a subject's entries, and its uniqueness is the optimistic lock: two
# reviewers who both saw version 3 cannot both write version 4.
review_log = Table(
    "review_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("reviewer", Text, nullable=False),
    Column("kind", String(16), nullable=False),               # decision | status | sample
    Column("subject", String(64), nullable=False),            # the line key, or the submission key for a status
    Column("seq", Integer, nullable=False),
    Column("submission_key", String(64), nullable=False),
    Column("line_key", String(32)),
    Column("sha256", String(64)),                             # the file version the reviewer saw
    Column("content_key", String(32)),
    Column("previous", Text),
    Column("value", Text, nullable=False),                    # the decision, status or sampling rule
    Column("requested", BigInteger),
    Column("allowed", BigInteger),
    Column("comment", Text),                                  # to the applicant
    Column("note", Text),                                     # internal
    Column("source", String(16), nullable=False),             # sheet | web | cli
    UniqueConstraint("subject", "kind", "seq", name="uq_review_log_subject_seq"),
)

Index("ix_review_lines_line_key", review_lines.c.line_key)
Index("ix_review_log_submission", review_log.c.submission_key)
Index("ix_cost_items_reason", cost_items.c.reason)
Index("ix_participants_country", participants.c.country)
# PostgreSQL's GIN index of the documents (migration 0002) is declared in migrations/env.py, where only Alembic
# reads it: its options load SQLAlchemy's PostgreSQL dialect (~40 ms), which a run on SQLite never needs.

