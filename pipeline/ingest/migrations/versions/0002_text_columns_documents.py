"""Typed-in values as text without a length limit; the normalised documents kept in the database.

A choice cell with 65 characters or a 21-character range address made PostgreSQL refuse the whole
batch (StringDataRightTruncation). SQLite never enforced the lengths, so only PostgreSQL is altered.
The documents table holds each file's normalised submission and findings report (JSONB on PostgreSQL,
indexed for containment queries; JSON text on SQLite): the database is the store of record, and
every output is built from it. Indexes serve the README's example queries (lines by reason,
participants by country).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TEXT_COLUMNS = {
    "files": ("error_code", "program"),
    "submissions": ("program",),
    "participants": ("role", "direction", "country", "category", "birth_date"),
    "cost_items": ("category", "subcategory", "verdict", "reason"),
    "findings": ("code", "severity", "cell"),
    "cross_findings": ("code", "severity", "program"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in TEXT_COLUMNS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.Text)
    document = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "documents",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("files.sha256"), primary_key=True),
        sa.Column("program", sa.Text, nullable=False),
        sa.Column("submission", document, nullable=False),
        sa.Column("report", document, nullable=False),
    )
    op.create_index("ix_cost_items_reason", "cost_items", ["reason"])
    op.create_index("ix_participants_country", "participants", ["country"])
    if op.get_bind().dialect.name == "postgresql":  # containment queries (@>) on the submission
        op.create_index("ix_documents_submission", "documents", ["submission"], postgresql_using="gin",
                        postgresql_ops={"submission": "jsonb_path_ops"})


def downgrade() -> None:
    op.drop_index("ix_participants_country", "participants")
    op.drop_index("ix_cost_items_reason", "cost_items")
    op.drop_table("documents")
