"""Scheduling and care: runs train in a fixed number of slots handed out in fair order; runs
nobody watches are paused, then stopped; runs past the time limit are stopped."""
from __future__ import annotations

import logging
import time

from core.runs.live import Live
from core.runs.scheduler import Waiting, estimated_waits, fair_order
from core.states import ENDED_STATES, IDLE, PAUSED, QUEUED, RUNNING

log = logging.getLogger(__package__)   # "core.runs": one logger for the run service


def _clock(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Care:
    """A part of RunService: the supervisor thread's loop."""

    # -- scheduling -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Give free slots to the waiting runs in fair order; take slots back from paused runs."""
        with self._lock:
            holding, waiting, training = [], [], []
            for run_id, lv in self._live.items():
                h = lv.handle
                wants, holds = h.wants_slot, h.holds_slot
                if holds and not wants:
                    h.revoke()
                elif holds:
                    holding.append(run_id)
                    snap = h.snapshot()
                    training.append(snap.eta if snap.eta is not None else 0.0)
                elif wants:
                    snap = h.snapshot()
                    waiting.append(Waiting(run_id, lv.owner,
                                           lv.arrived if lv.arrived is not None else self._clock(),
                                           (snap.total_steps - snap.step) * self._batch_of(lv)))
            order = fair_order(waiting, [self._live[r].owner for r in holding])
            free = self.executor.slots - len(holding)
            for w in order[:max(free, 0)]:
                self._live[w.run_id].handle.grant()
            rest = order[max(free, 0):]
            speeds = [self._live[r].handle.snapshot().samples_per_second for r in holding]
            speed = (sum(speeds) / len(speeds)) if speeds and all(speeds) else None
            waits = estimated_waits(rest, self.executor.slots, training, speed)
            self._queue = {w.run_id: (i + 1, waits[i]) for i, w in enumerate(rest)}

    @staticmethod
    def _batch_of(lv: Live) -> int:
        hp = getattr(lv.handle, "hp", None)
        return hp.batch_size if hp is not None else 128

    # -- care -----------------------------------------------------------------------------------

    def _care(self) -> None:
        """Pause runs nobody watches, stop them later, stop runs past the time limit."""
        lim, now = self.limits, self._clock()
        with self._lock:
            live = list(self._live.items())
        for run_id, lv in live:
            snap = lv.handle.snapshot()
            if snap.state in ENDED_STATES or snap.state == IDLE:
                continue
            if snap.elapsed > lim.max_run_seconds:
                lv.handle.stop(f"stopped: time limit of {_clock(lim.max_run_seconds)} of training "
                               "on this server (saved: Continue goes on from here)")
                continue
            if self.headless:
                continue
            unseen = now - self._seen.get(lv.owner, now)
            if snap.state == PAUSED and unseen > lim.abandon_stop_seconds:
                lv.handle.stop(f"stopped: nobody had this run's page open for "
                               f"{lim.abandon_stop_seconds / 60:.0f} minutes (saved: Continue goes on from here)")
            elif snap.state in (RUNNING, QUEUED) and unseen > lim.abandon_pause_seconds:
                lv.handle.pause(f"paused: nobody had this run's page open for "
                                f"{lim.abandon_pause_seconds / 60:.0f} minutes; press Resume to go on")

    def _supervise(self) -> None:
        while not self._stop.wait(self.TICK):
            try:
                self._dispatch()
                now = time.monotonic()
                if (now - self._last_record >= self.RECORD_SECONDS or self._record_soon
                        or self._any_changed()):
                    self._last_record, self._record_soon = now, False
                    self._record()
                if now - self._last_care >= self.CARE_SECONDS:
                    self._last_care = now
                    self._care()
            except Exception:
                log.exception("run supervisor")

    def _any_changed(self) -> bool:
        with self._lock:
            live = list(self._live.values())
        return any(lv.handle.snapshot().state != lv.recorded_state for lv in live)
