"""Fixtures for the real-browser tests: one Streamlit server and one Chromium for the session.

The app runs as a real `streamlit run app.py` process on a free port; Playwright drives Debian's
Chromium (/usr/bin/chromium; never `playwright install`, which needs the internet). In CI
(CI=true) a missing Chromium fails the run instead of skipping, so the browser tests always run.
On failure, a screenshot of the page is saved under test-artifacts/.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.app_server import CHROMIUM, launch_chromium, running_app

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def app_url():
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "streamlit.log", "w") as log:
        try:
            with running_app(log) as url:
                yield url
        except RuntimeError as e:
            pytest.fail(f"{e}; see {ARTIFACTS / 'streamlit.log'}")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        msg = f"{CHROMIUM} not found: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
