"""A file's identity: the SHA-256 of its bytes. Reports, submissions and the ingest's database are keyed by it.

A module of its own so that hashing a file needs nothing else: the ingest hashes every file it is
given before it knows whether any is new, and a re-ingest that finds nothing new should not import
the normaliser for it (~15 ms).
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content; file_digest reuses one buffer (reading 1 MiB chunks allocated 1 MiB per file)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
