"""Start -> the first new point on the curves, in real Chromium (issue 10).

    python bench/bench_first_point.py [--tries 10] [--busy-only | --quiet-only]

A real `streamlit run app.py` server (one training slot, as on the 2-core classroom machine) on
a fresh data folder; each try opens the Train page anew (a student arriving), waits until it is
ready, clicks Start and times, in the browser, the click -> the chart holding its first point
(checked at every animation frame). Then Stop, and the next try.

- quiet: nothing else trains;
- busy: another student's run trains meanwhile (it holds the training slot, so the measured run
  waits in the queue: its first point is the untrained network's, measured before the slot).

Where the time goes, per try (milliseconds after the click, from the browser):
  status  the click's rerun has drawn the run's status line (server: submit + page run),
  chart   the chart element exists (plotly.js loaded and called),
  point   the chart holds a point;
and, from a websocket client on the same server (scripts/ws_student.py: no browser), the
server's own share: click -> the page complete with a point in the chart's data.
The first try after the server starts is reported separately (cold caches).
Targets: p90 <= 0.5 s quiet, <= 1 s busy.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.app_server import app_server, launch_chromium  # noqa: E402
from tests.browser.util import open_train, press, wait_for_state  # noqa: E402

QUERY = "epochs=40&batch_size=64&width=256&depth=2"       # the default-sized network, trains on
BACKGROUND = "epochs=200&batch_size=128&width=256&depth=2"  # the other student's long run
ONE_SLOT = {"MNIST_PLAYGROUND_TRAINING_CORES": "1", "MNIST_PLAYGROUND_THREADS_PER_RUN": "1"}

# In the page: from the click, mark when the status line, the chart and its first point appear.
WATCH = """() => {
  window.__marks = null;
  document.addEventListener('click', () => {
    const t0 = performance.now(), m = {};
    const tick = () => {
      const now = performance.now() - t0;
      const main = document.querySelector('[data-testid=stMain]');
      if (m.status === undefined && main && main.innerText.includes(' · run #')) m.status = now;
      const p = document.querySelector('.js-plotly-plot');
      if (m.chart === undefined && p) m.chart = now;
      if (p && p._fullData && p._fullData.some(t => t.x && t.x.length > 0)) {
        m.point = now; window.__marks = m; return; }
      if (now < 30000) requestAnimationFrame(tick); else window.__marks = m;
    };
    requestAnimationFrame(tick);
  }, {capture: true, once: true});
}"""


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def plotly_chunk() -> str:
    """The URL path of Streamlit's lazily loaded plotly.js chunk (4.7 MB in Streamlit 1.67)."""
    import streamlit
    js = Path(streamlit.__file__).parent / "static" / "static" / "js"
    return "/static/js/" + next(js.glob("PlotlyChart.*.js")).name


def one_try(page, url: str, preload: bool = False) -> dict:
    open_train(page, url, QUERY)
    if preload:   # what a chart already on the page before Start would do: plotly.js is loaded
        page.evaluate("(u) => import(u)", plotly_chunk())
    page.wait_for_timeout(1000)               # a student reads the page before pressing Start
    page.evaluate(WATCH)
    press(page, "btn_start")
    deadline = time.monotonic() + 40
    while (marks := page.evaluate("() => window.__marks")) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no curve point within 40 s of Start")
        time.sleep(0.05)
    press(page, "btn_stop")
    wait_for_state(page, "⏹️ stopped")
    return marks


async def server_share(url: str, tries: int) -> list[float]:
    """Click -> page complete with a point, seen from a websocket client (no browser)."""
    from scripts.ws_student import Student
    out = []
    for _ in range(tries):
        s = Student(url)
        await s.open("train", QUERY)
        t0 = time.monotonic()
        await s.click("btn_start")
        if not s.curve_points():
            await s.wait_until(lambda: s.curve_points() > 0, 30)
        out.append(time.monotonic() - t0)
        await s.click("btn_stop")
        await s.close()
    return out


def report(name: str, rows: list[dict], server: list[float]) -> None:
    pts = [r["point"] / 1000 for r in rows if "point" in r]
    print(f"  {name}: Start -> first point  p50 {pct(pts, .5):.2f} s  p90 {pct(pts, .9):.2f} s  "
          f"max {max(pts):.2f} s  ({len(pts)} tries)")
    for key in ("status", "chart", "point"):
        xs = [r[key] for r in rows if key in r]
        if xs:
            print(f"      {key:6s} p50 {pct(xs, .5):6.0f} ms  p90 {pct(xs, .9):6.0f} ms")
    if server:
        print(f"      server share (websocket client: click -> page complete with a point) "
              f"p50 {pct(server, .5) * 1000:.0f} ms  p90 {pct(server, .9) * 1000:.0f} ms")


def main() -> None:
    from scripts.ws_student import in_thread
    ap = argparse.ArgumentParser()
    ap.add_argument("--tries", type=int, default=10)
    ap.add_argument("--quiet-only", action="store_true")
    ap.add_argument("--busy-only", action="store_true")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    home = tempfile.mkdtemp(prefix="bench-first-point-")
    with app_server(home=home, env=ONE_SLOT) as srv, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(60_000)
        cold = one_try(page, srv.url)
        print(f"  first Start after the server started: {cold.get('point', float('nan')) / 1000:.2f} s "
              f"(status {cold.get('status', 0):.0f} ms, chart {cold.get('chart', 0):.0f} ms)")
        if not args.busy_only:
            rows = [one_try(page, srv.url) for _ in range(args.tries)]
            report("quiet", rows, in_thread(server_share(srv.url, min(args.tries, 5))))
            rows = [one_try(page, srv.url, preload=True) for _ in range(args.tries)]
            report("quiet, plotly.js loaded before the click (a chart on the page before Start)", rows, [])
        if not args.quiet_only:
            other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            open_train(other, srv.url, BACKGROUND)
            press(other, "btn_start")
            wait_for_state(other, "🟢 running")
            rows = [one_try(page, srv.url) for _ in range(args.tries)]
            report("busy (another student's run trains)", rows,
                   in_thread(server_share(srv.url, min(args.tries, 5))))
            rows = [one_try(page, srv.url, preload=True) for _ in range(args.tries)]
            report("busy, plotly.js loaded before the click", rows, [])
            press(other, "btn_stop")
        browser.close()
    print(f"  load average {os.getloadavg()[0]:.1f} at the end; targets: p90 <= 0.5 s quiet, <= 1 s busy")


if __name__ == "__main__":
    main()
