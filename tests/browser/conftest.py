"""Fixtures for the real-browser tests: one Streamlit server and one Chromium for the session.

The app runs as a real `streamlit run app.py` process on a free port; Playwright drives Debian's
Chromium (/usr/bin/chromium; never `playwright install`, which needs the internet). In CI
(CI=true) a missing Chromium fails the run instead of skipping, so the browser tests always run.
On failure, a screenshot of every page the test opened is saved under test-artifacts/.

The servers train with one slot (one training core, one thread per run), as on the 2-core
classroom machine, whatever the test machine has: a test knows when a second run must queue.
Tests that kill or restart a server get their own (`make_server`) on their own data folder.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.app_server import CHROMIUM, AppServer, launch_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ONE_SLOT = {"MNIST_PLAYGROUND_TRAINING_CORES": "1", "MNIST_PLAYGROUND_THREADS_PER_RUN": "1"}
VIEWPORT = {"width": 1400, "height": 1000}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def app_server():
    """The session's server (an AppServer: .url, .pid, .rss())."""
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "streamlit.log", "w") as log:
        server = AppServer(env=ONE_SLOT, log=log)
        try:
            server.start()
        except RuntimeError as e:
            pytest.fail(f"{e}; see {ARTIFACTS / 'streamlit.log'}")
        yield server
        server.stop()


@pytest.fixture(scope="session")
def app_url(app_server):
    return app_server.url


@pytest.fixture
def make_server(tmp_path, request):
    """Start a server of the test's own: make_server() -> AppServer on a fresh data folder
    (tmp_path/home) with one training slot; stopped after the test. Its log goes to
    test-artifacts/<test name>.server.log."""
    ARTIFACTS.mkdir(exist_ok=True)
    servers, logs = [], []

    def make(home: Path | None = None, env: dict | None = None) -> AppServer:
        log = open(ARTIFACTS / f"{request.node.name}.server{len(servers) or ''}.log", "w")
        logs.append(log)
        server = AppServer(home=home or tmp_path / "home", env={**ONE_SLOT, **(env or {})}, log=log)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
    for log in logs:
        log.close()


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
def new_context(browser, request):
    """new_context() -> a fresh browser context (its own cookies: another browser, another
    student); closed after the test, each of its pages screenshotted if the test failed."""
    contexts = []

    def make():
        ctx = browser.new_context(viewport=VIEWPORT)
        ctx.set_default_timeout(30_000)
        contexts.append(ctx)
        return ctx

    yield make
    failed = getattr(request.node, "rep_call", None)
    for i, ctx in enumerate(contexts):
        if failed is not None and failed.failed:
            for j, pg in enumerate(ctx.pages):
                try:
                    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}-{j}.png"), full_page=True)
                except Exception:   # a page whose server is gone
                    pass
        ctx.close()


@pytest.fixture
def page(new_context):
    pg = new_context().new_page()
    pg.set_default_timeout(30_000)
    return pg


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
