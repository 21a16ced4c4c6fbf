"""The memory estimate of a run, checked against formulas written out here and against the
memory real runs take (measured in fresh processes)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.nn.config import HyperParams
from core.nn.memory import estimate, what_to_shrink

ROOT = Path(__file__).resolve().parents[2]
GB, MB = 1 << 30, 1 << 20


def hp(**kw):
    return HyperParams.validate(**kw)


def test_parameters_and_weights_of_784_1000_100_10():
    e = estimate(hp(depth=2, width="1000,100"))
    assert e.parameters == 784 * 1000 + 1000 + 1000 * 100 + 100 + 100 * 10 + 10 == 886_110
    assert e.weights == 4 * 886_110 + 8            # float32, + the input normalization's mean, std
    assert e.gradients == 4 * 886_110 and e.initial_weights == e.weights


def test_batch_norm_adds_its_scale_shift_and_running_statistics():
    plain, bn = estimate(hp(depth=2, width="300")), estimate(hp(depth=2, width="300", batch_norm=True))
    assert bn.parameters - plain.parameters == 2 * 600          # γ and β per unit
    assert bn.weights - plain.weights == 4 * 2 * 600 + 4 * 2 * 600 + 8 * 2   # + running mean, var; int64 count


@pytest.mark.parametrize("optimizer,copies", [("sgd", 0), ("momentum", 1), ("nesterov", 1),
                                              ("rmsprop", 1), ("adam", 2)])
def test_optimizer_state_is_counted_in_copies_of_the_weights(optimizer, copies):
    e = estimate(hp(depth=2, width="500", optimizer=optimizer))
    p = 784 * 500 + 500 + 500 * 500 + 500 + 500 * 10 + 10
    assert e.optimizer == copies * 4 * p
    assert e.checkpoint == e.weights + e.optimizer              # a checkpoint copies both


def test_momentum_zero_keeps_no_buffer_and_early_stopping_keeps_the_best_weights():
    assert estimate(hp(optimizer="momentum", momentum=0)).optimizer == 0
    e = estimate(hp(early_stopping=True))
    assert e.best_weights == e.weights and estimate(hp()).best_weights == 0


def test_evaluation_gathers_the_validation_images():
    a, b = estimate(hp(val_fraction=0.1)), estimate(hp(val_fraction=0.2))
    assert b.evaluation - a.evaluation == 6000 * (784 * 4 + 8)  # 6,000 more images and labels


def test_activations_grow_with_the_batch_and_with_what_layers_keep_for_backward():
    small, big = estimate(hp(depth=3, width="1024", batch_size=256)), estimate(hp(depth=3, width="1024", batch_size=1024))
    assert big.activations == pytest.approx(4 * small.activations, rel=0.01)
    plain = estimate(hp(depth=3, width="1024", batch_size=1024, dropout=0))
    dropout = estimate(hp(depth=3, width="1024", batch_size=1024, dropout=0.5))
    both = estimate(hp(depth=3, width="1024", batch_size=1024, dropout=0.5, batch_norm=True))
    one = 1024 * 1024 * 4                                        # one (batch × width) float tensor
    assert dropout.activations - plain.activations == 3 * 2 * one    # mask + output, per layer
    assert both.activations - dropout.activations == 3 * one         # batch norm's input


def test_the_issue_data_point_12_x_4096():
    """Issue 9: 12 × 4096 'takes 1.46 GB as soon as it is created and 4.2 GB after one Adam
    step'. Measured here (bench/bench_memory.py): 1.51e9 bytes created, 3.90e9 after one step,
    6.13e9 at its first checkpoint (a copy of the weights and both Adam moments)."""
    e = estimate(hp(depth=12, width="4096"))
    p = 784 * 4096 + 4096 + 11 * (4096 * 4096 + 4096) + 4096 * 10 + 10
    assert e.parameters == p == 187_850_762
    created = e.weights + e.initial_weights + e.data
    assert created == pytest.approx(1.46e9, rel=0.05) and created == pytest.approx(1.51e9, rel=0.01)
    after_step = created + e.gradients + e.optimizer + e.activations
    assert after_step == pytest.approx(3.90e9, rel=0.05)
    assert e.total == pytest.approx(6.13e9, rel=0.05)
    assert e.describe() == ("~5.6 GB: 2.1 GB checkpoint copy, 1.4 GB weights+gradients, "
                            "1.4 GB Adam state (2 copies), 717 MB initial weights")


def test_describe_names_the_parts_that_matter():
    text = estimate(hp(depth=1, width="4096", batch_size=8192, batch_norm=True, dropout=0.5)).describe()
    assert text.startswith("~") and "activations at batch 8192" in text.split(",")[0]
    assert "Adam" in text
    assert "Adam" not in estimate(hp(optimizer="sgd")).describe()


def test_nothing_to_shrink_when_it_fits():
    assert what_to_shrink(estimate(hp()), 2 * GB) == ""


def test_a_big_network_is_told_to_shrink_to_a_size_that_fits():
    e = estimate(hp(depth=12, width="4096"))
    advice = what_to_shrink(e, 2 * GB)
    assert advice == "fewer or narrower layers (12 × 2048 needs ~1.4 GB)"
    assert estimate(hp(depth=12, width="2048")).total <= 2 * GB   # halving the width is enough
    # no batch size makes 188 M parameters fit, nor does another optimizer


def test_a_big_batch_is_told_the_batch_that_fits():
    h = hp(depth=2, width="2048", batch_size=8192, optimizer="sgd", dropout=0.5)
    budget = 600 * MB
    advice = what_to_shrink(estimate(h), budget)
    assert advice.endswith("or a smaller batch (4096 or less)"), advice
    assert estimate(h.replace(batch_size=4096)).total <= budget < estimate(h).total


def test_adam_is_told_its_state_can_go():
    h = hp(depth=3, width="2048")
    budget = estimate(h.replace(optimizer="rmsprop")).total
    assert "RMSProp instead of Adam" in what_to_shrink(estimate(h), budget)


# -- against measured memory ------------------------------------------------------------------------

MEASURED = [   # settings; "steps": stop after that many steps (else the whole run, test included)
    {"depth": 2, "width": "1000", "subset": 1024, "epochs": 1},                  # evaluation-bound
    {"depth": 3, "width": "2048", "batch_size": 256, "steps": 3},                 # Adam + checkpoint
    {"depth": 1, "width": "2048", "batch_size": 2048, "batch_norm": True, "dropout": 0.5,
     "optimizer": "sgd", "steps": 2},                                             # activations
]


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
def test_estimates_are_within_30_percent_of_measured_memory():
    """Real runs (`python -m core.nn.memory --measure`: each in a forked copy of a process that has
    loaded the data and torch): the rise of resident memory from just before the run is created
    to its peak."""
    cmd = [sys.executable, "-m", "core.nn.memory", "--measure", *map(json.dumps, MEASURED)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MNIST_PLAYGROUND_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(MEASURED), done.stdout + done.stderr
    for settings, r in zip(MEASURED, results):
        settings = {k: v for k, v in settings.items() if k != "steps"}
        e = estimate(HyperParams.validate(settings))
        assert r["state"] in ("finished", "stopped") and r["estimate"] == e.total
        assert 0.7 * r["peak"] <= e.total <= 1.3 * r["peak"], (settings, r["peak"] / MB, e.describe())
        created = e.weights + e.initial_weights + e.data
        assert created == pytest.approx(r["created"], rel=0.3), (settings, r["created"] / MB)
