"""The finance review: the worklist's lines and the append-only review log.

``review_lines`` holds every cost line and money finding of every file with the keys that carry a
decision across versions; files ingested before this revision get theirs from their stored documents
here. ``review_log`` is append-only: a trigger refuses UPDATE and DELETE on SQLite and PostgreSQL, so
neither the tools nor a hand-typed statement can rewrite who decided what.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_REFUSE = "review_log is append-only: add an entry instead / 監査ログは追記のみです"


def upgrade() -> None:
    op.create_table(
        "review_lines",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("files.sha256"), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("line_key", sa.String(32), nullable=False),
        sa.Column("content_key", sa.String(32), nullable=False),
        *(sa.Column(name, sa.Text) for name in ("code", "category", "category_label", "subcategory", "description")),
        sa.Column("unit_price", sa.BigInteger),
        sa.Column("quantity", sa.Float),
        sa.Column("amount", sa.BigInteger),
        sa.Column("verdict", sa.Text, nullable=False),
        *(sa.Column(name, sa.Text) for name in ("severity", "reason", "message_ja", "message_en", "clause", "quote",
                                                 "sheet", "cell")),
        sa.Column("row", sa.Integer),
    )
    op.create_index("ix_review_lines_line_key", "review_lines", ["line_key"])
    op.create_table(
        "review_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("reviewer", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("submission_key", sa.String(64), nullable=False),
        sa.Column("line_key", sa.String(32)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("content_key", sa.String(32)),
        sa.Column("previous", sa.Text),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("requested", sa.BigInteger),
        sa.Column("allowed", sa.BigInteger),
        sa.Column("comment", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("source", sa.String(16), nullable=False),
        sa.UniqueConstraint("subject", "kind", "seq", name="uq_review_log_subject_seq"),
    )
    op.create_index("ix_review_log_submission", "review_log", ["submission_key"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION review_log_append_only() RETURNS trigger AS $$
                       BEGIN RAISE EXCEPTION '{_REFUSE}'; END; $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER review_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON review_log
                      FOR EACH STATEMENT EXECUTE FUNCTION review_log_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER review_log_no_{event.lower()} BEFORE {event} ON review_log
                           BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END""")
    _backfill()


def _backfill() -> None:
    """The worklist lines of files ingested before this revision, from their stored documents."""
    from pipeline.finance.lines import LINE_COLUMNS, line_rows  # the same function the workers use

    conn = op.get_bind()
    files = sa.table("files", sa.column("sha256"), sa.column("submission_key"), sa.column("status"))
    documents = sa.table("documents", sa.column("sha256"), sa.column("program"), sa.column("submission"),
                         sa.column("report"))
    review_lines = sa.table("review_lines", *(sa.column(c) for c in LINE_COLUMNS))
    rows = conn.execute(sa.select(files.c.sha256, files.c.submission_key, documents.c.program,
                                  documents.c.submission, documents.c.report)
                        .join(documents, documents.c.sha256 == files.c.sha256)
                        .where(files.c.status == "ok")).all()
    for sha, key, program, submission, report in rows:
        submission = orjson.loads(submission) if isinstance(submission, str | bytes) else submission
        report = orjson.loads(report) if isinstance(report, str | bytes) else report
        lines = line_rows(sha, program, key, submission, report.get("findings", []))
        if lines:
            conn.execute(sa.insert(review_lines), [dict(zip(LINE_COLUMNS, row, strict=True)) for row in lines])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER review_log_append_only ON review_log")
        op.execute("DROP FUNCTION review_log_append_only()")
    op.drop_table("review_log")
    op.drop_table("review_lines")
