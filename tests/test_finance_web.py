"""The review pages in the system Chromium (Playwright), served by ``shinsei review serve`` on a real batch.

A reviewer opens an application, disallows a line with a comment, sees the totals change and the entry in
the history; a second reviewer, whose page still shows the line undecided, gets the conflict message and
nothing of the first decision is lost. With SHINSEI_DOCS=1 the screenshots go to docs/ for the README.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.finance.ledger import Ledger
from pipeline.ingest.run import ingest
from pipeline.ingest.store import Store, default_url
from tests.conftest import shinsei_server
from tests.finance_batch import write_batch

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
DOCS = Path(__file__).resolve().parent.parent / "docs"
OUTPUT = Path(__file__).parent / "output" / "finance"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("web")
    write_batch(root / "in", 3)
    out = root / "out"
    ingest([root / "in"], out, workers=1, progress=False)
    with shinsei_server(["review", "serve", "--out", str(out), "--user-header", "X-Reviewer"], "/review", 401,
                        "shinsei review serve") as url:  # up, and refusing a request without a reviewer
        yield url, out


def test_no_anonymous_access(served: tuple[str, Path]) -> None:
    url, _ = served
    request = urllib.request.Request(f"{url}/review/api/decide", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401


def test_decide_in_the_browser_and_the_conflict_of_a_second_reviewer(served: tuple[str, Path]) -> None:
    url, out = served
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            first = browser.new_context(extra_http_headers={"X-Reviewer": "sato"}, viewport={"width": 1280,
                                                                                              "height": 900})
            second = browser.new_context(extra_http_headers={"X-Reviewer": "suzuki"})
            page = first.new_page()
            page.goto(f"{url}/review")
            assert "申請一覧 Applications" in page.inner_text("h1")
            if os.environ.get("SHINSEI_DOCS"):
                page.screenshot(path=str(DOCS / "finance-web-list.png"), full_page=True)
            page.locator("table a").first.click()
            page.wait_for_selector("tr.line")
            app_url = page.url
            other = second.new_page()  # the second reviewer opens the same application, still undecided
            other.goto(app_url)
            before = page.inner_text('[data-total="allowed_total"]')
            party = page.locator("tr.line", has_text="歓迎パーティー")
            party.locator("textarea.comment").fill("懇親会の飲食代は対象外です")
            with page.expect_navigation():
                party.locator('button[data-decision="disallow"]').click()
            after = page.inner_text('[data-total="allowed_total"]')
            assert after != before
            assert int(before.rstrip("円").replace(",", "")) - int(after.rstrip("円").replace(",", "")) >= 100_000
            assert page.inner_text('[data-total="disallowed"]') == "100,000円"
            history = page.inner_text("#log")
            assert "sato" in history and "認めない disallow" in history and "懇親会の飲食代は対象外です" in history
            page.screenshot(path=str(OUTPUT / "application.png"), full_page=True)
            if os.environ.get("SHINSEI_DOCS"):
                page.screenshot(path=str(DOCS / "finance-web.png"), full_page=True)

            clash = other.locator("tr.line", has_text="歓迎パーティー")
            clash.locator('button[data-decision="approve"]').click()
            message = clash.locator(".msg.error")
            message.wait_for(timeout=10_000)
            assert "sato" in message.inner_text() and "先に更新" in message.inner_text()
        finally:
            browser.close()
    store = Store(default_url(out))
    log = list(Ledger(store.engine, store.reader).log())
    assert [(e["reviewer"], e["value"], e["source"]) for e in log] == [("sato", "disallow", "web")]


@pytest.mark.skipif(not os.environ.get("SHINSEI_DOCS") or not shutil.which("soffice"),
                    reason="pictures for the README: SHINSEI_DOCS=1 and LibreOffice")
def test_picture_of_the_worklist(served: tuple[str, Path], tmp_path: Path) -> None:
    """docs/finance-worklist.png: the worklist page of review.xlsx as LibreOffice prints it (A4)."""
    _, out = served
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(out / "review.xlsx")], check=True, capture_output=True, timeout=300)
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "2", "-l", "2", "-singlefile", str(tmp_path / "review.pdf"),
                    str(DOCS / "finance-worklist")], check=True, timeout=120)
    assert (DOCS / "finance-worklist.png").stat().st_size > 10_000
