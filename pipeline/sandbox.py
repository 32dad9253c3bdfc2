"""Parse untrusted files in child processes with memory and time limits.

python-calamine aborts the whole process on some hostile files (a Rust allocation failure
that no try/except catches), so the parse runs in a forked child: if it dies, times out or
runs out of memory, the caller gets a WorkerFailed naming why, and goes on.

Caveat: "fork" copies only the calling thread; call from a process whose other threads hold
no locks the child needs (the engine's own code takes none).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import resource
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from pipeline.safety import WorkbookRejected

_CTX = mp.get_context("fork")
DEFAULT_MEMORY = 2 * 1024**3


class WorkerFailed(WorkbookRejected):
    """The child process reading a file died, ran out of memory or time."""


def _limit_memory(memory_bytes: int) -> None:
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
           memory_bytes: int) -> None:
    _limit_memory(memory_bytes)
    try:
        result: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except MemoryError:
        result = ("memory", None)
    except BaseException as exc:
        result = ("error", exc)
    try:
        conn.send(result)
    except Exception as exc:
        conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    conn.close()


def _died(code: int | None, memory_bytes: int) -> WorkerFailed:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        if name == "SIGKILL" and memory_bytes:
            return WorkerFailed("worker-memory", "読み込み中にメモリ上限を超えました（ファイルが異常です）",
                                "reading the file exceeded the memory limit (the file is abnormal)", name)
        return WorkerFailed("worker-crashed", "読み込み中に読み取り処理が異常終了しました（ファイルが異常です）",
                            "the reader crashed on this file (the file is abnormal)", f"signal {name}")
    return WorkerFailed("worker-crashed", "読み込み中に読み取り処理が異常終了しました（ファイルが異常です）",
                        "the reader crashed on this file (the file is abnormal)", f"exit code {code}")


def _timeout(seconds: float) -> WorkerFailed:
    return WorkerFailed("worker-timeout", f"読み込みが{seconds:g}秒以内に終わりませんでした（ファイルが異常です）",
                        f"reading did not finish within {seconds:g} s (the file is abnormal)")


def _memory() -> WorkerFailed:
    return WorkerFailed("worker-memory", "読み込み中にメモリ上限を超えました（ファイルが異常です）",
                        "reading the file exceeded the memory limit (the file is abnormal)")


def run_isolated(fn: Callable[..., Any], *args: Any, timeout: float = 30.0, memory_bytes: int = DEFAULT_MEMORY,
                 **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a forked child with limits; its exceptions are re-raised here."""
    parent, child = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_child, args=(child, fn, args, kwargs, memory_bytes), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            proc.kill()
            proc.join()
            raise _timeout(timeout)
        try:
            status, value = parent.recv()
        except (EOFError, pickle.UnpicklingError):
            proc.join()
            raise _died(proc.exitcode, memory_bytes) from None
    finally:
        parent.close()
    proc.join(5)
    if proc.is_alive():
        proc.kill()
    if status == "ok":
        return value
    if status == "memory":
        raise _memory()
    raise value


# ---- a pool for batches -----------------------------------------------------------------------

def _pool_worker(conn: Connection, memory_bytes: int) -> None:
    _limit_memory(memory_bytes)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        index, fn, args = task
        try:
            out: tuple[int, str, Any] = (index, "ok", fn(*args))
        except MemoryError:
            out = (index, "memory", None)
        except BaseException as exc:
            out = (index, "error", exc)
        try:
            conn.send(out)
        except Exception as exc:
            conn.send((index, "error", RuntimeError(f"{type(exc).__name__}: {exc}")))


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    task: int | None = None
    started: float = 0.0


@dataclass
class IsolatedPool:
    """N forked workers with memory and time limits; a dead worker fails its task only and is replaced."""

    workers: int = max(1, os.cpu_count() or 1)
    timeout: float = 30.0
    memory_bytes: int = DEFAULT_MEMORY
    _pool: list[_Worker] = field(default_factory=list, init=False)

    def _spawn(self) -> _Worker:
        parent, child = _CTX.Pipe()
        proc = _CTX.Process(target=_pool_worker, args=(child, self.memory_bytes), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def imap_unordered(self, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        """Yield (task index, result or WorkbookRejected/exception) as tasks finish."""
        pending = list(enumerate(tasks))[::-1]
        self._pool = [self._spawn() for _ in range(min(self.workers, max(1, len(tasks))))]
        try:
            for w in self._pool:
                self._feed(w, fn, pending)
            while any(w.task is not None for w in self._pool):
                busy = [w for w in self._pool if w.task is not None]
                deadline = min(w.started + self.timeout for w in busy)
                ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()))
                for w in busy:
                    outcome: tuple[int, Any] | None = None
                    if w.conn in ready:
                        try:
                            index, status, value = w.conn.recv()
                        except (EOFError, OSError, pickle.UnpicklingError):
                            index = w.task
                            w.proc.join(1)
                            outcome = (index, _died(w.proc.exitcode, self.memory_bytes))
                            self._replace(w)
                        else:
                            outcome = (index, value if status in ("ok", "error") else _memory())
                            w.task = None
                    elif time.monotonic() >= w.started + self.timeout:
                        index = w.task
                        w.proc.kill()
                        w.proc.join()
                        outcome = (index, _timeout(self.timeout))
                        self._replace(w)
                    if w.task is None:
                        self._feed(w, fn, pending)   # keep the worker busy while the caller handles the result
                    if outcome is not None:
                        yield outcome
        finally:
            self.close()

    def _replace(self, w: _Worker) -> None:
        w.conn.close()
        fresh = self._spawn()
        w.proc, w.conn, w.task = fresh.proc, fresh.conn, None

    def _feed(self, w: _Worker, fn: Callable[..., Any], pending: list[tuple[int, tuple[Any, ...]]]) -> None:
        if pending:
            index, args = pending.pop()
            w.task, w.started = index, time.monotonic()
            w.conn.send((index, fn, args))

    def close(self) -> None:
        for w in self._pool:
            with contextlib.suppress(OSError):
                w.conn.send(None)
            w.proc.join(1)
            if w.proc.is_alive():
                w.proc.kill()
            w.conn.close()
        self._pool = []
