"""How tasks are run: an interface, so a distributed engine can be plugged in without touching the pipeline.

An executor takes a picklable function and a list of argument tuples and yields
(index, result or exception) as tasks finish. A task whose worker dies yields a
WorkbookRejected for that task only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from pipeline.sandbox import IsolatedPool


class Executor(Protocol):
    """``isolated`` (optional, False when missing): each task runs in a process whose death costs only
    that task, so the pre-check may leave far cells to the reader (pipeline.safety)."""

    def map_unordered(self, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]: ...


class LocalProcessExecutor:
    """Isolated worker processes on this machine (memory and time limits per file).

    A worker is replaced after ``max_tasks_per_worker`` files, not the pool's default 100: each fork of
    the parent (by then a hundred MB) costs the new worker and the parent a storm of copy-on-write
    page faults. Measured over 1,000 files: 46,000 -> 13,000 page faults in the workers, 73,000 ->
    49,000 in the parent, ~5% of the ingest's CPU; a worker's memory stays flat over 1,000 files.

    Each worker has ``prefetch`` files queued (~4 ms each), not the pool's default 2: while the parent
    stores a batch of results (run.BATCH_FILES, ~15 ms for 50 files) it sends no new task, and two
    queued files left the workers idle for the rest. Over 1,000 files the files phase took 2.35 s
    instead of 2.55 (the medians of six runs alternated; with batches of 200, ~70 ms each, 2.45).
    """

    isolated = True

    def __init__(self, workers: int, *, timeout: float = 60.0, memory_bytes: int = 2 * 1024**3,
                 max_tasks_per_worker: int = 1000, prefetch: int = 8) -> None:
        self.pool = IsolatedPool(workers=workers, timeout=timeout, memory_bytes=memory_bytes,
                                 max_tasks_per_worker=max_tasks_per_worker, prefetch=prefetch,
                                 keep_stderr=True)  # a dying worker's last words never cross the progress line

    def map_unordered(self, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        yield from self.pool.imap_unordered(fn, tasks)


class InlineExecutor:
    """In this process, one after another: for trusted files and debugging (no isolation)."""

    def map_unordered(self, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        for i, args in enumerate(tasks):
            try:
                yield i, fn(*args)
            except Exception as exc:
                yield i, exc
