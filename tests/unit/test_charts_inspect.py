"""core.charts.inspect: the figures carry the right numbers, in the right places."""
import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from core.analysis import diagnostics as D
from core.charts import inspect as C
from core.nn.model import MLP, Arch

NAMES = tuple(str(i) for i in range(10))


def _arr(v):
    """A figure property as a numpy array (plotly may store arrays as typed buffers)."""
    return np.asarray(v, dtype=float)


def sample_cm():
    cm = np.zeros((10, 10), dtype=np.int64)
    np.fill_diagonal(cm, 90)
    cm[4, 9] = 7                  # seven 4s taken for 9s
    cm[4, 4] = 83
    return cm


def test_confusion_counts_right_in_green_mistakes_in_red_and_clickable_cells():
    fig = C.confusion_figure(sample_cm(), NAMES)
    right, wrong, cells = fig.data
    assert right.colorscale[0][1] != wrong.colorscale[0][1]
    assert _arr(right.z)[4, 4] == 83 and math.isnan(_arr(right.z)[4, 9])
    assert _arr(wrong.z)[4, 9] == 7 and math.isnan(_arr(wrong.z)[4, 4])
    assert wrong.zmax == 7                      # the red scale spans the mistakes only
    assert wrong.text[4][9] == "7" and wrong.text[4][8] == ""   # empty mistake cells stay blank
    # one selectable marker per cell: x = predicted, y = true, customdata = count
    assert isinstance(cells, go.Scatter) and len(cells.x) == 100
    i = next(k for k in range(100) if cells.x[k] == 9 and cells.y[k] == 4)
    assert _arr(cells.customdata)[i][0] == 7
    assert fig.layout.yaxis.range == (9.5, -0.5)   # class 0 at the top


def test_confusion_normalized_rows_sum_to_100_and_selection_is_outlined():
    fig = C.confusion_figure(sample_cm(), NAMES, normalize=True, selected=(4, 9))
    z = np.nan_to_num(_arr(fig.data[0].z)) + np.nan_to_num(_arr(fig.data[1].z))
    assert np.allclose(z.sum(axis=1), 100)
    assert fig.data[1].text[4][9] == "7.8%"    # 7 of 90
    (box,) = fig.layout.shapes
    assert (box.x0, box.x1, box.y0, box.y1) == (8.5, 9.5, 3.5, 4.5)


def test_class_metrics_bars_show_undefined_as_gaps():
    cm = np.zeros((10, 10), dtype=np.int64)
    np.fill_diagonal(cm, 10)
    cm[3, 3] = 0                                # class 3: no examples, never predicted
    cm[5, 6] = 10                               # 5s taken for 6s: recall(5) = 50 %
    fig = C.class_metrics_figure(D.class_metrics(cm), NAMES)
    recall, precision = fig.data
    assert recall.y[5] == 50 and recall.y[3] is None and recall.text[3] == "n/a"
    assert precision.y[6] == 50 and precision.y[0] == 100


def _stats(**kw):
    layers = tuple(D.LayerSignal(i, 8, 0.0, s, 0.1, s, 0.0, None)
                   for i, s in enumerate(kw.get("act", [1.0, 0.5, 0.25]), start=1))
    return D.SignalStats("relu", False, 64, 1.0, layers, 1.0, tuple(kw.get("grads", [1, 1, 1, 1])),
                         (0.1,) * 4, (784, 8, 8, 8), 2.3)


def test_signal_figure_lines_against_depth():
    fig = C.signal_figure(_stats())
    act = next(t for t in fig.data if t.name == "activations" and t.xaxis == "x")
    assert list(act.x) == [0, 1, 2, 3] and list(act.y) == [1.0, 1.0, 0.5, 0.25]  # input first
    grads = next(t for t in fig.data if t.name.startswith("‖∂L/∂W‖"))
    assert list(grads.x) == [1, 2, 3, 4]
    assert fig.layout.xaxis4.ticktext[-1] == "out"
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis4.type == "log"
    assert [fig.layout[f"yaxis{n}"].title.text for n in ("", "2", "3", "4")] == \
        ["spread over images", "mean", "dead units", "‖∂L/∂W‖"]
    assert fig.layout.meta["notes"] == []


def test_log_axes_are_labelled_at_powers_of_ten_only():
    """Plotly's own labels for a log axis spanning less than a few decades read '10 9 8 … 1 9 8'
    (issue 14): the ticks are set to whole powers of ten covering the data."""
    fig = C.signal_figure(_stats(act=[0.5, 0.05, 0.003], grads=[2e-7, 1e-4, 0.01, 0.3]))
    assert list(fig.layout.yaxis.tickvals) == [0.001, 0.01, 0.1, 1.0]
    assert list(fig.layout.yaxis.ticktext) == ["10⁻³", "10⁻²", "10⁻¹", "1"]
    assert list(fig.layout.yaxis.range) == [-3, 0]
    # 2e-7 .. 0.3: seven decades, more than six labels fit, so every second one
    assert list(fig.layout.yaxis4.range) == [-7, 0]
    assert list(fig.layout.yaxis4.ticktext) == ["10⁻⁷", "10⁻⁵", "10⁻³", "10⁻¹"]
    wide = C.signal_figure(_stats(act=[1.0, 1e-10, 1e-20]))
    vals = list(wide.layout.yaxis.tickvals)
    assert len(vals) <= 7 and vals[0] <= 1e-20 and vals[-1] >= 1.0
    assert all(math.log10(v) == round(math.log10(v)) for v in vals)


def test_signal_figure_one_panel_at_a_time_for_a_phone():
    for panel, title in (("spread", "spread over images"), ("mean", "mean"), ("units", "dead units"),
                         ("gradient", "‖∂L/∂W‖")):
        fig = C.signal_figure(_stats(), _stats(act=[1, 1, 1]), panel=panel)
        assert {t.xaxis for t in fig.data} == {"x"} and fig.layout.yaxis.title.text == title
        assert "xaxis2" not in fig.to_dict()["layout"]
        assert all(t.showlegend for t in fig.data)        # each chart has its own legend
    identity = _stats()
    identity = D.SignalStats("identity", *[getattr(identity, f) for f in
                                           ("batch_norm", "n_images", "input_std", "layers", "logits_std",
                                            "grad_norms", "weight_stds", "fan_ins", "loss")])
    units = C.signal_figure(identity, panel="units")                     # nothing to plot: still valid
    assert len(units.data) == 1 and "identity" in units.layout.annotations[0].text
    with pytest.raises(ValueError):
        C.signal_figure(_stats(), panel="depth")


def test_signal_figure_reports_overflow_and_underflow_instead_of_plotting_them():
    fig = C.signal_figure(_stats(act=[1e30, math.inf, math.nan], grads=[0.0, 1, 1, 1]))
    act = next(t for t in fig.data if t.name == "activations" and t.xaxis == "x")
    assert list(act.y) == [1.0, 1e30, None, None]
    notes = " | ".join(fig.layout.meta["notes"])
    assert "activations: overflow (inf/NaN) at layer 2, 3" in notes
    assert "exactly 0 (underflow) at layer 1" in notes
    # The notes are for the page to print under the chart: nothing is drawn over the legend.
    assert not any("overflow" in (a.text or "") for a in fig.layout.annotations)


def test_signal_figure_dashed_reference():
    fig = C.signal_figure(_stats(), reference=_stats(act=[1, 1, 1]))
    dashed = [t for t in fig.data if t.line.dash == "dash"]
    assert dashed and all("(at initialization)" in t.name for t in dashed)


def test_text_reads_on_a_projector_and_legends_sit_above_the_plots():
    cm = sample_cm()
    m = MLP(Arch((4,)), 0.0, 1.0)
    figs = [C.signal_figure(_stats()), C.signal_figure(_stats(), panel="spread"),
            C.confusion_figure(cm, NAMES), C.class_metrics_figure(D.class_metrics(cm), NAMES),
            C.weight_histogram_figure(D.weight_histograms(m, m.state_dict(), bins=8))]
    for fig in figs:
        assert fig.layout.font.size >= 14 and fig.layout.font.color == "#1a1a1a"
        for a in fig.layout.annotations:
            assert a.font.size is None or a.font.size >= 14
    for fig in figs[:2] + figs[3:4]:
        assert fig.layout.legend.y >= 1 and fig.layout.legend.yanchor == "bottom"
    assert "click" not in figs[2].layout.title.text            # short enough for a phone


def test_weight_histogram_figure_overlays_now_on_init():
    m = MLP(Arch((4,)), 0.0, 1.0)
    init = {k: v.clone() for k, v in m.state_dict().items()}
    with torch.no_grad():
        m.out.weight.mul_(3)
    fig = C.weight_histogram_figure(D.weight_histograms(m, init, bins=8))
    assert len(fig.data) == 4
    assert [t.name for t in fig.data[:2]] == ["now", "at initialization"]
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("layer 1 (784→4)<br>std ") and titles[1].startswith("output (4→10)<br>")
    assert sum(fig.data[2].y) == 40 and sum(fig.data[3].y) == 40   # every output weight counted
    spread = lambda t: np.sqrt(np.average(np.asarray(t.x) ** 2, weights=np.asarray(t.y)))  # noqa: E731
    assert spread(fig.data[2]) > 2 * spread(fig.data[3])           # now: 3× wider than init


def test_mosaic_and_weight_grid_are_zero_centred():
    imgs = np.stack([np.full((28, 28), v) for v in (-2.0, 1.0, 0.5)])
    z, owner = C.mosaic(imgs, cols=2)
    assert z.shape == (2 * 29 - 1, 2 * 29 - 1)
    assert np.isnan(z[28, 0]) and np.isnan(z[0, 28])           # the gaps
    assert z[0, 0] == -2 and z[0, 29] == 1 and z[29, 0] == 0.5 and owner[29, 0] == 2
    assert (owner[29:, 29:] == -1).all()                        # the empty 4th slot
    fig = C.weight_grid_figure(imgs, cols=2)
    hm = fig.data[0]
    assert hm.zmid == 0 and hm.zmin == -hm.zmax and hm.zmax > 0
    assert hm.colorscale[0][1] != hm.colorscale[-1][1]          # diverging


def test_digit_tiles_nearest_neighbour():
    x = np.zeros((2, 784))
    x[1, 28 + 2] = 1.0                                          # row 1, column 2
    t = C.digit_tiles(x, scale=3)
    assert t.shape == (2, 84, 84) and t.dtype == np.uint8
    assert (t[1, 3:6, 6:9] == 255).all() and t[1].sum() == 9 * 255   # a crisp 3×3 block
