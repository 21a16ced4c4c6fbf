"""Training-curve figures (pure functions, no browser)."""
import numpy as np
import plotly.graph_objects as go

from core.charts import train as charts
from core.history import Curves, History


def curves(n=5000):
    rng = np.random.default_rng(0)
    return Curves(step=list(range(1, n + 1)), loss=list(rng.random(n)), acc=list(rng.random(n)),
                  val_step=[100, 200], val_loss=[0.5, 0.4], val_acc=[0.8, 0.9], val_full=[False, True],
                  events=[{"step": 150, "kind": "lr", "text": "lr 0.001 → 0.01"}])


def test_figure_has_train_and_validation_on_both_panels():
    fig = go.Figure(charts.curves_figure(curves(), steps_per_epoch=100))   # a valid plotly figure
    names = [t.name for t in fig.data]
    assert names == ["training", "training", "validation", "validation"]
    assert [t.xaxis for t in fig.data] == ["x", "x2", "x", "x2"]
    assert len(fig.data[0].x) <= charts.MAX_POINTS and fig.data[0].x[-1] == 50.0   # thinned, epochs
    assert list(fig.data[2].marker.size) == [5, 9]            # full-set points are larger
    assert any("lr 0.001" in a.text for a in fig.layout.annotations)
    assert len(fig.layout.shapes) == 2                        # the event line on both panels


def test_smoothing_changes_the_training_curve():
    c = curves(100)
    raw = charts.curves_figure(c, 10, smoothing=0)["data"][0]["y"]
    smooth = charts.curves_figure(c, 10, smoothing=0.9)["data"][0]["y"]
    assert np.allclose(raw, c.loss) and np.std(smooth) < np.std(raw) / 2


def test_smooth_is_debiased():
    assert np.allclose(charts.smooth([2.0, 2.0, 2.0], 0.9), [2.0, 2.0, 2.0])


def test_compare_overlays_other_runs_full_validation():
    other = curves(10)
    fig = go.Figure(charts.curves_figure(curves(10), 10, compare=[("#1", other, 10)]))
    added = [t for t in fig.data if t.name == "#1 (validation)"]
    assert len(added) == 2 and list(added[1].y) == [0.9]


def test_csv_export_has_every_point():
    text = charts.curves_table(curves(10), 10)
    lines = text.strip().splitlines()
    assert lines[0] == "kind,step,epoch,loss,accuracy" and len(lines) == 1 + 10 + 2 + 1


def test_history_snapshot_is_incremental():
    h = History()
    h.add_steps([1, 2], [1.0, 0.9], [0.1, 0.2])
    first, cur = h.snapshot()
    h.add_steps([3], [0.8], [0.3])
    h.add_event(3, "lr", "x")
    new, cur2 = h.snapshot(cur)
    assert first.step == [1, 2] and new.step == [3] and new.events[0]["step"] == 3
    assert cur2 == (3, 0, 1)


def test_an_empty_run_still_gives_a_valid_figure():
    fig = go.Figure(charts.curves_figure(Curves(), steps_per_epoch=10))
    assert [len(t.x) for t in fig.data] == [0, 0, 0, 0]


def test_with_the_run_length_the_epoch_axes_span_the_whole_run():
    c = curves(100)                                        # 1 of 5 epochs trained (100 steps/epoch)
    fig = charts.curves_figure(c, 100, epochs=5)
    assert fig["layout"]["xaxis"]["range"] == fig["layout"]["xaxis2"]["range"] == [0, 5 * 1.02]
    assert "range" not in charts.curves_figure(c, 100)["layout"]["xaxis"]     # autorange
    other = Curves(val_step=[800], val_loss=[0.3], val_acc=[0.9], val_full=[True])
    longer = charts.curves_figure(c, 100, compare=[("#1", other, 100)], epochs=5)
    assert longer["layout"]["xaxis"]["range"] == [0, 8 * 1.02]           # a longer compared run fits
