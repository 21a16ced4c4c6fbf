"""The lesson presets: each one's reduced form, run headless through the run service, shows its
lesson (its check holds, and the key numbers are asserted here directly)."""
import math

import pytest

from core import states
from core.ledger import Ledger
from core.runs import RunService
from core.settings import Limits
from core.sweeps.presets import PRESETS
from core.sweeps.runner import run_sweep

LN10 = math.log(10)


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    # One thread per run: these small networks gain nothing from a second thread, and OpenMP
    # threads on a busy machine (a CI runner, other tests) stall each other many times over.
    limits = Limits.from_env(headless=True).replace(training_cores=1, threads_per_run=1)
    s = RunService(Ledger(tmp_path_factory.mktemp("home")), limits=limits, headless=True)
    yield s
    s.close()


def run(svc, key):
    preset = PRESETS[key]
    sweep = run_sweep(svc, "teacher", preset.spec(reduced=True), poll=0.1)
    results = sweep.results()
    assert all(r.state in (states.FINISHED, states.DIVERGED) for r in results), [r.reason for r in results]
    table = sweep.table(results)
    return preset, table, results


def acc(table, row, col=None):
    return table.cell(row, col).mean


def test_every_preset_says_what_to_see_and_reduces_only_data_and_epochs():
    assert list(PRESETS) == ["init-sigma", "depth", "sizes-lr", "overfitting", "optimizers",
                             "activations", "loss", "batch-size"]
    for p in PRESETS.values():
        assert len(p.lesson) > 200 and p.expected and p.title
        full, small = p.spec(), p.spec(reduced=True)
        assert set(p.reduced) <= {"subset", "epochs", "batch_size", "val_fraction"}
        assert len(full.runs()) == len(small.runs()) and full.axes == small.axes
        n = lambda hp: (hp.subset or 54000) * hp.epochs  # noqa: E731  images seen
        assert sum(map(n, small.runs())) < sum(map(n, full.runs()))


def test_init_sigma(svc):
    preset, t, results = run(svc, "init-sigma")
    assert preset.outcome(t, results) == []
    for s in ("σ=0.001", "σ=0.01"):
        assert 0.08 < acc(t, s) < 0.14 and abs(t.cell(s, "validation loss").mean - LN10) < 0.02
    assert t.cell("σ=1").diverged == 1 and t.cell("σ=10").diverged == 1 and t.cell("σ=10").reasons[0].startswith("The loss")
    assert acc(t, "σ=0.1") > 0.3
    assert acc(t, "He") == max(c[0].mean for c in t.cells if c[0].mean is not None) and acc(t, "He") > 0.8


def test_depth(svc):
    preset, t, results = run(svc, "depth")
    assert preset.outcome(t, results) == []
    assert acc(t, "0") < 0.92 and acc(t, "1") > acc(t, "0") + 0.02


def test_sizes_and_learning_rate(svc):
    preset, t, results = run(svc, "sizes-lr")
    assert preset.outcome(t, results) == []
    assert t.cols == ["training accuracy", "test accuracy"]
    assert acc(t, "64-30 · lr 0.01 + momentum", "test accuracy") > acc(t, "64-30 · lr 0.01", "test accuracy")
    assert len(results) == 9          # '64-30' and '64-30 · lr 0.01 + momentum' are one run


def test_overfitting(svc):
    preset, t, results = run(svc, "overfitting")
    assert preset.outcome(t, results) == []
    plain = next(r for r in results if r.hp.dropout == 0 and not r.hp.early_stopping)
    v = plain.epoch_val_loss
    assert plain.epoch_train_loss[-1] < 0.01 and v[-1] > 1.05 * min(v)
    early = next(r for r in results if r.hp.early_stopping)
    assert len(early.epoch_val_loss) < early.hp.epochs


def test_optimizers(svc):
    preset, t, results = run(svc, "optimizers")
    assert preset.outcome(t, results) == []
    assert acc(t, "SGD") < min(acc(t, r) for r in ("momentum", "Nesterov", "Adam", "RMSProp"))


def test_activations(svc):
    preset, t, results = run(svc, "activations")
    assert preset.outcome(t, results) == []
    assert acc(t, "sigmoid") < 0.2 and acc(t, "ReLU") > 0.85


def test_loss(svc):
    preset, t, results = run(svc, "loss")
    assert preset.outcome(t, results) == []
    assert acc(t, "cross-entropy") > acc(t, "MSE") + 0.03


def test_batch_size(svc):
    preset, t, results = run(svc, "batch-size")
    assert preset.outcome(t, results) == []
    assert acc(t, "2048", "test accuracy") < acc(t, "32", "test accuracy")
    assert t.cell("8", "time (s)").mean > t.cell("512", "time (s)").mean
