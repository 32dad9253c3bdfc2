"""The ingest job: discover -> register -> process in isolated workers -> store -> cross-check -> review.

Nothing lost, nothing doubled: files are known by content hash; each file's documents (its normalised
JSON) and rows are stored in one transaction with its batch; a killed run is resumed by running it again;
the outputs are rebuilt from the database at the end of a run that changed it, and only then.
"""

from __future__ import annotations

import gc
import os
import resource
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.ingest.executor import Executor, LocalProcessExecutor
from pipeline.ingest.lock import database_lock, folder_lock, ingest_lock
from pipeline.ingest.progress import Progress
from pipeline.ingest.sources import Skipped, SourceFile, discover
from pipeline.safety import WorkbookRejected, precheck
from pipeline.sandbox import IsolatedCall, WorkerFailed
from pipeline.settings import LOCK_WAIT_SECONDS, TEMP_PREFIX

if TYPE_CHECKING:  # the store is imported once the files are being hashed: see ingest()
    from pipeline.ingest.store import FileRows, Quarantine, Store

BATCH_FILES = 50      # files stored per transaction: amortises the commit, short enough that the workers'
                      # queued files (executor's prefetch) outlast it; a kill loses at most these
BATCH_SECONDS = 1.0   # ... or what arrived in this long, so a slow batch is not held back


@dataclass
class IngestSummary:
    run_id: int
    files_seen: int
    processed: int
    already_known: int
    quarantined: int
    submissions: int
    cross_findings: int
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    out_dir: str = ""
    database: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds: discover, files, outputs
    # CPU seconds (user + system) by phase and process: where an ingest's time goes (benchmarks/ingest.py
    # prints it). "start-up" is this process's CPU before the run began: for `shinsei ingest`, its imports.
    cpu: dict[str, float] = field(default_factory=dict)
    outputs_rebuilt: bool = True  # False: nothing changed since the outputs were built, so none was rebuilt

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["skipped"] = [s.__dict__ for s in self.skipped]
        return d


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, and of its children that have ended (the workers once
    the pool is done, the review.xlsx child once it has written)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def _reason(exc: BaseException) -> Quarantine:
    from pipeline.ingest.store import Quarantine, internal_error

    if isinstance(exc, WorkbookRejected):
        return Quarantine(exc.code, exc.message_ja, exc.message_en, exc.detail)
    return internal_error(exc)


def _named(path: Path, failure: WorkerFailed) -> WorkbookRejected:
    """Why a file killed its worker, when the full pre-check can say (a far cell, a shared-strings count):
    its refusal, as a pre-check before the read would have given it; otherwise the worker's failure."""
    try:
        precheck(path)
    except WorkbookRejected as refusal:
        return refusal
    except OSError:
        pass
    return failure


def clean_temp(out: Path) -> int:
    """Delete the temporary files a killed run left in the output folder; returns how many.

    Every temp file starts with settings.TEMP_PREFIX; the older names (``*.tmp``, ``tmp*.xlsx``,
    ``exports/tmp*``, ``staging/*.part``) are removed too. Only called under the ingest lock.
    """
    patterns = {out: (f"{TEMP_PREFIX}*", "tmp*.xlsx", "*.tmp"),
                out / "submissions": (f"{TEMP_PREFIX}*", "*.tmp"),
                out / "findings": (f"{TEMP_PREFIX}*", "*.tmp"),
                out / "exports": (f"{TEMP_PREFIX}*", "tmp*"),
                out / "staging": (f"{TEMP_PREFIX}*", "*.part")}
    removed = 0
    for leftover in out.glob(f"{TEMP_PREFIX}*"):  # review.xlsx's sheet buffers: a folder of their own
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
            removed += 1
    for folder, globs in patterns.items():
        if not folder.is_dir():
            continue
        for pattern in globs:
            for path in folder.glob(pattern):
                if path.is_file():
                    path.unlink(missing_ok=True)
                    removed += 1
    return removed


def ingest(sources: list[str | Path], out_dir: str | Path, *, db_url: str | None = None, workers: int | None = None,
           executor: Executor | None = None, progress: bool = True, wait: float | None = None,
           json_dir: str | Path | None = None) -> IngestSummary:
    """Ingest ``sources`` into ``out_dir`` and the database, holding the folder's and the database's lock.

    A second ingest on the same folder or database waits ``wait`` seconds (settings.LOCK_WAIT_SECONDS)
    and then raises IngestBusy; nothing is created or migrated before the locks are held (the folder's, then,
    once the files are listed into it, the database's). The normalised
    documents live in the database; ``json_dir`` also writes them as files (only those missing there).
    """
    out = Path(out_dir)
    missing = [str(s) for s in sources if not Path(s).exists()]
    if missing:  # before anything is created: a typo in a path is not an empty batch
        raise FileNotFoundError(f"取り込み元が見つかりません / no such source: {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    clock, started = time.perf_counter(), _cpu()
    with folder_lock(out, wait):
        clean_temp(out)
        # Every file is listed and hashed in a forked child while this process imports the store and opens the
        # database.
        with IsolatedCall(discover, (list(sources), out / "staging"), timeout=None, memory_bytes=None) as listing:
            from pipeline.ingest.store import Store, default_url

            url = db_url or default_url(out)
            with database_lock(url, wait):
                store = Store(url)
                host_froze = gc.get_freeze_count()  # a host that froze its own heap (the add-in's server) keeps it so
                try:
                    return _ingest(store, sources, listing, out, workers=workers, executor=executor,
                                   progress=progress, json_dir=None if json_dir is None else Path(json_dir),
                                   clock=clock, started=started)
                finally:
                    if not host_froze:
                        gc.unfreeze()  # what _ingest froze goes back to the collector
                    store.close()


def _ingest(store: Store, sources: list[str | Path], listing: IsolatedCall, out: Path, *, workers: int | None,
            executor: Executor | None, progress: bool, json_dir: Path | None, clock: float,
            started: tuple[float, float]) -> IngestSummary:
    from pipeline.ingest.worker import process_file
    from pipeline.tempfiles import write_atomically

    found: list[SourceFile]
    skipped: list[Skipped]
    found, skipped = listing.result()
    # every file sent is seen, the refused ones too
    run_id, todo = store.start_run([str(s) for s in sources], found, [s for s in skipped if s.recorded])
    by_sha = {}
    for f in found:
        by_sha.setdefault(f.sha256, f)
    tasks = sorted(todo & set(by_sha))
    phases = {"discover": time.perf_counter() - clock}
    discovered = _cpu()
    bar = Progress(len(tasks), enabled=progress)
    if tasks:
        from pipeline.validate import warm_up  # the engine: only when there are files to read

        warm_up()  # before the workers fork: they inherit the compiled packs
        # Everything that exists now (modules, compiled packs and lexicons) lives for the whole run: kept out
        # of the cyclic collector, the parent's collections neither walk it again and again nor write into
        # the pages the forked workers share (copy-on-write). Over 1,000 files: 49,000 -> 41,000 page
        # faults in the parent. ingest() gives it back to the collector when the run ends.
        gc.freeze()
    ex = executor or LocalProcessExecutor(workers or max(1, os.cpu_count() or 1))
    quarantined = 0
    # A worker that runs isolated leaves far cells to the reader's own pass (pipeline.safety): a file that
    # kills it is pre-checked in full here afterwards, which names why; any other executor scans first.
    scan = not getattr(ex, "isolated", False)
    jobs = [(str(by_sha[s].path), s, by_sha[s].name, None if json_dir is None else str(json_dir), scan)
            for s in tasks]
    batch: list[tuple[str, FileRows | Quarantine]] = []
    flushed = time.monotonic()
    for index, result in ex.map_unordered(process_file, jobs):
        sha = tasks[index]
        if isinstance(result, BaseException):
            if isinstance(result, WorkerFailed) and not scan:
                result = _named(by_sha[sha].path, result)
            if not isinstance(result, WorkbookRejected):
                from pipeline.ingest.store import log

                log.error("%s: %s", by_sha[sha].name, "".join(traceback.format_exception(result)).rstrip())
            batch.append((sha, _reason(result)))
            quarantined += 1
            bar.advance(quarantined=True)
        else:
            batch.append((sha, result))
            bar.advance()
        if len(batch) >= BATCH_FILES or time.monotonic() - flushed > BATCH_SECONDS:
            quarantined += len(store.record(batch))
            batch, flushed = [], time.monotonic()
    quarantined += len(store.record(batch))
    bar.close()
    # The listing is not needed past here, and review.xlsx's child is forked with this heap: ~1.5 KB a file.
    seen, done_files = len(found), len(tasks)
    del found, by_sha, tasks, todo, jobs, batch
    phases["files"] = bar.seconds
    clock, stored = time.perf_counter(), _cpu()
    if progress:  # a few seconds per thousand submissions, with nothing to count: say what is happening
        sys.stderr.write("申請間チェック・review.xlsx・エクスポートを作成中 / "
                         "writing cross-checks, review.xlsx and exports …\n")
        sys.stderr.flush()
    store.assign_versions()
    if json_dir is not None:
        export_documents(store, Path(json_dir))
    state = store.output_state()
    rebuilt = not outputs_current(out, state)
    if rebuilt:
        from pipeline.ingest.outputs import build_outputs  # pyarrow and XlsxWriter: only when there is work

        build_outputs(out, store)
        write_atomically(out / OUTPUT_STATE, state)  # last: a run killed before this rebuilds the outputs
    total_quarantined = len(store.quarantined())
    store.finish_run(run_id, seen, done_files - quarantined, quarantined)
    phases["outputs"] = time.perf_counter() - clock
    done = _cpu()
    # "discover": this process's listing, the database's opening and the run's registration, and the forked
    # child that hashed the files meanwhile
    cpu = {"start-up": started[0], "discover": sum(discovered) - sum(started),
           "files: parent": stored[0] - discovered[0], "files: workers": stored[1] - discovered[1],
           "outputs: parent": done[0] - stored[0], "outputs: children": done[1] - stored[1]}
    counts = store.counts()
    return IngestSummary(run_id=run_id, files_seen=seen, processed=done_files - quarantined,
                         already_known=seen - done_files, quarantined=total_quarantined,
                         submissions=counts["submissions"], cross_findings=counts["cross_findings"], skipped=skipped,
                         seconds=bar.seconds, out_dir=str(out), database=store.url, phases=phases, cpu=cpu,
                         outputs_rebuilt=rebuilt)


def refresh_outputs(out_dir: str | Path, *, db_url: str | None = None, wait: float | None = None) -> bool:
    """Rebuild review.xlsx and the exports if the database changed since they were built (decisions taken,
    statuses set); returns whether they were rebuilt. Holds the ingest's lock like an ingest."""
    from pipeline.ingest.store import Store, default_url

    out = Path(out_dir)
    url = db_url or default_url(out)
    with ingest_lock(out, url, LOCK_WAIT_SECONDS if wait is None else wait):
        clean_temp(out)
        store = Store(url)
        try:
            state = store.output_state()
            if outputs_current(out, state):
                return False
            from pipeline.ingest.outputs import build_outputs
            from pipeline.tempfiles import write_atomically

            build_outputs(out, store)
            write_atomically(out / OUTPUT_STATE, state)
            return True
        finally:
            store.close()


OUTPUT_STATE = ".shinsei-outputs"
OUTPUTS = ("review.xlsx", "quarantine.json", "crosscheck.json", "exports")


def outputs_current(out: Path, state: str) -> bool:
    """Whether the outputs in ``out`` were built from the database's current state (nothing to rebuild)."""
    marker = out / OUTPUT_STATE
    try:
        return marker.read_text(encoding="utf-8") == state and all((out / name).exists() for name in OUTPUTS)
    except OSError:
        return False


def export_documents(store: Store, folder: Path) -> int:
    """Write the JSON files of every file read (``folder/submissions``, ``folder/findings``) that are missing.

    Incremental: a file already there is the same content (content-addressed), so only new ones are
    written, each atomically. Returns how many were written.
    """
    from pipeline.ingest.worker import dumps_json, write_documents

    missing = [sha for sha in store.ok_files()
               if not (folder / "submissions" / f"{sha}.json").exists() or
               not (folder / "findings" / f"{sha}.json").exists()]
    for sha, submission, report in store.documents(missing):
        write_documents(folder, sha, dumps_json(submission), dumps_json(report))
    return len(missing)
