"""Shared fixtures: real workbooks written by the project's own templates, and LibreOffice."""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.fill import fill_template
from pipeline.findings import Report
from pipeline.samples import load_scenarios
from pipeline.validate import validate_file

# xlwings checks its licence key when first imported, whichever test module imports it first
# (addin/__init__.py sets the same default for the server and the CLI).
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")

PACKS = ["nexus-ytec-youth-2025", "nexus-ytec-instructor-2025", "india-circulation-2025"]


@pytest.fixture(scope="session")
def scenarios() -> dict[str, dict[str, Any]]:
    return {sc["pack"]: sc for sc in load_scenarios()}


@pytest.fixture
def base(scenarios: dict[str, dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """A fresh deep copy of a pack's clean sample application, to modify in a test."""
    return lambda pack_id: copy.deepcopy(scenarios[pack_id]["base"])


@pytest.fixture
def make_workbook(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(10_000))

    def make(pack_id: str, data: dict[str, Any], name: str | None = None) -> Path:
        return fill_template(pack_id, data, tmp_path / (name or f"{pack_id}-{next(counter)}.xlsx"))

    return make


@pytest.fixture
def check(make_workbook: Callable[..., Path]) -> Callable[..., Report]:
    """Fill a template with ``data`` and validate it (in-process: these are our own files)."""

    def run(pack_id: str, data: dict[str, Any]) -> Report:
        return validate_file(make_workbook(pack_id, data), isolate=False)

    return run


def python_calls(fn: Callable[[], Any]) -> int:
    """Python-level calls (a generator resumed counts as one) made by ``fn()``: the work, without a clock."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    return count


@contextlib.contextmanager
def shinsei_server(args: list[str], path: str, status: int, what: str) -> Iterator[str]:
    """``python -m pipeline.cli ARGS --port P`` on a free port, until ``path`` answers ``status`` (60 s at most);
    yields the base URL and stops the server afterwards. ``what`` names it when it does not start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}{path}", timeout=2) as response:
                    answered = response.status
            except urllib.error.HTTPError as exc:
                answered = exc.code
            except OSError:
                answered = None
            if answered == status:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                said = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"{what} did not start (last answer {answered}):\n{said}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture(scope="session")
def libreoffice(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Open and re-save a workbook with LibreOffice headless (a real spreadsheet application), as .xlsx or .xlsm."""
    exe = soffice()
    if exe is None:
        pytest.skip("LibreOffice is not installed (CI installs libreoffice-calc-nogui)")
    profile = tmp_path_factory.mktemp("lo-profile")

    filters = {"xlsx": "Calc MS Excel 2007 XML", "xlsm": "Calc MS Excel 2007 VBA XML"}

    def roundtrip(path: Path, suffix: str = "xlsx") -> Path:
        out = path.parent / "libreoffice"
        out.mkdir(exist_ok=True)
        subprocess.run([exe, f"-env:UserInstallation=file://{profile}", "--headless", "--calc",
                        "--convert-to", f"{suffix}:{filters[suffix]}", "--outdir", str(out), str(path)],
                       check=True, capture_output=True, timeout=180)
        result = out / f"{path.stem}.{suffix}"
        assert result.is_file(), f"LibreOffice wrote nothing for {path}"
        return result

    return roundtrip


def assert_rule(check: Callable[..., Report], base: Callable[[str], dict[str, Any]], pack: str, code: str,
                breaks: Callable[[dict[str, Any]], Any], at_limit: Callable[[dict[str, Any]], Any] | None,
                severity: str, sheet: str, column: str | None, clause: str, document: str) -> None:
    """A rule fires on a workbook that breaks it (code, severity, sheet, cell column, clause asserted)
    and stays silent on one at its limit."""
    data = base(pack)
    breaks(data)
    report = check(pack, data)
    found = only(report, code)
    assert found, f"{code} not reported; got {codes(report)}"
    f = found[0]
    assert f.severity == severity
    assert f.location.sheet == sheet
    if column:
        assert (f.location.cell or "").startswith(column), f.location
    assert clause in f.clause["section"]
    assert f.clause["document"].startswith(document if clause != "記入要領" else "shinsei 様式")
    assert f.message_ja and f.message_en and "{" not in f.message_ja + f.message_en
    if at_limit is not None:
        data = base(pack)
        at_limit(data)
        assert code not in codes(check(pack, data))


def codes(report: Report, severity: str | None = None) -> list[str]:
    return [f.code for f in report.findings if severity is None or f.severity == severity]


def only(report: Report, code: str) -> list[Any]:
    return [f for f in report.findings if f.code == code]
