"""The Experiments page in a real Chromium: run a lesson's quick version and watch its table fill
in, then find its runs on the Runs page."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request

import pytest

from scripts.app_server import free_port
from tests.app.experiments_app import ROOT, app_file
from tests.browser.conftest import ARTIFACTS, ONE_SLOT
from tests.browser.util import main_text, wait_for_app


@contextlib.contextmanager
def _server_of(script: str, home):
    """`streamlit run` of `script` (app.py with the two pages added, until app.py lists them)."""
    import os
    port = free_port()
    env = {**os.environ, **ONE_SLOT, "MNIST_PLAYGROUND_HOME": str(home)}
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "experiments.server.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                                 "--server.fileWatcherType", "none", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("streamlit did not start; see test-artifacts/experiments.server.log")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(15)


@pytest.fixture
def url(tmp_path, request):
    script = app_file(tmp_path)
    if script == str(ROOT / "app.py"):
        yield request.getfixturevalue("app_url")
        return
    with _server_of(script, tmp_path / "home") as u:
        yield u


def pick(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_quick_lesson_fills_its_table(page, url):
    page.goto(f"{url}/experiments")
    wait_for_app(page, "[data-testid=stSelectbox]", 60_000)
    pick(page, "Lesson", "Initialization σ")
    wait_for_app(page)
    page.get_by_text("Quick version").click()
    wait_for_app(page)
    assert "Initialization (7) × 1 seed = 7 runs" in main_text(page)
    page.locator(".st-key-exp_start button:visible").click()
    table = page.locator("[data-testid=stTable]")
    table.wait_for(timeout=60_000)
    # while it trains, cells are waiting (⏳) and fill in one after another
    page.wait_for_function("() => document.querySelector('[data-testid=stTable]').innerText.includes('⏳')",
                           timeout=60_000)
    seen_partial = False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        text = table.inner_text()
        filled = text.count("%")
        if "⏳" in text and filled > 0:
            seen_partial = True
        if "⏳" not in text and "He" in text and filled >= 5:
            break
        page.wait_for_timeout(500)
    text = table.inner_text()
    assert seen_partial, "the table should fill in while the sweep runs"
    assert "⏳" not in text and text.count("diverged") == 4      # σ=1, σ=10: both columns
    cells = table.evaluate("t => Array.from(t.querySelectorAll('tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()))")
    rows = {r[0]: r[1:] for r in cells}
    assert rows["σ=0.001"] == ["11.3 %", "2.302"] and rows["σ=1"] == ["💥 diverged", "💥 diverged"]
    assert float(rows["He"][0].rstrip(" %")) > 80
    page.get_by_text("What the lecture shows is here", exact=False).wait_for(timeout=30_000)
    page.locator(".js-plotly-plot").first.wait_for()             # curves and the line chart
    # the runs are on the Runs page, named by their place in the table
    page.goto(f"{url}/runs")
    wait_for_app(page, "[data-testid=stDataFrame]", 60_000)
    assert "7 of 7 runs" in main_text(page)
