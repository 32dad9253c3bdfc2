"""Every limit and default of shinsei in one place, each overridable by a ``SHINSEI_*`` environment variable.

Why one module: a secretariat tuning a deployment (a bigger worker memory cap, a stricter request
size for the add-in) should find every knob here, with the reason it has the value it has, instead
of constants scattered over the engine. Values are read once, when first imported.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(f"SHINSEI_{name}")
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw.replace("_", "").strip())
    except ValueError as exc:
        raise SystemExit(f"環境変数 SHINSEI_{name} は整数で指定してください / SHINSEI_{name} must be a whole number: "
                         f"{raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(f"SHINSEI_{name}")
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw.strip())
    except ValueError as exc:
        raise SystemExit(f"環境変数 SHINSEI_{name} は数値で指定してください / SHINSEI_{name} must be a number: "
                         f"{raw!r}") from exc


# ---- per-file work (CLI, ingest, add-in) --------------------------------------------------------
# A whole file's work (read, normalise, rules, classifier, annotate) runs in a child process under
# these: a workbook that takes more is refused with worker-timeout / worker-memory, alone.
FILE_TIMEOUT_SECONDS = _float("FILE_TIMEOUT_SECONDS", 60.0)
FILE_MEMORY_BYTES = _int("FILE_MEMORY_BYTES", 2 * 1024**3)

# ---- values a person can type (the normaliser bounds every number before any rule or database) --
# Yen: the largest budget of either call is tens of millions of yen; a trillion leaves room for any
# honest figure and keeps every sum of a few thousand lines inside a 64-bit integer (BIGINT).
MAX_ABS_YEN = _int("MAX_ABS_YEN", 10**12)
# Counts, quantities, days, fiscal years: a billion is far beyond any of them and fits a 32-bit INTEGER.
MAX_ABS_NUMBER = _int("MAX_ABS_NUMBER", 10**9)
# Quantities smaller than this (but not zero) are not a plausible count of anything (1e-300 is a trick).
MIN_ABS_QUANTITY = _float("MIN_ABS_QUANTITY", 1e-6)

# ---- the classifier -----------------------------------------------------------------------------
# Only the first this many characters of a cost line's description are judged; the line's cost finding
# says so (an otherwise eligible line goes to review). Real descriptions are a few dozen characters;
# Excel allows 32,767.
CLASSIFY_MAX_CHARS = _int("CLASSIFY_MAX_CHARS", 2000)

# ---- the add-in server --------------------------------------------------------------------------
# Measured (shinsei addin payload): a template sends 16-29 KB with 477-763 cells, a 200-line budget 41 KB
# and ~2,500 cells. The defaults are generous (5 MiB lets a 3.8 MB long-text workbook reach the engine,
# which judges it off the event loop in ~0.7 s); 1 MiB and 50,000 cells would still be ~20x a real one.
ADDIN_MAX_BODY_BYTES = _int("ADDIN_MAX_BODY_BYTES", 5 * 1024**2)
ADDIN_MAX_CELLS = _int("ADDIN_MAX_CELLS", 200_000)
ADDIN_MAX_DEPTH = _int("ADDIN_MAX_DEPTH", 32)
ADDIN_ENGINE_TIMEOUT_SECONDS = _float("ADDIN_ENGINE_TIMEOUT_SECONDS", 30.0)
ADDIN_ENGINE_WORKERS = _int("ADDIN_ENGINE_WORKERS", 2)

# ---- the ingest ---------------------------------------------------------------------------------
# Every temporary file the ingest writes in its output folder starts with this; the next run deletes
# whatever a killed run left behind.
TEMP_PREFIX = ".shinsei-tmp-"
# How long a second ingest waits for the lock held by another run on the same folder or database
# before it refuses (0: refuse at once).
LOCK_WAIT_SECONDS = _float("LOCK_WAIT_SECONDS", 0.0)
