"""Parse untrusted files in child processes with memory and time limits.

python-calamine aborts the whole process on some hostile files (a Rust allocation failure that
no try/except catches), and openpyxl can spend minutes and gigabytes on a styles bomb. So the
parse runs in a forked child: if the child dies, runs out of memory or out of time, the caller
gets a WorkerFailed naming why (never a dead caller), and an ordinary exception raised by the
parse comes back as itself, so callers keep catching their own error types.

Limits. ``memory_bytes`` caps the address space (RLIMIT_AS) the call may add to what the forked
child starts with: a fork inherits the parent's mappings (every thread stack and malloc arena of a
busy server), so an absolute cap could leave a child of a big parent no room at all. ``timeout``
is wall-clock time; the parent kills the child with SIGKILL when it passes. A CPU-time limit and
death-with-the-parent (Linux) keep an orphaned child from running on if the parent itself dies.

Threads. "fork" copies only the calling thread; any lock another thread held at that moment stays
locked in the child. The code run in the child (this module, the readers) takes no such lock, but
if ``fn`` writes to a stream or logs while another parent thread did the same at the fork, the
child can block: it is then killed at its timeout (worker-timeout), and the caller is unharmed.
Several threads may call run_isolated at once. Python 3.12+ warns about fork with threads; that
warning is this caveat. Where fork is not the platform's default (macOS, Windows) the default
start method is used, and ``fn`` and its arguments must then be picklable; without the resource
module (Windows) only the time limit applies.

On Linux children are forked without multiprocessing (``_ForkedProcess``, ``_Channel``): importing
it (with tempfile, subprocess and shutil) costs ~5 ms, a tenth of a ``shinsei validate`` process, and
a child needs only fork, a pipe or socket pair and waitpid. Nor does its exit handler, which joins
every child it started, then wait at interpreter exit for pool workers that a server's own exit
handler had not stopped yet: a worker of ours ends when its parent's end of the socket closes.
Elsewhere multiprocessing starts the children, imported with this module as it always was.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

try:
    import resource
except ImportError:  # Windows: time limits only
    resource = None  # type: ignore[assignment]

from pipeline.record import Record
from pipeline.safety import WorkbookRejected

__all__ = ["DEFAULT_MEMORY", "DEFAULT_TIMEOUT", "ChildError", "IsolatedCall", "IsolatedPool", "WorkerFailed",
           "run_isolated"]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY = 2 * 1024**3
_FORK = sys.platform.startswith("linux")  # children are forked here, without multiprocessing
if not _FORK:
    # Imported now, not when first used: its exit handler (it joins the children) must run after those
    # registered later by the modules that stop their pools at exit (LIFO), as it always did.
    import multiprocessing.connection  # noqa: F401
_CPU_GRACE = 5  # CPU seconds beyond the timeout before the kernel stops an orphaned child
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_Outcome = tuple[int, Any]  # (task index, result | WorkerFailed | the exception fn raised)


class WorkerFailed(WorkbookRejected):
    """The child process reading a file died, ran out of memory or ran out of time.

    ``code`` is worker-timeout, worker-memory or worker-crashed; ``detail`` names the signal or exit code.
    """


class ChildError(RuntimeError):
    """An exception raised in the child that could not be carried back as itself (it did not pickle)."""

    def __init__(self, type_name: str, message: str, child_traceback: str = "") -> None:
        self.type_name, self.message, self.child_traceback = type_name, message, child_traceback
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message, self.child_traceback))


# ---- what runs in the child ---------------------------------------------------------------------

def _address_space() -> int:
    """Bytes of address space this process maps now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _limit_memory(memory_bytes: int | None) -> None:
    if not memory_bytes or resource is None:
        return
    limit = _address_space() + memory_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _limit_cpu(timeout: float | None) -> None:
    """A backstop only (the parent's wall clock decides): stops a child whose parent is gone."""
    if timeout is None or resource is None:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + timeout) + _CPU_GRACE
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError):
        return None


_LIBC = _load_libc()  # loaded once here, not in every child


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this child when the thread that forked it ends (a dead parent leaves no orphan)."""
    if _LIBC is None:
        return
    with contextlib.suppress(Exception):
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


_MEMORY = pickle.dumps(("memory", None, "MemoryError", "", ""), _PROTOCOL)  # ready before memory runs out


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, bytes]:
    """Run fn; the outcome's status and, as bytes, (status, pickled value, type name, message, traceback).

    Everything is pickled here, in the child, so that nothing the parent unpickles can fail halfway.
    """
    try:
        value = fn(*args, **kwargs)
    except MemoryError:
        return "memory", _MEMORY
    except SystemExit as exc:
        return "exit", pickle.dumps(("exit", None, "SystemExit", repr(exc.code), ""), _PROTOCOL)
    except BaseException as exc:
        return "error", _error(exc)
    try:
        return "ok", pickle.dumps(("ok", pickle.dumps(value, _PROTOCOL), "", "", ""), _PROTOCOL)
    except MemoryError:
        return "memory", _MEMORY
    except Exception as exc:  # the result does not pickle: say so, as the exception pickle raised
        return "error", _error(exc, "the function's result could not be pickled")


def _error(exc: BaseException, note: str = "") -> bytes:
    import traceback  # here, not at the top: with textwrap and linecache ~1 ms that a call that succeeds never needs

    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    text = traceback.format_exc()
    if note:
        text = f"{note}\n{text}"
    try:
        payload: bytes | None = pickle.dumps(exc, _PROTOCOL)
    except Exception:
        payload = None
    return pickle.dumps(("error", payload, name, str(exc), text), _PROTOCOL)


def _exit_child() -> None:
    """Leave at once: no atexit handlers, no waiting for threads fn may have left behind."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _ignore_interrupt() -> None:
    """Ctrl-C in a terminal reaches every process of the group: the parent decides, and kills its children."""
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _isolated_child(conn: Connection | _Channel, fn: Callable[..., Any], args: tuple[Any, ...],
                    kwargs: dict[str, Any], memory_bytes: int | None, timeout: float | None, parent_pid: int) -> None:
    _ignore_interrupt()
    _die_with_parent(parent_pid)
    _limit_memory(memory_bytes)
    _limit_cpu(timeout)
    _, blob = _call(fn, args, kwargs)
    with contextlib.suppress(OSError):
        conn.send_bytes(blob)
    _exit_child()


def _pool_worker(conn: Connection | _Channel, memory_bytes: int | None, timeout: float | None, max_tasks: int,
                 inherited: list[int], errors: int = -1) -> None:
    _ignore_interrupt()
    if errors >= 0:  # the worker's stderr goes to a file the pool reads when it retires (see IsolatedPool)
        os.dup2(errors, 2)
        os.close(errors)
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    _limit_memory(memory_bytes)
    for _ in range(max_tasks):
        try:
            task = conn.recv_bytes()
        except (EOFError, OSError):
            break
        try:
            fn, args, kwargs = pickle.loads(task)
        except BaseException as exc:
            status, blob = "error", _error(exc, "the task could not be unpickled in the worker")
        else:
            _limit_cpu(timeout)
            status, blob = _call(fn, args, kwargs)
        try:
            conn.send_bytes(blob)
        except OSError:
            break
        if status == "memory":
            break  # a worker that ran out of memory may be fragmented: the pool replaces it
    _exit_child()


# ---- how the child is started --------------------------------------------------------------------

@cache
def _mp_context() -> Any:
    """multiprocessing's context, where children are not forked by this module (not Linux)."""
    import multiprocessing as mp

    return mp.get_context()


_HEADER = struct.Struct("!Q")  # a message: its length, then its bytes


class _Channel:
    """One end of a pipe or socket pair: ``send_bytes``, ``recv_bytes``, ``poll``, ``fileno`` and ``close``
    as a multiprocessing Connection has them (messages framed by their length)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def send_bytes(self, data: bytes) -> None:
        for part in (_HEADER.pack(len(data)), data):
            view = memoryview(part)
            while view:
                view = view[os.write(self.fd, view):]

    def poll(self, timeout: float = 0.0) -> bool:
        return bool(_ready([self.fd], timeout))

    def recv_bytes(self) -> bytes:
        """One whole message; EOFError when the other end closes before it is complete."""
        (size,) = _HEADER.unpack(self._read(_HEADER.size))
        return self._read(size)

    def _read(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            chunk = os.read(self.fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError("the other end closed before the message was complete")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def _socket_pair() -> tuple[_Channel, _Channel]:
    """Two connected ends, each way (a pool worker's tasks and results)."""
    import socket

    a, b = socket.socketpair()
    return _Channel(a.detach()), _Channel(b.detach())


def _ready(fds: list[int], timeout: float | None) -> list[int]:
    """The fds of ``fds`` readable (data or end of file) within ``timeout`` seconds (None: no limit).

    poll, not select: a busy server may hold file descriptors above select's limit of 1024.
    """
    import select

    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)  # a closed write end is reported too (POLLHUP)
    return [fd for fd, _ in poller.poll(None if timeout is None else math.ceil(max(0.0, timeout) * 1000))]


class _ForkedProcess:
    """``target(*args)`` in a forked child: the part of multiprocessing.Process that this module uses.

    ``sentinel`` is the read end of a pipe whose write end only the child holds (as multiprocessing
    does): it reads as end of file once the child has ended. ``exitcode`` follows multiprocessing:
    the exit status, or minus the signal that killed the child; None while it runs or if it was
    reaped by someone else.
    """

    def __init__(self, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._target, self._args = target, args
        self.pid: int | None = None
        self.exitcode: int | None = None
        self.sentinel = -1
        self._lost = False  # reaped by another waitpid: its status is gone

    def start(self) -> None:
        for stream in (sys.stdout, sys.stderr):  # else the child's exit would flush a copy of what is buffered
            with contextlib.suppress(Exception):
                stream.flush()
        sentinel, alive = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            os.close(sentinel)
            os.close(alive)
            raise
        if pid == 0:  # the child: it never returns from here
            code = 1
            try:
                os.close(sentinel)
                self._target(*self._args)
                code = 0
            except BaseException:
                with contextlib.suppress(Exception):
                    import traceback

                    traceback.print_exc()
                    sys.stderr.flush()
            finally:
                os._exit(code)
        os.close(alive)
        self.pid, self.sentinel = pid, sentinel

    def _poll(self, block: bool) -> None:
        if self.exitcode is not None or self._lost or self.pid is None:
            return
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self._lost = True
            return
        if pid:
            self.exitcode = os.waitstatus_to_exitcode(status)

    def is_alive(self) -> bool:
        self._poll(block=False)
        return self.pid is not None and self.exitcode is None and not self._lost

    def join(self, timeout: float | None = None) -> None:
        if self.pid is None or self.exitcode is not None or self._lost:
            return
        if timeout is not None and not _ready([self.sentinel], timeout):
            self._poll(block=False)
            return
        self._poll(block=True)

    def kill(self) -> None:
        if self.pid is not None and self.exitcode is None and not self._lost:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.sentinel >= 0:
            with contextlib.suppress(OSError):
                os.close(self.sentinel)
            self.sentinel = -1


# ---- what the parent makes of it ----------------------------------------------------------------

def _outcome(blob: bytes) -> tuple[bool, Any]:
    """(True, value) or (False, the exception to raise or hand over)."""
    status, payload, type_name, message, child_tb = pickle.loads(blob)
    if status == "ok":
        try:
            return True, pickle.loads(payload)
        except Exception as exc:
            return False, ChildError(type(exc).__name__, f"the result could not be unpickled: {exc}")
    if status == "memory":
        return False, _memory("MemoryError")
    if status == "exit":
        return False, _crashed(f"the function called sys.exit({message})")
    exc: Any = None
    if payload is not None:
        with contextlib.suppress(Exception):
            exc = pickle.loads(payload)
    if not isinstance(exc, BaseException):
        exc = ChildError(type_name, message, child_tb)
    with contextlib.suppress(Exception):
        exc.add_note(f"(raised in an isolated child process)\n{child_tb.rstrip()}")
    return False, exc


def _timeout(seconds: float | None) -> WorkerFailed:
    return WorkerFailed(
        "worker-timeout",
        f"読み込みが制限時間（{seconds:g} 秒）内に終わりませんでした。ファイルが異常に大きいか壊れています。"
        "Excelで開けるか確かめ、不要なデータを削除して保存し直してください",
        f"Reading did not finish within the time limit ({seconds:g} s): the file is abnormally large or "
        "damaged. Check that it opens in Excel, delete unneeded data and save it again",
        f"killed after {seconds:g} s")


def _memory(detail: str) -> WorkerFailed:
    return WorkerFailed(
        "worker-memory",
        "読み込み中にメモリの上限を超えました。ファイルが異常に大きいか壊れています。Excelで開けるか確かめ、"
        "不要なデータを削除して保存し直してください",
        "Reading the file exceeded the memory limit: the file is abnormally large or damaged. Check that it "
        "opens in Excel, delete unneeded data and save it again", detail)


def _crashed(detail: str) -> WorkerFailed:
    return WorkerFailed(
        "worker-crashed",
        "このファイルの読み込み中に読み取り処理が異常終了しました。ファイルが壊れているか異常です。Excelで開けるか"
        "確かめ、.xlsx 形式で保存し直してください",
        "The reader crashed on this file: it is damaged or abnormal. Check that it opens in Excel and save "
        "it again as .xlsx", detail)


def _died(exitcode: int | None, timeout: float | None, stderr: str = "") -> WorkerFailed:
    """Why a child ended without a result, from its exit status (and the first line it wrote to stderr)."""
    failure = _died_by(exitcode, timeout)
    line = next((ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("[… ")), "")
    if line:
        failure.detail = f"{failure.detail}; stderr: {line[:200]}"
    return failure


def _died_by(exitcode: int | None, timeout: float | None) -> WorkerFailed:
    if exitcode is None:
        return _crashed("the child ended without a result or an exit status")
    if exitcode >= 0:
        return _crashed(f"the child exited with code {exitcode} and no result")
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    if name == "SIGKILL":  # not ours (our timeout kill is reported as such): the kernel's OOM killer
        return _memory("killed by SIGKILL, most likely the kernel's out-of-memory killer")
    if name == "SIGXCPU":
        return _timeout(timeout)
    if name == "SIGABRT":
        return _crashed("killed by SIGABRT (an abort, e.g. a failed memory allocation in the Rust reader)")
    return _crashed(f"killed by {name}")


def _reap(proc: Any, wait_seconds: float = 5.0) -> int | None:
    """Join a child and return its exit code, killing it if it lingers.

    Another thread's multiprocessing bookkeeping may reap our child a moment before recording its
    status, so a missing exit code is retried briefly rather than reported at once.
    """
    proc.join(wait_seconds)
    if proc.exitcode is None and proc.is_alive():
        proc.kill()
        proc.join()
    for _ in range(50):
        if proc.exitcode is not None:
            break
        time.sleep(0.01)
        proc.join(0)
    return proc.exitcode


def run_isolated(fn: Callable[..., Any], *args: Any, timeout: float | None = DEFAULT_TIMEOUT,
                 memory_bytes: int | None = DEFAULT_MEMORY, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a forked child with memory and time limits.

    Returns fn's result (which must pickle). An exception raised by fn is re-raised here as itself
    when it pickles (else ChildError). A child that dies, runs out of memory or time raises
    WorkerFailed; the caller always survives. ``timeout``/``memory_bytes`` of None mean no limit.
    fn cannot take keyword arguments named ``timeout`` or ``memory_bytes``.
    """
    return IsolatedCall(fn, args, kwargs, timeout=timeout, memory_bytes=memory_bytes).result()


class IsolatedCall:
    """``fn(*args, **kwargs)`` started at once in a forked child (as run_isolated), collected by ``result()``.

    Lets the caller do other work meanwhile (the ingest writes review.xlsx in a child while it writes
    the CSV and Parquet exports). ``timeout`` counts from the start. ``close()`` (or leaving a ``with``
    block) kills a child whose result was never collected.
    """

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, *,
                 timeout: float | None = DEFAULT_TIMEOUT, memory_bytes: int | None = DEFAULT_MEMORY) -> None:
        self.timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        child_args = (fn, args, kwargs or {}, memory_bytes, timeout, os.getpid())
        self._recv: Any
        self._proc: Any
        send_end: Any
        if _FORK:
            read_fd, write_fd = os.pipe()
            self._recv, send_end = _Channel(read_fd), _Channel(write_fd)
            self._proc = _ForkedProcess(_isolated_child, (send_end, *child_args))
        else:
            ctx = _mp_context()
            self._recv, send_end = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(target=_isolated_child, name="shinsei-isolated", args=(send_end, *child_args))
        try:
            self._proc.start()
        except BaseException:
            self._recv.close()
            raise
        finally:
            send_end.close()
        self._done = False

    def result(self) -> Any:
        """Wait for the child; its result, or raise fn's exception or WorkerFailed."""
        if self._done:
            raise RuntimeError("the result was already collected")
        self._done = True
        proc, recv_end = self._proc, self._recv
        try:
            left = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
            # The sentinel too: a child forked meanwhile by another thread may hold our pipe's write end.
            if _FORK:
                ready: list[Any] = _ready([recv_end.fileno(), proc.sentinel], left)
            else:
                from multiprocessing.connection import wait

                ready = wait([recv_end, proc.sentinel], left)
            if not ready:
                proc.kill()
                _reap(proc)
                raise _timeout(self.timeout)
            blob = None
            if recv_end.poll(0):
                with contextlib.suppress(EOFError, OSError):
                    blob = recv_end.recv_bytes()
            if blob is None:
                raise _died(_reap(proc), self.timeout)
        finally:
            self._cleanup()
        ok, value = _outcome(blob)
        if ok:
            return value
        raise value

    def close(self) -> None:
        """Abandon the call: kill the child if it is still running."""
        if not self._done:
            self._done = True
            self._cleanup()

    def _cleanup(self) -> None:
        proc = self._proc
        self._recv.close()
        if proc.pid is not None and proc.exitcode is None:
            if proc.is_alive():
                proc.join(1.0)  # it has sent its result and is leaving
            if proc.is_alive():
                proc.kill()
            _reap(proc)
        with contextlib.suppress(ValueError):
            proc.close()

    def __enter__(self) -> IsolatedCall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- a pool for batches -------------------------------------------------------------------------

def _key(obj: Any) -> Any:
    """What ``_wait`` reports a channel or a sentinel as: its fd for our forks, itself for multiprocessing."""
    return obj.fileno() if _FORK and not isinstance(obj, int) else obj


def _wait(objects: list[Any], timeout: float | None) -> set[Any]:
    """The ``_key`` of each channel and sentinel readable within ``timeout`` seconds (None: no limit)."""
    if _FORK:
        return set(_ready([_key(o) for o in objects], timeout))
    from multiprocessing.connection import wait

    return set(wait(objects, timeout))


def _stderr_file() -> int:
    """An anonymous in-memory file for a pool worker's stderr (-1 where there is none to be had).

    A worker that python-calamine aborts prints its last words there ("memory allocation of … bytes
    failed" and, with RUST_BACKTRACE, a backtrace) instead of across the ingest's progress line: the
    pool puts the first line in the WorkerFailed's detail."""
    try:
        return os.memfd_create("shinsei-worker-stderr", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        return -1


_STDERR_TAIL = 64 * 1024  # the most of a worker's stderr the pool reads back


def _read_tail(fd: int) -> str:
    """The last _STDERR_TAIL bytes written to ``fd``, as text (marked as cut when there was more)."""
    try:
        size = os.fstat(fd).st_size
        data = os.pread(fd, min(size, _STDERR_TAIL), max(0, size - _STDERR_TAIL))
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return f"[… {size - len(data):,} bytes before this cut]\n{text}" if size > len(data) else text


class _Worker:
    """One pool worker (a plain class: a dataclass costs ~0.5 ms to build when the module is imported,
    which every ``shinsei validate`` does for run_isolated alone)."""

    __slots__ = ("conn", "deadline", "done", "errors", "proc", "queue", "stderr")

    def __init__(self, proc: Any, conn: Connection | _Channel, errors: int = -1) -> None:
        self.proc = proc
        self.conn = conn
        self.errors = errors                # the file holding its stderr (-1: it writes to ours)
        self.stderr = ""                    # what it wrote there, once it is retired
        self.done = 0                       # tasks sent to it (it leaves after max_tasks_per_worker)
        self.queue: deque[tuple[int, bytes]] = deque()  # sent, not answered: (index, task)
        self.deadline = math.inf            # of the task at the head of the queue, the one it is running

    @property
    def task(self) -> int | None:
        return self.queue[0][0] if self.queue else None


_PREFETCH_BYTES = 16 * 1024  # a task queued behind a running one must fit the socket buffer (no deadlock)


_WORKERS = max(1, min(4, os.cpu_count() or 1))


class IsolatedPool(Record):
    """N forked workers, each with the same limits, running one task at a time.

    A task whose worker dies, runs out of memory or time yields a WorkerFailed for that task only;
    the worker is replaced and the batch goes on (unlike ProcessPoolExecutor, which breaks entirely).
    Workers live for one iteration and are killed when it ends or is abandoned. Functions sent to
    the pool must pickle (module-level functions, not lambdas): one that does not is reported as that
    task's result. A worker is replaced after ``max_tasks_per_worker`` tasks so leaks cannot build up.

    ``prefetch`` tasks are sent to a worker ahead (one running, the others waiting in its pipe), so a
    worker never idles while the parent is busy storing a result. Tasks run in the order sent, so
    when a worker dies the task it was running is known (the oldest unanswered); the tasks queued
    behind it are sent again to a fresh worker, never reported as failed. Its time limit starts when
    the task starts, i.e. when the result before it arrives.

    ``keep_stderr``: each worker's stderr goes to an in-memory file (Linux), read when the worker is retired:
    a worker that dies has its first line in its WorkerFailed's detail, one that ends well has all of it
    passed on to ours then. For a batch with a progress line (the ingest); a server whose workers log as
    they go (the add-in) leaves it off.
    """

    _fields = ("workers", "timeout", "memory_bytes", "max_tasks_per_worker", "prefetch", "keep_stderr", "_live")
    __slots__ = _fields
    _hidden = frozenset({"_live"})

    def __init__(self, workers: int = _WORKERS, timeout: float | None = DEFAULT_TIMEOUT,
                 memory_bytes: int | None = DEFAULT_MEMORY, max_tasks_per_worker: int = 100,
                 prefetch: int = 2, keep_stderr: bool = False) -> None:
        self.workers = workers
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self.max_tasks_per_worker = max_tasks_per_worker
        self.prefetch = prefetch
        self.keep_stderr = keep_stderr
        self._live: list[_Worker] = []

    def imap_unordered(self, fn: Callable[..., Any], tasks: Iterable[tuple[Any, ...]]) -> Iterator[_Outcome]:
        """``fn(*args)`` for each args tuple; yields (task index, result, WorkerFailed or fn's exception)."""
        return self.imap_tasks((fn, args) for args in tasks)

    def imap_tasks(self, tasks: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]]) -> Iterator[_Outcome]:
        """Run (fn, args) pairs; yields (task index, outcome) in completion order.

        Workers get their next tasks before a result is yielded, so they stay busy while the caller
        handles it (stores it, writes files).
        """
        pending = enumerate(tasks)
        retry: deque[tuple[int, bytes]] = deque()  # sent to a worker that died before starting them
        slots: list[_Worker | None] = [None] * max(1, self.workers)
        exhausted = False
        failures: list[_Outcome] = []

        def take() -> tuple[int, bytes] | None:
            nonlocal exhausted
            if retry:
                return retry.popleft()
            while not exhausted:
                item = next(pending, None)
                if item is None:
                    exhausted = True
                    break
                index, (fn, args) = item
                try:
                    return index, pickle.dumps((fn, tuple(args), {}), _PROTOCOL)
                except Exception as exc:  # a lambda, an open file...: this task's failure only
                    failures.append((index, exc))
            return None

        def refill() -> None:
            for depth in range(max(1, self.prefetch)):  # first a task to every idle worker, then one more each
                for i in range(len(slots)):
                    w = slots[i]
                    if depth and (w is None or len(w.queue) != depth or w.done >= self.max_tasks_per_worker):
                        continue
                    if not depth and w is not None and w.queue:
                        continue
                    item = take()
                    if item is None:
                        return
                    if depth and len(item[1]) > _PREFETCH_BYTES:
                        retry.appendleft(item)  # too big to wait in the pipe: it goes to an idle worker
                        continue
                    slots[i] = self._dispatch(w, item, retry)

        def drop(w: _Worker) -> int:
            """Forget a worker that is gone; its queued tasks go back to be run; the index it was running."""
            index = w.queue.popleft()[0]
            retry.extendleft(reversed(w.queue))
            w.queue.clear()
            slots[slots.index(w)] = None
            return index

        try:
            outcomes: list[_Outcome] = []
            while True:
                refill()
                outcomes += failures
                failures.clear()
                yield from outcomes
                outcomes = []
                busy = [w for w in slots if w is not None and w.queue]
                if not busy:
                    if retry or not exhausted:
                        continue
                    return
                wait_for = min(w.deadline for w in busy) - time.monotonic()
                ready = _wait([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                              None if wait_for == math.inf else max(0.0, wait_for))
                for w in busy:
                    if _key(w.conn) in ready or _key(w.proc.sentinel) in ready:
                        blob = None
                        if w.conn.poll(0):
                            with contextlib.suppress(EOFError, OSError):
                                blob = w.conn.recv_bytes()
                        if blob is None:  # died without a word: signal, abort, OOM killer
                            index = drop(w)
                            code = self._retire(w)
                            outcomes.append((index, _died(code, self.timeout, w.stderr)))
                            continue
                        _, value = _outcome(blob)
                        if isinstance(value, WorkerFailed) and value.code == "worker-memory":
                            index = drop(w)  # it leaves by itself after a MemoryError
                            self._retire(w)
                        else:
                            index = w.queue.popleft()[0]
                            w.deadline = self._deadline() if w.queue else math.inf
                        outcomes.append((index, value))
                    elif time.monotonic() >= w.deadline:
                        w.proc.kill()
                        index = drop(w)
                        self._retire(w)
                        outcomes.append((index, _timeout(self.timeout)))
        finally:
            self.close()

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout if self.timeout else math.inf

    def _dispatch(self, w: _Worker | None, item: tuple[int, bytes], retry: deque[tuple[int, bytes]]) -> _Worker:
        """Send a task to this slot's worker, starting a fresh one if there is none, it is spent or gone."""
        if w is None or (not w.queue and w.done >= self.max_tasks_per_worker):
            w = self._replace(w)
        try:
            w.conn.send_bytes(item[1])
        except OSError:  # the worker died meanwhile
            if w.queue:  # it was running a task: the main loop reports that one; this one waits
                retry.appendleft(item)
                return w
            w = self._replace(w)
            w.conn.send_bytes(item[1])
        w.queue.append(item)
        w.done += 1
        if len(w.queue) == 1:
            w.deadline = self._deadline()
        return w

    def _replace(self, old: _Worker | None) -> _Worker:
        if old is not None:
            self._retire(old)
        parent: Any
        child: Any
        parent, child = _socket_pair() if _FORK else _mp_context().Pipe()
        # The parent's ends, ours included, copied by fork: while the worker holds them it never sees EOF.
        inherited = [w.conn.fileno() for w in self._live] + [w.errors for w in self._live if w.errors >= 0]
        inherited.append(parent.fileno())
        errors = _stderr_file() if _FORK and self.keep_stderr else -1
        args = (child, self.memory_bytes, self.timeout, self.max_tasks_per_worker, inherited, errors)
        proc: Any = (_ForkedProcess(_pool_worker, args) if _FORK
                     else _mp_context().Process(target=_pool_worker, name="shinsei-pool-worker", args=args))
        proc.start()
        child.close()
        worker = _Worker(proc, parent, errors)
        self._live.append(worker)
        return worker

    def _retire(self, w: _Worker) -> int | None:
        with contextlib.suppress(ValueError):
            self._live.remove(w)
        with contextlib.suppress(OSError):
            w.conn.close()
        code = _reap(w.proc, 1.0)
        with contextlib.suppress(ValueError):
            w.proc.close()
        if w.errors >= 0:
            w.stderr = _read_tail(w.errors)
            os.close(w.errors)
            w.errors = -1
            if w.stderr and code == 0:  # a worker that ended well: what it wrote (a warning) is passed on
                with contextlib.suppress(Exception):
                    sys.stderr.write(w.stderr)
                    sys.stderr.flush()
        return code

    def close(self) -> None:
        """Stop every worker still running (their tasks, if any, are abandoned)."""
        for w in list(self._live):
            if w.task is not None:
                w.proc.kill()
            self._retire(w)

    def __enter__(self) -> IsolatedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
