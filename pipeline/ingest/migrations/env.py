"""Alembic environment: run with the connection the ingest passes in (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from pipeline.ingest.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
