"""The Draw page in Chromium: strokes drawn with the mouse (and a finger) on the real canvas
component, the answer read from the page while the pen is still down and after it lifts, the
canvas's own buttons and pen width, and how long the answer takes (generous bounds; the figures
come from bench/bench_draw.py, which measures the same way)."""
import math
import os
import statistics

from bench.bench_draw import WATCH, answer_time, canvas_frame
from core.states import BADGE, RUNNING
from tests.browser.util import open_train, press, stop_if_active, wait_for_app, wait_for_state

HINT = "text=Draw a digit on the black canvas"
NOT_A_DIGIT = "That doesn't look like a digit"
VERTICAL = [(140, 40 + 5 * i) for i in range(41)]
LOOP = [(140 + 70 * math.sin(2 * math.pi * i / 36), 140 - 100 * math.cos(2 * math.pi * i / 36))
        for i in range(38)]                                  # closed, with a little overlap
TOP_BAR = [(60 + 4 * i, 45) for i in range(21)]              # turns the vertical line into a 7
BAR_THEN_DOWN = ([(60 + 5 * i, 45) for i in range(29)]                # a 7 in one stroke: the bar,
                 + [(200 - 3 * i, 45 + 6.5 * i) for i in range(1, 31)])   # then down to the left
# Generous: issue 10's target is 150 ms at p90 on a quiet machine (bench/bench_draw.py); this
# catches a page that waits for the pen to lift plus a debounce, or re-loads something per stroke.
MAX_MEDIAN_MS = float(os.environ.get("DRAW_MAX_MEDIAN_MS", 600))


def open_draw(page, app_url):
    """Open the page; the canvas's frame and the canvas's box on the page."""
    page.goto(f"{app_url}/draw")
    wait_for_app(page, HINT)
    frame = canvas_frame(page)
    box = frame.locator("canvas").bounding_box()
    assert round(box["width"]) == 280 and round(box["height"]) == 280
    return frame, box


def move(page, box, points, pause_ms: float = 0) -> None:
    x0, y0 = box["x"], box["y"]
    for x, y in points:
        page.mouse.move(x0 + x, y0 + y, steps=2)
        if pause_ms:
            page.wait_for_timeout(pause_ms)


def stroke(page, box, points, pause_ms: float = 0) -> None:
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    move(page, box, points[1:], pause_ms)
    page.mouse.up()


def answer(page) -> str:
    """What the page says: the digit in the big metric, or 'not a digit'."""
    page.wait_for_function(f"""() => document.querySelector('[data-testid=stMetricValue]') ||
                                     document.body.innerText.includes("{NOT_A_DIGIT}")""")
    metric = page.locator("[data-testid=stMetricValue]")
    return metric.inner_text().strip() if metric.count() else "not a digit"


def wait_for_answer(page, expected: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        """([d, nad]) => { const el = document.querySelector('[data-testid=stMetricValue]');
              if (d === 'not a digit') return !el && document.body.innerText.includes(nad);
              return el && el.innerText.trim() === d; }""", arg=[expected, NOT_A_DIGIT],
        timeout=timeout)


def ink_at(frame, x: float, y: float) -> bool:
    """Is the canvas's pixel at (x, y) (canvas pixels) white ink?"""
    return frame.evaluate("""([x, y]) => {
        const c = document.querySelector('canvas'), k = c.width / 280;
        const px = c.getContext('2d').getImageData(Math.round(x * k), Math.round(y * k), 1, 1);
        return px.data[0] > 128; }""", [x, y])


def tool(frame, name: str):
    return frame.get_by_role("button", name=name)


def test_a_slow_stroke_is_answered_before_the_pen_lifts(page, app_url):
    """One stroke, a 7 drawn slowly: its top bar alone is 'not a digit', and the page says so,
    then, as the pen comes down, '7', all while the mouse button is still held."""
    frame, box = open_draw(page, app_url)
    page.mouse.move(box["x"] + BAR_THEN_DOWN[0][0], box["y"] + BAR_THEN_DOWN[0][1])
    page.mouse.down()
    move(page, box, BAR_THEN_DOWN[1:29], pause_ms=20)        # the bar
    wait_for_answer(page, "not a digit")
    move(page, box, BAR_THEN_DOWN[29:], pause_ms=20)         # the downstroke
    wait_for_answer(page, "7")
    stats = frame.evaluate("() => window.canvasStats")
    assert stats["penUpAt"] == 0 and stats["last"]["down"]   # the pen has not lifted yet
    page.mouse.up()
    wait_for_answer(page, "7")
    assert page.get_by_text("sure").first.is_visible()


def test_a_dot_is_not_a_digit(page, app_url):
    frame, box = open_draw(page, app_url)
    page.mouse.click(box["x"] + 140, box["y"] + 140)         # a tap
    wait_for_answer(page, "not a digit")
    assert page.locator("[data-testid=stMetricValue]").count() == 0
    assert page.get_by_text("Best guess:").is_visible()
    assert ink_at(frame, 140, 140) and not ink_at(frame, 140, 160)   # a 20 px dot


def test_clean_digits_are_read_exactly(page, app_url):
    frame, box = open_draw(page, app_url)
    for points, digit in ((VERTICAL, "1"), (LOOP, "0")):
        stroke(page, box, points)
        wait_for_answer(page, digit)
        assert answer(page) == digit
        tool(frame, "🗑 Clear").click()
        page.wait_for_selector(HINT)
    stroke(page, box, VERTICAL)
    stroke(page, box, TOP_BAR)
    wait_for_answer(page, "7")


def test_undo_redo_and_clear(page, app_url):
    frame, box = open_draw(page, app_url)
    undo, redo, clear = tool(frame, "↶ Undo"), tool(frame, "↷ Redo"), tool(frame, "🗑 Clear")
    assert undo.is_disabled() and redo.is_disabled() and clear.is_disabled()   # nothing yet
    stroke(page, box, VERTICAL)
    wait_for_answer(page, "1")
    stroke(page, box, TOP_BAR)
    wait_for_answer(page, "7")
    assert undo.is_enabled() and redo.is_disabled()
    undo.click()
    wait_for_answer(page, "1")
    assert not ink_at(frame, 80, 45) and ink_at(frame, 140, 150)      # the bar is gone
    redo.click()
    wait_for_answer(page, "7")
    assert ink_at(frame, 80, 45)
    clear.click()
    page.wait_for_selector(HINT)
    assert page.locator("[data-testid=stMetricValue]").count() == 0
    assert not ink_at(frame, 140, 150) and clear.is_disabled()
    undo.click()                                             # a cleared drawing comes back
    wait_for_answer(page, "7")
    assert ink_at(frame, 140, 150) and ink_at(frame, 80, 45)
    page.keyboard.press("Control+z")                         # the keys work too (the canvas's
    wait_for_answer(page, "1")                               # frame has the focus): back ...
    page.keyboard.press("Control+Shift+z")                   # ... and forward again
    wait_for_answer(page, "7")


def test_the_pen_width_control(page, app_url):
    frame, box = open_draw(page, app_url)
    pen = frame.locator("#pen")
    pen.focus()
    page.keyboard.press("End")                               # the widest pen
    assert frame.locator("#penvalue").inner_text() == "50 px"
    stroke(page, box, VERTICAL)
    wait_for_answer(page, "1")
    assert frame.evaluate("() => window.canvasStats.last.strokes[0].w") == 50
    assert ink_at(frame, 140 + 22, 150) and not ink_at(frame, 140 + 28, 150)
    pen.focus()
    page.keyboard.press("Home")                              # the thinnest
    assert frame.locator("#penvalue").inner_text() == "5 px"
    stroke(page, box, [(60 + 4 * i, 255) for i in range(41)])
    frame.wait_for_function("() => window.canvasStats.last.strokes.length === 2")
    assert [s["w"] for s in frame.evaluate("() => window.canvasStats.last.strokes")] == [50, 5]
    assert ink_at(frame, 100, 255 + 2) and not ink_at(frame, 100, 255 + 5)


def test_a_finger_can_draw(page, app_url):
    """Touch events (as a phone or tablet sends them) draw too."""
    frame, box = open_draw(page, app_url)
    cdp = page.context.new_cdp_session(page)
    x0, y0 = box["x"], box["y"]

    def touch(kind, x, y):
        points = [] if kind == "touchEnd" else [{"x": x0 + x, "y": y0 + y}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", *VERTICAL[0])
    for x, y in VERTICAL[1:]:
        touch("touchMove", x, y)
    touch("touchEnd", 0, 0)
    wait_for_answer(page, "1")
    assert frame.evaluate("() => window.canvasStats.last.down") is False


def test_the_drawing_survives_a_visit_to_another_page(page, app_url):
    frame, box = open_draw(page, app_url)
    stroke(page, box, LOOP)
    wait_for_answer(page, "0")
    page.get_by_role("link", name="Train").click()
    page.wait_for_url("**/train**")
    page.get_by_role("link", name="Draw a digit").click()
    page.wait_for_url("**/draw**")
    wait_for_answer(page, "0")
    frame = canvas_frame(page)
    frame.wait_for_function("() => window.canvasStats.sent > 0")   # it sent the drawing back
    assert ink_at(frame, 140, 40)                            # the new canvas shows it again


def test_the_answer_follows_the_pen_quickly(page, app_url):
    frame, box = open_draw(page, app_url)
    stroke(page, box, VERTICAL)                               # warm-up
    wait_for_answer(page, "1")
    latencies = []
    for i in range(6):
        tool(frame, "🗑 Clear").click()
        page.wait_for_selector(HINT)
        page.evaluate(WATCH)
        stroke(page, box, (LOOP, VERTICAL)[i % 2])
        latencies.append(answer_time(page, frame)["last"])
    median = statistics.median(latencies)
    print(f"\nlast ink -> answer: median {median:.0f} ms, max {max(latencies):.0f} ms")
    assert median < MAX_MEDIAN_MS


def test_predictions_follow_a_run_while_it_trains(page, app_url):
    """The page answers with a run once it has learned something, and re-predicts with its
    newest weights every second while it trains, without a new stroke."""
    open_train(page, app_url, "subset=2000&epochs=100&depth=1&width=64")
    press(page, "btn_start")
    wait_for_state(page, BADGE[RUNNING])
    page.wait_for_function("() => location.search.includes('run=')")
    the_run = page.url                                       # to stop it at the end
    page.get_by_role("link", name="Draw a digit").click()
    page.wait_for_url("**/draw**")
    wait_for_app(page, HINT)
    frame = canvas_frame(page)
    box = frame.locator("canvas").bounding_box()
    stroke(page, box, VERTICAL)
    page.get_by_text("still training").wait_for(timeout=90_000)

    def step() -> int:
        text = page.get_by_text("weights of step").inner_text()
        return int(text.split("weights of step ")[1].split(" ")[0].replace(",", ""))

    first = step()
    page.wait_for_function(
        """(n) => { const text = document.querySelector('[data-testid=stMain]').innerText;
                    const after = text.split('weights of step ')[1];
                    return after && parseInt(after.replace(/,/g, '')) > n; }""",
        arg=first, timeout=30_000)
    assert step() > first
    assert answer(page) in list("0123456789") + ["not a digit"]   # the drawing is still read
    page.goto(the_run)                                       # stop it, unless it has finished
    wait_for_app(page, ".st-key-btn_stop button:visible")
    stop_if_active(page)
