"""Why a file was quarantined, in detail: the part and the place the refusal names.

A refusal's message says what is wrong and what to do ("a sheet's used range is too large: press Ctrl+End
..."); its detail says where (``xl/worksheets/sheet1.xml: row 1,048,576``). ``shinsei validate`` showed both,
the ingest kept only the message: the secretariat could not tell which sheet to look at.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("files", sa.Column("error_detail", sa.Text()))


def downgrade() -> None:
    op.drop_column("files", "error_detail")  # SQLite 3.35 and later drop a column in place
