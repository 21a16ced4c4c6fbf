"""Real Chromium on the Runs page (issue 19, item 2): "One run" edits the run the student picked.

Four short runs are trained into a fresh data folder for one owner before the server starts; the
browser carries that owner's cookie. The student picks run #3 (neither the newest nor the oldest),
saves a name, then a note: both land on #3 in the ledger, and the selector still shows #3 after
each save and after a search narrows the table. (A save changes the run's label in the selector;
the browser sent back the old label, which no option matched any more, and the selector fell back
to the newest run: the second save was written to #4.)"""
from __future__ import annotations

import os
import subprocess
import sys

from core.ledger import Ledger
from tests.browser.conftest import ROOT
from tests.browser.util import wait_for_app

OWNER_COOKIE = "mnist_playground_owner"
OWNER = "runs-browser-owner-00000"
SEED = """
import sys
from core.nn.config import HyperParams
from core.runs import RunService
svc = RunService()
for lr in (0.001, 0.01, 0.02, 0.05):
    hp = HyperParams.validate(subset=500, depth=1, width="16", epochs=1, batch_size=100, dropout=0.0, lr=lr)
    assert svc.wait(svc.submit(sys.argv[1], hp).id, 300)
svc.close(stop_runs=False)
"""


def seed_runs(home) -> None:
    env = {**os.environ, "MNIST_PLAYGROUND_HOME": str(home), "MNIST_PLAYGROUND_TRAINING_CORES": "1"}
    subprocess.run([sys.executable, "-c", SEED, OWNER], cwd=ROOT, env=env, check=True, timeout=600)


def picked(page) -> str:
    """The text the "Run" selector shows."""
    return page.locator(".st-key-runs_one input[role=combobox]").input_value().strip()


def save(page, field: str, text: str) -> None:
    box = page.get_by_label(field, exact=True)
    box.fill(text)
    page.get_by_role("button", name="Save name and note").click()
    page.get_by_text("name and note").first.wait_for()     # the toast
    wait_for_app(page)


def test_one_run_edits_the_run_picked_through_two_saves(make_server, new_context, tmp_path):
    home = tmp_path / "home"
    seed_runs(home)
    server = make_server(home)
    ctx = new_context()
    ctx.add_cookies([{"name": OWNER_COOKIE, "value": OWNER, "url": server.url}])
    page = ctx.new_page()
    page.goto(f"{server.url}/runs")
    wait_for_app(page, ".st-key-runs_one input[role=combobox]")
    assert picked(page).startswith("#4 ")                              # the newest, at first
    box = page.locator(".st-key-runs_one input[role=combobox]")
    box.click()
    box.fill("#3")                                                     # the box filters as one types
    page.get_by_role("option").filter(has_text="#3 ").click()
    wait_for_app(page)
    page.get_by_label("Name", exact=True).wait_for()
    assert picked(page).startswith("#3 ")

    save(page, "Name", "third")
    assert picked(page).startswith("#3 third"), picked(page)
    save(page, "Note", "meant for #3")
    assert picked(page).startswith("#3 third"), picked(page)
    page.get_by_role("textbox", name="Search").fill("#1")
    page.get_by_role("textbox", name="Search").press("Enter")
    wait_for_app(page)
    assert picked(page).startswith("#3 third"), picked(page)

    runs = {r.number: r for r in Ledger(home).list_runs(OWNER)}
    assert (runs[3].name, runs[3].note) == ("third", "meant for #3")
    assert all((r.name, r.note) == ("", "") for n, r in runs.items() if n != 3)
