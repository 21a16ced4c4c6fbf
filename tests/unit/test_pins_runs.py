"""core.runs: the service's safety and control paths, each pinned by a test that fails when it
breaks: the abandonment timer and its "last seen" refresh (an injected clock), the time limit,
every admission limit at its boundary, stop/step/continue from each state, privacy, and what a
page reads after a restart. Tiny runs (2 steps per epoch) keep it quick."""
import math
import time
import types

import pytest
import torch

from core.executors.local import LocalExecutor
from core.ledger import Ledger
from core.nn import data
from core.nn.config import HyperParams
from core.nn.memory import estimate
from core.runs import Refused, RunService, WeightsUnavailable, train_count
from core.runs import admission as admission_mod
from core.runs import care as care_mod
from core.runs.live import Live
from core.settings import GB, Limits
from core.states import FINISHED, IDLE, PAUSED, QUEUED, RUNNING, STOPPED

TINY = dict(subset=200, depth=1, width="16", epochs=1, batch_size=100, dropout=0, lr=0.01)


def hp(**kw) -> HyperParams:
    return HyperParams.validate(**{**TINY, **kw})


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def limits(**kw) -> Limits:
    return Limits.defaults().replace(**{"training_cores": 1, "threads_per_run": 1, **kw})


@pytest.fixture
def make(tmp_path):
    made = []

    def _make(clock=None, headless=False, **kw):
        svc = RunService(Ledger(tmp_path / "home"), limits=limits(**kw), headless=headless,
                         **({"clock": clock} if clock else {}))
        made.append(svc)
        return svc
    yield _make
    for svc in made:
        svc.close()


def wait_until(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def state(run):
    return run.snapshot().state


def finished_runs(svc, n: int, owner: str = "alice") -> list[str]:
    """The ids of n runs of `owner`, trained one after another to their end."""
    ids = []
    for _ in range(n):
        r = svc.submit(owner, hp())
        assert svc.wait(r.id, 60)
        ids.append(r.id)
    return ids


# -- care: abandoned runs, the time limit ----------------------------------------------------------

PAUSE_WHY = "paused: nobody had this run's page open for 5 minutes; press Resume to go on"


def test_an_open_page_keeps_a_run_going_however_long_it_trains(make):
    clock = Clock()
    svc = make(clock=clock, abandon_pause_seconds=300, abandon_stop_seconds=1800)
    svc.touch("alice")
    run = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: state(run) == RUNNING)
    for _ in range(4):                    # the page refreshes every 299 s: 1196 s in all
        clock.t += 299
        svc._care()
        svc.touch("alice")
    assert state(run) == RUNNING
    clock.t += 300                        # exactly the limit: not yet
    svc._care()
    assert state(run) == RUNNING
    clock.t += 1
    svc._care()
    wait_until(lambda: state(run) == PAUSED)
    assert run.snapshot().reason == PAUSE_WHY
    svc.stop("alice", run.id)


def test_a_run_unseen_past_both_timers_is_paused_first_then_stopped(make):
    clock = Clock()
    svc = make(clock=clock, abandon_pause_seconds=300, abandon_stop_seconds=1800)
    svc.touch("alice")
    run = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: state(run) == RUNNING)
    clock.t += 1801
    svc._care()
    wait_until(lambda: state(run) == PAUSED)       # paused, not stopped, at the first look
    svc._care()
    assert svc.wait(run.id, 30)
    s = run.snapshot()
    assert s.state == STOPPED
    assert s.reason == (f"stopped: nobody had this run's page open for 30 minutes (saved: "
                        f"Continue goes on from here) at step {s.step:,}")
    assert svc.ledger.get_run(run.id).state == STOPPED


def test_a_paused_run_is_stopped_only_after_the_stop_timer(make):
    clock = Clock()
    svc = make(clock=clock, abandon_pause_seconds=300, abandon_stop_seconds=1800)
    svc.touch("alice")
    run = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: state(run) == RUNNING)
    svc.pause("alice", run.id)
    wait_until(lambda: state(run) == PAUSED)
    clock.t += 1800
    svc._care()
    time.sleep(0.2)
    assert state(run) == PAUSED
    clock.t += 1
    svc._care()
    assert svc.wait(run.id, 30) and state(run) == STOPPED


def test_runs_of_an_owner_who_never_opened_a_page_and_idle_runs_are_left_alone(make):
    clock = Clock()
    svc = make(clock=clock, runs_per_student=5)
    cli = svc.submit("cli", hp(epochs=200))          # nobody ever touched "cli"
    svc.touch("alice")
    idle = svc.submit("alice", hp(), start=False)
    wait_until(lambda: state(cli) == RUNNING)
    clock.t += 10 * 3600
    svc._care()
    svc._care()
    time.sleep(0.2)
    assert state(cli) == RUNNING and state(idle) == IDLE
    svc.stop("cli", cli.id)


def test_a_headless_service_never_pauses_for_lack_of_a_page_but_keeps_the_time_limit(make):
    clock = Clock()
    svc = make(clock=clock, headless=True, max_run_seconds=3600)
    svc.touch("cli")
    run = svc.submit("cli", hp(epochs=200))
    wait_until(lambda: state(run) == RUNNING)
    clock.t += 10 * 3600
    svc._care()
    time.sleep(0.2)
    assert state(run) == RUNNING
    svc.limits = svc.limits.replace(max_run_seconds=0.0)
    svc._care()
    assert svc.wait(run.id, 30)
    assert run.snapshot().reason.startswith(
        "stopped: time limit of 0:00:00 of training on this server (saved: Continue goes on from here)")


def test_the_time_limit_is_written_as_hours_minutes_seconds():
    assert care_mod._clock(2 * 3600) == "2:00:00"
    assert care_mod._clock(3725.9) == "1:02:05"
    assert care_mod._clock(59) == "0:00:59"


# -- admission -----------------------------------------------------------------------------------

def test_training_images_and_the_steps_limit_at_its_boundary(make):
    assert train_count(hp(subset=0, val_fraction=0.1)) == 54000
    assert train_count(hp(subset=0, val_fraction=0.25)) == 45000
    assert train_count(hp(subset=1000)) == 1000
    h = hp(subset=1000, batch_size=30, epochs=4)     # ceil(1000 / 30) = 34 steps x 4
    assert make(max_run_steps=136).admit("a", [h]) == estimate(h).total
    with pytest.raises(Refused) as e:
        make(max_run_steps=135).admit("a", [h])
    assert str(e.value) == ("This run would take 136 steps; this server allows 135 per run: "
                            "fewer epochs or a larger batch.")


def test_unfinished_runs_per_student_count_until_a_run_ends(make):
    svc = make(runs_per_student=2)
    first = svc.submit("alice", hp())
    svc.submit("alice", hp(), start=False)
    with pytest.raises(Refused) as e:
        svc.submit("alice", hp())
    assert str(e.value) == ("You would have 3 unfinished runs (running, paused, queued or not "
                            "started); this server allows 2 per student. Stop or finish one first.")
    with pytest.raises(Refused, match="You would have 4 unfinished runs"):
        svc.admit("alice", [hp(), hp()])
    assert svc.wait(first.id, 60)                 # an ended run no longer counts
    svc.submit("alice", hp(), start=False)


def test_memory_per_run_per_student_and_per_server(make):
    need = estimate(hp()).total
    big = hp(depth=3, width="2048")
    with pytest.raises(Refused) as e:
        make(student_memory=estimate(big).total - 1).submit("alice", big)
    assert str(e.value).startswith(f"This network needs ~{admission_mod._gb(estimate(big).total)} of memory; "
                                   f"the server allows {admission_mod._gb(estimate(big).total - 1)} per student: ")
    svc = make(student_memory=2 * need, server_memory=3 * need, runs_per_student=5)
    svc.submit("alice", hp(), start=False)
    svc.submit("alice", hp(), start=False)        # exactly her share
    with pytest.raises(Refused, match="Your unfinished runs together would need"):
        svc.submit("alice", hp(), start=False)
    svc.submit("bob", hp(), start=False)          # exactly the server's
    with pytest.raises(Refused) as e:
        svc.submit("carol", hp(), start=False)
    assert str(e.value).startswith(f"The server is full right now: its runs would need ~{admission_mod._gb(4 * need)}")


def test_sizes_are_written_in_gb_or_mb():
    assert admission_mod._gb(2 * GB) == "2.0 GB"
    assert admission_mod._gb(0.1 * GB) == "0.1 GB"
    assert admission_mod._gb(0.1 * GB - 1) == "102 MB"
    assert admission_mod._gb(5 << 20) == "5 MB"


# -- controls from each state ----------------------------------------------------------------------

def test_a_queued_run_shows_its_place_and_wait_and_can_be_stopped_before_training(make):
    svc = make()                                   # one slot
    first = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: state(first) == RUNNING)
    second = svc.submit("bob", hp(epochs=3))
    svc._dispatch()
    s = second.snapshot()
    assert s.state == QUEUED and s.queue_position == 1 and s.queue_wait is not None and s.queue_wait >= 0
    assert first.snapshot().queue_position is None
    svc.stop("bob", second.id)
    assert svc.wait(second.id, 30)
    s = second.snapshot()
    assert s.state == STOPPED and s.step == 0 and s.queue_position is None
    assert svc.ledger.get_run(second.id).state == STOPPED
    svc.stop("alice", first.id)


def test_pausing_gives_the_slot_to_the_next_run(make):
    svc = make()
    first = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: state(first) == RUNNING)
    second = svc.submit("bob", hp(epochs=200))
    svc.pause("alice", first.id)
    wait_until(lambda: state(first) == PAUSED)
    svc._dispatch()
    wait_until(lambda: state(second) == RUNNING)
    svc.resume("alice", first.id)
    svc._dispatch()
    wait_until(lambda: state(first) == QUEUED)     # resumed: waits for the slot now held by bob
    time.sleep(0.2)
    assert state(first) == QUEUED and state(second) == RUNNING
    svc.stop("bob", second.id)
    svc.stop("alice", first.id)


def test_step_through_the_service_from_idle_and_after_the_end(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=3), start=False)
    assert svc.step("alice", run.id)
    wait_until(lambda: state(run) == PAUSED and run.snapshot().step == 1)
    assert not svc.step("mallory", run.id)
    svc.set_live("alice", run.id, "lr", 0.05)
    assert svc.step("alice", run.id)
    wait_until(lambda: run.snapshot().step == 2 and state(run) == PAUSED)
    assert run.snapshot().live["lr"] == 0.05
    svc.stop("alice", run.id)
    assert svc.wait(run.id, 30)
    assert not svc.step("alice", run.id)           # ended: Step does nothing
    assert run.snapshot().step == 2


def test_only_a_stopped_or_interrupted_run_can_be_continued(make):
    svc = make()
    run = svc.submit("alice", hp())
    assert svc.wait(run.id, 60)
    with pytest.raises(Refused) as e:
        svc.continue_run("alice", run.id)
    assert str(e.value) == "Only a stopped or interrupted run can be continued; this one is finished."
    assert svc.continue_run("mallory", run.id) is None


def test_a_damaged_checkpoint_cannot_be_continued_or_shown(make, tmp_path):
    svc = make()
    run = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: run.snapshot().step >= 1)
    svc.stop("alice", run.id)
    assert svc.wait(run.id, 30)
    assert svc.flush_checkpoints()
    svc.ledger.checkpoint_path(run.id).write_bytes(b"not a checkpoint")
    with pytest.raises(Refused, match="This run cannot be continued: "):
        svc.continue_run("alice", run.id)
    fresh = make()                                 # after a restart the weights come from the file
    with pytest.raises(WeightsUnavailable, match=r"the weights of run #1 cannot be read"):
        fresh.get("alice", run.id).model()


def test_a_deleted_active_run_is_stopped_and_forgotten(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: state(run) == RUNNING)
    assert svc.delete("alice", run.id)
    assert svc.get("alice", run.id) is None and svc.runs("alice") == []
    assert run.id not in svc._live
    with pytest.raises(WeightsUnavailable, match=r"not available \(deleted\?\)"):
        svc._model(run.id)
    svc.submit("alice", hp(), start=False)         # its place is free again


# -- reading -----------------------------------------------------------------------------------

def test_names_notes_labels_and_listing(make):
    svc = make(runs_per_student=5)
    a = svc.submit("alice", hp(), start=False, name="first")
    b = svc.submit("alice", hp(lr=0.1), start=False)
    svc.submit("bob", hp(), start=False)
    assert [r.id for r in svc.runs("alice")] == [b.id, a.id]       # newest first
    assert len(svc.runs()) == 3
    assert a.label == f"#1 first · {a.hp.describe()}" and b.label == f"#2 · {b.hp.describe()}"
    svc.rename("alice", b.id, "  " + "x" * 100 + " ", note=" n " + "y" * 3000)
    rec = svc.ledger.get_run(b.id)
    assert rec.name == "x" * 80 and rec.note == ("n " + "y" * 3000)[:2000]
    svc.rename("alice", b.id, "again")
    assert svc.ledger.get_run(b.id).note == rec.note             # no note given: kept
    svc.rename("mallory", b.id, "mine now")
    assert svc.ledger.get_run(b.id).name == "again"
    assert svc.get_any(b.id).owner == "alice" and svc.get_any("nope") is None and svc.get_any(None) is None
    assert svc.get("alice", None) is None


def test_after_a_restart_a_run_reads_the_same_from_the_ledger(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=2))
    assert svc.wait(run.id, 60)
    live = run.snapshot()
    weights = run.model().state_dict()
    svc.close()
    fresh = make()
    view = fresh.get("alice", run.id)
    s = view.snapshot()
    assert (s.state, s.step, s.total_steps, s.steps_per_epoch, s.epochs) == (FINISHED, 4, 4, 2, 2)
    assert s.epoch == 2.0 and s.eta is None
    assert s.test_accuracy == live.test_accuracy and s.val_loss == live.val_loss
    assert s.weights_version == -(4) - 1                          # -(checkpoint step) - 1
    assert math.isclose(s.elapsed, live.elapsed, rel_tol=1e-6)
    model = view.model()
    assert not model.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    with pytest.raises(KeyError):
        fresh._snapshot("no-such-run")


# -- what the ledger keeps, and for how long -------------------------------------------------------

def test_the_ledger_row_holds_every_figure_of_the_finished_run(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=2, optimizer="momentum", momentum=0.8), name="n",
                     class_id="class-1", sweep_id=None, parent_id="p1")
    assert svc.wait(run.id, 60)
    s = run.snapshot()
    rec = svc.ledger.get_run(run.id)
    assert (rec.state, rec.reason, rec.step, rec.epochs_done, rec.checkpoint_step) == (s.state, s.reason, 4, 2, 4)
    assert (rec.train_loss, rec.val_loss, rec.val_accuracy) == (s.train_loss, s.val_loss, s.val_accuracy)
    assert (rec.best_val_accuracy, rec.best_val_epoch) == (s.best_val_accuracy, s.best_val_epoch)
    assert (rec.test_accuracy, rec.test_loss) == (s.test_accuracy, s.test_loss)
    assert rec.seconds == pytest.approx(s.elapsed) and rec.samples_per_second == pytest.approx(s.samples_per_second)
    assert rec.live == {"lr": 0.01, "momentum": 0.8, "weight_decay": 0.0}
    assert rec.params == 784 * 16 + 16 + 16 * 10 + 10 and rec.device == "cpu"
    assert rec.created <= rec.started <= rec.ended <= time.time()
    assert (rec.name, rec.class_id, rec.parent_id, rec.sweep_id) == ("n", "class-1", "p1", None)
    view = svc.get("alice", run.id)
    assert view.class_names == tuple("0123456789") and view.steps_per_epoch == 2
    assert torch.equal(view.val_indices, data.split(60000, 0.1, 200, 0).val_idx)
    assert view.record.test_accuracy == s.test_accuracy


def test_the_initial_model_is_the_runs_untrained_network(make):
    svc = make()
    run = svc.submit("alice", hp(seed=7), start=False)
    initial = svc._live[run.id].handle.initial_state_dict()
    got = run.initial_model()
    assert not got.training
    assert all(torch.equal(got.state_dict()[k], v) for k, v in initial.items())


def test_early_stoppings_best_weights_get_their_own_file(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=3, early_stopping=True, patience=5))
    assert svc.wait(run.id, 60) and svc.flush_checkpoints()
    best = svc.ledger.load_weights(svc.ledger.best_path(run.id))
    assert best["epoch"] == run.snapshot().best_val_epoch and "model" in best


def test_old_ended_runs_give_way_to_new_ones_when_storage_is_full(make):
    svc = make(stored_runs_per_student=2, runs_per_student=5)
    ids = finished_runs(svc, 3)
    # wait() returns once the run is recorded; the supervisor may still be applying retention
    wait_until(lambda: len(svc.runs("alice")) == 2)
    assert [r.id for r in svc.runs("alice")] == [ids[2], ids[1]]     # the oldest went first
    assert svc.get("alice", ids[0]) is None and not svc.ledger.weights_dir(ids[0]).exists()


def test_starting_twice_or_someone_elses_run_does_nothing(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=200), start=False)
    assert svc.slots() == 1
    assert not svc.start("mallory", run.id)
    assert svc.start("alice", run.id)
    assert not svc.start("alice", run.id)
    assert state(run) in (QUEUED, RUNNING)
    svc.stop(None, run.id)                          # a teacher's stop (owner checked by the caller)
    assert svc.wait(run.id, 30) and state(run) == STOPPED


def test_a_teacher_may_delete_any_run(make):
    svc = make()
    run = svc.submit("alice", hp(), start=False)
    assert svc.delete(None, run.id)
    assert svc.get_any(run.id) is None and not svc.delete(None, run.id)


def test_only_a_few_runs_curves_are_kept_in_memory(make):
    svc = make(runs_per_student=5)
    ids = finished_runs(svc, 3)
    fresh = make()
    fresh.KEEP_CURVES = 2
    curves = [fresh.get("alice", i).curves()[0] for i in ids]
    assert list(fresh._curves) == ids[1:]           # the least recently read was dropped
    assert all(c.step == [1, 2] for c in curves)
    assert fresh.get("alice", ids[0]).curves()[0].step == [1, 2]   # read again from the ledger
    assert list(fresh._curves) == [ids[2], ids[0]]


# -- the dispatcher on stand-in runs: fair order and waits, worked out by hand ---------------------

class StandIn:
    """A run handle with fixed figures: what the dispatcher reads, and the grants it gives."""

    def __init__(self, wants=True, holds=False, eta=None, speed=0.0, steps_left=0, batch=None):
        self.wants_slot, self.holds_slot = wants, holds
        self._snap = dict(eta=eta, samples_per_second=speed, total_steps=steps_left, step=0)
        if batch is not None:
            self.hp = hp(batch_size=batch)
        self.granted = self.revoked = 0

    def snapshot(self):
        return types.SimpleNamespace(**self._snap)

    def grant(self):
        self.granted += 1
        self.holds_slot = True

    def revoke(self):
        self.revoked += 1
        self.holds_slot = False

    def stop(self, reason=""):
        pass


def test_queue_places_and_waits_from_the_training_runs_eta_and_speed(tmp_path):
    svc = RunService(Ledger(tmp_path / "h"), limits=limits(), supervise=False)   # one slot
    try:
        holder = StandIn(holds=True, eta=30.0, speed=100.0)
        a = StandIn(steps_left=10, batch=50)        # 500 samples: 5 s at 100 samples/s
        b = StandIn(steps_left=4)                   # no hp: 128 a step -> 512 samples
        c = StandIn(steps_left=1, batch=10)
        paused = StandIn(wants=False, holds=True)   # paused while holding a slot: gives it back
        for rid, handle, owner, arrived in (("h", holder, "ann", 0.0), ("a", a, "bob", 1.0),
                                            ("b", b, "cat", 2.0), ("c", c, "ann", 3.0), ("p", paused, "dan", 0.5)):
            svc._live[rid] = Live(handle, arrived=arrived, owner=owner)
        svc._dispatch()
        assert paused.revoked == 1 and not paused.holds_slot and holder.revoked == 0
        assert a.granted == b.granted == c.granted == 0                  # the one slot is taken
        # bob and cat first (rank 0), then ann's second run; each waits for the one ahead
        assert svc._queue == {"a": (1, 30.0), "b": (2, 35.0), "c": (3, pytest.approx(35.0 + 5.12))}
        holder._snap["samples_per_second"] = 0.0    # no speed measured yet: 3000 samples/s assumed
        svc._dispatch()
        assert svc._queue == {"a": (1, 30.0), "b": (2, pytest.approx(30.0 + 500 / 3000)),
                              "c": (3, pytest.approx(30.0 + 1012 / 3000))}
        holder.holds_slot = holder.wants_slot = False   # the run ends: its slot goes to bob
        svc._dispatch()
        assert a.granted == 1 and [(r, q[0]) for r, q in svc._queue.items()] == [("b", 1), ("c", 2)]
    finally:
        svc._live.clear()
        svc.close()


def test_nothing_to_admit_needs_no_memory(make):
    assert make().admit("alice", []) == 0


def test_epochs_done_adds_up_over_several_recordings(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=2), start=False)
    assert svc.step("alice", run.id)
    wait_until(lambda: state(run) == PAUSED and run.snapshot().step == 1)
    assert svc.step("alice", run.id)                # the epoch's last step, then its validation
    wait_until(lambda: state(run) == PAUSED and run.curves()[0].val_full.count(True) == 1)
    svc._record()
    assert svc.ledger.get_run(run.id).epochs_done == 1
    svc.resume("alice", run.id)
    assert svc.wait(run.id, 60)
    assert svc.ledger.get_run(run.id).epochs_done == 2


def test_a_continued_run_shows_its_curves_at_once(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: run.snapshot().step >= 3)
    svc.stop("alice", run.id)
    assert svc.wait(run.id, 30) and svc.flush_checkpoints()
    at = svc.ledger.get_run(run.id).checkpoint_step
    view = svc.continue_run("alice", run.id)
    steps = view.curves()[0].step
    assert steps[:at] == list(range(1, at + 1))
    svc.stop("alice", run.id)


def test_runs_are_listed_by_sweep_and_by_class(make):
    svc = make(runs_per_student=5)
    svc.ledger.add_sweep("s1", "alice", {}, time.time())
    a = svc.submit("alice", hp(), start=False, sweep_id="s1")
    b = svc.submit("alice", hp(), start=False, class_id="c1")
    svc.submit("alice", hp(), start=False)
    assert [r.id for r in svc.runs("alice", sweep_id="s1")] == [a.id]
    assert [r.id for r in svc.runs(class_id="c1")] == [b.id]


def test_only_four_models_are_kept_in_memory(make):
    svc = make(runs_per_student=10)
    ids = finished_runs(svc, 5)
    assert svc.flush_checkpoints()
    fresh = make()
    for i in ids:
        fresh.get("alice", i).model()
    assert [k[0] for k in fresh._models] == ids[1:]


def test_curves_of_live_runs_are_never_dropped(make):
    svc = make(runs_per_student=5)
    ended = svc.submit("alice", hp())
    assert svc.wait(ended.id, 60)
    fresh = make()
    fresh.KEEP_CURVES = 1
    x = fresh.submit("alice", hp(), start=False)
    y = fresh.submit("alice", hp(), start=False)
    assert fresh.get("alice", ended.id).curves()[0].step == [1, 2]
    assert set(fresh._curves) == {x.id, y.id}       # the ended run's went; the live ones stay
    assert x.curves()[0].step == []


def test_pause_and_stop_through_the_service_carry_their_reasons(make):
    svc = make()
    run = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: state(run) == RUNNING)
    svc.pause("alice", run.id)
    wait_until(lambda: state(run) == PAUSED)
    assert run.snapshot().reason == ""               # a plain Pause gives no reason
    svc.stop("alice", run.id, "stopped by your teacher")
    assert svc.wait(run.id, 30)
    assert run.snapshot().reason.startswith("stopped by your teacher at step ")


def test_a_resumed_run_queues_from_the_moment_it_was_resumed(tmp_path):
    svc = RunService(Ledger(tmp_path / "h"), limits=limits(), supervise=False)   # one slot
    try:
        now = [5.0]
        svc._clock = lambda: now[0]
        holder, x, y = StandIn(holds=True, eta=10.0, speed=100.0), StandIn(), StandIn()
        x.resume = lambda: None
        for rid, handle, owner, arrived in (("h", holder, "ann", 0.0), ("x", x, "bob", None),
                                            ("y", y, "cat", 8.0)):
            svc._live[rid] = Live(handle, arrived=arrived, owner=owner)
        svc.resume("bob", "x")                       # at t = 5, before y arrived (t = 8)
        now[0] = 10.0
        svc._dispatch()
        assert [(r, q[0]) for r, q in svc._queue.items()] == [("x", 1), ("y", 2)]
    finally:
        svc._live.clear()
        svc.close()


# -- after a restart: runs a cluster still trains are found again -----------------------------------

class Reattaching(LocalExecutor):
    """A cluster stand-in: after the restart it still holds the run `keeps` (a trainer resumed
    from the run's checkpoint, as a detached actor would have gone on) and has lost the others."""

    def __init__(self, limits, ledger, keeps):
        super().__init__(limits)
        self.ledger, self.keeps, self.asked, self.handle = ledger, keeps, [], None

    def reattach(self, run_id, hp, *, history, sink):
        self.asked.append((run_id, hp, history.snapshot((0, 0, 0))[0].step))
        if run_id != self.keeps:
            return None
        state = self.ledger.load_weights(self.ledger.checkpoint_path(run_id))
        self.handle = self.create(run_id, hp, history=history, sink=sink, resume=state)
        return self.handle


def test_after_a_restart_a_run_the_cluster_still_trains_is_recorded_by_the_new_server(tmp_path):
    first = RunService(Ledger(tmp_path / "home"), limits=limits(runs_per_student=5))
    ids, at = [], {}
    for _ in range(2):
        run = first.submit("alice", hp(epochs=200))
        wait_until(lambda: run.snapshot().step >= 3)
        first.stop("alice", run.id)
        assert first.wait(run.id, 30)
        ids.append(run.id)
    first.close()
    for rid in ids:   # as if the server had died while both trained (since their checkpoints)
        at[rid] = first.ledger.get_run(rid).checkpoint_step
        first.ledger.truncate_curves(rid, at[rid])
        first.ledger.update_run(rid, state=RUNNING, ended=None, reason="")
    gone, kept = ids
    ledger, clock = Ledger(tmp_path / "home"), Clock()
    exe = Reattaching(limits(), ledger, keeps=kept)
    svc = RunService(ledger, exe, limits=limits(runs_per_student=5), clock=clock, supervise=False)
    try:
        assert svc.reattached == [kept] and svc.recovered == [gone]
        assert exe.asked == [(rid, hp(epochs=200), list(range(1, at[rid] + 1))) for rid in ids]
        assert ledger.get_run(gone).state == "interrupted"
        rec = ledger.get_run(kept)
        assert (rec.state, rec.reason, rec.ended) == (IDLE, "", None)   # what its handle says
        lv = svc._live[kept]
        assert lv.handle is exe.handle and lv.owner == "alice" and lv.arrived == clock.t
        assert lv.memory == estimate(hp(epochs=200)).total and lv.checkpoint_step == at[kept]
        assert svc._history(kept) is exe.handle.history
        assert svc.get("alice", kept).snapshot().step == at[kept]
        svc._record(force=True)                        # nothing new: the ledger is unchanged
        assert ledger.get_run(kept).checkpoint_step == at[kept]
        assert ledger.load_curves(kept).step == list(range(1, at[kept] + 1))
        assert svc.start("alice", kept)                # the new server controls it
        svc._dispatch()
        wait_until(lambda: exe.handle.snapshot().step >= at[kept] + 2)
        svc.stop("alice", kept)
        assert exe.handle.wait(30) and svc.flush_checkpoints()
        svc._record(force=True)
        end = ledger.get_run(kept)
        assert end.state == STOPPED and end.checkpoint_step == end.step > at[kept] + 1
        assert ledger.load_curves(kept).step == list(range(1, end.step + 1))   # each step once
    finally:
        svc.close()


def test_a_checkpoint_that_cannot_be_written_is_logged_with_the_runs_id_and_the_run_goes_on(make, caplog):
    svc = make()

    def full_disk(path, state):
        raise OSError("No space left on device")
    svc.ledger.save_weights = full_disk
    run = svc.submit("alice", hp(epochs=2))
    assert svc.wait(run.id, 60) and svc.flush_checkpoints()
    assert state(run) == FINISHED and svc.ledger.get_run(run.id).checkpoint_step is None
    failures = [r for r in caplog.records if r.name == "core.runs"]
    assert failures and {r.getMessage() for r in failures} == {f"checkpoint of run {run.id} not written"}
    assert all(str(r.exc_info[1]) == "No space left on device" for r in failures)


def test_wait_without_a_timeout_returns_once_the_run_is_recorded(make):
    svc = make()
    run = svc.submit("alice", hp())
    assert svc.wait(run.id) is True
    assert run.id not in svc._live and svc.ledger.get_run(run.id).state == FINISHED


def test_wait_gives_up_at_its_timeout_while_the_run_goes_on(make):
    svc = make()
    run = svc.submit("alice", hp(), start=False)
    t0 = time.monotonic()
    assert svc.wait(run.id, 0.3) is False
    assert 0.3 <= time.monotonic() - t0 < 3.0 and state(run) == IDLE


def test_listed_runs_can_be_read(make):
    svc = make(runs_per_student=5)
    done = svc.submit("alice", hp())
    assert svc.wait(done.id, 60)
    idle = svc.submit("alice", hp(), start=False)
    listed = {v.id: v for v in svc.runs("alice")}
    assert set(listed) == {done.id, idle.id}
    assert listed[done.id].snapshot().state == FINISHED and listed[idle.id].snapshot().state == IDLE
    assert listed[done.id].curves()[0].step == [1, 2]


def test_a_continued_run_that_ends_again_is_the_most_recently_ended(make):
    """The service keeps the handles of the KEEP_ENDED most recently ended runs; a run continued
    and ended again moves to the back of that line (it is not the next to be dropped)."""
    svc = make(runs_per_student=5)
    a = svc.submit("alice", hp(epochs=200))
    wait_until(lambda: a.snapshot().step >= 1)
    svc.stop("alice", a.id)
    assert svc.wait(a.id, 30) and svc.flush_checkpoints()
    b = svc.submit("alice", hp())
    assert svc.wait(b.id, 60)
    assert list(svc._ended) == [a.id, b.id]
    svc.continue_run("alice", a.id)
    assert a.id not in svc._ended
    svc.stop("alice", a.id)
    assert svc.wait(a.id, 30)
    assert list(svc._ended) == [b.id, a.id]
