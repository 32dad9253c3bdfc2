"""Run the scripts' engine work off the event loop, in worker processes with time and memory limits.

A script body (payload -> engine input -> validate_raw -> write-back actions) is CPU-bound Python.
On the event loop it stalls every other request; in a thread it still holds the GIL and cannot be
stopped at a timeout. So it runs in a worker process of ``pipeline.sandbox.IsolatedPool``: killed and
replaced when a call passes ADDIN_ENGINE_TIMEOUT_SECONDS, memory capped like any file's work
(FILE_MEMORY_BYTES), recycled every MAX_TASKS_PER_WORKER calls. Workers are long-lived because a fork
per call costs more than the call (copy-on-write of the whole server: ~15 ms of CPU against ~4 ms).

Each lane thread drives a one-worker pool whose tasks come from the lane's queue. The pool hands a
result over only when it takes the next task, so when the queue is empty the thread sends a no-op
rather than wait: the caller gets its result at once, and the thread waits for work after the no-op.

Two lanes, so that one heavy workbook never takes the place of ordinary ones: a request over
HEAVY_BYTES or HEAVY_CELLS (measured by addin.limits) goes to its own lane, one at a time, whose
worker has a lower CPU priority; the ordinary lane runs ADDIN_ENGINE_WORKERS workers. A request that
waited longer than the timeout for a worker is answered "busy" instead of run.

Workers are forked from the lane threads. A fork copies only the forking thread: an import lock
another thread holds at that moment stays locked in the worker, which then hangs until its timeout.
So the packs are loaded before the first fork, and xlwings' ``import pyodide`` (tried on every
``xw.Book(json=...)``, never found on a server) is answered from sys.modules without a lock.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import importlib
import importlib.util
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any

import orjson
import xlwings as xw

from addin.limits import Refused, current_request
from pipeline import sandbox, settings
from pipeline.sandbox import IsolatedPool, WorkerFailed

logger = logging.getLogger("shinsei.addin")

# The largest template sends ~27 KB and ~750 cells, a 200-line budget ~41 KB and ~2,500 cells.
HEAVY_BYTES = 256 * 1024
HEAVY_CELLS = 20_000
HEAVY_NICE = 19              # the lowest priority: a heavy worker gets the CPU ordinary ones leave
MAX_TASKS_PER_WORKER = 500   # a fresh worker (one fork) every so many calls: nothing can build up

Body = Callable[[xw.Book], None]
Actions = list[dict[str, Any]]
Key = tuple[str, str]
_BODIES: dict[Key, Body] = {}
_LOCK = threading.Lock()
_STOP = object()
_warm = False
_adopted: int | None = None      # in a worker: the server's pid, once the worker is tied to it

if importlib.util.find_spec("pyodide") is None:       # xlwings imports pyodide.ffi: both names answered
    for _absent in ("pyodide", "pyodide.ffi"):
        sys.modules.setdefault(_absent, None)  # type: ignore[arg-type]


def off_loop(body: Body) -> Callable[[xw.Book], Awaitable[None]]:
    """The async script xlwings Server awaits, running ``body(book)`` in a worker; its actions come back."""
    key = (body.__module__, body.__qualname__)
    _BODIES[key] = body

    @functools.wraps(body)
    async def script(book: xw.Book) -> None:
        checked = current_request.get()     # None when called without the server (tests, benchmarks)
        heavy = checked is not None and (len(checked.body) > HEAVY_BYTES or checked.cells > HEAVY_CELLS)
        future = (_HEAVY if heavy else _ORDINARY).submit(key, checked.body if checked else book.api)
        book.json()["actions"].extend(await asyncio.wrap_future(future))

    return script


# ---- what runs in a worker ----------------------------------------------------------------------

def _child(key: Key, payload: bytes | dict[str, Any], nice: int, server: int) -> Actions:
    """The script body on a book built from the payload (the checked JSON, parsed again); its actions."""
    global _adopted
    if _adopted != server:       # first call in this worker: die with the server, lower the priority
        sandbox._die_with_parent(server)
        if nice and hasattr(os, "nice"):
            os.nice(nice)
        _adopted = server
    importlib.import_module(key[0])      # where workers are not forked, this registers the bodies
    book = xw.Book(json=orjson.loads(payload) if isinstance(payload, bytes) else payload)
    _BODIES[key](book)
    return book.json()["actions"]


def _noop() -> None:
    return None


# ---- the lanes ----------------------------------------------------------------------------------

class _Lane:
    """Threads each driving a one-worker IsolatedPool, fed in order from one queue (a new one after a stop)."""

    def __init__(self, name: str, workers: Callable[[], int], nice: int) -> None:
        self.name, self._workers, self.nice = name, workers, nice
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, key: Key, payload: bytes | dict[str, Any]) -> Future[Actions]:
        future: Future[Actions] = Future()
        with _LOCK:
            if not self._threads:
                try:
                    warm()
                except Exception as exc:   # a pack that does not load: every call would fail alike
                    logger.error("the engine could not be loaded", exc_info=exc)
                    raise failed(type(exc).__name__) from None
                self._threads = [threading.Thread(target=self._serve, args=(self._queue,), daemon=True,
                                                  name=f"shinsei-{self.name}-{i}")
                                 for i in range(max(1, self._workers()))]
                for thread in self._threads:
                    thread.start()
        self._queue.put((future, key, payload, time.monotonic()))
        return future

    def stop(self) -> None:
        """Let the threads finish what they run, then stop them and their workers."""
        with _LOCK:
            threads, self._threads = self._threads, []
            jobs, self._queue = self._queue, queue.SimpleQueue()
        for _ in threads:
            jobs.put(_STOP)                  # after the calls already queued, which are still served
        for thread in threads:
            thread.join(timeout=settings.ADDIN_ENGINE_TIMEOUT_SECONDS + 10)

    def _serve(self, jobs: queue.SimpleQueue[Any]) -> None:
        stopped = False
        while not stopped:
            waiting: dict[int, Future[Actions] | None] = {}
            pool = IsolatedPool(workers=1, timeout=settings.ADDIN_ENGINE_TIMEOUT_SECONDS,
                                memory_bytes=settings.FILE_MEMORY_BYTES, max_tasks_per_worker=MAX_TASKS_PER_WORKER,
                                prefetch=1)
            try:
                for index, outcome in pool.imap_tasks(self._tasks(jobs, waiting, pool)):
                    future = waiting.pop(index, None)
                    if future is not None:
                        _settle(future, outcome, pool.timeout)
                stopped = True       # the tasks ended: a stop was asked for
            except Exception as exc:  # the pool itself failed (a fork refused...): fail its calls, start again
                logger.error("engine lane %s failed; restarting it", self.name, exc_info=exc)
                for future in waiting.values():
                    if future is not None and not future.done():
                        future.set_exception(failed(type(exc).__name__))
                time.sleep(0.5)

    def _tasks(self, jobs: queue.SimpleQueue[Any], waiting: dict[int, Future[Actions] | None],
               pool: IsolatedPool) -> Iterator[tuple[Callable[..., Any], tuple[Any, ...]]]:
        """The pool's tasks: calls from the queue; a no-op instead of waiting while a result is still held."""
        index, held = 0, False
        server = os.getpid()
        while True:
            try:
                item = jobs.get(block=not held)
            except queue.Empty:
                waiting[index], index, held = None, index + 1, False
                yield _noop, ()
                continue
            if item is _STOP:
                return
            future, key, payload, queued = item
            if not future.set_running_or_notify_cancel():
                continue                      # the request went away while it waited
            if time.monotonic() - queued > pool.timeout:
                future.set_exception(busy())
                continue
            waiting[index], index, held = future, index + 1, True
            yield _child, (key, payload, self.nice, server)


def _settle(future: Future[Actions], outcome: Any, timeout: float | None) -> None:
    if isinstance(outcome, WorkerFailed):
        future.set_exception(too_slow(timeout or 0) if outcome.code == "worker-timeout" else failed(outcome.code))
    elif isinstance(outcome, BaseException):  # a bug in the engine or the write-back: logged, never sent
        logger.error("a script failed in its worker process", exc_info=outcome)
        future.set_exception(failed(type(outcome).__name__))
    else:
        future.set_result(outcome)


_ORDINARY = _Lane("engine", lambda: settings.ADDIN_ENGINE_WORKERS, 0)
_HEAVY = _Lane("heavy", lambda: 1, HEAVY_NICE)


def shutdown() -> None:
    """Stop both lanes and their workers (at exit; tests call it to start afresh with other settings)."""
    for lane in (_ORDINARY, _HEAVY):
        lane.stop()


atexit.register(shutdown)


def warm() -> None:
    """Load packs, classifiers and schema validators once, before any worker is forked, so each starts with them.

    Then everything alive is frozen out of the garbage collector (``gc.freeze``): the server's heap
    (xlwings, pandas, FastAPI, the packs) made each full collection stall the event loop and the
    workers for 150-360 ms; frozen, it is never scanned again, nor copied into workers by the scan.
    """
    global _warm
    if _warm:
        return
    from pipeline.validate import warm_up

    warm_up()
    gc.collect()
    gc.freeze()
    _warm = True


# ---- the refusals -------------------------------------------------------------------------------

def too_slow(seconds: float) -> Refused:
    return Refused.of("engine-timeout", f"engine timeout after {seconds:g} s", seconds=seconds)


def busy() -> Refused:
    return Refused.of("server-busy", "engine queue wait over the timeout")


def failed(code: str) -> Refused:
    return Refused.of("engine-failed", f"engine failed: {code}")
