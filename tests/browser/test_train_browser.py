"""The Train page in a real Chromium: start a run, watch the chart grow, see it finish."""
import re
import time

from tests.browser.util import plot_last_x, plot_point_count, wait_for_app


def test_start_a_run_and_watch_the_curves_grow(page, app_url):
    page.goto(f"{app_url}/train?epochs=3&batch_size=32&width=128&depth=1")   # ~5-10 s of training
    wait_for_app(page)
    page.get_by_role("button", name="▶ Start").click()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0")
    # Live updates: the newest epoch on the chart moves forward at least three times.
    # (Not the number of points: long curves are thinned to at most 600 points.)
    seen = []
    deadline = time.monotonic() + 60
    while len(seen) < 3 and time.monotonic() < deadline:
        x = plot_last_x(page)
        if x > 0 and (not seen or x > seen[-1]):
            seen.append(x)
        page.wait_for_timeout(300)
    assert len(seen) == 3 and seen[0] < seen[1] < seen[2] < 3.0, seen
    # The inputs stay usable while it trains: the page reacts to a sidebar click at once.
    assert page.get_by_role("button", name="⏸ Pause").is_enabled()
    page.get_by_text("finished", exact=False).first.wait_for(timeout=120_000)
    assert re.search(r"test accuracy \d+\.\d+%", page.inner_text("[data-testid=stMain]"))
    assert "run=" in page.url and "user=" in page.url       # a reload finds the run again
    page.reload()
    wait_for_app(page)
    page.get_by_text("finished", exact=False).first.wait_for()
    page.wait_for_function(
        "() => { const p = document.querySelector('.js-plotly-plot');"
        " return p && p._fullData && p._fullData.length && p._fullData[0].x.length > 0; }")
    assert plot_last_x(page) == 3.0                          # the whole run is there again
    assert 0 < plot_point_count(page) <= 600                 # thinned for the browser
