"""Real Chromium: train a short run on the Train page, open Look inside, click a confusion cell and
see its examples; then the signal-propagation and first-layer tabs. Then the signal tab on a
390 × 844 phone: its four charts one per row, each legend above its plot."""
from __future__ import annotations

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import ARTIFACTS
from tests.browser.util import wait_for_app

CELL_JS = """() => {
  const gd = document.querySelector('.st-key-look_cm .js-plotly-plot');
  const wrong = gd.data[1].text;                   // the mistakes heatmap's cell labels (counts)
  let best = [-1, 0, 0];
  for (let t = 0; t < wrong.length; t++)
    for (let p = 0; p < wrong[t].length; p++)
      if (wrong[t][p] !== '' && +wrong[t][p] > best[0]) best = [+wrong[t][p], t, p];
  const [count, t, p] = best;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return {count, t, p, x: box.left + xa._offset + xa.l2p(p), y: box.top + ya._offset + ya.l2p(t)};
}"""


def gallery_captions(page) -> list[str]:
    return page.locator("[data-testid=stImageCaption]").all_inner_texts()


def test_look_inside_after_a_short_run(app_url, page):
    page.goto(f"{app_url}/train?epochs=1&subset=2000")
    wait_for_app(page)
    page.get_by_role("button", name="▶ Start").click()
    page.get_by_text("finished").first.wait_for(timeout=120_000)
    wait_for_app(page)              # the Train page re-renders once when the run ends

    # Navigate as a student does. A click that lands during a rerun of the Train page can be
    # swallowed by it, so retry until the URL changes.
    for _ in range(3):
        page.get_by_role("link", name="Look inside").click()
        try:
            page.wait_for_url(re.compile(r"/look_inside"), timeout=10_000)
            break
        except PlaywrightTimeout:
            wait_for_app(page)
    page.get_by_text("accuracy on the 6,000 validation images").wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2")
    page.wait_for_function(                                    # the first page of mistakes
        "() => document.querySelectorAll('[data-testid=stImageCaption]').length === 24")
    assert all(re.fullmatch(r"true \d → predicted \d \(\d+ %\)", c) for c in gallery_captions(page))

    # Click the most frequent confusion in the matrix: the gallery shows exactly that cell.
    cell = page.evaluate(CELL_JS)
    assert cell["count"] > 0
    page.mouse.click(cell["x"], cell["y"])
    prefix = f"true {cell['t']} → predicted {cell['p']} ("
    page.wait_for_function(
        """(prefix) => { const c = document.querySelectorAll('[data-testid=stImageCaption]');
                         return c.length > 0 && [...c].every(e => e.innerText.startsWith(prefix)); }""",
        arg=prefix, timeout=30_000)
    caps = gallery_captions(page)
    assert len(caps) == min(24, cell["count"])
    conf = [int(re.search(r"\((\d+) %\)", c).group(1)) for c in caps]
    assert conf == sorted(conf, reverse=True)                   # most confident first
    page.get_by_text(f"{cell['count']:,} mistakes", exact=False).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "look_inside_fails.png"), full_page=True)

    # Signal propagation of the run: a reading in words and the four charts. This run (default
    # network, seed 0, one epoch on 2,000 images) keeps its signal healthy, and 1 % of units
    # dead is below the 10 % that is worth a word: exactly one reading, "Healthy".
    page.get_by_role("tab", name="Signal propagation").click()
    page.get_by_text("solid lines now, dashed lines at its initialization").wait_for()
    panel = page.get_by_role("tabpanel", name="Signal propagation")
    for key in ("spread", "mean", "units", "gradient"):
        page.locator(f".st-key-look_signal_{key} .js-plotly-plot").wait_for()
    alerts = panel.locator("[data-testid=stAlert]").all_inner_texts()
    assert len(alerts) == 1, alerts
    assert alerts[0].startswith("Healthy: activations keep their scale through the 2 hidden layers")
    ticks = page.evaluate("""() => [...document.querySelectorAll(
        '.st-key-look_signal_spread .ytick text')].map(t => t.textContent)""")
    assert ticks and all(t == "1" or t.startswith("10") for t in ticks), ticks   # powers of ten
    page.screenshot(path=str(ARTIFACTS / "look_inside_signal.png"), full_page=True)

    # The first layer's weights as images.
    page.get_by_role("tab", name="What the first layer sees").click()
    page.get_by_text(re.compile(r"the first 32 of \d+ units of layer 1")).wait_for()
    shape = page.evaluate(                                      # the mosaic's (rows, columns)
        "() => { const gd = document.querySelector('.st-key-look_grid .js-plotly-plot');"
        "        const z = gd._fullData[0].z; return [z.length, z[0].length]; }")
    assert shape == [4 * 29 - 1, 8 * 29 - 1]                   # 32 units: 4 rows of 8 tiles
    page.screenshot(path=str(ARTIFACTS / "look_inside_weights.png"), full_page=True)


PLOT_BOXES_JS = """(sel) => [...document.querySelectorAll(sel + ' .js-plotly-plot')].map(gd => {
  const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const legend = gd.querySelector('.legend .bg');
  return {plot: r(gd.querySelector('.nsewdrag')), legend: legend ? r(legend) : null, box: r(gd)};
})"""


def overlaps(a, b) -> bool:
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


def test_signal_charts_on_a_phone_stack_one_per_row(app_url, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{app_url}/look_inside?depth=9&init=normal&init_sigma=0.001")
        wait_for_app(page)
        page.get_by_role("tab", name="Signal propagation").click()
        page.locator(".st-key-look_signal_gradient .js-plotly-plot").wait_for()
        page.wait_for_timeout(500)
        charts = [page.evaluate(PLOT_BOXES_JS, f".st-key-look_signal_{k}")[0]
                  for k in ("spread", "mean", "units", "gradient")]
        tops = [c["box"][1] for c in charts]
        assert tops == sorted(tops) and len({round(c["box"][0]) for c in charts}) == 1   # one column
        for c in charts:
            assert c["plot"][3] - c["plot"][1] >= 150                     # a readable plot area
            assert c["legend"] is None or not overlaps(c["legend"], c["plot"])
        assert "Vanishing signal" in page.get_by_role("tabpanel", name="Signal propagation").inner_text()
        page.screenshot(path=str(ARTIFACTS / "look_inside_signal_phone.png"), full_page=True)
    finally:
        context.close()
