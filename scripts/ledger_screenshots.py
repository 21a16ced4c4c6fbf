"""The README's screenshots of the Runs and Experiments pages (assets/screenshots/runs.png,
experiments.png), taken from a real lesson in a fresh data folder.

    python scripts/ledger_screenshots.py

Starts `streamlit run app.py` on an empty temporary MNIST_PLAYGROUND_HOME (one training slot, so
it stays gentle on a shared machine) and drives Debian's Chromium at 1400x1000: on Experiments it
runs the quick version of the initialization lesson (7 runs), waits for the table and the verdict,
and photographs them; then, in the same browser (the same owner cookie, so the same runs), it picks
four of those runs under "Compare" on the Runs page and photographs the overlaid curves, whose
legend names only what differs between them.
"""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.app_server import launch_chromium, running_app  # noqa: E402
from tests.browser.util import main_text, wait_for_app  # noqa: E402

OUT = ROOT / "assets" / "screenshots"
ONE_SLOT = {"MNIST_PLAYGROUND_TRAINING_CORES": "1", "MNIST_PLAYGROUND_THREADS_PER_RUN": "1"}
LESSON = "Initialization σ"
RUNS = 7                                        # the lesson's rows: 5 σ, He, Xavier
COMPARE = ("σ=0.01", "σ=0.1", "He", "Xavier")   # stuck, slow, best, a bit behind: four shapes of curve


def pick(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def settle(page, ms: int = 2500) -> None:
    """Wait until the script has run and the charts have drawn (plotly animates its first draw)."""
    wait_for_app(page, timeout=120_000)
    page.wait_for_timeout(ms)


def shot(page, path: Path, last: str, margin: int = 24) -> None:
    """Photograph the page from its top to `margin` px below the last element matching `last`:
    Streamlit scrolls inside its main area, not the document, so the window is made that tall
    (never shorter than the 1000 px view) rather than using full_page."""
    bottom = page.evaluate("""(sel) => {
        document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]')
            .forEach(e => e.scrollTo(0, 0));
        window.scrollTo(0, 0);
        const els = document.querySelectorAll(sel);
        return els[els.length - 1].getBoundingClientRect().bottom; }""", last)
    page.set_viewport_size({"width": 1400, "height": max(1000, int(bottom) + margin)})
    page.mouse.move(2, 2)                # no hover label or tool bar over the curves
    page.wait_for_timeout(2500)          # plotly redraws at the new size; its tool bar fades out
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})


def experiments(page, url: str) -> None:
    page.goto(f"{url}/experiments")
    wait_for_app(page, "[data-testid=stSelectbox]", 60_000)
    pick(page, "Lesson", LESSON)
    wait_for_app(page)
    page.get_by_text("Quick version").click()
    wait_for_app(page)
    page.locator(".st-key-exp_start button:visible").click()
    page.locator("[data-testid=stTable]").wait_for(timeout=60_000)
    page.wait_for_function(f"() => document.querySelector('[data-testid=stMain]').innerText"
                           f".includes('{RUNS} of {RUNS} runs ended')", timeout=600_000)
    page.get_by_text("What the lecture shows is here").or_(page.get_by_text("Not quite what the lecture shows")) \
        .first.wait_for(timeout=60_000)
    # the lesson is started: fold "New sweep" away so the table, the text and the curves fit
    page.locator("[data-testid=stExpander] summary").first.click()
    settle(page, 3000)
    if "Traceback" in main_text(page):
        raise RuntimeError("the Experiments page shows an error")
    shot(page, OUT / "experiments.png", ".st-key-dl_sweep")


def runs(page, url: str) -> None:
    page.goto(f"{url}/runs")
    wait_for_app(page, "[data-testid=stMultiSelect]", 60_000)
    box = page.get_by_label("Compare", exact=True).first
    for name in COMPARE:
        if not page.get_by_role("listbox").first.is_visible():
            box.click()
        page.get_by_role("option").filter(has_text=re.compile(rf"^#\d+ {re.escape(name)} · ")).first.click()
        wait_for_app(page)
    page.keyboard.press("Escape")
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    settle(page, 3000)
    shot(page, OUT / "runs.png", ".st-key-dl_curves")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    home = tempfile.mkdtemp(prefix="ledger-screenshots-")
    with open(Path(home) / "server.log", "w") as log, \
            running_app(log=log, home=home, env=ONE_SLOT) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        experiments(page, url)
        runs(page, url)
        browser.close()
    print("wrote experiments.png, runs.png to", OUT, "· server log:", Path(home) / "server.log")


if __name__ == "__main__":
    main()
