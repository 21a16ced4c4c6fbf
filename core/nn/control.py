"""The control protocol between the page threads and a run's training thread.

Commands (pause, resume, step, stop, live changes) may come from any thread; they only set flags
under one lock and wake the training thread, which applies them between two mini-batches, so the
model and optimizer are only ever touched by the training thread. The run's state and its clock
(training time, pauses and waiting excluded) live here too, changed under the same lock.

A training slot is *granted* by whoever schedules runs (core.runs' dispatcher): a run trains
only while it holds one; a paused run gives it back. A Control made with `granted=True` (the
default) is its own scheduler: the trainer alone, as in tests and benchmarks.
"""
from __future__ import annotations

import threading
import time

from core.states import ACTIVE_STATES, ENDED_STATES, IDLE, PAUSED, QUEUED, RUNNING, STOPPED

# What the training thread is told to do next.
STEP, STOP, JUST_PAUSED = "step", "stop", "just paused"


class Control:
    WAITING = "waiting for a free training slot: other runs are training on this server"

    def __init__(self, granted: bool = True):
        self.cond = threading.Condition()
        self.state, self.reason = IDLE, ""
        self.granted = granted
        self._paused = False
        self._pause_reason = ""
        self._step_budget = 0          # single steps requested while paused
        self._stop_reason: str | None = None
        self._live: dict[str, float] = {}
        self._active_seconds = 0.0
        self._since: float | None = None

    # -- commands (any thread) ------------------------------------------------------------------

    def pause(self, reason: str = "") -> None:
        with self.cond:
            if self.state in ACTIVE_STATES or self.state == IDLE:
                self._paused, self._pause_reason = True, reason
                self.cond.notify_all()

    def resume(self) -> None:
        with self.cond:
            self._paused, self._step_budget = False, 0
            self.cond.notify_all()

    def step_once(self) -> bool:
        """One mini-batch, then stay paused. False once the run has ended."""
        with self.cond:
            if self.state in ENDED_STATES:
                return False
            self._paused = True
            self._pause_reason = ""
            self._step_budget += 1
            self.cond.notify_all()
            return True

    def stop(self, reason: str = "") -> None:
        with self.cond:
            if self.state in ENDED_STATES:
                return
            self._stop_reason = reason or "stopped by the user"
            if self.state == IDLE:
                self.state, self.reason = STOPPED, "stopped before it started"
            self.cond.notify_all()

    def request_live(self, name: str, value: float) -> None:
        with self.cond:
            self._live[name] = value
            self.cond.notify_all()

    def pending_live(self, name: str) -> float | None:
        with self.cond:
            return self._live.get(name)

    def grant(self) -> None:
        with self.cond:
            self.granted = True
            self.cond.notify_all()

    def revoke(self) -> None:
        with self.cond:
            self.granted = False

    @property
    def wants_slot(self) -> bool:
        """Would train if it held a slot: started, not ended, not paused (or a step asked for)."""
        with self.cond:
            return (self.state in ACTIVE_STATES and self._stop_reason is None
                    and (not self._paused or self._step_budget > 0))

    @property
    def stop_reason(self) -> str | None:
        with self.cond:
            return self._stop_reason

    # -- the training thread --------------------------------------------------------------------

    def next_command(self, apply_live) -> str:
        """Block until the run may train one more mini-batch (STEP), must end (STOP) or has just
        been paused (JUST_PAUSED: the trainer saves a checkpoint, then calls again). Pending
        live changes are handed to `apply_live(dict)` first, under the lock."""
        with self.cond:
            while True:
                if self._live:
                    apply_live(dict(self._live))
                    self._live.clear()
                if self._stop_reason is not None:
                    self._clock_off()
                    return STOP
                if self._paused and self._step_budget == 0:
                    if self.state != PAUSED:
                        self._clock_off()
                        self.state, self.reason = PAUSED, self._pause_reason
                        return JUST_PAUSED
                    self.cond.wait(0.5)
                    continue
                if not self.granted:
                    if (self.state, self.reason) != (QUEUED, self.WAITING):
                        self._clock_off()
                        self.state, self.reason = QUEUED, self.WAITING
                    self.cond.wait(0.5)
                    continue
                if self._step_budget:
                    self._step_budget -= 1
                if self.state != RUNNING:
                    self.state, self.reason = RUNNING, ""
                    self._since = time.monotonic()
                return STEP

    def begin(self) -> bool:
        """The thread starts: idle -> queued. False if the run was stopped before it started."""
        with self.cond:
            if self.state != IDLE:
                return False
            self.state, self.reason = QUEUED, "starting"
            return True

    def end(self, state: str, reason: str) -> None:
        with self.cond:
            self._clock_off()
            self.state, self.reason = state, reason
            self.cond.notify_all()

    # -- the clock ------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds spent training so far (pauses and queueing excluded)."""
        with self.cond:
            return self._active_seconds + (time.monotonic() - self._since if self._since else 0.0)

    def set_elapsed(self, seconds: float) -> None:
        with self.cond:
            self._active_seconds = seconds

    def _clock_off(self) -> None:
        if self._since is not None:
            self._active_seconds += time.monotonic() - self._since
            self._since = None
