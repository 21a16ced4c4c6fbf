"""core.analysis.verdict: did a run learn, why not, and a warning before Start. Real short runs for the
cases the issue names, hand-built curves for the rules."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.analysis import verdict as V
from core.analysis.diagnostics import signal_stats
from core.nn.config import HyperParams
from core.nn.history import Curves
from core.nn.model import build
from core.nn.trainer import Trainer
from core.states import DIVERGED, FINISHED, IDLE, RUNNING, STOPPED


def run_to_end(**kw):
    t = Trainer(HyperParams.validate(**kw), device="cpu")
    assert t.start() and t.wait(300)
    return t.snapshot(), t.history.snapshot()[0], t.hp


def snap(state=FINISHED, step=1000, best=None, reason=""):
    return SimpleNamespace(state=state, step=step, best_val_accuracy=best, reason=reason)


def curve(loss, acc=None, val_acc=()):
    n = len(loss)
    return Curves(list(range(1, n + 1)), list(loss), list(acc if acc is not None else [0.5] * n),
                  list(range(100, 100 * len(val_acc) + 1, 100)), [1.0] * len(val_acc), list(val_acc),
                  [True] * len(val_acc))


HEALTHY = HyperParams.validate()


# -- the case, for real ---------------------------------------------------------------------

def test_sigma_0_001_depth_9_stays_at_chance_and_the_verdict_says_the_signal_vanishes():
    kw = dict(depth=9, width="64", init="normal", init_sigma=0.001, subset=4000, batch_size=32,
              epochs=1, dropout=0)
    s, c, hp = run_to_end(**kw)
    assert s.state == FINISHED and s.step == 125
    assert s.best_val_accuracy < 0.15                        # chance: ~11 % (the share of 1s)
    v = V.judge(s, c, hp, V.initial_signal(hp))
    assert v.kind == "not_learned" and v.level == "bad" and v.headline == "Did not learn"
    assert v.text.startswith(f"**Did not learn:** {s.best_val_accuracy:.2%} validation accuracy is "
                             "chance level (a guess is right 10% of the time), and the training "
                             "loss stayed at ln 10 ≈ 2.30")
    assert "the signal vanishes at initialization" in v.text
    assert "σ = 0.001 is too small for this depth; He init would use σ = 0.051 for layer 1 and " \
           "σ = 0.18 for layer 2" in v.text                    # √(2/784), √(2/64)
    assert v.tab == V.TAB_SIGNAL and v.cause == "the signal vanishes at initialization"
    # ... and Start would have warned.
    warning = V.warn_before_start(hp)
    assert warning.startswith("**These settings will probably not learn.** The signal vanishes")
    assert "σ = 0.001 is too small" in warning and "Signal propagation" in warning


def test_a_healthy_short_run_learned():
    s, c, hp = run_to_end(depth=1, width="64", subset=2000, batch_size=32, epochs=1)
    v = V.judge(s, c, hp, V.initial_signal(hp))
    assert v.kind == "learned" and v.level == "ok"
    assert v.text == f"**Learned:** {s.best_val_accuracy:.2%} validation accuracy (a guess: 10%)."
    assert V.warn_before_start(hp) is None


# -- the rules, on hand-built curves ---------------------------------------------------------------

def test_chance_level_numbers_are_the_uniform_guess():
    assert V.chance_accuracy(HEALTHY) == 0.1
    assert V.chance_loss(HEALTHY) == pytest.approx(2.302585, abs=1e-6)         # ln 10
    mse = HEALTHY.replace(loss="mse")
    assert V.chance_loss(mse) == pytest.approx(0.81 + 9 * 0.01)                  # (0.9)² + 9·(0.1)²


def test_near_chance_means_at_most_one_and_a_half_times_chance():
    flat = curve([2.0] * 1000)
    assert V.judge(snap(best=0.15), flat, HEALTHY).kind == "not_learned"
    assert V.judge(snap(best=0.151), flat, HEALTHY).kind == "little"


def test_stuck_at_ln10_is_said_and_a_too_small_learning_rate_is_named():
    hp = HyperParams.validate(optimizer="sgd", lr=1e-5)
    c = curve(np.linspace(2.31, 2.29, 2000))
    v = V.judge(snap(best=0.11), c, hp, V.initial_signal(hp))   # healthy init (He)
    assert "the training loss stayed at ln 10 ≈ 2.30" in v.text
    assert v.cause == "the learning rate is too small" and v.tab is None
    assert "the learning rate 1e-05 is too small for sgd" in v.text


def test_a_rising_loss_names_a_too_large_learning_rate():
    hp = HyperParams.validate(optimizer="sgd", lr=1.0)
    v = V.judge(snap(best=0.1), curve(np.linspace(2.3, 3.5, 1000)), hp, V.initial_signal(hp))
    assert v.kind == "not_learned" and v.cause == "the learning rate is too high"
    # start: mean of the first 20 points (2.311), recent: of the last 10 % of the steps (3.44)
    assert "rose from 2.31 to 3.44" in v.text and "stayed at ln 10" not in v.text


def test_flat_at_a_high_value_is_a_stall():
    loss = np.r_[np.linspace(2.3, 1.2, 500), np.full(1500, 1.2)]
    v = V.judge(snap(best=0.7), curve(loss), HEALTHY)
    assert v.kind == "plateau" and v.level == "warn"
    assert v.text.startswith("**Stalled at a high loss:** the training loss has stayed at ~1.20")
    still_falling = np.linspace(2.3, 0.6, 2000)
    assert V.judge(snap(best=0.7), curve(still_falling), HEALTHY).kind == "learned"
    low = np.r_[np.linspace(2.3, 0.1, 500), np.full(1500, 0.1)]     # flat, but low: done learning
    assert V.judge(snap(best=0.97), curve(low), HEALTHY).kind == "learned"


def test_too_early_or_not_started_gives_no_verdict():
    assert V.judge(snap(step=50, best=0.1), curve([2.3] * 50), HEALTHY) is None
    assert V.judge(snap(state=IDLE, step=0), Curves(), HEALTHY) is None
    assert V.judge(snap(best=None), Curves(), HEALTHY) is None


def test_a_live_run_is_judged_so_far_from_its_latest_validation_point():
    v = V.judge(snap(state=RUNNING, step=500), curve([2.3] * 500, val_acc=[0.1, 0.11]), HEALTHY)
    assert v.headline == "Did not learn so far" and "11.00% validation accuracy" in v.text
    stopped = V.judge(snap(state=STOPPED, step=500, best=0.95), curve([0.2] * 500), HEALTHY)
    assert stopped.headline == "Learned"


def test_the_untrained_networks_point_at_step_0_is_not_a_verdict():
    """Runs record the untrained network at step 0 (~10 %). A live run whose next validation
    is far away is judged on its training accuracy, not on that point."""
    c = curve([0.3] * 500, acc=[0.9] * 500)
    c.val_step, c.val_loss, c.val_acc, c.val_full = [0], [2.3], [0.1], [False]
    v = V.judge(snap(state=RUNNING, step=500), c, HEALTHY)
    assert v.kind == "learned" and "90.00% training accuracy" in v.text
    early = curve([2.3] * 50, acc=[0.1] * 50)
    early.val_step, early.val_acc, early.val_loss, early.val_full = [0], [0.1], [2.3], [False]
    assert V.judge(snap(state=RUNNING, step=50), early, HEALTHY) is None     # too early


def test_a_diverged_run_blames_an_exploding_initialization_only_when_it_exploded():
    hp = HyperParams.validate(depth=8, init="normal", init_sigma=0.2)
    sig = V.initial_signal(hp)
    v = V.judge(snap(DIVERGED, reason="The loss became NaN at step 3."), Curves(), hp, sig)
    assert v.kind == "diverged" and v.tab == V.TAB_SIGNAL
    assert v.text.startswith("**Diverged:** The loss became NaN at step 3. Likely cause: the signal explodes")
    assert "σ = 0.2 is too large for this depth; He init would use σ = 0.051" in v.text
    calm = V.judge(snap(DIVERGED, reason="lr too high"), Curves(), HEALTHY, V.initial_signal(HEALTHY))
    assert calm.tab is None and calm.text == "**Diverged:** lr too high"


def test_the_verdict_reads_a_long_runs_digest_like_its_full_curves():
    from core.charts.train import CurveView
    loss = np.r_[np.linspace(2.3, 1.2, 50_000), np.full(150_000, 1.2)]
    full = curve(loss)
    digest = CurveView(1000).update(full).digest()
    assert len(digest.step) <= 600
    a, b = V.judge(snap(step=200_000, best=0.7), full, HEALTHY), V.judge(snap(step=200_000, best=0.7), digest, HEALTHY)
    assert a.kind == b.kind == "plateau" and a.text == b.text


# -- before Start ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,warned", [
    (dict(), None),                                                              # He: fine
    (dict(depth=8, init="normal", init_sigma=0.2), "explodes"),                  # diverged in 1 step
    (dict(depth=8, init="normal", init_sigma=0.3, activation="tanh"), "units saturate"),  # 34 % after 1 epoch
    (dict(depth=6, init="normal", init_sigma=0.01, optimizer="sgd", lr=0.1), "vanishes"),  # chance
    (dict(depth=6, init="normal", init_sigma=0.01), None),   # Adam: 84 % after 1 epoch, no warning
])
def test_warn_before_start_only_for_settings_known_not_to_learn(kw, warned):
    """The cases measured when the thresholds were set (one epoch of MNIST, batch 128)."""
    text = V.warn_before_start(HyperParams.validate(**kw))
    assert (text is None) == (warned is None)
    if warned:
        assert warned in text and text.startswith("**These settings will probably not learn.**")


def test_the_output_limit_depends_on_the_optimizer():
    """Adam and RMSProp take steps of about lr whatever the gradient's size (until it falls
    below their ε), SGD takes lr × gradient: the same vanishing init is fatal for SGD first."""
    sig = SimpleNamespace(finite=True, logits_std=1e-8, layers=[SimpleNamespace(saturated=None)],
                          loss=2.3, activation="relu")
    assert V.init_trouble(sig, HyperParams.validate(optimizer="sgd"))[0] == "vanishes"
    assert V.init_trouble(sig, HyperParams.validate(optimizer="adam")) is None
    sig.logits_std = 1e-11
    assert V.init_trouble(sig, HyperParams.validate(optimizer="rmsprop"))[0] == "vanishes"


def test_wide_networks_are_measured_on_a_narrow_stand_in_with_the_same_picture():
    """784-2048-2048-10 at N(0, 0.05²): the stand-in (512 wide, weights × √(2048/512) from layer
    2 on) gives the real network's output spread, within sampling noise, in a fraction of the
    work; the reported fan-ins are the real ones."""
    hp = HyperParams.validate(depth=2, width="2048", init="normal", init_sigma=0.05)
    proxy = V.initial_signal(hp)
    from core.nn import data
    ds = data.load("mnist")
    idx = data.split(60000, hp.val_fraction, 0, hp.seed).val_idx[:256]
    real = signal_stats(build(hp, ds.mean, ds.std, torch.Generator().manual_seed(0)).eval(),
                        ds.train_x[idx], ds.train_y[idx])
    assert proxy.fan_ins == (784, 2048, 2048)
    for a, b in zip(proxy.series("act_std"), real.series("act_std")):
        assert a == pytest.approx(b, rel=0.15)
    assert math.log10(proxy.logits_std) == pytest.approx(math.log10(real.logits_std), abs=0.15)
