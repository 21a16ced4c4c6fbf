"""Helpers for the browser tests (and the benchmarks that drive Chromium)."""
import time

# Any trace of the first chart holds a point (the first one is often the untrained network's
# validation point, before any training point).
PLOT_HAS_POINTS = """() => { const p = document.querySelector('.js-plotly-plot');
    return !!(p && p._fullData && p._fullData.some(t => t.x && t.x.length > 0)); }"""


def wait_for_app(page, ready: str | float | None = None, timeout: float = 30_000) -> None:
    """Wait until Streamlit has rendered the page and finished running the script. `ready`: a
    selector only the rendered page has (default: any element in the main area); before the
    first script run there is no status widget either, so its absence alone proves nothing.
    (A number as second argument is the timeout, as in the first version of this helper.)"""
    if isinstance(ready, (int, float)):
        ready, timeout = None, ready
    page.wait_for_selector("[data-testid=stApp]", timeout=timeout)
    page.wait_for_selector(ready or "[data-testid=stMain] [data-testid=stElementContainer]", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout)


def button(page, key: str):
    """The button with Streamlit key `key` (its container carries the class st-key-<key>; a
    button with a help tooltip also holds a hidden copy of itself, hence :visible)."""
    return page.locator(f".st-key-{key} button:visible")


def press(page, key: str) -> None:
    """Click the button with key `key`, first scrolled to the middle of the view: a button at the
    top of a page that has scrolled a little sits under Streamlit's fixed header, which would
    take the click."""
    b = button(page, key)
    b.evaluate("e => e.scrollIntoView({block: 'center'})")
    b.click()


def stop_if_active(page) -> None:
    """Stop the run the page shows, unless it has ended (a test's clean-up: a short run can also
    finish between the look at the Stop button and the click, which then leaves it disabled)."""
    b = button(page, "btn_stop")
    if not b.is_enabled():
        return
    b.evaluate("e => e.scrollIntoView({block: 'center'})")
    try:
        b.click(timeout=10_000)
    except Exception:
        if not b.is_disabled():   # still enabled and not clickable: a real failure
            raise


def open_train(page, url: str, query: str = "", timeout: float = 60_000) -> None:
    """Open the Train page and wait until it can be used (the Start button rendered and idle)."""
    page.goto(f"{url}/train{'?' + query if query else ''}")
    wait_for_app(page, ".st-key-btn_start button:visible", timeout)


def main_text(page) -> str:
    return page.inner_text("[data-testid=stMain]")


def status_line(page) -> str:
    """The Train page's status line: the block that starts with the state badge, '... · run #N ·'."""
    return page.locator("[data-testid=stMain] [data-testid=stMarkdownContainer]",
                        has_text=" · run #").first.inner_text()


def state_badge(page, badge: str):
    """The element whose whole text is `badge` (core.states.BADGE[state], e.g. '✅ finished'):
    the bold start of the status line, matched exactly."""
    return page.locator("[data-testid=stMain]").get_by_text(badge, exact=True)


def wait_for_state(page, badge: str, timeout: float = 60_000) -> None:
    """Wait until the status line shows `badge` exactly."""
    state_badge(page, badge).first.wait_for(timeout=timeout)


def select_options(page, label: str) -> list[str]:
    """The options of the select box or multiselect labelled `label` (opens and closes it)."""
    box = page.get_by_label(label, exact=True).first
    box.click()
    page.get_by_role("listbox").first.wait_for()
    options = [o.strip() for o in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return options


def wait_for_chart(page, timeout: float = 30_000) -> None:
    """Wait until the page's first plotly chart holds at least one point."""
    page.wait_for_function(PLOT_HAS_POINTS, timeout=timeout)


def plot_point_count(page, index: int = 0) -> int:
    """Number of x values in the first trace of the index-th plotly chart on the page (read from
    _fullData: plotly 7 sends numpy arrays base64-encoded, so `data[0].x` is not an array)."""
    return page.evaluate(
        """(i) => { const p = document.querySelectorAll('.js-plotly-plot')[i];
                    return p && p._fullData && p._fullData.length ? p._fullData[0].x.length : 0; }""",
        index)


def plot_last_x(page, index: int = 0) -> float:
    """The last x value (the newest epoch plotted) of the first trace of the index-th chart."""
    return page.evaluate(
        """(i) => { const p = document.querySelectorAll('.js-plotly-plot')[i];
                    if (!p || !p._fullData || !p._fullData.length) return -1;
                    const x = p._fullData[0].x; return x.length ? x[x.length - 1] : -1; }""", index)


def plot_traces(page, index: int = 0) -> dict:
    """{trace name: (first x, last x, number of points)} of the index-th chart."""
    return page.evaluate(
        """(i) => { const p = document.querySelectorAll('.js-plotly-plot')[i]; const out = {};
                    if (!p || !p._fullData) return out;
                    for (const t of p._fullData) { if (!t.x || !t.x.length) continue;
                      out[(t.name || '') + '/' + (t.xaxis || 'x') + (t.yaxis || 'y')] =
                        [t.x[0], t.x[t.x.length - 1], t.x.length]; }
                    return out; }""", index)


def click_to_first_point(page, timeout: float = 30.0) -> float:
    """Click Start and measure, in the browser, the time from the click event until the chart
    holds its first point (seconds; checked at every animation frame, so to within ~16 ms). The
    page must show no chart with points before the click."""
    page.evaluate(
        """() => { window.__firstPoint = null; window.__clickAt = null;
                   document.addEventListener('click', () => {
                     window.__clickAt = performance.now();
                     const check = () => {
                       const p = document.querySelector('.js-plotly-plot');
                       if (p && p._fullData && p._fullData.some(t => t.x && t.x.length > 0))
                         window.__firstPoint = (performance.now() - window.__clickAt) / 1000;
                       else requestAnimationFrame(check); };
                     requestAnimationFrame(check); }, {capture: true, once: true}); }""")
    button(page, "btn_start").click()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = page.evaluate("() => window.__firstPoint")
        if v is not None:
            return v
        time.sleep(0.05)
    raise TimeoutError(f"no curve point within {timeout} s of Start")


def plot_trace_x(page, name: str, index: int = 0, xaxis: str = "x") -> list[float]:
    """The x values of the trace called `name` on axis `xaxis` of the index-th chart."""
    return page.evaluate(
        """([i, name, xa]) => { const p = document.querySelectorAll('.js-plotly-plot')[i];
                    if (!p || !p._fullData) return [];
                    const t = p._fullData.find(t => t.name === name && (t.xaxis || 'x') === xa);
                    return t ? Array.from(t.x) : []; }""", [index, name, xaxis])


def drawing_canvas(page, timeout: float = 30.0):
    """The Draw page's canvas (inside its component's frame) once it is on screen."""
    deadline = time.monotonic() + timeout
    while True:
        for frame in page.frames:
            canvas = frame.locator("canvas#canvas")
            if canvas.count() and canvas.is_visible():
                return canvas
        if time.monotonic() > deadline:
            raise TimeoutError("no drawing canvas on the page")
        time.sleep(0.2)


def draw_stroke(page, points, canvas=None) -> None:
    """Draw one stroke with the mouse through `points` (canvas pixels, 280x280)."""
    box = (canvas or drawing_canvas(page)).bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
    page.mouse.up()
