"""The class as one experiment: points from the class's runs, σ on a log axis, diverged runs
marked, the class mean per value, run ids on the points for a click, the parcoords' axes."""
import math

from core.charts.classroom import DIVERGED_Y, experiment_figure, parcoords_figure, points
from core.ledger import RunRecord
from core.nn.config import HyperParams
from core.states import DIVERGED, FINISHED, RUNNING


def rec(i, sigma, state=FINISHED, acc=None, owner="a", activation="relu"):
    hp = HyperParams.validate(init="normal", init_sigma=sigma, activation=activation)
    return RunRecord(id=f"run{i}", owner=owner, number=i, config=hp.to_dict(), state=state,
                     test_accuracy=acc, best_val_accuracy=acc, reason="loss 7e18" if state == DIVERGED else "")


RECORDS = [rec(1, 0.01, acc=0.11, owner="a"), rec(2, 0.1, acc=0.90, owner="b"),
           rec(3, 0.1, acc=0.80, owner="c"), rec(4, 10.0, DIVERGED, owner="d"),
           rec(5, 0.2, RUNNING, owner="e"), rec(6, 0.5, FINISHED, acc=float("nan"), owner="f")]
NAMES = {"a": "Ada", "b": "Bob", "c": "Cy", "d": "Dee", "e": "Eve", "f": "Fay"}


def test_points_are_the_ended_runs_with_an_accuracy_or_diverged():
    pts = points(RECORDS, NAMES)
    assert [(p.run_id, p.student, p.accuracy) for p in pts] == [
        ("run1", "Ada", 0.11), ("run2", "Bob", 0.90), ("run3", "Cy", 0.80), ("run4", "Dee", None)]


def test_sigma_on_a_log_axis_diverged_marked_and_the_class_mean():
    fig = experiment_figure(points(RECORDS, NAMES), "init_sigma")
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.tickformat == ".0%"
    mean, ok, bad = fig.data
    assert list(mean.x) == [0.01, 0.1] and [round(y, 6) for y in mean.y] == [0.11, 0.85]
    assert [c[0] for c in ok.customdata] == ["run1", "run2", "run3"] and list(ok.y) == [0.11, 0.90, 0.80]
    # the two students at σ = 0.1 are spread apart (by under 0.03 decades each), not on one spot
    x2, x3 = ok.x[1], ok.x[2]
    assert x2 != x3 and all(abs(math.log10(x / 0.1)) <= 0.03 + 1e-9 for x in (x2, x3))
    assert bad.name == "diverged" and bad.marker.symbol == "x" and list(bad.y) == [DIVERGED_Y]
    assert bad.customdata[0][0] == "run4" and "loss 7e18" in bad.customdata[0][4]


def test_a_choice_is_a_category_axis_and_parcoords_has_one_axis_per_setting():
    recs = [rec(1, 0.1, acc=0.9, activation="relu"), rec(2, 0.2, acc=0.7, activation="tanh")]
    pts = points(recs, {"a": "Ada"})
    fig = experiment_figure(pts, "activation")
    assert fig.layout.xaxis.type == "category" and list(fig.data[-1].x) == ["ReLU", "tanh"]
    par = parcoords_figure(pts, ["init_sigma", "activation"])
    dims = par.data[0].dimensions
    assert [d.label for d in dims] == ["Init σ", "Activation", "test accuracy"]
    assert list(dims[0].values) == [-1.0, math.log10(0.2)] and list(dims[0].ticktext) == ["0.1", "0.2"]
    assert list(dims[1].ticktext) == ["ReLU", "tanh"] and list(dims[2].values) == [0.9, 0.7]
    assert parcoords_figure([], ["init_sigma"]) is None
