"""The ingest's tables as plain data: each table's columns in order, and which of them hold JSON.

What the ingest reads and writes through its driver (pipeline.ingest.database) without importing
SQLAlchemy. pipeline.ingest.tables declares the same tables for SQLAlchemy and Alembic; a test keeps
the two equal.
"""

from __future__ import annotations

COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": ("id", "started_at", "finished_at", "status", "sources", "files_seen", "files_processed",
             "files_quarantined", "version"),
    "files": ("sha256", "name", "size", "first_run", "status", "error_code", "error_ja", "error_en", "submission_key",
              "version", "program", "error_detail"),
    "submissions": ("key", "program", "institution", "pi_name", "title", "latest_sha256", "versions"),
    "participants": ("sha256", "idx", "no", "name", "role", "direction", "country", "affiliation", "category",
                     "birth_date", "visit_days"),
    "cost_items": ("sha256", "idx", "category", "subcategory", "description", "unit_price", "quantity", "amount",
                   "fiscal_year", "verdict", "reason", "sheet", "row"),
    "findings": ("sha256", "idx", "code", "severity", "sheet", "cell", "row", "message_ja", "message_en",
                 "clause_document", "clause_section"),
    "documents": ("sha256", "program", "submission", "report"),
    "cross_findings": ("id", "code", "severity", "program", "value", "submissions", "files", "message_ja",
                       "message_en", "clause_document", "clause_section"),
    "review_lines": ("sha256", "kind", "idx", "line_key", "content_key", "code", "category", "category_label",
                     "subcategory", "description", "unit_price", "quantity", "amount", "verdict", "severity", "reason",
                     "message_ja", "message_en", "clause", "quote", "sheet", "cell", "row"),
    "review_log": ("id", "at", "reviewer", "kind", "subject", "seq", "submission_key", "line_key", "sha256",
                   "content_key", "previous", "value", "requested", "allowed", "comment", "note", "source"),
}

# JSON text on SQLite; on PostgreSQL ``json``, and the documents ``jsonb`` (pipeline.ingest.tables.Document).
JSON_COLUMNS: dict[str, frozenset[str]] = {
    "runs": frozenset({"sources"}),
    "documents": frozenset({"submission", "report"}),
    "cross_findings": frozenset({"submissions", "files"}),
}
DOCUMENT_COLUMNS = JSON_COLUMNS["documents"]

# What two runs over the same files must agree on (Store.dump): every table but the runs and the review log.
CONTENT_TABLES = ("files", "submissions", "participants", "cost_items", "findings", "documents", "cross_findings",
                  "review_lines")


def listed(table: str) -> str:
    """``table``'s columns, quoted and comma-separated, in order (a SELECT's or an INSERT's list)."""
    return ", ".join(f'"{c}"' for c in COLUMNS[table])
