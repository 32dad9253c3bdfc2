"""pipeline.sandbox: a child that dies, hangs or runs out of memory gives WorkerFailed; the caller survives.

The functions run in children are module-level so the pool can pickle them. The real hazard,
python-calamine aborting on a cell at XFD1048576, is only ever opened inside the sandbox.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import signal
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from pipeline.safety import UnsafeWorkbook, WorkbookRejected, precheck
from pipeline.sandbox import ChildError, IsolatedPool, WorkerFailed, run_isolated

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and RLIMIT_AS semantics")

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


class ApplicationError(Exception):
    """A caller's own error type, to be caught in the parent as itself."""


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickles as Unpicklable(a): unpickling fails
        super().__init__(a)
        self.b = b


def add(a: int, b: int = 0) -> int:
    return a + b


def big(n: int) -> bytes:
    return b"x" * n


def fail(kind: str) -> None:
    if kind == "value":
        raise ValueError("不正な値 / bad value")
    if kind == "own":
        raise ApplicationError("申請書が読めません")
    if kind == "unpicklable":
        raise Unpicklable(1, 2)
    if kind == "exit":
        sys.exit(3)
    if kind == "_exit":
        os._exit(7)


def quiet() -> None:
    """Keep the test log readable: no faulthandler dump (pytest's) or Rust backtrace from the child."""
    faulthandler.disable()
    os.environ["RUST_BACKTRACE"] = "0"


def abort() -> None:
    quiet()
    os.abort()


def last_words(text: str) -> None:
    """Write to the process's stderr (fd 2, as a Rust abort does) and abort."""
    quiet()
    os.write(2, text.encode())
    os.abort()


def warn(text: str) -> int:
    os.write(2, text.encode())
    return 1


def killed() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def hog() -> int:
    return len(bytearray(4 * 1024**3))


def unpicklable_result() -> object:
    return threading.Lock()


def pid() -> int:
    return os.getpid()


def nested(x: int) -> int:
    return run_isolated(add, x, 1, timeout=10)


def read_with_calamine(path: str) -> list[list[object]]:
    import python_calamine

    quiet()
    book = python_calamine.CalamineWorkbook.from_path(path)
    return book.get_sheet_by_index(0).to_python()


def far_cell_workbook(path: Path) -> Path:
    """Cells only at A1 and XFD1048576 (5 KB): python-calamine aborts the whole process reading it."""
    rels_ns = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml",
                    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
                    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                    'ContentType="application/xml"/></Types>')
        zf.writestr("_rels/.rels", f'<Relationships xmlns="{rels_ns}"><Relationship Id="rId1" '
                    f'Type="{office}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        zf.writestr("xl/workbook.xml", f'<workbook xmlns="{NS}" xmlns:r="{office}"><sheets>'
                    '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
        zf.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{rels_ns}"><Relationship Id="rId1" '
                    f'Type="{office}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        zf.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{NS}"><sheetData>'
                    '<row r="1"><c r="A1"><v>1</v></c></row>'
                    '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row></sheetData></worksheet>')
    return path


# ---- run_isolated -------------------------------------------------------------------------------

def test_returns_the_value() -> None:
    assert run_isolated(add, 2, b=3) == 5
    assert run_isolated(pid) != os.getpid()
    assert len(run_isolated(big, 5_000_000)) == 5_000_000  # more than a pipe buffer


@pytest.mark.parametrize(("kind", "exc_type"), [("value", ValueError), ("own", ApplicationError)])
def test_exceptions_come_back_as_themselves(kind: str, exc_type: type[Exception]) -> None:
    with pytest.raises(exc_type) as err:
        run_isolated(fail, kind)
    assert not isinstance(err.value, WorkerFailed)
    assert "isolated child" in "\n".join(getattr(err.value, "__notes__", []))


def test_rejections_keep_their_code_across_the_process_boundary(tmp_path: Path) -> None:
    path = far_cell_workbook(tmp_path / "far.xlsx")
    with pytest.raises(UnsafeWorkbook) as err:
        run_isolated(precheck, path)
    assert err.value.code == "sheet-too-large" and err.value.detail


def test_exception_that_does_not_pickle_becomes_child_error() -> None:
    with pytest.raises(ChildError) as err:
        run_isolated(fail, "unpicklable")
    assert "Unpicklable" in err.value.type_name
    with pytest.raises((TypeError, ChildError)):  # the result cannot travel back
        run_isolated(unpicklable_result)


def test_abort_is_worker_crashed_and_the_caller_survives() -> None:
    with pytest.raises(WorkerFailed) as err:
        run_isolated(abort)
    assert err.value.code == "worker-crashed"
    assert "SIGABRT" in err.value.detail
    assert isinstance(err.value, WorkbookRejected) and err.value.message_ja and err.value.message_en


@pytest.mark.parametrize(("kind", "detail"), [("exit", "sys.exit(3)"), ("_exit", "code 7")])
def test_exiting_child_is_worker_crashed(kind: str, detail: str) -> None:
    with pytest.raises(WorkerFailed) as err:
        run_isolated(fail, kind)
    assert err.value.code == "worker-crashed" and detail in err.value.detail


def test_sigkill_from_outside_is_reported_as_memory() -> None:
    with pytest.raises(WorkerFailed) as err:  # what the kernel's OOM killer does
        run_isolated(killed)
    assert err.value.code == "worker-memory" and "SIGKILL" in err.value.detail


def test_timeout_kills_the_child() -> None:
    started = time.monotonic()
    with pytest.raises(WorkerFailed) as err:
        run_isolated(sleep, 600, timeout=0.5)
    assert err.value.code == "worker-timeout"
    assert time.monotonic() - started < 60  # killed, not waited for
    assert not multiprocessing.active_children()


def test_allocation_past_the_memory_limit_is_worker_memory() -> None:
    with pytest.raises(WorkerFailed) as err:
        run_isolated(hog, memory_bytes=256 * 1024**2)
    assert err.value.code == "worker-memory"


def test_python_calamine_abort_on_far_cell_is_contained(tmp_path: Path) -> None:
    path = far_cell_workbook(tmp_path / "far.xlsx")
    with pytest.raises(WorkerFailed) as err:
        run_isolated(read_with_calamine, str(path), timeout=60)
    assert err.value.code in {"worker-crashed", "worker-memory"}
    assert run_isolated(add, 1, 1) == 2  # and life goes on


def test_works_from_a_process_with_threads() -> None:
    stop = threading.Event()
    lock = threading.Lock()

    def churn() -> None:
        while not stop.is_set():
            with lock:
                sum(range(1000))

    background = [threading.Thread(target=churn, daemon=True) for _ in range(3)]
    for t in background:
        t.start()
    results: dict[int, int] = {}
    errors: list[BaseException] = []

    def caller(i: int) -> None:
        try:
            for j in range(3):
                results[i * 10 + j] = run_isolated(add, i, j, timeout=30)
        except BaseException as exc:
            errors.append(exc)

    callers = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(120)
    stop.set()
    assert not errors
    assert results == {i * 10 + j: i + j for i in range(4) for j in range(3)}


def test_nested_isolation() -> None:
    assert run_isolated(nested, 41) == 42


# ---- IsolatedPool -------------------------------------------------------------------------------

def test_pool_batch_with_hostile_tasks(tmp_path: Path) -> None:
    far = str(far_cell_workbook(tmp_path / "far.xlsx"))
    tasks = [(add, (i, 100)) for i in range(8)]
    tasks[2] = (abort, ())
    tasks[5] = (sleep, (600,))
    tasks.append((read_with_calamine, (far,)))
    tasks.append((fail, ("own",)))
    tasks.append((lambda: 1, ()))  # does not pickle: that task's failure only
    with IsolatedPool(workers=3, timeout=1.5) as pool:
        results = dict(pool.imap_tasks(tasks))
    assert sorted(results) == list(range(len(tasks)))
    for i in (0, 1, 3, 4, 6, 7):
        assert results[i] == i + 100
    assert isinstance(results[2], WorkerFailed) and results[2].code == "worker-crashed"
    assert isinstance(results[5], WorkerFailed) and results[5].code == "worker-timeout"
    assert isinstance(results[8], WorkerFailed) and results[8].code in {"worker-crashed", "worker-memory"}
    assert isinstance(results[9], ApplicationError)
    assert isinstance(results[10], Exception) and not isinstance(results[10], WorkerFailed)
    assert not multiprocessing.active_children()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked by the pool on Linux only")
def test_a_pool_worker_s_last_words_go_to_its_failure_not_to_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    """What a dying worker writes (python-calamine's "memory allocation of … bytes failed", a backtrace) is
    the failure's detail, never text across the caller's progress line; a worker that ends well has what
    it wrote passed on."""
    tasks = [(last_words, ("memory allocation of 137432662016 bytes failed\nstack backtrace:\n  0: rust_oom\n",)),
             (warn, ("a warning from a worker\n",))]
    with IsolatedPool(workers=2, timeout=30, keep_stderr=True) as pool:
        results = dict(pool.imap_tasks(tasks))
    crashed = results[0]
    assert isinstance(crashed, WorkerFailed) and crashed.code == "worker-crashed"
    assert crashed.detail.endswith("; stderr: memory allocation of 137432662016 bytes failed")
    assert results[1] == 1
    err = capfd.readouterr().err
    assert "memory allocation" not in err and "backtrace" not in err
    assert "a warning from a worker" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked by the pool on Linux only")
def test_kept_stderr_files_are_closed_with_their_workers() -> None:
    """Twenty workers, one task each, their stderr kept: no descriptor is left behind in the caller."""
    before = len(os.listdir("/proc/self/fd"))
    with IsolatedPool(workers=2, timeout=30, max_tasks_per_worker=1, keep_stderr=True) as pool:
        assert sorted(r for _, r in pool.imap_unordered(add, [(i,) for i in range(20)])) == list(range(20))
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_pool_worker_writes_to_our_stderr_as_it_goes_unless_asked(capfd: pytest.CaptureFixture[str]) -> None:
    """Without keep_stderr (the add-in's lanes) a worker's lines reach stderr while it lives: a server's log."""
    with IsolatedPool(workers=1, timeout=30) as pool:
        for _, result in pool.imap_tasks([(warn, ("logged as it happens\n",))]):
            assert result == 1
            assert "logged as it happens" in capfd.readouterr().err  # before the pool retires the worker


def test_pool_imap_unordered_recycles_workers_and_limits_memory() -> None:
    pool = IsolatedPool(workers=2, timeout=30, memory_bytes=256 * 1024**2, max_tasks_per_worker=2)
    results = dict(pool.imap_unordered(add, [(i, 1) for i in range(7)]))
    assert results == {i: i + 1 for i in range(7)}
    outcome = dict(pool.imap_tasks([(hog, ()), (add, (1, 2))]))
    assert isinstance(outcome[0], WorkerFailed) and outcome[0].code == "worker-memory"
    assert outcome[1] == 3


def test_abandoned_iteration_stops_the_workers() -> None:
    pool = IsolatedPool(workers=2, timeout=30)
    results = pool.imap_tasks([(add, (1, 1)), (sleep, (600,)), (sleep, (600,))])
    first = next(results)
    assert first == (0, 2)
    results.close()  # the consumer gives up: the sleeping worker must not outlive the batch
    assert not multiprocessing.active_children()


def test_pool_tasks_queued_behind_a_dying_task_are_run_again_not_failed() -> None:
    """One worker with tasks sent ahead: only the task a worker dies on fails; those queued behind it run."""
    tasks = [(add, (0, 1)), (abort, ()), (add, (2, 1)), (sleep, (600,)), (add, (4, 1)), (abort, ()),
             (add, (6, 1)), (big, (64 * 1024,)), (add, (8, "x" * 40_000))]  # a task too big to wait in a pipe
    with IsolatedPool(workers=1, timeout=1.5, prefetch=3) as pool:
        results = dict(pool.imap_tasks(tasks))
    assert sorted(results) == list(range(len(tasks)))
    for i in (0, 2, 4, 6):
        assert results[i] == i + 1
    assert isinstance(results[1], WorkerFailed) and results[1].code == "worker-crashed"
    assert isinstance(results[5], WorkerFailed) and results[5].code == "worker-crashed"
    assert isinstance(results[3], WorkerFailed) and results[3].code == "worker-timeout"
    assert results[7] == b"x" * 64 * 1024
    assert isinstance(results[8], TypeError)
    assert not multiprocessing.active_children()
