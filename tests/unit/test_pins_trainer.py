"""core.nn.trainer: every control path and figure a user relies on, each pinned by a test that fails
when it breaks. Numbers are checked against independent computations (the model evaluated here,
formulas written out) rather than the trainer's own helpers. Tiny networks: each run is < 1 s."""
import copy
import math
import time
import types

import pytest
import torch
import torch.nn.functional as F

from core.nn import data
from core.nn import model as model_lib
from core.nn import trainer as trainer_mod
from core.nn.config import HyperParams
from core.nn.control import Control
from core.nn.trainer import Trainer, loss_function, make_optimizer
from core.states import DIVERGED, FAILED, FINISHED, IDLE, PAUSED, QUEUED, STOPPED

# 2,000 training images in batches of 100: 20 steps per epoch
SMALL = dict(subset=2000, depth=1, width="16", epochs=1, batch_size=100, dropout=0, seed=3)


def hp(**kw) -> HyperParams:
    return HyperParams.validate(**{**SMALL, **kw})


def make(control=None, sink=None, resume=None, steady=True, **kw) -> Trainer:
    t = Trainer(hp(**kw), device="cpu", control=control, sink=sink, resume=resume, threads=1)
    if steady:   # flush only every 32 steps, at validation points and epoch ends (not on a timer)
        t.metrics.FLUSH_SECONDS = 1e9
    return t


def wait_until(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def paused_after(t: Trainer, steps: int) -> None:
    for i in range(steps):
        assert t.step_once()
        wait_until(lambda: t.snapshot().state == PAUSED and t.snapshot().step == i + 1)


def evaluate(m: torch.nn.Module, x, y):
    """Loss and accuracy of `m` (eval mode) on (x, y), computed here in one batch."""
    m = copy.deepcopy(m).eval()
    with torch.no_grad():
        logits = m(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).sum().item() / len(y)


def val_set(h: HyperParams):
    ds = data.load("mnist")
    idx = data.split(60000, h.val_fraction, h.subset, h.seed).val_idx
    return ds.train_x[idx], ds.train_y[idx]


# -- a whole run: its counters and figures ---------------------------------------------------------

def test_a_finished_run_reports_figures_that_match_an_independent_evaluation():
    t = make(epochs=2)
    assert (t.steps_per_epoch, t.total_steps) == (20, 40)     # ceil(2000 / 100), x 2 epochs
    assert t.start()
    assert t.wait(60)
    s = t.snapshot()
    assert s.state == FINISHED and s.step == 40 and s.epoch == 2.0 and s.epochs == 2
    assert s.eta is None and s.samples_per_second == pytest.approx(4000 / s.elapsed)
    c, _ = t.history.snapshot()
    # validation: step 0 (untrained), 4 points within each epoch, the whole set at its end
    assert c.val_step == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    assert c.val_full == [False] * 5 + [True] + [False] * 4 + [True]
    assert c.acc == [pytest.approx(a) for a in c.acc] and all(0 <= a <= 1 for a in c.acc)
    # the last flush published steps 37-40: the status line's loss is their mean
    assert s.train_loss == pytest.approx(sum(c.loss[36:40]) / 4)
    final = t.model_snapshot()
    ds = data.load("mnist")
    test_loss, test_acc = evaluate(final, ds.test_x, ds.test_y)
    assert s.test_accuracy == pytest.approx(test_acc, abs=1e-9)
    assert s.test_loss == pytest.approx(test_loss, rel=1e-4)
    assert s.reason == f"trained 2 epochs; test accuracy {test_acc:.2%} on the 10,000 test images"
    val_loss, val_acc = evaluate(final, *val_set(t.hp))
    assert (s.val_loss, s.val_accuracy) == (pytest.approx(val_loss, rel=1e-4), pytest.approx(val_acc))
    full = [v for v, f in zip(c.val_loss, c.val_full) if f]
    assert s.val_loss == full[-1]
    best = full.index(min(full))
    assert s.best_val_epoch == best + 1
    assert s.best_val_accuracy == [a for a, f in zip(c.val_acc, c.val_full) if f][best]
    assert s.weights_version == 40                             # one new version per step
    assert len(t.optimizer.state) == 0                         # Adam's moments are freed at the end


def test_one_epoch_says_epoch_and_a_partial_last_batch_counts_as_a_step():
    t = make(subset=250)                                       # 100 + 100 + 50 images
    assert (t.steps_per_epoch, t.total_steps) == (3, 3)
    assert t.start() and t.wait(60)
    s = t.snapshot()
    assert s.reason.startswith("trained 1 epoch; test accuracy") and s.step == 3
    assert s.samples_per_second == pytest.approx(250 / s.elapsed)


def test_the_untrained_point_is_the_initial_network_on_the_validation_sample():
    h = hp()
    x, y = val_set(h)
    x, y = x[:Trainer.VAL_SAMPLE], y[:Trainer.VAL_SAMPLE]
    ds = data.load("mnist")
    initial = model_lib.build(h, ds.mean, ds.std, torch.Generator().manual_seed(h.seed))
    for flops_budget, n in [(Trainer.STEP0_FLOPS, 2000), (1.0, 64)]:
        t = make(control=Control(granted=False))
        t.STEP0_FLOPS = flops_budget        # a huge network measures step 0 on >= 64 images only
        assert t.start()
        wait_until(lambda: t.history.cursor()[1] == 1)
        c, _ = t.history.snapshot()
        loss, acc = evaluate(initial, x[:n], y[:n])
        assert c.val_step == [0] and c.val_full == [False]
        assert c.val_loss[0] == pytest.approx(loss, rel=1e-5) and c.val_acc[0] == pytest.approx(acc)
        assert t.metrics.initial_loss == c.val_loss[0]       # the divergence bound starts from it
        t.stop()
        assert t.wait(10) and t.snapshot().step == 0


def test_the_model_is_back_in_training_mode_after_every_validation_pass():
    """Dropout and batch norm must be on for every training step, off for every evaluation:
    a hook records the mode of each forward pass of a whole run."""
    t = make(dropout=0.5, batch_norm=True, epochs=2)
    modes = []
    t.model.register_forward_pre_hook(
        lambda m, args: modes.append((len(args[0]), m.training, all(x.training for x in m.modules()))))
    assert t.start() and t.wait(60)
    train = [(tr, every) for n, tr, every in modes if n == 100]
    evals = [(tr, every) for n, tr, every in modes if n != 100]
    assert len(train) == 40 and all(tr and every for tr, every in train)
    assert len(evals) >= 11 and not any(tr for tr, _ in evals)


def test_evaluation_uses_eval_mode_and_leaves_training_mode_on():
    t = make(dropout=0.5, batch_norm=True)
    x, y = val_set(t.hp)
    x, y = x[:300], y[:300]
    t.model.train()
    first = t._evaluate(x, y, chunk=128)
    assert t._evaluate(x, y) == pytest.approx(first)           # no dropout while evaluating
    loss, acc = evaluate(t.model, x, y)
    assert first == (pytest.approx(loss, rel=1e-5), pytest.approx(acc))
    assert t.model.training and all(m.training for m in t.model.modules())
    bn = t.model.hidden[0].bn
    before = bn.running_mean.clone()
    a, b = t.model(x), t.model(x)
    assert not torch.equal(a, b)                               # dropout is on again
    assert not torch.equal(bn.running_mean, before)            # batch norm updates its statistics


# -- stop, from every state --------------------------------------------------------------------

def test_an_idle_run_stops_without_starting_and_cannot_be_started_or_stepped():
    saved = []
    t = make(sink=lambda kind, state: saved.append(kind))
    t.stop()
    s = t.snapshot()
    assert (s.state, s.reason) == (STOPPED, "stopped before it started")
    assert not t.start() and not t.step_once()
    assert t.wait(1) and t.snapshot().step == 0 and t.history.cursor() == (0, 0, 0) and saved == []


def test_stopping_a_paused_run_saves_it_and_says_at_which_step():
    saved = {}
    t = make(epochs=5, sink=lambda kind, state: saved.__setitem__(kind, state))
    paused_after(t, 3)
    assert len(t.optimizer.state) > 0                          # Adam's moments while it may go on
    t.stop()
    assert t.wait(10)
    s = t.snapshot()
    assert (s.state, s.reason) == (STOPPED, "stopped by the user at step 3")
    assert saved["checkpoint"]["counters"]["step"] == 3 and saved["checkpoint"]["batch"] == 3
    assert saved["checkpoint"]["best_model"] is None and saved["checkpoint"]["counters"]["val"] is None
    assert t.history.snapshot()[0].step == [1, 2, 3]
    assert len(t.optimizer.state) == 0
    assert not t.step_once() and t.snapshot().step == 3        # Step after the end does nothing


def test_stopping_a_queued_run_ends_it_before_any_step():
    t = make(control=Control(granted=False), epochs=5)
    assert t.start()
    wait_until(lambda: t.snapshot().state == QUEUED and t.snapshot().reason == Control.WAITING)
    t.stop("deleted")
    assert t.wait(10)
    s = t.snapshot()
    assert (s.state, s.reason, s.step) == (STOPPED, "deleted at step 0", 0)


def test_step_after_a_finished_run_does_nothing():
    t = make(subset=200)
    assert t.start() and t.wait(60)
    before = t.snapshot()
    assert not t.step_once()
    time.sleep(0.1)
    after = t.snapshot()
    assert (after.state, after.step, after.reason) == (FINISHED, before.step, before.reason)


def test_wait_returns_false_while_the_run_goes_on():
    t = make(epochs=200)
    assert t.start()
    assert t._thread.daemon          # a training run never keeps the process (CLI, server) alive
    assert t.wait(0.05) is False
    t.stop()
    assert t.wait(10) is True


def test_a_run_that_raises_ends_failed_with_the_error_named():
    def sink(kind, state):
        raise RuntimeError("disk on fire")
    t = make(sink=sink)
    assert t.start() and t.wait(60)
    s = t.snapshot()
    assert s.state == FAILED and s.reason == "training failed: RuntimeError: disk on fire"
    assert not s.active and s.ended


def test_a_checkpoint_that_cannot_be_written_is_a_warning_not_the_end():
    def sink(kind, state):
        raise OSError(28, "No space left on device")
    t = make(sink=sink)
    assert t.start() and t.wait(60)
    assert t.snapshot().state == FINISHED
    events = t.history.snapshot()[0].events
    assert events and all(e["kind"] == "warning" for e in events)
    assert events[0] == {"step": 20, "kind": "warning",
                         "text": "checkpoint not written: [Errno 28] No space left on device"}


def test_checkpoints_at_epoch_ends_and_at_the_finish_then_every_flush_when_due():
    steps = []
    t = make(epochs=2, sink=lambda kind, state: steps.append((kind, state["counters"]["step"])))
    assert t.start() and t.wait(60)
    assert steps == [("checkpoint", 20), ("checkpoint", 40), ("checkpoint", 40)]
    steps.clear()
    t = make(epochs=1, sink=lambda kind, state: steps.append((kind, state["counters"]["step"])))
    t.CHECKPOINT_SECONDS = 0.0                 # due at once: after each flush
    t.metrics.FLUSH_STEPS = 1
    assert t.start() and t.wait(60)
    assert [s for _, s in steps] == [*range(1, 21), 20, 20]


# -- live changes --------------------------------------------------------------------------------

def live_run(optimizer, **kw):
    t = make(optimizer=optimizer, epochs=5, **kw)
    paused_after(t, 1)
    return t


def step_and_stop(t):
    t.step_once()
    wait_until(lambda: t.snapshot().step == 2 and t.snapshot().state == PAUSED)
    t.stop()
    assert t.wait(10)


def test_a_momentum_change_reaches_the_optimizer_and_the_curves():
    t = live_run("momentum", momentum=0.9, lr=0.01)
    t.set_live("momentum", 0.5)
    step_and_stop(t)
    assert all(g["momentum"] == 0.5 for g in t.optimizer.param_groups)
    assert t.snapshot().live["momentum"] == 0.5
    assert t.history.snapshot()[0].events == [{"step": 1, "kind": "momentum", "text": "momentum 0.9 → 0.5"}]


def test_a_weight_decay_change_reaches_the_optimizer_and_the_curves():
    t = live_run("nesterov", momentum=0.9, lr=0.01)
    t.set_live("weight_decay", 0.001)
    step_and_stop(t)
    assert all(g["weight_decay"] == 0.001 for g in t.optimizer.param_groups)
    assert t.optimizer.param_groups[0]["nesterov"] is True
    assert t.snapshot().live == {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.001}
    assert t.history.snapshot()[0].events == [{"step": 1, "kind": "weight_decay", "text": "weight_decay 0 → 0.001"}]


def test_momentum_is_not_given_to_an_optimizer_without_it():
    t = live_run("rmsprop")
    t.set_live("momentum", 0.5)
    step_and_stop(t)
    assert t.optimizer.param_groups[0]["momentum"] == 0        # RMSprop's own momentum stays off


def test_a_change_before_the_start_is_the_setting_itself_not_an_event():
    t = make(optimizer="sgd", lr=0.01)
    t.set_live("lr", 0.2)
    assert t.optimizer.param_groups[0]["lr"] == 0.2 and t.snapshot().live["lr"] == 0.2
    assert t.ctl.pending_live("lr") is None
    paused_after(t, 1)
    t.stop()
    assert t.wait(10)
    assert t.history.snapshot()[0].events == []


def test_setting_the_current_value_again_records_nothing():
    t = live_run("sgd", lr=0.01)
    t.set_live("lr", 0.01)
    assert t.ctl.pending_live("lr") is None
    t.set_live("lr", 0.05)
    t.set_live("lr", 0.05)                     # twice the same pending value
    step_and_stop(t)
    assert t.history.snapshot()[0].events == [{"step": 1, "kind": "lr", "text": "lr 0.01 → 0.05"}]


# -- the clock: pauses are not training time ----------------------------------------------------

def test_elapsed_and_eta_leave_pauses_out():
    t = make(epochs=50)
    s0 = t.snapshot()
    assert (s0.state, s0.elapsed, s0.eta, s0.samples_per_second) == (IDLE, 0.0, None, 0.0)
    assert t.start()
    wait_until(lambda: t.snapshot().step >= 5)
    t.pause()
    wait_until(lambda: t.snapshot().state == PAUSED)
    a = t.snapshot()
    time.sleep(0.3)
    b = t.snapshot()
    assert b.elapsed == a.elapsed > 0                          # the clock stands still while paused
    # ETA: the steps left at the speed so far, steps / training seconds
    assert b.eta == pytest.approx((b.total_steps - b.step) / (b.step / b.elapsed))
    assert b.samples_per_second == pytest.approx(b.step * 100 / b.elapsed)
    assert b.epoch == pytest.approx(b.step / 20)
    t.resume()
    wait_until(lambda: t.snapshot().step > b.step + 2)
    c = t.snapshot()
    assert c.elapsed > b.elapsed                               # and runs again after Resume
    t.stop()
    assert t.wait(10)
    assert t.snapshot().eta is None


# -- early stopping ------------------------------------------------------------------------------

def test_early_stopping_restores_the_best_weights_as_a_new_version_and_saves_them():
    saved = {}
    t = make(subset=300, width="64", lr=0.01, epochs=60, early_stopping=True, patience=1,
             sink=lambda kind, state: saved.__setitem__(kind, state))
    assert t.start() and t.wait(60)
    s = t.snapshot()
    assert s.state == FINISHED and s.step < s.total_steps
    assert s.weights_version == s.step + 1                     # the restore is a change of weights
    c, _ = t.history.snapshot()
    full = [v for v, f in zip(c.val_loss, c.val_full) if f]
    best = full.index(min(full)) + 1
    assert len(full) == best + 1 and s.best_val_epoch == best  # patience 1: one bad epoch
    assert saved["best"]["epoch"] == best and saved["best"]["format"] == 1
    restored = t.model_snapshot().state_dict()
    assert all(torch.equal(restored[k], v) for k, v in saved["best"]["model"].items())
    event = c.events[-1]
    assert event["kind"] == "early_stop" and event["step"] == s.step
    assert event["text"] == (f"early stopping after epoch {best + 1}: the validation loss has not "
                             f"improved for 1 epoch; restored the weights of epoch {best} "
                             f"(validation accuracy {s.best_val_accuracy:.2%})")
    assert s.reason.startswith(event["text"] + "; test accuracy")


def test_early_stopping_does_not_end_a_run_at_its_last_epoch():
    """Patience used up in the very last epoch: the run simply finishes, with its last weights."""
    t = make(subset=300, width="64", lr=0.01, epochs=2, early_stopping=True, patience=1)
    t.start()
    assert t.wait(60)
    assert t.snapshot().reason.startswith("trained 2 epochs")


# -- divergence ---------------------------------------------------------------------------------

def test_the_divergence_message_names_the_value_the_step_and_the_likely_causes():
    t = make(init="normal", init_sigma=2.0, depth=0, optimizer="sgd", lr=1.0)
    assert t._divergence_message(7, float("nan")) == (
        "The loss became NaN at step 7 (epoch 0.35): the learning rate 1 is too high for this "
        "network, or init σ = 2 makes the logits huge. Try a 10x smaller learning rate or a smaller σ.")
    t = make(init="normal", init_sigma=1.0, depth=1, optimizer="sgd", lr=0.5)
    he = math.sqrt(2 / 784)
    assert t._divergence_message(1234, math.inf) == (
        "The loss became infinite at step 1,234 (epoch 61.70): the learning rate 0.5 is too high "
        f"for this network, or init σ = 1 makes the activations explode (He init would use σ ≈ {he:.3g} "
        "for layer 1). Try a 10x smaller learning rate or a smaller σ.")
    t = make(init="normal", init_sigma=0.5, lr=0.3)            # σ below 1 is not blamed
    t.metrics.initial_loss = 2.0
    assert t._divergence_message(40, 1e5) == (
        "The loss grew to 1e+05, past 230 (the limit is 100× its value at initialization, at most "
        "10⁴; a random guess scores ln 10 ≈ 2.30) at step 40 (epoch 2.00): the learning rate 0.3 "
        "is too high for this network. Try a 10x smaller learning rate.")


def test_a_diverged_run_keeps_only_finite_points_and_frees_the_optimizer():
    t = make(init="normal", init_sigma=10, depth=3, optimizer="adam", lr=10, epochs=3)
    assert t.start() and t.wait(60)
    s = t.snapshot()
    assert s.state == DIVERGED and s.reason.startswith("The loss ")
    c, _ = t.history.snapshot()
    assert all(math.isfinite(v) and v <= t.metrics.bound() for v in c.loss)
    assert len(t.optimizer.state) == 0


# -- the building blocks ------------------------------------------------------------------------

def test_each_optimizer_gets_its_settings():
    params = [torch.nn.Parameter(torch.zeros(2))]
    expect = {
        "sgd": (torch.optim.SGD, {"lr": 0.03, "momentum": 0, "nesterov": False, "weight_decay": 0.01}),
        "momentum": (torch.optim.SGD, {"lr": 0.03, "momentum": 0.8, "nesterov": False, "weight_decay": 0.01}),
        "nesterov": (torch.optim.SGD, {"lr": 0.03, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
        "adam": (torch.optim.Adam, {"lr": 0.03, "weight_decay": 0.01}),
        "rmsprop": (torch.optim.RMSprop, {"lr": 0.03, "alpha": 0.9, "weight_decay": 0.01, "momentum": 0}),
    }
    for name, (cls, settings) in expect.items():
        opt = make_optimizer(hp(optimizer=name, lr=0.03, momentum=0.8, weight_decay=0.01), params)
        assert type(opt) is cls, name
        group = opt.param_groups[0]
        assert {k: group[k] for k in settings} == settings, name
        assert group["params"] == params
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        make_optimizer(types.SimpleNamespace(optimizer="lbfgs", lr=0.1, momentum=0.9, weight_decay=0), params)


def test_the_mse_loss_is_the_squared_error_summed_over_classes():
    mse = loss_function("mse")
    logits = torch.zeros(2, 10)                                # softmax: 0.1 everywhere
    y = torch.tensor([3, 7])
    # per image: 9 x 0.1² + 0.9² = 0.9
    assert mse(logits, y).item() == pytest.approx(0.9)
    assert mse(logits, y, reduction="sum").item() == pytest.approx(1.8)
    logits = torch.tensor([[math.log(3.0), 0.0] + [-math.inf] * 8])   # softmax (0.75, 0.25, 0, ...)
    assert mse(logits, torch.tensor([0])).item() == pytest.approx(0.25 ** 2 + 0.25 ** 2)


def test_the_cross_entropy_loss_in_both_reductions():
    ce = loss_function("cross_entropy")
    logits = torch.zeros(4, 10)
    y = torch.tensor([0, 1, 2, 3])
    assert ce(logits, y).item() == pytest.approx(math.log(10))
    assert ce(logits, y, reduction="sum").item() == pytest.approx(4 * math.log(10))


def test_the_device_is_the_operators_choice_else_the_best_present(monkeypatch):
    monkeypatch.setenv("MNIST_PLAYGROUND_DEVICE", "meta")
    assert trainer_mod.pick_device() == torch.device("meta")
    monkeypatch.delenv("MNIST_PLAYGROUND_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert trainer_mod.pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert trainer_mod.pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert trainer_mod.pick_device() == torch.device("cuda")


def test_training_threads_come_from_the_operators_settings(monkeypatch):
    monkeypatch.setenv("MNIST_PLAYGROUND_THREADS_PER_RUN", "1")
    assert trainer_mod.torch_threads() == 1
    t = Trainer(hp(), device="cpu")
    assert t.threads == 1


def test_a_continued_run_gets_back_its_live_values_clock_and_best():
    saved = {}
    t = make(optimizer="sgd", lr=0.01, epochs=3, sink=lambda kind, state: saved.__setitem__(kind, state))
    paused_after(t, 21)                                        # one epoch and a step
    t.set_live("lr", 0.05)
    t.step_once()
    wait_until(lambda: t.snapshot().step == 22 and t.snapshot().state == PAUSED)
    t.stop()
    assert t.wait(10)
    before = t.snapshot()
    state = saved["checkpoint"]
    again = make(optimizer="sgd", lr=0.01, epochs=3, resume=state)
    s = again.snapshot()
    assert again.optimizer.param_groups[0]["lr"] == 0.05 and s.live["lr"] == 0.05
    assert s.step == 22 and s.elapsed == pytest.approx(state["counters"]["elapsed"])
    assert s.weights_version == state["counters"]["version"] + 1
    assert (s.val_loss, s.best_val_epoch, s.best_val_accuracy) == (before.val_loss, 1, before.best_val_accuracy)
    assert again.metrics.initial_loss == t.metrics.initial_loss
    assert again.epoch_end_seconds == t.epoch_end_seconds and len(again.epoch_end_seconds) == 1
    assert again.history.cursor() == (0, 0, 0)                 # its curves come from the ledger
    assert again.start() and again.wait(60)
    assert again.history.snapshot()[0].val_step[0] != 0        # no second untrained point


# -- the training slot, the weights copy, the early-stopping rule ---------------------------------

def test_the_slot_is_granted_and_taken_back_by_the_scheduler():
    t = make(control=Control(granted=False), epochs=5)
    assert not t.holds_slot and not t.wants_slot               # idle: wants nothing yet
    assert t.start()
    assert t.wants_slot and not t.holds_slot
    t.grant()
    assert t.holds_slot
    wait_until(lambda: t.snapshot().step >= 1)
    t.revoke()
    assert not t.holds_slot
    wait_until(lambda: t.snapshot().state == QUEUED)           # waits for a slot again
    step = t.snapshot().step
    time.sleep(0.2)
    assert t.snapshot().step == step
    t.pause()
    assert not t.wants_slot
    t.stop()
    assert t.wait(10)


def test_the_weights_are_copied_once_per_version(monkeypatch):
    copies = []
    real = model_lib.from_state_dict
    monkeypatch.setattr(model_lib, "from_state_dict", lambda *a: copies.append(1) or real(*a))
    t = make(epochs=5)
    a, b = t.model_snapshot(), t.model_snapshot()
    assert len(copies) == 1 and a is not b
    paused_after(t, 1)
    c = t.model_snapshot()
    assert len(copies) == 2 and not torch.equal(c.out.weight, a.out.weight)
    assert torch.equal(c.out.weight, t.model.out.weight.detach())
    t.stop()
    assert t.wait(10)


def test_early_stopping_counts_epochs_without_an_improvement_of_at_least_1e_4():
    """The rule on given validation losses: better by less than 1e-4 is no improvement."""
    t = make(early_stopping=True, patience=2, epochs=10)
    losses = iter([1.0, 0.99995, 0.9, 0.8999, 0.89995, 0.9])
    t._validate = lambda x, y, full: (next(losses), 0.5)
    results = [t._epoch_end() for _ in range(5)]
    # epoch 1: best; 2: 0.99995 is not 1e-4 better; 3: improved; 4: 0.8999 is exactly 1e-4 (not
    # more) better; 5: no better -> 2 bad epochs = patience: stop, restoring epoch 3
    assert results == [True, True, True, True, False]
    s = t.snapshot()
    assert s.best_val_epoch == 3 and s.state == FINISHED
    assert s.reason.startswith("early stopping after epoch 5: the validation loss has not improved "
                               "for 2 epochs; restored the weights of epoch 3 (validation accuracy 50.00%)")


def test_without_early_stopping_bad_epochs_do_not_end_the_run():
    t = make(early_stopping=False, patience=1, epochs=10)
    losses = iter([1.0, 2.0, 3.0, 4.0])
    t._validate = lambda x, y, full: (next(losses), 0.5)
    assert [t._epoch_end() for _ in range(4)] == [True] * 4
    assert t.snapshot().best_val_epoch == 1 and t.snapshot().state == IDLE


# -- what the earlier tests left open (mutation testing's survivors) -----------------------------

def test_no_checkpoint_between_epoch_ends_while_the_last_is_recent():
    """A flush after every step, but CHECKPOINT_SECONDS (60 s) not yet past: checkpoints come
    only at the epoch end and at the finish."""
    steps = []
    t = make(epochs=1, sink=lambda kind, state: steps.append((kind, state["counters"]["step"])))
    t.metrics.FLUSH_STEPS = 1
    assert t.start() and t.wait(60)
    assert steps == [("checkpoint", 20), ("checkpoint", 20)]


def test_setting_a_value_back_before_the_next_step_cancels_the_pending_change():
    t = live_run("sgd", lr=0.01)
    t.set_live("lr", 0.05)
    t.set_live("lr", 0.01)                     # changed my mind: back to the current value
    step_and_stop(t)
    assert t.optimizer.param_groups[0]["lr"] == 0.01 and t.snapshot().live["lr"] == 0.01
    assert t.history.snapshot()[0].events == []


def test_a_class_run_says_how_many_test_images_were_held_out():
    t = Trainer(hp(), device="cpu", threads=1, test_indices=torch.arange(0, 10000, 4))
    assert t.start() and t.wait(60)
    reason = t.snapshot().reason
    assert reason.endswith(" on the 2,500 test images (7,500 held out for your class's challenge)"), reason
    acc = float(reason.split("test accuracy ")[1].split("%")[0]) / 100
    ds = data.load("mnist")
    idx = torch.arange(0, 10000, 4)
    assert acc == pytest.approx(evaluate(t.model, ds.test_x[idx], ds.test_y[idx])[1], abs=5e-5)


def test_the_data_set_is_loaded_onto_the_runs_device(monkeypatch):
    asked = []
    real = data.load
    monkeypatch.setattr(trainer_mod.data, "load", lambda name, *a, **kw: asked.append((name, a, kw)) or real(name, *a, **kw))
    t = Trainer(hp(dataset="mnist"), device="cpu", threads=1)
    assert [(n, a or tuple(kw.values())) for n, a, kw in asked] == [("mnist", (t.device,))]


def test_a_snapshot_replaced_in_part_keeps_the_rest():
    t = make()
    s = t.snapshot()
    q = s.replace(queue_position=3, queue_wait=12.5)
    assert (q.queue_position, q.queue_wait) == (3, 12.5)
    assert q.replace(queue_position=s.queue_position, queue_wait=s.queue_wait) == s
    assert (s.queue_position, s.queue_wait) != (3, 12.5)           # the original is unchanged


def test_adam_uses_the_fused_kernel_on_the_cpu():
    m = torch.nn.Linear(3, 2)
    assert make_optimizer(hp(optimizer="adam"), m.parameters()).defaults["fused"] is True


def test_both_malloc_settings_are_made(monkeypatch):
    calls, ok = [], {-1: 1, -3: 1}

    class CDLL:
        def __init__(self, name):
            assert name is None

        def mallopt(self, param, value):
            calls.append((param, value))
            return ok[param]
    monkeypatch.setattr(trainer_mod.ctypes, "CDLL", CDLL)
    assert trainer_mod.keep_freed_memory_for_reuse() is True
    assert calls == [(-1, 64 << 20), (-3, 16 << 20)]      # M_TRIM_THRESHOLD, then M_MMAP_THRESHOLD
    ok[-3] = 0
    assert trainer_mod.keep_freed_memory_for_reuse() is False   # glibc refused one: not done


def test_a_checkpoint_without_live_values_resumes_with_the_runs_settings():
    """Checkpoints written before live changes were saved have no "live" entry."""
    t = make(optimizer="sgd", lr=0.02, epochs=2)
    paused_after(t, 3)
    state = t.checkpoint_state()
    t.stop()
    assert t.wait(10)
    del state["live"]
    r = make(optimizer="sgd", lr=0.02, epochs=2, resume=state)
    assert r.snapshot().step == 3 and r.snapshot().live == {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.0}
    assert r.optimizer.param_groups[0]["lr"] == 0.02


def test_the_training_accuracy_is_each_images_top_class_against_its_label():
    """Per image, the class with the highest logit: after 2 epochs the training curve's accuracy
    reads like the validation accuracy (an arg-max over the wrong axis reads ~0)."""
    t = make(epochs=2)
    assert t.start() and t.wait(60)
    c, _ = t.history.snapshot()
    last_epoch = sum(c.acc[20:]) / 20
    assert t.snapshot().val_accuracy > 0.5 and abs(last_epoch - t.snapshot().val_accuracy) < 0.2


def test_a_momentum_change_reaches_a_nesterov_optimizer_too():
    t = live_run("nesterov", momentum=0.9, lr=0.01)
    t.set_live("momentum", 0.5)
    step_and_stop(t)
    assert all(g["momentum"] == 0.5 and g["nesterov"] for g in t.optimizer.param_groups)


def test_a_failed_run_is_logged_with_its_id(caplog):
    def sink(kind, state):
        raise RuntimeError("disk on fire")
    t = make(sink=sink)
    with caplog.at_level("ERROR", logger="core.nn.trainer"):
        assert t.start() and t.wait(60)
    (record,) = [r for r in caplog.records if r.name == "core.nn.trainer"]
    assert record.getMessage() == f"run {t.id} failed" and "disk on fire" in caplog.text   # + traceback


def test_a_pause_that_publishes_a_diverged_step_ends_the_run_diverged():
    """Pause publishes the steps since the last flush first; a loss that diverged there ends
    the run as diverged (no checkpoint of it), not paused with the divergence unseen."""
    t = make()
    t.metrics.flush = lambda step: (step, float("nan"))
    t.ctl.next_command = lambda apply: trainer_mod.JUST_PAUSED
    saved = []
    t._save_checkpoint = lambda: saved.append(True)
    assert t._next_command() is False
    s = t.snapshot()
    assert s.state == DIVERGED and "became NaN" in s.reason and saved == []


def test_a_device_asked_for_beats_the_operators_default(monkeypatch):
    """--device cpu on a machine whose operator set another default device: the run's own."""
    monkeypatch.setenv("MNIST_PLAYGROUND_DEVICE", "meta")
    assert make().device == torch.device("cpu")
