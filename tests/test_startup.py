"""Start-up: what ``shinsei --help`` and ``shinsei validate`` import (issue #11).

A ``shinsei validate`` is one short process, so every module it imports is paid on every run; the
heavy libraries of other commands (pandas, pyarrow and SQLAlchemy for ingest, xlwings for the add-in,
openpyxl for templates and annotated copies) must not come with it. Checked by the modules a real
process imports (``python -X importtime``, which also logs the sandbox's forked child), never by a
clock: this machine is shared and timings are noise in a test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "nexus-ytec-youth-2025__clean.xlsx"
HEAVY = ("pandas", "pyarrow", "sqlalchemy", "xlwings", "openpyxl")
CLASSIFIER = ("pipeline.eligibility.classifier", "pipeline.eligibility.lexicon")


def imported(*args: str | Path, cache: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m pipeline.cli ARGS``; its result and every module it (or its child) imported."""
    env = {**os.environ, "SHINSEI_CACHE_DIR": str(cache)}
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline.cli", *map(str, args)],
                         capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    modules = {line.rsplit("|", 1)[1].strip() for line in res.stderr.splitlines()
               if line.startswith("import time:") and "imported package" not in line}
    return res, modules


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_imports_no_heavy_library_and_no_classifier(tmp_path: Path) -> None:
    res, modules = imported("--help", cache=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "pipeline.cli" in modules or "argparse" in modules      # the log is there at all
    assert not roots(modules) & set(HEAVY), sorted(roots(modules) & set(HEAVY))
    assert not modules & set(CLASSIFIER), sorted(modules & set(CLASSIFIER))
    assert "classify" in res.stdout        # listed all the same


def test_classify_help_still_shows_its_options(tmp_path: Path) -> None:
    res, modules = imported("classify", "--help", cache=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "--program" in res.stdout and "--score" in res.stdout
    assert not modules & set(CLASSIFIER)


@pytest.mark.skipif(not SAMPLE.is_file(), reason="the bundled samples are not built")
def test_validate_imports_no_heavy_library(tmp_path: Path) -> None:
    for run in ("cold", "warm"):     # the first run fills the data cache, the second is served from it
        res, modules = imported("validate", SAMPLE, cache=tmp_path)
        assert res.returncode == 0, (run, res.stdout[-2000:], res.stderr[-2000:])
        assert "pipeline.workbook" in modules and "pipeline.eligibility.classifier" in modules  # the child's too
        assert not roots(modules) & set(HEAVY), (run, sorted(roots(modules) & set(HEAVY)))
    assert "yaml" not in roots(modules), "a validate served from the data cache parsed YAML"


def importer(log: str, module: str) -> str | None:
    """The module whose import imported ``module`` in an importtime log (None: the script's own import, or
    not imported): importtime logs a module after what it imported, one indentation level deeper."""
    depth = None
    for line in log.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        name = line.rsplit("|", 1)[1]
        level = len(name) - len(name.lstrip())
        if depth is None and name.strip() == module:
            depth = level
        elif depth is not None and level < depth:
            return name.strip()
    return None


@pytest.mark.skipif(not SAMPLE.is_file(), reason="the bundled samples are not built")
def test_validate_imports_neither_dataclasses_nor_inspect(tmp_path: Path) -> None:
    """``dataclasses`` took ~7 ms of every ``shinsei validate`` to import (it imports ``inspect``: ast, dis,
    tokenize, linecache) and each @dataclass ~0.45 ms to build: the value classes on this path, the child's
    (reader, rules, classifier) included, are pipeline.record's classes or NamedTuples."""
    for run in ("cold", "warm"):
        res, modules = imported("validate", SAMPLE, cache=tmp_path)
        assert res.returncode == 0, (run, res.stdout[-2000:], res.stderr[-2000:])
        assert "pipeline.rules.checks" in modules and "pipeline.eligibility.classifier" in modules  # the child's too
        found = sorted(modules & {"dataclasses", "inspect"})
        assert not found, (run, found, {m: importer(res.stderr, m) for m in found})


@pytest.mark.skipif(not SAMPLE.is_file(), reason="the bundled samples are not built")
def test_ingest_imports_only_what_its_outputs_and_database_need(tmp_path: Path) -> None:
    """pyarrow imports pandas (~0.3 s) for ``pa.array`` of a list or ``Schema.empty_table()``, and
    pyarrow.compute (~30 ms) for ``Table.cast``; the exports go through Arrow's JSON reader against their
    schema instead. pandas stays installed: it is what users read them with; numpy, which pyarrow imports
    wherever it is installed (~0.15 s), is kept from the child that writes Parquet. A new SQLite database gets its
    schema without Alembic (~100 ms), and the database is read and written through its driver: SQLAlchemy's
    import alone was ~0.15 s of CPU, a tenth of a 1,000-file ingest's (pipeline.ingest.database)."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("nexus-ytec-youth-2025__clean.xlsx", "india-circulation-2025__clean.xlsx"):
        (src / name).write_bytes((ROOT / "samples" / name).read_bytes())
    res, modules = imported("ingest", src, "--out", tmp_path / "out", "--quiet", cache=tmp_path / "cache")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "pyarrow.parquet" in modules and "xlsxwriter" in modules   # the outputs were built here
    assert "pandas" not in roots(modules)
    assert "numpy" not in roots(modules)  # installed with pandas, and hidden from pyarrow in the review child
    assert "pyarrow.compute" not in modules
    assert {"alembic", "mako"}.isdisjoint(roots(modules))
    assert "sqlite3" in modules and "sqlalchemy" not in roots(modules)
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out" / "exports" / "summary.parquet").num_rows == 2
    assert pq.read_table(tmp_path / "out" / "exports" / "quarantine.parquet").num_rows == 0  # an empty table too


@pytest.mark.skipif(not SAMPLE.is_file(), reason="the bundled samples are not built")
def test_the_typo_index_is_unpickled_only_for_a_line_that_needs_it(tmp_path: Path) -> None:
    """A compiled lexicon comes from the cache with its typo index still pickled (~3.5 ms saved): a workbook
    without an unknown English word never reads it; a misspelt flagged word does, and is still caught."""
    code = textwrap.dedent(f"""
        from pipeline.eligibility import load_classifier
        from pipeline.validate import validate_file
        report = validate_file({str(SAMPLE)!r}, isolate=False)
        lexicon = load_classifier(report.program).lexicon
        print(lexicon.typo_index.loaded)
        verdict = load_classifier(report.program).classify(category="旅費", description="sightseing trip",
                                                           unit_price=5000)
        print(verdict.verdict, verdict.reason, lexicon.typo_index.loaded)
    """)
    env = {**os.environ, "SHINSEI_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert first.returncode == 0 and again.returncode == 0, (first.stderr[-2000:], again.stderr[-2000:])
    assert first.stdout.split() == ["True", "ng", "sightseeing", "True"]   # compiled here: in memory already
    assert again.stdout.split() == ["False", "ng", "sightseeing", "True"]  # from the cache: read when needed


@pytest.mark.skipif(not SAMPLE.is_file(), reason="the bundled samples are not built")
def test_a_re_ingest_that_finds_nothing_new_loads_neither_the_engine_nor_the_outputs(tmp_path: Path) -> None:
    """Its time is start-up, hashing the files and a few queries (noop_ratio in benchmarks/ingest.py): the
    engine (normaliser, rules, classifier), Alembic, pyarrow and XlsxWriter are loaded only for work."""
    src = tmp_path / "in"
    src.mkdir()
    (src / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    first, _ = imported("ingest", src, "--out", tmp_path / "out", "--quiet", cache=tmp_path / "cache")
    again, modules = imported("ingest", src, "--out", tmp_path / "out", "--quiet", cache=tmp_path / "cache")
    assert first.returncode == 0 and again.returncode == 0, (first.stderr[-2000:], again.stderr[-2000:])
    assert "pipeline.ingest.store" in modules   # the log is there at all
    loaded = {"pipeline.validate", "pipeline.submission", "pipeline.rules", "pipeline.eligibility", "alembic",
              "sqlalchemy", "pyarrow", "xlsxwriter", "jsonschema_rs", "python_calamine"} & modules
    assert not loaded, sorted(loaded)


BLAS_PROBE = textwrap.dedent("""
    import atexit, os, sys
    sys.argv = ["shinsei", "--help"]

    def report():  # what pyarrow brings in where numpy is installed, after the command ran
        import numpy  # noqa: F401
        print("threads", len(os.listdir("/proc/self/task")), "setting", os.environ.get("OPENBLAS_NUM_THREADS"))

    atexit.register(report)
    from pipeline.cli import run
    run()
""")


@pytest.mark.parametrize(("asked", "setting"), [(None, "1"), ("3", "3")])
def test_the_command_keeps_numpys_blas_to_one_thread_unless_asked(asked: str | None, setting: str) -> None:
    """pyarrow imports numpy where it is installed, and numpy's OpenBLAS started a spinning thread per core in
    every command that writes the exports (~0.1 s of CPU at its import alone). The command sets one thread,
    unless the user set a number."""
    pytest.importorskip("numpy")
    if not Path("/proc/self/task").is_dir():
        pytest.skip("counts threads through /proc")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if asked is not None:
        env["OPENBLAS_NUM_THREADS"] = asked
    res = subprocess.run([sys.executable, "-c", BLAS_PROBE], capture_output=True, text=True, timeout=120, env=env,
                         cwd=ROOT)
    *_, threads, _, got = res.stdout.split() or ["-"] * 4
    assert got == setting, res.stdout + res.stderr
    if asked is None:
        assert threads == "1", res.stdout + res.stderr  # the main thread alone: OpenBLAS started none


def test_a_pyarrow_that_needs_numpy_is_loaded_with_it() -> None:
    """load_arrow_without_numpy tries without numpy, and on ImportError loads pyarrow again with numpy visible."""
    code = textwrap.dedent("""
        import sys
        from pipeline.ingest import exports
        hidden = []
        def arrow():  # a pyarrow that cannot load without numpy
            hidden.append(sys.modules.get("numpy", "absent") is None)
            if hidden[-1]:
                raise ImportError("numpy is required")
        exports._arrow = arrow
        exports.load_arrow_without_numpy()
        print(hidden, sys.modules.get("numpy", "absent") is None)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.stdout.split("\n")[0] == "[True, False] False", res.stdout + res.stderr
