"""Typed-in values as text without a length limit; the normalised documents kept in the database.

A choice cell with 65 characters or a 21-character range address made PostgreSQL refuse the whole
batch (StringDataRightTruncation). SQLite never enforced the lengths, so only PostgreSQL is altered.
The documents table holds each file's normalised submission and findings report (JSON text), so
every output folder that shares a database can be rebuilt from it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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
    op.create_table(
        "documents",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("files.sha256"), primary_key=True),
        sa.Column("submission", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("documents")
