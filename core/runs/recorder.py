"""Recording: the supervisor copies each live run's new curve points and figures into the ledger
about once a second (never from the training thread); checkpoints are written by a thread of
their own; ended runs are kept within the retention limits."""
from __future__ import annotations

import logging
import time

from core.nn import checkpoint as ckpt

log = logging.getLogger(__package__)   # "core.runs": one logger for the run service


class Recorder:
    """A part of RunService."""

    # -- recording ------------------------------------------------------------------------------

    def _sink(self, run_id: str):
        """Where a run's checkpoints go: files beside the ledger, written atomically by the
        checkpoint writer (the state handed over is already a private CPU copy)."""
        def sink(kind: str, state: dict) -> None:
            with self._write_ready:
                self._to_write[(run_id, kind)] = state
                self._write_ready.notify()
        return sink

    def _write_checkpoints(self) -> None:
        while True:
            with self._write_ready:
                while not self._to_write:
                    if self._stop.is_set():
                        return
                    self._write_ready.wait(0.5)
                (run_id, kind), state = next(iter(self._to_write.items()))
                del self._to_write[(run_id, kind)]
                self._writing = (run_id, kind)
            try:
                if self.ledger.get_run(run_id) is not None:
                    path = self.ledger.checkpoint_path(run_id) if kind == ckpt.CHECKPOINT else self.ledger.best_path(run_id)
                    self.ledger.save_weights(path, state)
                    if kind == ckpt.CHECKPOINT:
                        with self._lock:
                            lv = self._live.get(run_id) or self._ended.get(run_id)
                            if lv is not None:
                                lv.checkpoint_step = state["counters"]["step"]
                            self._record_soon = True   # its step and the curves up to it, together
                        if lv is None or run_id not in self._live:
                            self.ledger.update_run(run_id, checkpoint_step=state["counters"]["step"])
            except Exception:   # a full disk: the run goes on, and says so in the log
                log.exception("checkpoint of run %s not written", run_id)
            finally:
                with self._write_ready:
                    self._writing = None
                    self._write_ready.notify_all()

    def flush_checkpoints(self, timeout: float = 30.0) -> bool:
        """Wait until every checkpoint handed over so far is on disk."""
        deadline = time.monotonic() + timeout
        with self._write_ready:
            while self._to_write or getattr(self, "_writing", None):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._write_ready.wait(min(left, 0.1))
        return True

    def _record(self, force: bool = False) -> None:
        """Copy each live run's new points and figures into the ledger; retire ended runs."""
        with self._lock:
            live = list(self._live.items())
        for run_id, lv in live:
            snap = lv.handle.snapshot()
            delta, cursor = lv.handle.history.snapshot(lv.cursor)
            changes = dict(state=snap.state, reason=snap.reason, step=snap.step,
                           train_loss=snap.train_loss, val_loss=snap.val_loss,
                           val_accuracy=snap.val_accuracy, best_val_accuracy=snap.best_val_accuracy,
                           best_val_epoch=snap.best_val_epoch, test_accuracy=snap.test_accuracy,
                           test_loss=snap.test_loss, seconds=snap.elapsed,
                           samples_per_second=snap.samples_per_second, live=snap.live,
                           epochs_done=sum(delta.val_full) + (self._epochs_done(run_id) if delta.val_full else 0),
                           checkpoint_step=lv.checkpoint_step)
            if not delta.val_full:
                changes.pop("epochs_done")
            if snap.ended:
                changes["ended"] = time.time()
            try:
                self.ledger.append(run_id, delta, **changes)
            except Exception:   # a full disk or a locked file must not stop the supervisor
                log.exception("could not record run %s", run_id)
                continue
            lv.cursor, lv.recorded_state = cursor, snap.state
            if snap.ended:
                with self._lock:
                    self._live.pop(run_id, None)
                    self._queue.pop(run_id, None)
                    self._ended[run_id] = lv
                    while len(self._ended) > self.KEEP_ENDED:
                        self._ended.popitem(last=False)
                self._retain(run_id)

    def _epochs_done(self, run_id: str) -> int:
        rec = self.ledger.get_run(run_id)
        return rec.epochs_done if rec else 0

    def _retain(self, run_id: str) -> None:
        rec = self.ledger.get_run(run_id)
        if rec is None:
            return
        lim = self.limits
        gone = self.ledger.enforce_retention(rec.owner, lim.stored_runs_per_student,
                                             lim.stored_bytes_per_student,
                                             server_max_runs=lim.stored_runs,
                                             server_max_bytes=lim.stored_bytes)
        with self._lock:
            for rid in gone:
                self._ended.pop(rid, None)
                self._curves.pop(rid, None)
                self._drop_models(rid)
