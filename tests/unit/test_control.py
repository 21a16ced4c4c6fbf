"""core.nn.control: the commands, the run's state machine and its clock, without a trainer.

The training thread's side (`next_command`) is called directly here; each case below is a
transition a user causes with one button, checked state by state. The clock is driven by hand
(a fake time.monotonic), so "pauses and queueing are not training time" is checked to the second.
"""
import threading

import pytest

from core.nn import control as control_mod
from core.nn.control import JUST_PAUSED, STEP, STOP, Control
from core.states import FINISHED, IDLE, PAUSED, QUEUED, RUNNING, STOPPED


class FakeTime:
    """Stands in for the `time` module inside core.nn.control: monotonic() returns `t`."""

    def __init__(self, t=100.0):
        self.t = t

    def monotonic(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(control_mod, "time", fake)
    return fake


def wait_for(cond, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def no_live(changes):
    raise AssertionError(f"no live change was requested, got {changes}")


def started(granted=True) -> Control:
    c = Control(granted=granted)
    assert c.begin()
    return c


def test_a_new_control_is_idle_and_begins_once():
    c = Control()
    assert (c.state, c.reason) == (IDLE, "") and c.granted and c.stop_reason is None
    assert not c.wants_slot                      # an idle run does not compete for a slot
    assert c.begin()
    assert (c.state, c.reason) == (QUEUED, "starting")
    assert not c.begin()                         # a second start does nothing
    assert c.state == QUEUED


def test_idle_to_stopped_without_ever_starting():
    c = Control()
    c.stop()
    assert (c.state, c.reason) == (STOPPED, "stopped before it started")
    assert c.stop_reason == "stopped by the user"
    assert not c.begin() and c.state == STOPPED  # a stopped run cannot start
    assert not c.step_once()                     # nor take a step
    assert not c.wants_slot


def test_stop_reason_is_the_given_one_or_the_default():
    c = started()
    c.stop("deleted")
    assert c.stop_reason == "deleted"
    assert c.next_command(no_live) == STOP
    c2 = started()
    c2.stop("")
    assert c2.stop_reason == "stopped by the user"


def test_stopping_an_ended_run_changes_nothing():
    c = started()
    c.end(FINISHED, "trained 1 epoch")
    c.stop("too late")
    assert (c.state, c.reason, c.stop_reason) == (FINISHED, "trained 1 epoch", None)
    c.pause("late pause")
    assert c.state == FINISHED and not c.wants_slot


def test_a_granted_run_trains_and_is_running():
    c = started()
    assert c.wants_slot
    assert c.next_command(no_live) == STEP
    assert (c.state, c.reason) == (RUNNING, "")


def test_pause_is_reported_once_with_its_reason_then_a_step_then_paused_again():
    c = started()
    assert c.next_command(no_live) == STEP
    c.pause("paused: nobody watching")
    assert not c.wants_slot                      # a paused run gives its slot back
    assert c.next_command(no_live) == JUST_PAUSED
    assert (c.state, c.reason) == (PAUSED, "paused: nobody watching")
    assert c.step_once()
    assert c.wants_slot                          # a requested step wants a slot
    assert c.reason == "paused: nobody watching"
    assert c.next_command(no_live) == STEP       # exactly one mini-batch ...
    assert c.state == RUNNING
    assert c.next_command(no_live) == JUST_PAUSED   # ... then paused again
    assert (c.state, c.reason) == (PAUSED, "")      # a Step clears the old pause reason


def test_two_steps_requested_while_paused_give_two_mini_batches():
    c = started()
    c.pause()
    assert c.next_command(no_live) == JUST_PAUSED
    assert c.step_once() and c.step_once()
    assert [c.next_command(no_live), c.next_command(no_live), c.next_command(no_live)] == [STEP, STEP, JUST_PAUSED]


def test_resume_forgets_pending_steps():
    c = started()
    c.pause()
    assert c.next_command(no_live) == JUST_PAUSED
    for _ in range(3):
        c.step_once()
    c.resume()
    assert c.next_command(no_live) == STEP and c.state == RUNNING
    c.pause()                                    # the three steps were dropped by Resume
    assert c.next_command(no_live) == JUST_PAUSED


def test_a_paused_run_waits_until_resumed():
    c = started()
    c.pause()
    assert c.next_command(no_live) == JUST_PAUSED
    got = []
    th = threading.Thread(target=lambda: got.append(c.next_command(no_live)), daemon=True)
    th.start()
    th.join(0.3)
    assert th.is_alive() and got == []           # blocks while paused
    c.resume()
    th.join(5)
    assert got == [STEP] and c.state == RUNNING


def test_stopping_a_paused_run_ends_its_wait():
    c = started()
    c.pause()
    assert c.next_command(no_live) == JUST_PAUSED
    got = []
    th = threading.Thread(target=lambda: got.append(c.next_command(no_live)), daemon=True)
    th.start()
    th.join(0.2)
    c.stop()
    th.join(5)
    assert got == [STOP]


def test_without_a_slot_a_run_is_queued_until_granted_then_runs():
    c = started(granted=False)
    assert c.wants_slot and not c.granted
    got = []
    th = threading.Thread(target=lambda: got.append(c.next_command(no_live)), daemon=True)
    th.start()
    wait_for(lambda: c.reason == Control.WAITING)
    th.join(0.3)
    assert got == [] and c.state == QUEUED
    c.grant()
    th.join(5)
    assert got == [STEP] and c.state == RUNNING and c.granted
    c.revoke()
    assert not c.granted


def test_stopping_a_queued_run_ends_its_wait():
    c = started(granted=False)
    got = []
    th = threading.Thread(target=lambda: got.append(c.next_command(no_live)), daemon=True)
    th.start()
    th.join(0.2)
    c.stop()
    th.join(5)
    assert got == [STOP] and c.stop_reason == "stopped by the user"


def test_pause_before_start_pauses_at_the_first_command():
    c = Control()
    c.pause("not yet")
    assert c.begin()
    assert c.next_command(no_live) == JUST_PAUSED
    assert (c.state, c.reason) == (PAUSED, "not yet")


def test_wants_slot_follows_the_state():
    c = Control()
    assert not c.wants_slot                      # idle
    c.begin()
    assert c.wants_slot                          # queued
    c.pause()
    assert not c.wants_slot                      # paused
    c.step_once()
    assert c.wants_slot                          # paused with a step to do
    c.stop()
    assert not c.wants_slot                      # stopping
    c2 = started()
    c2.end(FINISHED, "")
    assert not c2.wants_slot                     # ended


def test_live_changes_are_handed_over_once_before_the_next_step():
    c = started()
    c.request_live("lr", 0.1)
    c.request_live("momentum", 0.5)
    c.request_live("lr", 0.2)                    # the newest value wins
    assert c.pending_live("lr") == 0.2 and c.pending_live("weight_decay") is None
    seen = []
    assert c.next_command(seen.append) == STEP
    assert seen == [{"lr": 0.2, "momentum": 0.5}]
    assert c.pending_live("lr") is None
    assert c.next_command(seen.append) == STEP and len(seen) == 1   # not handed over twice


def test_live_changes_are_applied_even_when_the_next_command_is_stop():
    c = started()
    c.request_live("lr", 0.3)
    c.stop()
    seen = []
    assert c.next_command(seen.append) == STOP and seen == [{"lr": 0.3}]


def test_the_clock_counts_training_only(clock):
    c = started()
    assert c.elapsed() == 0.0
    clock.t = 110.0                              # queued before the first step: not counted
    assert c.next_command(no_live) == STEP
    clock.t = 113.0
    assert c.elapsed() == pytest.approx(3.0)
    assert c.next_command(no_live) == STEP       # a further step does not restart the clock
    clock.t = 115.0
    assert c.elapsed() == pytest.approx(5.0)
    c.pause()
    assert c.next_command(no_live) == JUST_PAUSED
    clock.t = 500.0                              # a long pause
    assert c.elapsed() == pytest.approx(5.0)
    c.resume()
    assert c.next_command(no_live) == STEP
    clock.t = 502.0
    assert c.elapsed() == pytest.approx(7.0)
    c.end(FINISHED, "done")
    clock.t = 900.0
    assert c.elapsed() == pytest.approx(7.0)     # ended: the clock stands still


def test_the_clock_stops_while_waiting_for_a_slot_and_at_stop(clock):
    c = started()
    assert c.next_command(no_live) == STEP
    clock.t = 104.0
    c.revoke()                                   # the slot is taken back: queued
    th = threading.Thread(target=c.next_command, args=(no_live,), daemon=True)
    th.start()
    wait_for(lambda: c.state == QUEUED)
    clock.t = 200.0
    assert c.elapsed() == pytest.approx(4.0)
    c.stop()
    th.join(5)
    clock.t = 300.0
    assert c.elapsed() == pytest.approx(4.0)


def test_a_continued_run_keeps_its_earlier_training_time(clock):
    c = started()
    c.set_elapsed(60.0)
    assert c.elapsed() == 60.0
    assert c.next_command(no_live) == STEP
    clock.t = 102.5
    assert c.elapsed() == pytest.approx(62.5)
