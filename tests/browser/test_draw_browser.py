"""The Draw page in Chromium: strokes drawn with the mouse (and a finger) on the real canvas, the
prediction read from the page, and how long it takes to appear after the mouse is released."""
import math
import os
import statistics

from tests.browser.util import wait_for_app

HINT = "text=Draw a digit on the black canvas"
VERTICAL = [(140, 40), (140, 240)]
LOOP = [(140 + 70 * math.sin(t), 140 - 100 * math.cos(t)) for t in
        [2 * math.pi * i / 36 for i in range(38)]]          # closed, with a little overlap
TOP_BAR = [(60, 40), (140, 40)]                             # turns the vertical line into a 7
# The canvas component waits 200 ms after the mouse is released before sending the drawing
# (its own debounce), so the page's share is what is left of the 300 ms target. This bound
# catches a slow page on a busy test machine; bench numbers come from the printout.
MAX_MEDIAN_MS = float(os.environ.get("DRAW_MAX_MEDIAN_MS", 500))

# Measures in the browser: from the pointerup on the canvas to the moment the page shows
# `expected` as the prediction. The result lands in window.__drawLatency.
WATCH = """(expected) => {
  window.__drawLatency = null;
  let released = null;
  document.addEventListener('pointerup', () => { released = performance.now(); },
                            {capture: true, once: true});
  const obs = new MutationObserver(() => {
    const el = document.querySelector('[data-testid=stMetricValue]');
    if (released !== null && el && el.innerText.trim() === expected) {
      obs.disconnect();
      window.__drawLatency = performance.now() - released;
    }
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def open_draw(page, app_url):
    page.goto(f"{app_url}/draw")
    wait_for_app(page)
    page.wait_for_selector(HINT)
    canvas = page.locator("canvas").last          # the drawing layer (open shadow root)
    canvas.wait_for()
    box = canvas.bounding_box()
    assert round(box["width"]) == 280 and round(box["height"]) == 280
    return box


def stroke(page, box, points):
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=3)
    page.mouse.up()


def prediction(page) -> str:
    return page.locator("[data-testid=stMetricValue]").inner_text().strip()


def wait_for_prediction(page, digit: str) -> None:
    page.wait_for_function(
        """(d) => { const el = document.querySelector('[data-testid=stMetricValue]');
                    return el && el.innerText.trim() === d; }""", arg=digit)


def clear(page) -> None:
    page.locator("button[title='Reset canvas & history']").click()
    page.wait_for_selector(HINT)
    assert page.locator("[data-testid=stMetricValue]").count() == 0


def test_a_vertical_line_is_a_1_and_a_loop_is_a_0(page, app_url):
    box = open_draw(page, app_url)
    assert page.locator("[data-testid=stMetricValue]").count() == 0   # blank: a hint, no guess
    stroke(page, box, VERTICAL)
    wait_for_prediction(page, "1")
    page.get_by_text("What the network sees").wait_for()
    page.locator("[data-testid=stImage] img").nth(3).wait_for()     # the four steps
    assert page.locator("[data-testid=stImage] img").count() == 4
    clear(page)
    stroke(page, box, LOOP)
    wait_for_prediction(page, "0")
    assert prediction(page) == "0"


def test_undo_takes_the_last_stroke_back(page, app_url):
    box = open_draw(page, app_url)
    stroke(page, box, VERTICAL)
    wait_for_prediction(page, "1")
    stroke(page, box, TOP_BAR)
    wait_for_prediction(page, "7")
    page.locator("button[title='Undo']").click()
    wait_for_prediction(page, "1")


def test_a_finger_can_draw(page, app_url):
    """Touch events (as a tablet sends them) draw too."""
    box = open_draw(page, app_url)
    cdp = page.context.new_cdp_session(page)
    x0, y0 = box["x"], box["y"]

    def touch(kind, x, y):
        points = [] if kind == "touchEnd" else [{"x": x0 + x, "y": y0 + y}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", *VERTICAL[0])
    for i in range(1, 21):
        touch("touchMove", 140, 40 + 10 * i)
    touch("touchEnd", 0, 0)
    wait_for_prediction(page, "1")


def test_the_prediction_appears_quickly_after_each_stroke(page, app_url):
    box = open_draw(page, app_url)
    stroke(page, box, VERTICAL)                   # warm-up: the first one loads the model
    wait_for_prediction(page, "1")
    clear(page)
    latencies = []
    for _ in range(5):
        for points, digit in ((VERTICAL, "1"), (LOOP, "0")):
            page.evaluate(WATCH, digit)
            stroke(page, box, points)
            latencies.append(page.wait_for_function("() => window.__drawLatency").json_value())
            clear(page)
    median = statistics.median(latencies)
    print(f"\ndraw -> prediction latency: median {median:.0f} ms, "
          f"max {max(latencies):.0f} ms over {len(latencies)} strokes")
    assert median < MAX_MEDIAN_MS


def test_predictions_follow_a_run_while_it_trains(page, app_url):
    """With the current run training, the page re-predicts with its newest weights every second,
    without any stroke, and a drawing on the canvas survives the refreshes."""
    page.goto(f"{app_url}/train?subset=2000&epochs=100&depth=1&width=64")
    wait_for_app(page)
    page.get_by_role("button", name="▶ Start").click()
    page.wait_for_function("() => location.search.includes('run=')")
    page.get_by_role("link", name="Draw a digit").click()
    page.wait_for_url("**/draw**")
    wait_for_app(page)
    canvas = page.locator("canvas").last
    canvas.wait_for()
    box = canvas.bounding_box()
    stroke(page, box, VERTICAL)
    page.get_by_text("still training").wait_for(timeout=60_000)

    def step() -> int:
        text = page.get_by_text("weights of step").inner_text()
        return int(text.split("weights of step ")[1].split(" ")[0].replace(",", ""))

    first = step()
    page.wait_for_function(
        """(n) => { const el = [...document.querySelectorAll('[data-testid=stCaptionContainer]')]
                      .find(e => e.innerText.includes('weights of step'));
                    const text = el ? el.innerText.split('weights of step ')[1] : '';
                    return el && parseInt(text.replace(/,/g, '')) > n; }""",
        arg=first, timeout=30_000)
    assert step() > first
    assert prediction(page) in "0123456789"                   # the drawing is still being read
    page.get_by_role("link", name="Train").click()
    page.get_by_role("button", name="⏹ Stop").click()
