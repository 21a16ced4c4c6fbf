"""core.sweeps.spec: grids parsed through the schema, expanded into runs; core.sweeps.table: the table."""
import math
from types import SimpleNamespace

import pytest

from core import states
from core.nn.config import PARAMS, HyperParams
from core.nn.history import Curves
from core.sweeps.spec import Axis, Level, SweepError, SweepSpec, parse_grid
from core.sweeps.table import Cell, RunResult, Table, line_chart, mean_std


def test_parse_grid_reads_values_through_the_schema():
    a = parse_grid("lr=1e-3,1e-2")
    assert a.param == "lr" and a.title == "Learning rate" and a.log
    assert [lv.settings for lv in a.levels] == [{"lr": 0.001}, {"lr": 0.01}]
    assert a.labels == ["0.001", "0.01"] and [lv.x for lv in a.levels] == [0.001, 0.01]
    assert parse_grid("init=normal,he").labels == ["normal", "he"] and not parse_grid("init=normal,he").numeric
    assert parse_grid("init-sigma=0.001, 0.01").param == "init_sigma"      # CLI spelling
    assert [lv.settings["width"] for lv in parse_grid("width=10,100,1000").levels] == ["10", "100", "1000"]
    assert parse_grid("width=(200,100),(30,30)").labels == ["200,100", "30,30"]
    assert parse_grid("batch_norm=true,false").labels == ["true", "false"]


@pytest.mark.parametrize("text, expected", [
    ("lr", "write a grid as NAME=VALUE,VALUE"),
    ("=1,2", "write a grid as NAME=VALUE,VALUE"),
    ("lrr=1,2", "'lrr' is not a hyper-parameter (did you mean lr?)"),
    ("lr=", "lr: give at least one value"),
    ("lr=abc,1e-2", "lr=abc: expected a number, got 'abc'"),
    ("lr=100", "lr=100: 100 is outside the range"),
    ("init=normal,gaussian", "init=gaussian: 'gaussian' is not one of he, xavier, normal, pytorch"),
    ("lr=0.1,0.1", "lr: a value is listed twice"),
    ("seed=1,2", "seed: give the number of seeds with --seeds"),
    ("depth=" + ",".join(map(str, range(13))), "at most 12 per parameter"),
])
def test_bad_grids_say_what_is_wrong(text, expected):
    with pytest.raises(SweepError) as e:
        parse_grid(text)
    assert expected in str(e.value)


def test_every_bad_value_is_listed_at_once():
    with pytest.raises(SweepError) as e:
        parse_grid("lr=abc,100,0.01")
    assert len(e.value.problems) == 2


def test_expansion_is_base_plus_overrides_times_seeds():
    base = HyperParams.validate(depth=1, epochs=2, seed=7)
    spec = SweepSpec.build(base, [parse_grid("lr=1e-3,1e-2"), parse_grid("width=10,100,1000")], seeds=3)
    pts = spec.points()
    assert len(pts) == 2 * 3 * 3 and len(spec.runs()) == 18
    assert {(p.row, p.col) for p in pts} == {(r, c) for r in range(2) for c in range(3)}
    p = next(p for p in pts if (p.row, p.col, p.seed) == (1, 2, 9))
    assert p.hp == HyperParams.validate(depth=1, epochs=2, lr=0.01, width="1000", seed=9)
    assert sorted({p.seed for p in pts}) == [7, 8, 9]
    assert spec.describe() == "Learning rate (2) × Width (3) × 3 seeds = 18 runs"


def test_identical_settings_train_once():
    # sigma is unused with He init: the He column's cells all share one run per seed
    spec = SweepSpec.build(HyperParams.validate(depth=2),
                           [parse_grid("init_sigma=0.01,0.1,1"), parse_grid("init=normal,he")], seeds=2)
    assert len(spec.points()) == 12 and len(spec.runs()) == 3 * 2 + 2


def test_a_parameter_without_effect_is_refused_with_the_setting_that_would_use_it():
    with pytest.raises(SweepError) as e:
        SweepSpec.build(HyperParams.validate(init="he"), [parse_grid("init_sigma=0.01,0.1")])
    assert "init_sigma has no effect with these settings; it is used when init=normal" in str(e.value)
    with pytest.raises(SweepError, match="momentum has no effect.*optimizer=momentum"):
        SweepSpec.build(HyperParams.validate(optimizer="adam"), [parse_grid("momentum=0.5,0.9")])


def test_invalid_combinations_are_named():
    with pytest.raises(SweepError) as e:
        SweepSpec.build(HyperParams.validate(depth=3), [parse_grid("width=(200,100),64")])
    assert "200,100: width: 2 widths given for 3 hidden layers" in str(e.value)
    with pytest.raises(SweepError, match="seeds: give 1 to 5 seeds, not 6"):
        SweepSpec.build(HyperParams(), [parse_grid("lr=0.1")], seeds=6)
    with pytest.raises(SweepError, match="one or two parameters"):
        SweepSpec.build(HyperParams(), [parse_grid("lr=0.1"), parse_grid("depth=1"), parse_grid("width=5")])
    with pytest.raises(SweepError, match="the same parameter is given twice"):
        SweepSpec.build(HyperParams(), [parse_grid("lr=0.1"), parse_grid("lr=0.2")])


def test_spec_round_trips_through_json():
    spec = SweepSpec.build(HyperParams.validate(depth=9, width="100"),
                           [Axis("Init", (Level.of("σ=0.01", 0.01, init="normal", init_sigma=0.01),
                                          Level.of("He", init="he")))], seeds=2,
                           columns=("test_accuracy", "seconds"), name="init", preset="init-sigma")
    import json
    again = SweepSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec and again.runs() == spec.runs()


# -- the results table ---------------------------------------------------------------------------

def result(hp, state=states.FINISHED, acc=None, reason="", seconds=1.0):
    return RunResult(f"r{hash(hp) % 1000}", hp, state, reason, test_accuracy=acc, seconds=seconds)


def test_mean_std_is_the_sample_standard_deviation():
    m, s = mean_std([0.9, 0.92, 0.97])
    assert m == pytest.approx(0.93)
    assert s == pytest.approx(math.sqrt(((0.9 - 0.93) ** 2 + (0.92 - 0.93) ** 2 + (0.97 - 0.93) ** 2) / 2))
    assert mean_std([0.5]) == (0.5, None) and mean_std([]) == (None, None)


def test_table_cells_are_mean_and_std_over_seeds_with_diverged_runs_counted():
    spec = SweepSpec.build(HyperParams.validate(depth=1),
                           [parse_grid("lr=0.01,0.1"), parse_grid("width=10,100")], seeds=3)
    acc = {("0.01", "10"): [0.90, 0.91, 0.95], ("0.01", "100"): [0.96, 0.97, 0.98],
           ("0.1", "10"): [0.80, None, None], ("0.1", "100"): [0.85, 0.86, None]}
    results = []
    for p in spec.points():
        a = acc[spec.rows.labels[p.row], spec.cols.labels[p.col]][p.seed]
        results.append(result(p.hp, states.FINISHED if a is not None else states.DIVERGED, a,
                              "" if a is not None else "The loss became NaN at step 3"))
    t = Table.build(spec, results[:-1])          # the last run has not reported yet
    assert t.rows == ["0.01", "0.1"] and t.cols == ["10", "100"] and t.row_title == "Learning rate"
    c = t.cell("0.01", "10")
    assert (c.n, c.diverged, c.pending) == (3, 0, 0)
    assert c.mean == pytest.approx((0.90 + 0.91 + 0.95) / 3)
    mu = (0.90 + 0.91 + 0.95) / 3
    assert c.std == pytest.approx(math.sqrt(sum((v - mu) ** 2 for v in (0.90, 0.91, 0.95)) / 2))
    assert c.text() == f"{100 * mu:.1f} ± {100 * c.std:.1f} %"
    c = t.cell("0.1", "10")
    assert (c.n, c.diverged, c.mean, c.std) == (1, 2, 0.80, None)
    assert c.reasons == ["The loss became NaN at step 3"] and c.text() == "💥 2/3 diverged · 80.0 %"
    c = t.cell("0.1", "100")
    assert (c.n, c.pending, c.mean) == (2, 1, pytest.approx(0.855)) and c.text().endswith("⏳")
    assert not t.done
    j = t.to_json()
    assert j["cells"][1][0]["diverged"] == 2 and j["cells"][0][1]["n"] == 3
    assert "Learning rate \\ Width" in t.to_text()


def test_a_cell_where_every_run_diverged_says_so():
    assert Cell.of("test_accuracy", [result(HyperParams(), states.DIVERGED, reason="NaN")]).text() == "💥 diverged"
    assert Cell.of("test_accuracy", [None]).text() == "⏳"


def test_one_parameter_table_shows_the_asked_figures_side_by_side():
    spec = SweepSpec.build(HyperParams(), [parse_grid("batch_size=32,512")], seeds=1,
                           columns=("test_accuracy", "seconds"))
    hps = spec.runs()
    t = Table.build(spec, [result(hps[0], acc=0.97, seconds=12.0), result(hps[1], acc=0.93, seconds=3.0)])
    assert t.cols == ["test accuracy", "time (s)"]
    assert [[c.text() for c in row] for row in t.cells] == [["97.0 %", "12.0"], ["93.0 %", "3.0"]]


def test_line_chart_for_a_numeric_axis_with_reference_levels():
    axis = Axis("Init", (Level.of("σ=0.01", 0.01, init="normal", init_sigma=0.01),
                         Level.of("σ=1", 1.0, init="normal", init_sigma=1.0), Level.of("He", init="he")))
    spec = SweepSpec.build(HyperParams.validate(depth=2), [axis])
    hps = spec.runs()
    t = Table.build(spec, [result(hps[0], acc=0.11), result(hps[1], states.DIVERGED, reason="NaN"),
                           result(hps[2], acc=0.9)])
    chart = line_chart(spec, t)
    assert chart["log_x"] and chart["series"] == [{"name": "test accuracy", "x": [0.01, 1.0],
                                                   "y": [0.11, None], "std": [None, None], "diverged": [0, 1]}]
    assert chart["references"] == [{"name": "He", "y": 0.9}]
    two = SweepSpec.build(HyperParams.validate(depth=1), [parse_grid("init=normal,he"), parse_grid("depth=1,2")])
    t2 = Table.build(two, [result(h, acc=0.5) for h in two.runs()])
    c2 = line_chart(two, t2)
    assert c2["x_title"] == "Hidden layers" and [s["name"] for s in c2["series"]] == ["normal", "he"]
    assert not c2["log_x"]
    assert line_chart(SweepSpec.build(HyperParams(), [parse_grid("init=normal,he")]),
                      Table.build(SweepSpec.build(HyperParams(), [parse_grid("init=normal,he")]), [])) is None


def test_run_result_reads_the_last_epoch_from_the_curves():
    snap = SimpleNamespace(steps_per_epoch=2, state=states.FINISHED, reason="ok", test_accuracy=0.9,
                           val_accuracy=0.8, best_val_accuracy=0.85, train_loss=0.1, val_loss=0.5, elapsed=3.0)
    curves = Curves(step=[1, 2, 3, 4, 5], loss=[2.0, 1.0, 0.6, 0.4, 0.3], acc=[0.1, 0.3, 0.7, 0.9, 1.0],
                    val_step=[1, 2, 4], val_loss=[1.5, 1.2, 0.7], val_acc=[0.5, 0.6, 0.8],
                    val_full=[False, True, True])
    r = RunResult.of("x", HyperParams(), snap, curves)
    assert r.epoch_train_loss == (1.5, 0.5) and r.train_loss == 0.5
    assert r.train_accuracy == pytest.approx(0.8) and r.epoch_val_loss == (1.2, 0.7)
    assert r.to_json()["hp"]["lr"] == 0.001


def test_suggested_values_are_valid_grids_around_the_default():
    from core.sweeps.spec import suggested_values, value_text
    assert suggested_values("lr") == [0.0005, 0.001, 0.002]
    assert suggested_values("depth") == [1, 2, 4] and suggested_values("init")[:2] == ["he", "xavier"]
    assert suggested_values("batch_norm") == [False, True] and suggested_values("subset") == [500, 1000, 2000]
    for p in PARAMS:
        if p.name != "seed":
            vals = suggested_values(p.name)
            axis = parse_grid(p.name + "=" + ",".join(value_text(p.name, v) for v in vals))
            assert len(axis.levels) == len(vals) >= 2
