"""AppTest helpers: run the real app.py (navigation included) and switch to a page."""
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import shared

APP = str(Path(__file__).resolve().parents[2] / "app.py")

# AppTest resets Streamlit's "legacy pages/ folder" flag before every run and opens the page of
# switch_page() the legacy way; the app's switch to st.navigation (for a real server's first
# visits, tests/browser/test_first_visits_browser.py) would rerun onto the default page instead.
shared.SWITCH_TO_NAVIGATION = False


@pytest.fixture
def open_page():
    def _open(page: str, **query) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        if "_owner" in query:   # the same browser: its cookie names the owner
            at.session_state["owner"] = query.pop("_owner")
        for k, v in query.items():
            at.query_params[k] = str(v)
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    return _open


def the_run(at: AppTest):
    """The run the page is showing (looked up the way the page does)."""
    return shared.service().get(at.session_state["owner"], at.session_state["run_id"])


def rerun_until(at: AppTest, cond, timeout: float = 60.0) -> AppTest:
    """Rerun the script (as the page's polling fragment would) until cond(at) holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if cond(at):
            return at
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test():
    """The app's run service is one per process, with one training slot on 2 cores: a run a test
    leaves training would keep the next test's runs queued. Stop whatever is still active."""
    yield
    svc = shared._service
    if svc is None:
        return
    with svc._lock:
        active = list(svc._live)
    for run_id in active:
        svc.stop(None, run_id, "the test ended")
    for run_id in active:
        svc.wait(run_id, 30)
