"""Temporary files that become outputs: written aside, then renamed into place.

``tempfile.mkstemp`` makes a file its owner alone may read (0600), and the rename keeps that mode: review.xlsx,
the exports and the JSON files in a folder the secretariat shares were unreadable by colleagues.
``output_temp`` gives the temporary file the mode a plain ``open()`` would have given the output (0666 less
the umask), and the prefix the next run looks for to delete what a killed one left (settings.TEMP_PREFIX).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from functools import cache
from pathlib import Path

from pipeline.settings import TEMP_PREFIX


@cache
def _umask() -> int:
    """This process's umask: from /proc on Linux; elsewhere by setting it and putting it back (a moment in which
    another thread's new file would get 022)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_temp(folder: str | os.PathLike[str], suffix: str) -> tuple[int, str]:
    """(fd, path) of a new temporary file in ``folder`` with the mode ``open()`` gives a new file."""
    fd, path = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=suffix)
    with contextlib.suppress(AttributeError, OSError):  # no fchmod (Windows): mkstemp's mode, as before
        os.fchmod(fd, 0o666 & ~_umask())
    return fd, path


def output_temp_path(folder: str | os.PathLike[str], suffix: str) -> Path:
    """``output_temp``'s path alone, the file closed, for a writer that opens it by name (XlsxWriter, Arrow)."""
    fd, path = output_temp(folder, suffix)
    os.close(fd)
    return Path(path)


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write a file whole or not at all (a temporary file renamed into place): a reader never sees half of it,
    and a run killed while writing leaves only a temporary file the next run deletes. Bytes are written as
    they are; text in UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = output_temp(path.parent, path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data if isinstance(data, bytes) else data.encode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
