"""Audit samples: which lines a reviewer checks besides the flagged ones, chosen reproducibly.

Like an expense system's audit rule sets: a share of all lines (``rate`` with a ``seed``), every line
of an application with errors, every line above an amount. A line is in a random sample when a hash
of the seed and its line key falls below the rate: the same seed picks the same lines whatever the
order or size of the batch, and a line keeps its draw across resubmissions. Marks are log entries
(kind ``sample``); marking again by the same rule adds nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from pipeline.finance.ledger import Ledger, now
from pipeline.ingest import tables as t


def drawn(seed: str, line_key: str, rate: float) -> bool:
    """Whether the line is in the ``rate`` share drawn with ``seed`` (uniform, reproducible)."""
    h = int.from_bytes(hashlib.sha256(f"{seed}|{line_key}".encode()).digest()[:8], "big")
    return h < rate * 2**64


def sample(ledger: Ledger, *, reviewer: str, rate: float = 0.0, seed: str = "0", errors: bool = False,
           above: int | None = None) -> list[dict[str, Any]]:
    """Mark the latest versions' cost lines the rules pick; returns the new marks (already stored)."""
    if not 0 <= rate <= 1:
        raise ValueError("--rate は 0〜1 です / --rate is a share from 0 to 1")
    rules = [r for r in (f"rate={rate:g} seed={seed}" if rate else "", "errors" if errors else "",
                         f"above={above}" if above is not None else "") if r]
    if not rules:
        raise ValueError("--rate、--errors、--above のどれかを指定してください / give --rate, --errors or --above")
    with ledger.reader.connect() as conn:
        latest = {r.latest_sha256: r.key for r in conn.execute(select(t.submissions.c.key,
                                                                      t.submissions.c.latest_sha256))}
        with_errors = set(conn.execute(select(t.findings.c.sha256).where(t.findings.c.severity == "error")
                                       .distinct()).scalars()) if errors else set()
        lines = conn.execute(select(t.review_lines.c.sha256, t.review_lines.c.line_key, t.review_lines.c.content_key,
                                    t.review_lines.c.amount)
                             .join(t.submissions, t.submissions.c.latest_sha256 == t.review_lines.c.sha256)
                             .where(t.review_lines.c.kind == "cost")
                             .order_by(t.review_lines.c.sha256, t.review_lines.c.idx)).all()  # latest versions
        marked: dict[str, tuple[int, set[str]]] = {}
        for r in conn.execute(select(t.review_log.c.subject, t.review_log.c.seq, t.review_log.c.value)
                              .where(t.review_log.c.kind == "sample")):
            seq, values = marked.get(r.subject, (0, set()))
            marked[r.subject] = (max(seq, r.seq), values | {r.value})
    entries = []
    for line in lines:
        why = [rule for rule in rules
               if (rule.startswith("rate=") and drawn(seed, line.line_key, rate))
               or (rule == "errors" and line.sha256 in with_errors)
               or (rule.startswith("above=") and (line.amount or 0) >= (above or 0))]
        if not why:
            continue
        value = " ".join(why)
        seq, values = marked.get(line.line_key, (0, set()))
        if value in values:
            continue
        entries.append({"at": now(), "reviewer": reviewer, "kind": "sample", "subject": line.line_key, "seq": seq + 1,
                        "submission_key": latest[line.sha256], "line_key": line.line_key, "sha256": line.sha256,
                        "content_key": line.content_key, "previous": None, "value": value, "requested": line.amount,
                        "allowed": None, "comment": None, "note": None, "source": "cli"})
        marked[line.line_key] = (seq + 1, values | {value})
    ledger.append(entries)
    return entries
