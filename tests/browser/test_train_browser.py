"""The Train page in a real Chromium: start a run, watch the chart grow, see it finish."""
import re
import time

from tests.browser.util import plot_point_count, wait_for_app


def test_start_a_run_and_watch_the_curves_grow(page, app_url):
    page.goto(f"{app_url}/train?subset=20000&epochs=2&batch_size=32&width=64&depth=1")
    wait_for_app(page)
    page.get_by_role("button", name="▶ Start").click()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0")
    counts = []
    deadline = time.monotonic() + 60
    while len(counts) < 3 and time.monotonic() < deadline:
        n = plot_point_count(page)
        if n and (not counts or n > counts[-1]):
            counts.append(n)
        page.wait_for_timeout(300)
    assert len(counts) == 3 and counts[0] < counts[1] < counts[2], counts   # live updates
    # The inputs stay usable while it trains: the page reacts to a sidebar click at once.
    assert page.get_by_role("button", name="⏸ Pause").is_enabled()
    page.get_by_text("finished", exact=False).first.wait_for(timeout=120_000)
    assert re.search(r"test accuracy \d+\.\d+%", page.inner_text("[data-testid=stMain]"))
    assert "run=" in page.url and "user=" in page.url       # a reload finds the run again
    page.reload()
    wait_for_app(page)
    page.get_by_text("finished", exact=False).first.wait_for()
    page.wait_for_function(
        "(n) => { const p = document.querySelector('.js-plotly-plot');"
        " return p && p._fullData && p._fullData.length && p._fullData[0].x.length >= n; }",
        arg=counts[-1])
