"""core.nn.metrics: step metrics published in batches, and where a run counts as diverged.

The bound is checked against its definition written out here: a loss past 100x its value at
initialization (never less than 100 ln 10, what a uniform guess scores), and never past 1e4.
"""
import math

import pytest
import torch

from core.nn import metrics as metrics_mod
from core.nn.history import History
from core.nn.metrics import StepMetrics

LN10 = math.log(10)


def pending(m: StepMetrics, losses, correct, n=10):
    for loss, c in zip(losses, correct):
        m.add(torch.tensor(float(loss)), torch.tensor(c), n)


@pytest.mark.parametrize("initial,bound", [
    (None, 100 * LN10),            # not measured yet: relative to a uniform guess
    (float("nan"), 100 * LN10),    # a NaN start cannot set the bound
    (float("inf"), 100 * LN10),
    (0.0, 100 * LN10),
    (1.0, 100 * LN10),             # a start below ln 10 does not make the bound stricter
    (LN10, 100 * LN10),
    (5.0, 500.0),                  # 100x the start
    (99.0, 9900.0),
    (150.0, 1e4),                  # ... but never above 1e4
])
def test_the_divergence_bound(initial, bound):
    m = StepMetrics(History())
    m.initial_loss = initial
    assert m.bound() == pytest.approx(bound, rel=1e-12)


def test_a_flush_publishes_every_pending_step_with_its_accuracy():
    h = History()
    m = StepMetrics(h)
    pending(m, [1.0, 2.0, 4.5], [5, 10, 0], n=10)
    assert m.flush(last_step=7) is None
    c, _ = h.snapshot()
    assert c.step == [5, 6, 7]                   # the newest is last_step
    assert c.loss == [1.0, 2.0, 4.5] and c.acc == [0.5, 1.0, 0.0]
    assert m.mean_loss == pytest.approx(7.5 / 3)
    assert m.flush(last_step=7) is None          # nothing pending: nothing published
    assert h.cursor()[0] == 3 and m.mean_loss == pytest.approx(2.5)


def test_the_first_nan_names_its_step_and_nothing_after_it_is_published():
    h = History()
    m = StepMetrics(h)
    pending(m, [1.0, 3.0, float("nan"), 2.0], [1, 2, 3, 4], n=4)
    assert m.flush(last_step=12) == (11, pytest.approx(float("nan"), nan_ok=True))
    c, _ = h.snapshot()
    assert c.step == [9, 10] and c.loss == [1.0, 3.0] and c.acc == [0.25, 0.5]
    assert m.mean_loss == pytest.approx(2.0)     # of the published steps only


def test_an_infinite_loss_is_diverged():
    m = StepMetrics(History())
    pending(m, [float("inf")], [0])
    step, value = m.flush(last_step=1)
    assert step == 1 and value == math.inf


def test_a_loss_past_the_bound_is_diverged_and_one_at_the_bound_is_not():
    h = History()
    m = StepMetrics(h)
    m.initial_loss = 5.0                         # bound: 100 x 5 = 500 (exact in float32)
    pending(m, [500.0, 500.0625], [0, 0])
    assert m.flush(last_step=2) == (2, 500.0625)
    assert h.snapshot()[0].loss == [500.0]


def test_a_first_step_that_diverges_publishes_nothing_and_keeps_the_old_mean():
    h = History()
    m = StepMetrics(h)
    pending(m, [1.0], [3])
    m.flush(last_step=1)
    pending(m, [1e9], [3])
    assert m.flush(last_step=2) == (2, 1e9)
    assert h.cursor()[0] == 1 and m.mean_loss == 1.0


def test_a_flush_is_due_after_32_steps_or_0_2_seconds(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(metrics_mod.time, "monotonic", lambda: now[0])
    m = StepMetrics(History())
    assert (m.FLUSH_STEPS, m.FLUSH_SECONDS) == (32, 0.2)
    pending(m, [1.0] * 31, [1] * 31)
    assert not m.due()
    pending(m, [1.0], [1])
    assert m.due()                               # 32 steps
    m.flush(last_step=32)
    assert not m.due()
    pending(m, [1.0], [1])
    now[0] += 0.2
    assert not m.due()                           # 0.2 s exactly: not yet
    now[0] += 0.01
    assert m.due()                               # past 0.2 s


def test_pending_losses_do_not_keep_the_autograd_graph_alive():
    w = torch.ones(3, requires_grad=True)
    m = StepMetrics(History())
    m.add((w * 2).sum(), torch.tensor(1), 1)
    assert not m._pending[0][0].requires_grad
