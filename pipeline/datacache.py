"""Parsed data files (packs, forms, catalogues, lexicons) kept as pickles keyed by their content.

Why: a ``shinsei validate`` is one short process, and parsing every YAML file with its schema
check took longer than reading the workbook. The first run parses and checks as before; later
runs load a pickle whose name is the hash of the file's bytes, of what checked it and of
shinsei's version, so an edited pack or a new release is parsed again, never served stale.
The cache lives in the user's own folder (``SHINSEI_CACHE_DIR``, else ``$XDG_CACHE_HOME/shinsei``
or ``~/.cache/shinsei``, mode 0700); if it cannot be written, nothing is cached and nothing fails.

PyYAML (~8 ms to import, most of it compiling its reader's patterns) and tempfile are imported
only on a miss: a run served from the cache never loads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import __version__


def cache_dir() -> Path | None:
    if os.environ.get("SHINSEI_CACHE_DIR") == "":
        return None  # set but empty: no cache
    base = os.environ.get("SHINSEI_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "shinsei")
    return Path(base)


def yaml_error() -> type[Exception]:
    """``yaml.YAMLError``, for an ``except`` clause: Python evaluates that clause only when an exception
    reaches it, so ``except (datacache.yaml_error(), ValueError)`` imports yaml only on a failure."""
    import yaml

    return yaml.YAMLError


def parse_yaml(raw: bytes | str) -> Any:
    """YAML text as data, with the C loader when PyYAML has one (safe: plain data only)."""
    import yaml

    return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_yaml(path: Path, prepare: Callable[[Any], Any] | None = None, tag: str = "") -> Any:
    """``prepare(yaml.load(path))``, from the cache when the same bytes were prepared the same way before.

    ``tag`` names what ``prepare`` depends on besides the file (a schema's hash, say); ``prepare``
    may raise, and then nothing is cached. Raises FileNotFoundError and yaml.YAMLError as yaml does.
    """
    raw = path.read_bytes()
    key = hashlib.sha256(f"{__version__}|{tag}|".encode() + raw).hexdigest()
    folder = cache_dir()
    cached = folder / f"{key}.pickle" if folder else None
    if cached is not None:
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return pickle.loads(cached.read_bytes())
    data = parse_yaml(raw)
    if prepare is not None:
        data = prepare(data)
    if cached is not None:
        _store(cached, data)
    return data


def _store(path: Path, data: Any) -> None:
    import tempfile

    with contextlib.suppress(OSError, pickle.PicklingError, TypeError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def file_tag(*paths: Path) -> str:
    """A short hash of other files a preparation depends on (the JSON Schema a pack is checked against)."""
    h = hashlib.sha256()
    for p in paths:
        with contextlib.suppress(OSError):
            h.update(p.read_bytes())
    return h.hexdigest()[:16]
