"""Training-curve figures (pure functions, no browser): incremental smoothing and thinning,
merged markers, the loss axis (log option, spikes clipped), readable layout, CSV."""
import math
import time

import numpy as np
import plotly.graph_objects as go
import pytest

from core.charts import train as charts
from core.nn.history import Curves, History


def curves(n=5000):
    rng = np.random.default_rng(0)
    return Curves(step=list(range(1, n + 1)), loss=list(rng.random(n)), acc=list(rng.random(n)),
                  val_step=[100, 200], val_loss=[0.5, 0.4], val_acc=[0.8, 0.9], val_full=[False, True],
                  events=[{"step": 150, "kind": "lr", "text": "lr 0.001 → 0.01"}])


def ema_by_hand(values, w):
    """TensorBoard's debiased EMA, written out: acc = w·acc + (1-w)·x, divided by 1 - w^n."""
    out, acc = [], 0.0
    for n, x in enumerate(values, start=1):
        acc = w * acc + (1 - w) * x
        out.append(acc / (1 - w ** n))
    return np.array(out)


def trace(fig, name, axis="x"):
    return next(t for t in fig["data"] if t["name"] == name and t["xaxis"] == axis)


# -- smoothing and thinning --------------------------------------------------------------------------

@pytest.mark.parametrize("w", [0.0, 0.01, 0.6, 0.9, 0.99])
def test_incremental_smoothing_equals_the_whole_curve_smoothed_at_once(w):
    v = np.random.default_rng(1).random(9000) * 3
    ema = charts.EMA(w)
    parts = [ema.update(v[a:b]) for a, b in ((0, 1), (1, 7), (7, 7), (7, 5000), (5000, 9000))]
    assert np.allclose(np.concatenate(parts), ema_by_hand(v, w), rtol=1e-9, atol=1e-12)


def test_smooth_is_debiased():
    assert np.allclose(charts.smooth([2.0, 2.0, 2.0], 0.9), [2.0, 2.0, 2.0])


def test_buckets_hold_last_lowest_highest_and_sum_of_each_stretch():
    rng = np.random.default_rng(2)
    x, v = np.arange(1, 10_001, dtype=float), rng.random(10_000)
    b = charts.Buckets(1, size=600)
    pos = 0
    for m in rng.integers(1, 700, 60):                       # arbitrary delta sizes
        end = min(pos + int(m), len(x))
        b.add(x[pos:end], v[None, pos:end], 2 * v[None, pos:end])
        pos = end
    n, w = b.n, b.width
    assert 300 <= n <= 600 and w == 32                        # 10,000 / 32 = 313 buckets
    assert (b.count[:n - 1] == w).all() and b.count[:n].sum() == pos
    edges = np.cumsum(b.count[:n])
    for i in (0, 1, n // 2, n - 1):
        seg = v[edges[i] - b.count[i]:edges[i]]
        assert b.x[i] == x[edges[i] - 1] and b.last[0, i] == seg[-1]
        assert b.lo[0, i] == seg.min() and b.hi[0, i] == seg.max()
        assert b.sum[0, i] == pytest.approx(2 * seg.sum())


def test_the_view_fed_bit_by_bit_draws_what_the_one_shot_figure_draws():
    c = curves(20_000)
    view = charts.CurveView(100, 0.6)
    h = History()
    for a in range(0, 20_000, 777):
        h.add_steps(c.step[a:a + 777], c.loss[a:a + 777], c.acc[a:a + 777])
        view.sync(h.snapshot)                                # fetches only what is new
    assert view.cursor == (20_000, 0, 0)
    once = charts.curves_figure(Curves(c.step, c.loss, c.acc), 100, 0.6, panel="loss")
    live = view.figure("loss")
    assert live["data"][0]["x"] == once["data"][0]["x"]
    assert np.allclose(live["data"][0]["y"], once["data"][0]["y"], rtol=1e-9)
    # the line's points are the smoothed curve at each bucket's last step
    steps = (np.array(live["data"][0]["x"]) * 100).round().astype(int)
    assert np.allclose(live["data"][0]["y"], ema_by_hand(c.loss, 0.6)[steps - 1], rtol=1e-9)
    assert len(live["data"][0]["x"]) <= charts.MAX_POINTS and live["data"][0]["x"][-1] == 200.0


def test_a_new_smoothing_starts_over_from_the_first_point():
    h = History()
    h.add_steps(list(range(1, 101)), list(np.linspace(2, 1, 100)), [0.5] * 100)
    view = charts.CurveView(10, 0.9).sync(h.snapshot)
    view.sync(h.snapshot, smoothing=0.0)
    assert view.figure("loss")["data"][0]["y"] == list(np.linspace(2, 1, 100))   # raw again


def test_a_run_continued_from_an_earlier_checkpoint_is_drawn_once_not_twice():
    """The page drew 8 validation points; the run is continued from the checkpoint of the 6th
    (its curves are cut back to it) and trains on: each point appears once, in order."""
    def history(n):
        h = History()
        for i in range(n):
            h.add_steps([i * 10 + 1], [1.0 / (i + 1)], [0.1 * i])
            h.add_validation(i * 10 + 1, 1.0 / (i + 1), 0.1 * i, False)
        return h
    view = charts.CurveView(10, 0.0).sync(history(8).snapshot)
    continued = history(6)                       # cut back to the checkpoint
    view.sync(continued.snapshot)                # a refresh before it has trained on
    continued.add_steps([61], [1 / 7], [0.6])
    continued.add_validation(61, 1 / 7, 0.6, False)
    view.sync(continued.snapshot)
    assert view.val_step == [i * 10 + 1 for i in range(7)]
    assert list(view.train_points()["x"]) == [i * 10 + 1 for i in range(7)]


def test_per_refresh_cost_does_not_grow_with_the_run_length():
    """Generous bound (the benchmark prints the figures): a refresh that brings 500 new steps
    costs about the same after 10k and after 1M steps, well under the 50 ms target."""
    def refresh_ms(n):
        rng = np.random.default_rng(0)
        view = charts.CurveView(54_000, 0.6)
        view.update(Curves(np.arange(1, n + 1), rng.random(n), rng.random(n)))
        times = []
        for r in range(5):
            s = np.arange(n + 1 + 500 * r, n + 1 + 500 * (r + 1))
            t = time.perf_counter()
            view.update(Curves(s, rng.random(500), rng.random(500)))
            for p in charts.PANELS:
                view.figure(p, epochs=20).keys()
            times.append(time.perf_counter() - t)
        return 1e3 * sorted(times)[2]
    small, big = refresh_ms(10_000), refresh_ms(1_000_000)
    assert big < 50 and big < 5 * small + 5, (small, big)


def test_digest_keeps_bucket_means_and_every_validation_point():
    c = curves(20_000)
    d = charts.CurveView(100).update(c).digest()
    assert len(d.step) <= charts.MAX_POINTS and d.step[-1] == 20_000
    k = d.step[1] - d.step[0]                                   # points per bucket
    assert d.loss[0] == pytest.approx(np.mean(c.loss[:k]))
    assert d.val_step == c.val_step and d.events == c.events


# -- the figure ------------------------------------------------------------------------------------

def test_figure_has_train_and_validation_on_both_panels():
    fig = go.Figure(charts.curves_figure(curves(), steps_per_epoch=100))   # a valid plotly figure
    names = [(t.name, t.xaxis) for t in fig.data if t.name in ("training", "validation")]
    assert names == [("training", "x"), ("validation", "x"), ("training", "x2"), ("validation", "x2")]
    assert len(fig.data[0].x) <= charts.MAX_POINTS and fig.data[0].x[-1] == 50.0   # thinned, epochs
    assert list(fig.data[1].marker.size) == [5, 9]            # full-set points are larger
    assert any("lr 0.001" in a.text for a in fig.layout.annotations)
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == 2   # the event on both panels


def test_one_panel_figures_for_a_phone():
    c = curves(1000)
    loss = go.Figure(charts.curves_figure(c, 100, panel="loss"))
    acc = go.Figure(charts.curves_figure(c, 100, panel="accuracy"))
    assert [t.xaxis for t in loss.data] == ["x"] * len(loss.data) and "xaxis2" not in loss.to_dict()["layout"]
    assert loss.layout.yaxis.title.text == "loss" and acc.layout.yaxis.title.text == "accuracy"
    assert acc.layout.yaxis.tickformat == ".0%" and list(acc.layout.yaxis.range) == [0, 1]
    with pytest.raises(ValueError):
        charts.curves_figure(c, 100, panel="lr")


def test_smoothing_changes_the_training_curve():
    c = curves(100)
    raw = charts.curves_figure(c, 10, smoothing=0)["data"][0]["y"]
    smooth = charts.curves_figure(c, 10, smoothing=0.9)["data"][0]["y"]
    assert np.allclose(raw, c.loss) and np.std(smooth) < np.std(raw) / 2


def test_a_long_curve_gets_a_band_from_lowest_to_highest_within_each_point():
    c = curves(20_000)
    fig = charts.curves_figure(c, 100, smoothing=0, panel="loss")
    band = next(t for t in fig["data"] if t.get("fill") == "toself")
    k = 64                               # 20,000 steps in at most 600 buckets: 313 of 64 steps
    assert len(fig["data"][0]["x"]) == 313
    assert band["y"][0] == pytest.approx(max(c.loss[:k])) and band["y"][-1] == pytest.approx(min(c.loss[:k]))
    short = charts.curves_figure(curves(100), 10, panel="loss")
    assert not any(t.get("fill") for t in short["data"])     # one point per step: no band


def test_compare_overlays_other_runs_full_validation():
    other = curves(10)
    fig = go.Figure(charts.curves_figure(curves(10), 10, compare=[("#1", other, 10)]))
    added = [t for t in fig.data if t.name == "#1 (validation)"]
    assert len(added) == 2 and list(added[1].y) == [0.9]


def test_an_empty_run_still_gives_a_valid_figure():
    for panel in (None, "loss", "accuracy"):
        for log in (False, True):
            fig = go.Figure(charts.curves_figure(Curves(), steps_per_epoch=10, panel=panel, log_loss=log))
            assert [len(t.x) for t in fig.data if t.name == "training"] == [0] * (2 if panel is None else 1)


def test_with_the_run_length_the_epoch_axes_span_the_whole_run():
    c = curves(100)                                        # 1 of 5 epochs trained (100 steps/epoch)
    fig = charts.curves_figure(c, 100, epochs=5)
    assert fig["layout"]["xaxis"]["range"] == fig["layout"]["xaxis2"]["range"] == [0, 5 * 1.02]
    assert "range" not in charts.curves_figure(c, 100)["layout"]["xaxis"]     # autorange
    other = Curves(val_step=[800], val_loss=[0.3], val_acc=[0.9], val_full=[True])
    longer = charts.curves_figure(c, 100, compare=[("#1", other, 100)], epochs=5)
    assert longer["layout"]["xaxis"]["range"] == [0, 8 * 1.02]           # a longer compared run fits


# -- markers ---------------------------------------------------------------------------------------

def lr_steps(pairs_at):
    return [{"step": s, "kind": "lr", "text": f"lr {a:g} → {b:g}"} for s, a, b in pairs_at]


def test_arrow_key_learning_rate_changes_merge_into_one_labelled_marker():
    # Two intended changes with the arrow keys applied every value in between (issue 14):
    # 0.001 → 0.01 at epoch ~1, then 0.01 → 0.003 at epoch ~4 (of 10 epochs, 100 steps each).
    grid = [0.001, 0.002, 0.003, 0.005, 0.01]
    up = [(100 + i, a, b) for i, (a, b) in enumerate(zip(grid, grid[1:]))]
    down = [(400, 0.01, 0.005), (402, 0.005, 0.003)]
    c = Curves(list(range(1, 1001)), [1.0] * 1000, [0.5] * 1000, events=lr_steps(up + down))
    fig = charts.curves_figure(c, 100, epochs=10, panel="loss")
    notes = fig["layout"]["annotations"]
    assert [n["text"] for n in notes] == ["lr 0.001 → 0.01", "lr 0.01 → 0.003"]
    assert [n["x"] for n in notes] == [1.0, 4.0]
    assert notes[0]["hovertext"].count("lr ") == 4            # every change is in the hover text
    lines = [s for s in fig["layout"]["shapes"] if s["type"] == "line"]
    assert [s["x0"] for s in lines] == [1.0, 4.0]


def test_the_merge_rule_is_five_percent_of_the_x_axis():
    # x axis 0 .. 10 epochs (× 1.02): markers within 0.05 × 10.2 = 0.51 epochs of a group's first
    # event join it; 0.52 epochs away starts a new marker.
    evs = lr_steps([(100, 0.1, 0.2), (151, 0.2, 0.3), (203, 0.3, 0.5)])
    merged = charts.merge_events(evs, 100, 10.2)
    assert [(m["x0"], m["x1"], m["label"]) for m in merged] == [(1.0, 1.51, "lr 0.1 → 0.3"),
                                                                (2.03, 2.03, "lr 0.3 → 0.5")]


def test_labels_never_pile_up_whatever_the_events():
    rng = np.random.default_rng(3)
    steps = sorted(rng.integers(1, 1000, 60))
    kinds = rng.choice(["lr", "momentum", "weight_decay"], 60)
    evs = [{"step": int(s), "kind": str(k), "text": f"{k} 0.1 → 0.2"} for s, k in zip(steps, kinds)]
    c = Curves(list(range(1, 1001)), [1.0] * 1000, [0.5] * 1000, events=evs)
    fig = charts.curves_figure(c, 100, epochs=10, panel="loss")
    xs = sorted(n["x"] for n in fig["layout"]["annotations"])
    assert all(b - a > 0.05 * 10.2 for a, b in zip(xs, xs[1:]))
    assert all(len(n["text"].split("<br>")) <= 3 for n in fig["layout"]["annotations"])


def test_other_events_get_a_short_label_and_the_full_text_on_hover():
    why = "early stopping after epoch 5: the validation loss has not improved for 3 epochs"
    c = Curves(list(range(1, 801)), [1.0] * 800, [0.5] * 800,
               events=[{"step": 500, "kind": "early_stop", "text": why}])
    (note,) = charts.curves_figure(c, 100, panel="loss")["layout"]["annotations"]
    assert note["text"] == "early stop" and why in note["hovertext"]


# -- the loss axis ---------------------------------------------------------------------------------

def decaying(n=2000, spike_at=None, spike=80.0):
    s = np.arange(1, n + 1)
    loss = 0.1 + 2.2 * np.exp(-s / 300)
    if spike_at is not None:
        loss[spike_at] = spike
    return Curves(s.tolist(), loss.tolist(), (1 - loss / 3).tolist())


def test_one_spike_does_not_flatten_the_linear_loss_axis_and_is_marked():
    fig = charts.curves_figure(decaying(spike_at=1500), 100, smoothing=0, panel="loss")
    top = fig["layout"]["yaxis"]["range"][1]
    assert fig["layout"]["yaxis"]["range"][0] == 0
    assert 2.3 < top < 2.3 * 1.2                 # the start (≈ 2.3) is in view; 80 is not
    off = trace(fig, "off the chart")
    (x,) = off["x"]                              # step 1501 = epoch 15.01, in a bucket of 4 steps
    assert 15.01 <= x < 15.05 and off["y"] == [top] and off["text"] == ["80"]
    assert off["cliponaxis"] is False
    calm = charts.curves_figure(decaying(), 100, smoothing=0, panel="loss")
    assert not any(t["name"] == "off the chart" for t in calm["data"])


def test_a_loss_that_ends_high_stays_in_view():
    c = decaying()
    c.loss[-300:] = list(np.linspace(0.2, 30, 300))        # blowing up at the end: show it
    top = charts.curves_figure(c, 100, smoothing=0, panel="loss")["layout"]["yaxis"]["range"][1]
    assert top >= 30


def test_log_loss_axis_is_labelled_at_powers_of_ten():
    fig = charts.curves_figure(decaying(spike_at=1500), 100, smoothing=0, panel="loss", log_loss=True)
    y = fig["layout"]["yaxis"]
    assert y["type"] == "log" and y["range"] == [-1, 2]       # 0.1 .. 80 -> whole decades
    assert y["tickvals"] == [0.1, 1.0, 10.0, 100.0]
    assert y["ticktext"] == ["10⁻¹", "1", "10", "10²"]
    assert y["title"]["text"] == "loss (log scale)"
    assert not any(t["name"] == "off the chart" for t in fig["data"])   # nothing is clipped


def test_log_axis_of_a_narrow_range_still_has_two_labels_and_a_wide_one_at_most_eight():
    narrow = charts.log_axis(0.2, 0.5)
    assert narrow["range"] == [-1, 0] and narrow["ticktext"] == ["10⁻¹", "1"]
    wide = charts.log_axis(1e-30, 1e3)
    assert len(wide["tickvals"]) <= 9
    assert all(math.log10(v) == round(math.log10(v)) for v in wide["tickvals"])
    assert wide["ticktext"][0] == "10⁻³⁰"


# -- readability -----------------------------------------------------------------------------------

def luminance(hex_color):
    r, g, b = (int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_text_reads_on_a_projector_and_nothing_sits_over_the_plot():
    c = curves(1000)
    for panel in (None, "loss", "accuracy"):
        lay = charts.curves_figure(c, 100, panel=panel, title="run #3")["layout"]
        assert lay["font"]["size"] >= 14 and luminance(lay["font"]["color"]) < 0.2
        for k, axis in lay.items():                            # no smaller tick font anywhere
            if k.startswith(("xaxis", "yaxis")):
                assert axis.get("tickfont", {}).get("size", 14) >= 14
        assert lay["legend"]["y"] >= 1 and lay["legend"]["yanchor"] == "bottom"   # above the plot
        # No title annotations over the panels: the y axes say what each panel is.
        assert all(a["yref"].endswith("domain") for a in lay["annotations"])
        assert lay["title"]["yref"] == "container"


@pytest.mark.parametrize("kw", [dict(panel=None), dict(panel="loss"), dict(panel="accuracy"),
                                dict(panel="loss", log_loss=True)])
def test_every_variant_is_valid_plotly_and_unchecked_gives_the_same_json(kw):
    c = decaying(3000, spike_at=2000)
    c.events = lr_steps([(100, 0.1, 0.2), (900, 0.2, 0.1)])
    c.val_step, c.val_loss, c.val_acc, c.val_full = [300, 600], [0.5, 0.4], [0.8, 0.9], [False, True]
    other = Curves(val_step=[300], val_loss=[0.6], val_acc=[0.7], val_full=[True])
    fig = charts.curves_figure(c, 100, compare=[("#1", other, 100)], epochs=40, **kw)
    assert go.Figure(fig).to_plotly_json() == charts.unchecked(fig).to_plotly_json()


# -- CSV -------------------------------------------------------------------------------------------

def test_csv_export_has_every_point():
    text = charts.curves_table(curves(10), 10)
    lines = text.strip().splitlines()
    assert lines[0] == "kind,step,epoch,loss,accuracy" and len(lines) == 1 + 10 + 2 + 1
    assert lines[-1] == 'event:lr,150,15.00000,,"lr 0.001 → 0.01"'


def test_history_snapshot_is_incremental():
    h = History()
    h.add_steps([1, 2], [1.0, 0.9], [0.1, 0.2])
    first, cur = h.snapshot()
    h.add_steps([3], [0.8], [0.3])
    h.add_event(3, "lr", "x")
    new, cur2 = h.snapshot(cur)
    assert first.step == [1, 2] and new.step == [3] and new.events[0]["step"] == 3
    assert cur2 == (3, 0, 1)
