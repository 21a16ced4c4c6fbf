"""The chart builders drawn by plotly.js in real Chromium at a phone's width (390 px) and a
projector's (1280 px): legends and notes never overlap the plot area or each other, titles do not
collide, ticks are 14 px, log axes are labelled at powers of ten, merged markers never pile up.

The figures are drawn with the plotly.js that plotly (Python) ships (4.1.1), the same major
version as the one Streamlit's frontend bundles (4.2.0; checked below), without starting the app:
fast, and every variant can be drawn. The Look inside browser test checks the real page."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import plotly
import pytest
import streamlit
import torch

from core.analysis import diagnostics as D
from core.charts import inspect as CI
from core.charts import train as CT
from core.nn import data
from core.nn.config import HyperParams
from core.nn.history import Curves
from core.nn.model import build

PLOTLY_JS = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
MEASURE = """() => {
  const gd = document.getElementById('gd');
  const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const legend = gd.querySelector('.legend .bg');
  return {
    plots: [...gd.querySelectorAll('.nsewdrag')].map(r),
    legend: legend ? r(legend) : null,
    notes: [...gd.querySelectorAll('.annotation')].map(a => ({box: r(a), text: a.textContent})),
    titles: [...gd.querySelectorAll('.g-xtitle, .g-ytitle, .g-x2title, .g-y2title, .g-gtitle')]
              .filter(t => t.textContent).map(t => ({box: r(t), text: t.textContent})),
    ticks: [...gd.querySelectorAll('.xaxislayer-above text, .yaxislayer-above text')].map(t => ({
              text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize), fill: t.style.fill})),
    ylog: [...gd.querySelectorAll('.yaxislayer-above')].map(g => [...g.querySelectorAll('text')].map(t => t.textContent)),
  };
}"""


def overlaps(a, b) -> bool:
    return a is not None and b is not None and a[0] < b[2] - 1 and b[0] < a[2] - 1 \
        and a[1] < b[3] - 1 and b[1] < a[3] - 1


def test_plotly_js_is_the_major_version_streamlit_draws_with():
    ours = re.search(r"plotly\.js v([\d.]+)", open(PLOTLY_JS).read(300)).group(1)
    folder = os.path.join(os.path.dirname(streamlit.__file__), "static", "static", "js")
    bundle = next(f for f in os.listdir(folder) if f.startswith("PlotlyChart"))
    theirs = re.search(r'"src/version\.js"\(e\)\{e\.version=`([\d.]+)`',
                       open(os.path.join(folder, bundle)).read()).group(1)
    assert ours.split(".")[0] == theirs.split(".")[0], (ours, theirs)


def train_curves() -> Curves:
    n = 5000
    rng = np.random.default_rng(0)
    loss = 0.05 + 2.25 * np.exp(-np.arange(n) / 800) * (1 + 0.2 * rng.standard_normal(n)).clip(0.2)
    loss[3000] = 80.0                                     # one spike
    grid = [0.001, 0.002, 0.003, 0.005, 0.01]             # arrow keys through every value
    events = [{"step": 1500 + i, "kind": "lr", "text": f"lr {a:g} → {b:g}"} for i, (a, b) in enumerate(zip(grid, grid[1:]))]
    events += [{"step": 1520, "kind": "momentum", "text": "momentum 0.9 → 0.95"},
               {"step": 2500, "kind": "lr", "text": "lr 0.01 → 0.003"},
               {"step": 4000, "kind": "early_stop", "text": "early stopping after epoch 40: ..."}]
    val = list(range(500, 5001, 500))
    return Curves(list(range(1, n + 1)), loss.tolist(), (1 - loss / 3).clip(0, 1).tolist(), val,
                  [0.5 - 0.04 * i for i in range(len(val))], [0.8 + 0.015 * i for i in range(len(val))],
                  [True] * len(val), events)


def figures() -> dict[str, dict]:
    c = train_curves()
    other = Curves(val_step=[1000, 2000, 3000], val_loss=[0.6, 0.4, 0.3], val_acc=[0.8, 0.85, 0.9],
                   val_full=[True] * 3)
    compare = [("#1", other, 100), ("#2", other, 100)]
    out = {f"train_{p}": CT.curves_figure(c, 100, epochs=60, panel=p, compare=compare)
           for p in CT.PANELS}
    out["train_log"] = CT.curves_figure(c, 100, epochs=60, panel="loss", log_loss=True)
    ds = data.load("mnist")
    x, y = ds.train_x[:256], ds.train_y[:256]

    def stats(**kw):
        hp = HyperParams.validate(**kw)
        return D.signal_stats(build(hp, ds.mean, ds.std, torch.Generator().manual_seed(0)).eval(), x, y)
    vanishing, healthy = stats(depth=9, init="normal", init_sigma=0.001), stats(depth=3)
    for p in CI.SIGNAL_PANELS:
        out[f"signal_{p}"] = json.loads(CI.signal_figure(vanishing, healthy, panel=p).to_json())
    cm = np.random.default_rng(0).integers(0, 40, (10, 10))
    np.fill_diagonal(cm, 900)
    names = [str(i) for i in range(10)]
    out["confusion"] = json.loads(CI.confusion_figure(cm, names, normalize=True).to_json())
    out["class_metrics"] = json.loads(CI.class_metrics_figure(D.class_metrics(cm), names).to_json())
    return out


@pytest.fixture(scope="module")
def drawn(browser):
    js = open(PLOTLY_JS).read()
    result = {}
    for width in (390, 1280):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.set_content(f"<html><body style='margin:0'><div id=gd style='width:{width - 32}px'>"
                         f"</div><script>{js}</script></body></html>")
        for name, fig in figures().items():
            page.evaluate("f => Plotly.newPlot('gd', f.data, f.layout, {displayModeBar: false})",
                          json.loads(json.dumps(fig, default=float)))
            page.wait_for_timeout(50)
            result[(name, width)] = page.evaluate(MEASURE)
            page.evaluate("() => Plotly.purge('gd')")
        page.close()
    return result


def test_nothing_sits_over_the_plot_or_over_each_other(drawn):
    for (name, width), m in drawn.items():
        for plot in m["plots"]:
            assert not overlaps(m["legend"], plot), (name, width, "legend over the plot")
            for t in m["titles"]:
                assert not overlaps(t["box"], plot), (name, width, t["text"])
        for i, a in enumerate(m["notes"]):
            assert not overlaps(a["box"], m["legend"]), (name, width, a["text"])
            for b in m["notes"][i + 1:]:
                assert not overlaps(a["box"], b["box"]), (name, width, a["text"], b["text"])
        for i, t in enumerate(m["titles"]):
            for u in m["titles"][i + 1:]:
                assert not overlaps(t["box"], u["box"]), (name, width, t["text"], u["text"])
            assert not overlaps(t["box"], m["legend"]), (name, width, t["text"])


def test_ticks_are_14_px_and_dark(drawn):
    for (name, width), m in drawn.items():
        assert m["ticks"], name
        for t in m["ticks"]:
            assert t["size"] >= 14, (name, width, t)
            assert t["fill"] in ("rgb(26, 26, 26)", "#1a1a1a"), (name, width, t)


def test_log_axes_read_as_powers_of_ten(drawn):
    power = re.compile(r"^(1|10|10[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)$")
    for name in ("train_log", "signal_spread", "signal_gradient"):
        for width in (390, 1280):
            labels = [t for axis in drawn[(name, width)]["ylog"] for t in axis]
            assert len(labels) >= 2 and all(power.match(t) for t in labels), (name, width, labels)


def test_merged_markers_have_one_label_each(drawn):
    notes = [n["text"] for n in drawn[("train_loss", 390)]["notes"]]
    # 4 arrow-key steps and a momentum change within 5 % of the axis: one marker; then two more.
    assert notes == ["lr 0.001 → 0.01momentum 0.9 → 0.95", "lr 0.01 → 0.003", "early stop"]
