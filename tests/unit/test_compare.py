"""core.analysis.compare (rows, filters, legend names, CSV) and core.charts.runs (overlay, parcoords,
sweep line chart)."""
import csv
import io
import math
from types import SimpleNamespace

import plotly.graph_objects as go
import pytest

from core import states
from core.analysis.compare import COLUMNS, curves_csv, difference_labels, distinct, filter_rows, row_of, table_csv
from core.charts.runs import overlay_figure, parcoords_figure, sweep_chart_figure, varying
from core.nn.config import PARAMS, HyperParams
from core.nn.history import Curves
from core.sweeps.spec import SweepSpec, parse_grid
from core.sweeps.table import RunResult, Table, line_chart


def hp(**kw):
    return HyperParams.validate(**kw)


def test_legend_names_only_the_difference():
    assert difference_labels([hp(init="normal", init_sigma=0.01), hp(init="normal", init_sigma=0.1)]) == ["σ=0.01", "σ=0.1"]
    # σ is not used by He init: it is not named for that run
    assert difference_labels([hp(init="he"), hp(init="normal", init_sigma=0.01)]) == ["init=he", "init=normal, σ=0.01"]
    assert difference_labels([hp(lr=0.01, depth=1), hp(lr=0.1, depth=3)]) == ["depth=1, lr=0.01", "depth=3, lr=0.1"]
    # same settings: told apart by their numbers
    assert difference_labels([hp(), hp(), hp(lr=0.1)], numbers=[3, 5, 6]) == ["lr=0.001 (#3)", "lr=0.001 (#5)", "lr=0.1"]
    assert difference_labels([hp(), hp()], numbers=[1, 2]) == ["#1", "#2"]
    assert difference_labels([hp(seed=1), hp(seed=2)]) == ["seed=1", "seed=2"]


def view(number, name="", state=states.FINISHED, best=0.9512, test=0.95, elapsed=12.34, **kw):
    v = SimpleNamespace(id=f"id{number}", number=number, name=name, note="", created=1000.0 + number, hp=hp(**kw))
    snap = SimpleNamespace(state=state, best_val_accuracy=best, test_accuracy=test, elapsed=elapsed)
    return v, snap


def test_a_row_has_every_config_column_and_the_figures():
    v, s = view(3, "baseline", lr=0.0004, init="normal", init_sigma=0.01)
    row = row_of(v, s)
    assert set(row) == set(COLUMNS)
    assert row["#"] == 3 and row["state"] == "✅ finished" and row["lr"] == "0.0004" and row["init_sigma"] == "0.01"
    assert row["best val acc"] == 95.12 and row["test acc"] == 95.0 and row["time (s)"] == 12.3
    v, s = view(4, state=states.RUNNING, best=None, test=None)
    assert row_of(v, s)["test acc"] is None and row_of(v, s)["state"] == "🟢 running"


def test_filters_keep_the_chosen_values_and_search_names():
    rows = [row_of(*view(1, "a", init="he")), row_of(*view(2, "b", init="xavier")),
            row_of(*view(3, "bigger", init="he", depth=3))]
    assert distinct(rows, "init") == ["he", "xavier"]
    assert [r["#"] for r in filter_rows(rows, {"init": ["he"]})] == [1, 3]
    assert [r["#"] for r in filter_rows(rows, {"init": ["he"], "depth": ["3"]})] == [3]
    assert [r["#"] for r in filter_rows(rows, {"init": []}, text="BIG")] == [3]
    assert [r["#"] for r in filter_rows(rows, text="#2")] == [2]


def test_table_csv_has_a_header_and_one_row_per_run():
    rows = [row_of(*view(1, "a, with comma")), row_of(*view(2, best=None))]
    got = list(csv.reader(io.StringIO(table_csv(rows))))
    assert got[0] == list(COLUMNS) and len(got) == 3
    assert got[1][COLUMNS.index("name")] == "a, with comma" and got[2][COLUMNS.index("best val acc")] == ""
    assert got[1][COLUMNS.index("lr")] == "0.001"


def test_curves_csv_is_one_row_per_point_with_the_run_id():
    c = Curves(step=[1, 2], loss=[2.0, 1.5], acc=[0.1, 0.2], val_step=[0, 2], val_loss=[2.3, 1.4],
               val_acc=[0.1, 0.5], val_full=[False, True])
    got = list(csv.DictReader(io.StringIO(curves_csv([("r1", "σ=0.1", c, 2), ("r2", "σ=1", Curves(), 2)]))))
    assert len(got) == 4 and {g["run_id"] for g in got} == {"r1"}
    assert got[1] == {"run_id": "r1", "run": "σ=0.1", "series": "train", "step": "2", "epoch": "1.00000",
                      "loss": "1.5", "accuracy": "0.2"}
    assert [g["series"] for g in got[2:]] == ["validation sample", "validation"]


def test_overlay_has_one_colour_and_one_legend_entry_per_run():
    c = Curves(step=list(range(1, 2001)), loss=[1.0] * 2000, acc=[0.5] * 2000, val_step=[1000, 2000],
               val_loss=[0.5, 0.4], val_acc=[0.8, 0.9], val_full=[True, True])
    fig = overlay_figure([("σ=0.01", c, 1000), ("σ=0.1", c, 1000)])
    go.Figure(fig)                                                    # valid plotly
    legend = [t["name"] for t in fig["data"] if t.get("showlegend")]
    assert legend == ["σ=0.01", "σ=0.1"]
    colours = {t["legendgroup"]: t["line"]["color"] for t in fig["data"]}
    assert len(set(colours.values())) == 2
    assert max(len(t["x"]) for t in fig["data"]) <= 300                # training curves thinned
    assert fig["data"][2]["x"] == [1.0, 2.0]                          # validation at epochs 1 and 2


def test_parcoords_axes_are_the_parameters_that_vary_and_colour_is_validation_accuracy():
    rows = [row_of(*view(1, lr=0.001, init="he", best=0.97)), row_of(*view(2, lr=0.1, init="xavier", best=0.5)),
            row_of(*view(3, lr=0.01, init="he", best=None, state=states.RUNNING))]
    names = varying(rows, [p.name for p in PARAMS])
    assert names == ["init", "lr"]
    fig = parcoords_figure(rows, names)
    go.Figure(fig)
    dims = fig["data"][0]["dimensions"]
    assert [d["label"] for d in dims] == ["Weight init", "Learning rate", "best val acc (%)", "test acc (%)"]
    assert dims[0]["ticktext"] == ["he", "xavier"] and dims[0]["values"] == [0, 1, 0]
    assert dims[1]["values"] == pytest.approx([-3, -1, -2]) and dims[1]["ticktext"] == ["0.001", "0.01", "0.1"]
    assert fig["data"][0]["line"]["color"] == [97.0, 50.0, 0.0]


def test_sweep_chart_marks_diverged_values_and_reference_levels():
    spec = SweepSpec.build(hp(depth=1), [parse_grid("lr=0.01,0.1,10")])
    a, b, c = spec.runs()
    t = Table.build(spec, [RunResult("1", a, states.FINISHED, test_accuracy=0.9),
                           RunResult("2", b, states.FINISHED, test_accuracy=0.95),
                           RunResult("3", c, states.DIVERGED, "NaN")])
    fig = sweep_chart_figure(line_chart(spec, t))
    go.Figure(fig)
    assert fig["data"][0]["y"] == [0.9, 0.95, None] and fig["layout"]["xaxis"]["type"] == "log"
    assert fig["data"][1]["name"] == "test accuracy: diverged" and fig["data"][1]["x"] == [10.0]
    # Every marker strictly inside the axes (one on the frame is cut in half): the end values
    # (whole decades here) and the diverged ✖ at 0.
    lo, hi = fig["layout"]["xaxis"]["range"]
    assert lo < math.log10(0.01) and math.log10(10) < hi
    y0, y1 = fig["layout"]["yaxis"]["range"]
    assert y0 < 0.0 and 1.0 < y1


def test_a_parameter_the_run_does_not_use_is_blank():
    row = row_of(*view(1, init="he"))
    assert row["init_sigma"] == "" and row["momentum"] == "" and row["init"] == "he"


def test_a_diverged_run_does_not_squash_the_loss_axis():
    ok = Curves(val_step=[1, 2], val_loss=[0.5, 0.3], val_acc=[0.8, 0.9], val_full=[True, True])
    bad = Curves(val_step=[1], val_loss=[3e9], val_acc=[0.1], val_full=[True])
    fig = overlay_figure([("a", ok, 1), ("b", bad, 1)])
    assert fig["layout"]["yaxis"]["range"] == [-1, 0]               # 0.1 to 1: the good run's decade


def test_parcoords_shows_an_unused_parameter_as_a_blank_category():
    rows = [row_of(*view(1, init="he")), row_of(*view(2, init="normal", init_sigma=0.01)),
            row_of(*view(3, init="normal", init_sigma=0.1))]
    fig = parcoords_figure(rows, varying(rows, [p.name for p in PARAMS]))
    go.Figure(fig)
    sigma = fig["data"][0]["dimensions"][1]
    assert sigma["label"] == "Init σ" and sigma["ticktext"] == ["–", "0.01", "0.1"] and sigma["values"] == [0, 1, 2]
    init = fig["data"][0]["dimensions"][0]
    assert init["ticktext"] == ["he", "normal"]                      # in the schema's order
