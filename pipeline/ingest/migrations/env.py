"""Alembic environment: run with the connection the ingest passes in (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Index

from pipeline.ingest.tables import documents, metadata

if "ix_documents_submission" not in {index.name for index in documents.indexes}:  # see tables.py
    Index("ix_documents_submission", documents.c.submission, postgresql_using="gin",
          postgresql_ops={"submission": "jsonb_path_ops"})

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
