"""The background trainer: states, controls, metrics, divergence, reproducibility."""
import math
import threading
import time

import pytest
import torch

from core.nn import trainer as trainer_mod
from core.nn.config import HyperParams
from core.nn.trainer import Trainer

SMALL = dict(subset=2000, depth=1, width="32", epochs=2, batch_size=100, dropout=0)


def make(control=None, sink=None, resume=None, **kw) -> Trainer:
    return Trainer(HyperParams.validate(**{**SMALL, **kw}), device="cpu", control=control,
                   sink=sink, resume=resume)


def wait_until(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_run_finishes_with_all_metrics():
    t = make()
    assert t.snapshot().state == "idle"
    assert t.start() and not t.start()           # a second start (double click) is ignored
    assert t.wait(60)
    s = t.snapshot()
    assert s.state == "finished" and "test accuracy" in s.reason
    assert s.step == s.total_steps == 2 * 20
    assert 0.6 < s.test_accuracy <= 1 and s.samples_per_second > 0 and s.elapsed > 0
    c, _ = t.history.snapshot()
    assert c.step == list(range(1, 41)) and len(c.loss) == len(c.acc) == 40
    assert c.val_full.count(True) == 2                        # the whole set at each epoch end
    assert len(c.val_step) >= 5 * 2                           # at least 5 points per epoch
    assert c.loss[-1] < c.loss[0]
    assert len(t.epoch_end_seconds) == 2 and 0 < t.epoch_end_seconds[0] < t.epoch_end_seconds[1] <= s.elapsed


def test_pause_step_resume_stop():
    t = make(epochs=50)
    t.start()
    wait_until(lambda: t.snapshot().step >= 3)
    t.pause()
    wait_until(lambda: t.snapshot().state == "paused")
    before = t.snapshot().step
    time.sleep(0.2)
    assert t.snapshot().step == before                        # paused means paused
    t.step_once()
    wait_until(lambda: t.snapshot().step == before + 1)
    time.sleep(0.2)
    s = t.snapshot()
    assert s.step == before + 1 and s.state == "paused"      # exactly one mini-batch
    assert t.history.snapshot()[0].step[-1] == before + 1    # ...and it is published
    t.resume()
    wait_until(lambda: t.snapshot().step > before + 5)
    t.stop()
    assert t.wait(10)
    s = t.snapshot()
    assert s.state == "stopped" and "stopped by the user" in s.reason and s.step < s.total_steps


def test_step_from_idle_trains_one_batch_and_pauses():
    t = make()
    t.step_once()
    wait_until(lambda: t.snapshot().state == "paused")
    assert t.snapshot().step == 1
    t.stop()
    t.wait(5)


def test_divergence_is_detected_and_explained():
    t = make(init="normal", init_sigma=10, depth=3, optimizer="sgd", lr=5, epochs=1)
    t.start()
    assert t.wait(30)
    s = t.snapshot()
    assert s.state == "diverged"
    assert "at step" in s.reason and "grew to" in s.reason and "smaller σ" in s.reason
    assert "learning rate 5" in s.reason and "σ = 10" in s.reason
    c, _ = t.history.snapshot()
    assert all(math.isfinite(v) for v in c.loss)              # only finite points are plotted


@pytest.mark.parametrize("extra", [{}, {"dropout": 0.3}])
def test_same_seed_same_curves(extra):
    runs = []
    for _ in range(2):
        t = make(seed=5, epochs=1, **extra)
        t.start()
        t.wait(60)
        runs.append(t.history.snapshot()[0])
    assert runs[0].loss == runs[1].loss and runs[0].val_loss == runs[1].val_loss
    other = make(seed=6, epochs=1, **extra)
    other.start()
    other.wait(60)
    assert other.history.snapshot()[0].loss != runs[0].loss


def test_learning_rate_change_mid_run_is_applied_and_recorded():
    def run_with(change):
        t = make(optimizer="sgd", lr=0.01, seed=1, epochs=10)
        t.step_once()
        wait_until(lambda: t.snapshot().state == "paused")
        for _ in range(4):
            t.step_once()
        wait_until(lambda: t.snapshot().step == 5 and t.snapshot().state == "paused")
        if change:
            t.set_live("lr", 0.5)
        t.step_once()
        wait_until(lambda: t.snapshot().step == 6 and t.snapshot().state == "paused")
        t.stop()
        t.wait(5)
        return t
    changed, same = run_with(True), run_with(False)
    assert changed.optimizer.param_groups[0]["lr"] == 0.5 and changed.snapshot().live["lr"] == 0.5
    events = changed.history.snapshot()[0].events
    assert events == [{"step": 5, "kind": "lr", "text": "lr 0.01 → 0.5"}]
    a, b = changed.history.snapshot()[0].loss, same.history.snapshot()[0].loss
    assert a[:5] == b[:5] and a[5] == b[5]           # step 6's loss is measured before its update
    w1, w2 = changed.model_snapshot().out.weight, same.model_snapshot().out.weight
    assert not torch.allclose(w1, w2)                # ...but its update used the new rate


def test_live_changes_are_refused_for_structure():
    t = make()
    with pytest.raises(ValueError, match="new run"):
        t.set_live("depth", 3)


def test_early_stopping_restores_the_best_weights():
    t = make(subset=300, width="256", lr=0.01, epochs=60, early_stopping=True, patience=2)
    t.start()
    assert t.wait(60)
    s = t.snapshot()
    assert s.state == "finished" and "early stopping" in s.reason
    c, _ = t.history.snapshot()
    full = [l for l, f in zip(c.val_loss, c.val_full) if f]
    assert len(full) < 60
    best_epoch = full.index(min(full)) + 1
    assert s.best_val_epoch == best_epoch and len(full) == best_epoch + 2
    restored = t._evaluate(t.dataset.train_x[t.split.val_idx], t.dataset.train_y[t.split.val_idx])
    assert restored[0] == pytest.approx(min(full), rel=1e-5)


def test_mse_loss_is_bounded_and_learns():
    t = make(loss="mse", epochs=3)
    t.start()
    t.wait(60)
    c, _ = t.history.snapshot()
    assert all(0 <= v <= 2 for v in c.loss) and c.loss[-1] < c.loss[0]


def test_model_snapshot_is_a_private_copy():
    t = make()
    a, b = t.model_snapshot(), t.model_snapshot()
    assert a is not b and not a.training
    with torch.no_grad():
        a.out.weight.zero_()
    assert t.model.out.weight.abs().sum() > 0
    assert torch.equal(t.initial_state_dict()["out.weight"], b.out.weight)


def test_a_run_without_a_slot_waits_queued_with_its_untrained_point_then_trains_once_granted():
    from core.nn.control import Control
    t = make(epochs=1, control=Control(granted=False))
    t.start()
    wait_until(lambda: t.history.cursor()[1] == 1)          # step 0 is measured before the slot
    s = t.snapshot()
    assert s.state == "queued" and s.step == 0 and "slot" in s.reason
    c, _ = t.history.snapshot()
    assert c.val_step == [0] and 0.0 <= c.val_acc[0] <= 0.3   # an untrained net is near chance
    time.sleep(0.3)
    assert t.snapshot().step == 0                             # still nothing trained
    t.ctl.grant()
    assert t.wait(60) and t.snapshot().state == "finished"


def test_a_training_thread_reuses_freed_memory_instead_of_faulting_in_fresh_pages():
    """glibc trims a thread's arena after each step's frees unless told not to; the next step
    then page-faults on fresh memory (~170 faults per step of this network without the fix)."""
    import resource
    assert trainer_mod.keep_freed_memory_for_reuse()
    net = torch.nn.Sequential(torch.nn.Linear(784, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 10))
    opt = torch.optim.Adam(net.parameters())
    x, y = torch.rand(128, 784), torch.randint(0, 10, (128,))
    faults = []

    def loop():
        for i in range(60):
            if i == 10:
                faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt)
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt)

    th = threading.Thread(target=loop)
    th.start()
    th.join()
    assert (faults[1] - faults[0]) / 50 < 20


def test_a_run_continued_from_its_checkpoint_gives_the_same_curves_as_one_that_never_stopped():
    """Pause mid-epoch (a checkpoint), throw the trainer away, continue a new one from the
    checkpoint: every later loss equals the uninterrupted run's (same seed, CPU)."""
    whole = make(epochs=2, dropout=0.3)
    whole.start()
    assert whole.wait(60)
    saved = {}
    first = make(epochs=2, dropout=0.3, sink=lambda kind, state: saved.__setitem__(kind, state))
    for _ in range(27):                       # 27 single steps: mid-way through epoch 2
        first.step_once()
        wait_until(lambda: first.snapshot().state == "paused")
    wait_until(lambda: "checkpoint" in saved and saved["checkpoint"]["counters"]["step"] == 27)
    first.stop()
    first.wait(10)
    ckpt = saved["checkpoint"]
    assert (ckpt["epoch"], ckpt["batch"]) == (2, 7)
    again = make(epochs=2, dropout=0.3, resume=ckpt)
    assert again.snapshot().step == 27
    again.start()
    assert again.wait(60) and again.snapshot().state == "finished"
    a, b = whole.history.snapshot()[0], again.history.snapshot()[0]
    assert b.step[0] == 28 and b.loss == a.loss[27:]
    assert again.snapshot().test_accuracy == whole.snapshot().test_accuracy


def test_a_checkpoint_of_other_settings_is_refused_with_the_reason():
    from core.nn.checkpoint import CheckpointError
    saved = {}
    t = make(epochs=1, sink=lambda kind, state: saved.__setitem__(kind, state))
    t.start()
    assert t.wait(60)
    with pytest.raises(CheckpointError, match="width"):
        make(epochs=1, width="16", resume=saved["checkpoint"])


def test_a_loss_that_explodes_without_becoming_nan_is_diverged_not_finished():
    """Adam at lr 10 grows the loss to huge finite values: the bound ends the run."""
    t = make(optimizer="adam", lr=10.0, epochs=3)
    t.start()
    assert t.wait(60)
    s = t.snapshot()
    assert s.state == "diverged" and "grew to" in s.reason and "learning rate 10" in s.reason
