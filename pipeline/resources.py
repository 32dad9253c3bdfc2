"""Where the data folders (packs, schemas, templates, samples) are, installed or in a checkout.

Data is kept apart from code at the top of the repository; a wheel carries a copy under
``pipeline/_data``. Everything that opens a data file asks this module for its folder.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """Return the folder ``name`` (``packs``, ``schemas``, ``templates``, ``samples``, ``scenarios``)."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"shinsei data folder {name!r} not found (looked in {installed} and {checkout})")


def packs_dir() -> Path:
    return data_dir("packs")


def schemas_dir() -> Path:
    return data_dir("schemas")


def templates_dir() -> Path:
    return data_dir("templates")


def samples_dir() -> Path:
    return data_dir("samples")


def scenarios_dir() -> Path:
    """What each sample application holds and must produce (beside samples/, which holds only workbooks:
    ``shinsei ingest samples`` takes every file it finds)."""
    return data_dir("scenarios")
