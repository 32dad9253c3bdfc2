"""Smoke test of the task pane in headless Chromium, served by ``shinsei addin serve``.

Outside Excel there is no Office host: the page must say so in Japanese and English, disable
the buttons, and not leave xlwings' reload overlay over it, whether office.js loads (a plain
browser) or does not load at all. Screenshots go to tests/output/addin/.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import shinsei_server

OUTPUT = Path(__file__).parent / "output" / "addin"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with shinsei_server(["addin", "serve"], "/taskpane.html", 200, "shinsei addin serve") as url:
        yield url


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("office_js", ["served", "blocked"])
def test_task_pane_outside_excel(server: str, office_js: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / f"taskpane-office-js-{office_js}.png"
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 360, "height": 720})
            page.on("pageerror", lambda e: errors.append(str(e)))
            if office_js == "blocked":
                page.route("**/office.js", lambda route: route.abort())
            page.goto(f"{server}/taskpane.html")
            notice = page.locator("#shinsei-no-office")
            notice.wait_for(state="visible", timeout=30_000)
            assert "Excel のアドインとして開いてください" in notice.inner_text()
            assert "Open this page from Excel" in notice.inner_text()
            for button in ("#shinsei-validate", "#shinsei-presubmission", "#shinsei-clear", "#shinsei-export"):
                assert page.is_disabled(button), button
            assert not page.locator("#xlwings-office-ready-error").is_visible()
            assert page.evaluate("document.body.dataset.officeHost") == "none"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    width, height = _png_size(shot)
    assert width == 360 and height >= 500
    assert not [e for e in errors if "shinsei" in e], errors      # xlwings' own outside-Office errors aside
