"""Bulk ingest for the secretariat: many workbooks -> JSON, database rows, cross-checks, review.xlsx.

``pipeline.ingest.run.ingest`` is the whole job; ``shinsei ingest`` is its command line.
"""
