"""The Train page at a projector's 1280x720 and on a 390x844 phone (issue 14): the curves and
their axes on the first screen, settings reachable, charts tall enough, one per row on a phone.
Screenshots land in test-artifacts/ for a look."""
from tests.browser.conftest import ARTIFACTS
from tests.browser.util import open_train, press, wait_for_state

QUERY = "subset=2000&epochs=2&width=64&depth=1"


def chart_boxes(page):
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .xtick').length >= 2")
    return page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => {
        const r = p.getBoundingClientRect();
        const ticks = Array.from(p.querySelectorAll('.xtick')).map(t => t.getBoundingClientRect().bottom);
        return {top: r.top, bottom: r.bottom, left: r.left, height: r.height,
                xaxis_bottom: Math.max(...ticks)}; })""")


def test_projector_the_curves_and_their_x_axis_are_above_the_fold(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    try:
        open_train(page, app_url, QUERY)
        press(page, "btn_start")
        wait_for_state(page, "✅ finished")
        page.evaluate("() => window.scrollTo(0, 0)")
        boxes = chart_boxes(page)
        page.screenshot(path=str(ARTIFACTS / "layout_projector.png"))
        assert len(boxes) == 2 and boxes[1]["left"] > boxes[0]["left"] + 300   # side by side
        assert abs(boxes[0]["top"] - boxes[1]["top"]) < 5
        assert all(b["xaxis_bottom"] <= 720 for b in boxes), boxes
    finally:
        ctx.close()


def test_phone_settings_reachable_and_charts_one_per_row_at_least_250px(browser, app_url):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    try:
        open_train(page, app_url, QUERY)
        settings = page.locator("[data-testid=stExpandSidebarButton]")
        assert settings.is_visible()
        assert settings.bounding_box()["width"] >= 80          # a labelled button, not a 28 px icon
        press(page, "btn_start")
        wait_for_state(page, "✅ finished")
        boxes = chart_boxes(page)
        page.screenshot(path=str(ARTIFACTS / "layout_phone.png"), full_page=True)
        assert len(boxes) == 2 and boxes[1]["top"] >= boxes[0]["bottom"] - 1   # one per row
        assert all(b["height"] >= 250 for b in boxes), boxes
        assert boxes[0]["top"] < 844                           # the first chart starts on screen one
        settings.tap()
        page.get_by_text("Hidden layers").first.wait_for()     # the sidebar opened
    finally:
        ctx.close()
