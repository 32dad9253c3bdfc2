"""Initial ingest tables: runs, files, submissions, participants, cost items, findings, cross-checks.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("files_seen", sa.Integer, nullable=False),
        sa.Column("files_processed", sa.Integer, nullable=False),
        sa.Column("files_quarantined", sa.Integer, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("institution", sa.Text),
        sa.Column("pi_name", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("latest_sha256", sa.String(64), nullable=False),
        sa.Column("versions", sa.Integer, nullable=False),
    )
    op.create_table(
        "files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("first_run", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_ja", sa.Text),
        sa.Column("error_en", sa.Text),
        sa.Column("submission_key", sa.String(64), sa.ForeignKey("submissions.key")),
        sa.Column("version", sa.Integer),
        sa.Column("program", sa.String(64)),
    )
    op.create_table(
        "participants",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("files.sha256"), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("no", sa.Integer),
        sa.Column("name", sa.Text),
        sa.Column("role", sa.String(64)),
        sa.Column("direction", sa.String(64)),
        sa.Column("country", sa.String(64)),
        sa.Column("affiliation", sa.Text),
        sa.Column("category", sa.String(64)),
        sa.Column("birth_date", sa.String(10)),
        sa.Column("visit_days", sa.Integer),
    )
    op.create_table(
        "cost_items",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("files.sha256"), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("category", sa.String(64)),
        sa.Column("subcategory", sa.String(64)),
        sa.Column("description", sa.Text),
        sa.Column("unit_price", sa.BigInteger),
        sa.Column("quantity", sa.Float),
        sa.Column("amount", sa.BigInteger),
        sa.Column("fiscal_year", sa.Integer),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("sheet", sa.Text),
        sa.Column("row", sa.Integer),
    )
    op.create_table(
        "findings",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("files.sha256"), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(96), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("sheet", sa.Text),
        sa.Column("cell", sa.String(16)),
        sa.Column("row", sa.Integer),
        sa.Column("message_ja", sa.Text, nullable=False),
        sa.Column("message_en", sa.Text, nullable=False),
        sa.Column("clause_document", sa.Text, nullable=False),
        sa.Column("clause_section", sa.Text, nullable=False),
    )
    op.create_table(
        "cross_findings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(96), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("submissions", sa.JSON, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("message_ja", sa.Text, nullable=False),
        sa.Column("message_en", sa.Text, nullable=False),
        sa.Column("clause_document", sa.Text, nullable=False),
        sa.Column("clause_section", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("cross_findings", "findings", "cost_items", "participants", "files", "submissions", "runs"):
        op.drop_table(name)
