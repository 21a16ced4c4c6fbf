"""The run service: the one interface through which a run is submitted, controlled and read
(see core.runs for its jobs)."""
from __future__ import annotations

import collections
import logging
import secrets
import threading
import time

from core.ledger import Ledger, LedgerError, RunRecord
from core.nn import checkpoint as ckpt
from core.nn import model as model_lib
from core.nn.config import HyperParams, structural_changes
from core.nn.history import History
from core.nn.memory import parameter_count
from core.nn.trainer import RunSnapshot
from core.runs.admission import Admission
from core.runs.care import Care
from core.runs.errors import Refused, WeightsUnavailable
from core.runs.live import Live
from core.runs.recorder import Recorder
from core.runs.rules import Open, Rules
from core.runs.view import RunView
from core.settings import Limits
from core.states import IDLE, QUEUED, RESUMABLE_STATES

log = logging.getLogger(__package__)   # "core.runs": one logger for the run service


def make_executor(limits: Limits):
    """The executor the operator chose: a Ray cluster when $MNIST_PLAYGROUND_RAY_ADDRESS names
    one (Ray is imported only then), else threads in this process."""
    from core.settings import ray_address
    address = ray_address()
    if address:
        from core.executors import ClusterUnavailable
        try:
            from core.executors.ray import RayExecutor
        except ImportError as e:
            raise ClusterUnavailable(
                f"MNIST_PLAYGROUND_RAY_ADDRESS (or --ray-address) names a Ray cluster ({address!r}), "
                f"but Ray cannot be imported here ({e}): pip install -r requirements-ray.txt") from None
        return RayExecutor(address, limits)
    from core.executors.local import LocalExecutor
    return LocalExecutor(limits)


class RunService(Admission, Recorder, Care):
    TICK = 0.1              # the supervisor looks at slots this often
    RECORD_SECONDS = 1.0    # ... and copies curves into the ledger this often, and after each checkpoint
    CARE_SECONDS = 2.0      # ... and looks for abandoned and overlong runs this often
    KEEP_ENDED = 8          # ended runs whose handles (weights in memory) are kept
    KEEP_CURVES = 32        # ledger curves kept in memory (the runs pages look at)

    def __init__(self, ledger: Ledger | None = None, executor=None, limits: Limits | None = None,
                 *, rules: Rules | None = None, headless: bool = False, clock=time.monotonic,
                 supervise: bool = True):
        self.ledger = ledger or Ledger()
        self.rules: Rules = rules if rules is not None else Open()
        self.limits = limits or Limits.from_env(headless=headless)
        if executor is None:
            executor = make_executor(self.limits)
        self.executor = executor
        self.headless = headless
        self._clock = clock
        self._lock = threading.RLock()
        self._live: dict[str, Live] = {}
        self._ended: collections.OrderedDict[str, Live] = collections.OrderedDict()
        self._curves: collections.OrderedDict[str, History] = collections.OrderedDict()
        self._models: collections.OrderedDict[tuple, model_lib.MLP] = collections.OrderedDict()
        self._seen: dict[str, float] = {}
        self._queue: dict[str, tuple[int, float]] = {}   # run id -> (position, wait)
        self._stop = threading.Event()
        self._last_record = self._last_care = 0.0
        self._record_soon = False   # a checkpoint was just written: record at the next tick
        # Checkpoint files are written by a thread of their own: torch.save + fsync of a large
        # network takes ~0.1 s that the training thread should not wait for. The newest state of
        # each run wins (an older one still waiting is dropped).
        self._to_write: dict[tuple[str, str], dict] = {}
        self._write_ready = threading.Condition()
        self._writer = threading.Thread(target=self._write_checkpoints, name="checkpoint-writer", daemon=True)
        self._writer.start()
        # Runs left active by a process that is gone are interrupted, unless their executor
        # still trains them (a cluster's detached actors): those are found again.
        self.recovered = [] if headless else self.ledger.mark_interrupted()
        self.reattached = self._reattach(self.recovered)
        self.recovered = [r for r in self.recovered if r not in self.reattached]
        # Weight folders no run names are set aside, never deleted (an emptied or replaced
        # ledger must not cost every run its weights); pages say how many and where.
        self.orphaned = [] if headless else self.ledger.set_aside_orphans()
        if not headless:
            self.ledger.clean_weights()
        self._thread = None
        if supervise:
            self._thread = threading.Thread(target=self._supervise, name="run-supervisor", daemon=True)
            self._thread.start()

    def _reattach(self, run_ids: list[str]) -> list[str]:
        """After a restart of the web server: of the runs just marked interrupted (their
        recording process is gone; a live CLI's runs are not among them), those that still train
        elsewhere (a cluster's detached actors) are found again and recorded by this process.
        The local executor has nothing to find (its threads died with the process)."""
        reattach = getattr(self.executor, "reattach", None)
        if reattach is None:
            return []
        found = []
        for rec in filter(None, map(self.ledger.get_run, run_ids)):
            history = History()
            history.extend(self.ledger.load_curves(rec.id))
            handle = reattach(rec.id, HyperParams.validate(rec.config), history=history,
                              sink=self._sink(rec.id))
            if handle is None:
                continue
            from core.nn.memory import estimate as estimate_memory
            self._live[rec.id] = Live(handle, cursor=history.cursor(), arrived=self._clock(),
                                       checkpoint_step=rec.checkpoint_step,
                                       memory=estimate_memory(HyperParams.validate(rec.config)).total,
                                       owner=rec.owner)
            self._curves[rec.id] = history
            snap = handle.snapshot()                          # this process now records it
            self.ledger.update_run(rec.id, state=snap.state, reason=snap.reason, ended=None)
            found.append(rec.id)
        return found

    # -- submitting -----------------------------------------------------------------------------

    def submit(self, owner: str, hp: HyperParams, *, start: bool = True, name: str = "",
               sweep_id: str | None = None, class_id: str | None = None,
               parent_id: str | None = None) -> RunView:
        """Create a run (and start it, unless start=False: an idle run a page can Step). Raises
        Refused with a message for the user when the server's limits do not allow it.
        A student in a class gets the lesson's locked values whatever was asked (no route
        around them), the class's limits, and no test figure on the images a challenge hides."""
        hp, class_id, test_indices = self.rules.admit(owner, hp, class_id)
        memory = self.admit(owner, [hp])
        run_id = secrets.token_hex(8)
        history = History()
        extra = {} if test_indices is None else {"test_indices": test_indices}
        handle = self.executor.create(run_id, hp, history=history, sink=self._sink(run_id), **extra)
        with self._lock:
            number = self.ledger.next_number(owner)
            snap = handle.snapshot()
            rec = RunRecord(id=run_id, owner=owner, number=number, config=hp.to_dict(), name=name,
                            dataset=hp.dataset, state=IDLE, created=time.time(),
                            total_steps=snap.total_steps, steps_per_epoch=snap.steps_per_epoch,
                            params=parameter_count(hp.widths, hp.batch_norm),
                            device=snap.device, sweep_id=sweep_id, class_id=class_id,
                            parent_id=parent_id, live=dict(snap.live))
            self.ledger.add_run(rec)
            self._live[run_id] = Live(handle, memory=memory, owner=owner)
            self._curves[run_id] = history
        if start:
            self.start(owner, run_id)
        return RunView(self, rec)

    def continue_run(self, owner: str, run_id: str) -> RunView | None:
        """Continue a stopped or interrupted run from its last checkpoint (same run, same id):
        the curves go on exactly as if it had never stopped, less the steps after the checkpoint."""
        view = self.get(owner, run_id)
        if view is None:
            return None
        rec = self.ledger.get_run(run_id)
        if rec.state not in RESUMABLE_STATES:
            raise Refused(f"Only a stopped or interrupted run can be continued; this one is {rec.state}.")
        if run_id in self._live:
            raise Refused("This run is still active.")
        try:
            state = self.ledger.load_weights(self.ledger.checkpoint_path(run_id))
            ckpt.check(state, rec.config)
        except (LedgerError, ckpt.CheckpointError) as e:
            raise Refused(f"This run cannot be continued: {e}") from None
        # The class rules apply to a continued run as to a new one: above all, a student's run
        # never reports accuracy on the test images an open challenge hides.
        hp, _, test_indices = self.rules.admit(owner, view.hp, rec.class_id)
        if hp != view.hp:
            raise Refused("Your class's lesson fixes settings this run does not have "
                          f"({', '.join(structural_changes(view.hp, hp)) or 'its settings'}): "
                          "start a new run instead.")
        memory = self.admit(owner, [view.hp])
        at = state["counters"]["step"]
        self.ledger.truncate_curves(run_id, at)
        history = History()
        history.extend(self.ledger.load_curves(run_id))
        extra = {} if test_indices is None else {"test_indices": test_indices}
        handle = self.executor.create(run_id, view.hp, history=history, sink=self._sink(run_id),
                                      resume=state, **extra)
        with self._lock:
            self._ended.pop(run_id, None)
            self._live[run_id] = Live(handle, cursor=history.cursor(), checkpoint_step=at,
                                       memory=memory, owner=owner)
            self._curves[run_id] = history
            self._drop_models(run_id)
            self.ledger.update_run(run_id, state=IDLE, step=at, ended=None,
                                   reason=f"continued from the checkpoint of step {at:,}")
        self.start(owner, run_id)
        return view

    # -- controlling ----------------------------------------------------------------------------

    def _handle(self, owner: str | None, run_id: str):
        with self._lock:
            lv = self._live.get(run_id)
            if lv is None or (owner is not None and lv.owner != owner):
                return None
            return lv

    def start(self, owner: str, run_id: str) -> bool:
        lv = self._handle(owner, run_id)
        if lv is None or not lv.handle.start():
            return False
        with self._lock:
            lv.arrived = self._clock()
            self.ledger.update_run(run_id, state=QUEUED, started=time.time())
        self._dispatch()
        return True

    def pause(self, owner: str | None, run_id: str, reason: str = "") -> None:
        lv = self._handle(owner, run_id)
        if lv is not None:
            lv.handle.pause(reason)

    def resume(self, owner: str | None, run_id: str) -> None:
        lv = self._handle(owner, run_id)
        if lv is not None:
            with self._lock:
                lv.arrived = self._clock()
            lv.handle.resume()
            self._dispatch()

    def step(self, owner: str, run_id: str) -> bool:
        lv = self._handle(owner, run_id)
        if lv is None:
            return False
        with self._lock:
            if not lv.handle.holds_slot:
                lv.arrived = self._clock()
        ok = lv.handle.step_once()
        self._dispatch()
        return ok

    def stop(self, owner: str | None, run_id: str, reason: str = "") -> None:
        """Stop a run (any state). A teacher's view passes owner=None (it checks the role)."""
        lv = self._handle(owner, run_id)
        if lv is not None:
            lv.handle.stop(reason)

    def set_live(self, owner: str, run_id: str, name: str, value: float) -> None:
        lv = self._handle(owner, run_id)
        if lv is not None:
            lv.handle.set_live(name, value)

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Block until the run has ended and is recorded (True) or the timeout passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                lv = self._live.get(run_id)
            if lv is None:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            lv.handle.wait(min(0.2, left) if left is not None else 0.2)
            if lv.handle.snapshot().ended:
                self.flush_checkpoints()
                self._record(force=True)

    def rename(self, owner: str, run_id: str, name: str, note: str | None = None) -> None:
        if self.get(owner, run_id) is not None:
            changes = {"name": name.strip()[:80]}
            if note is not None:
                changes["note"] = note.strip()[:2000]
            self.ledger.update_run(run_id, **changes)

    def delete(self, owner: str | None, run_id: str) -> bool:
        """Forget a run and its files (stopping it first if it is active)."""
        rec = self.ledger.get_run(run_id)
        if rec is None or (owner is not None and rec.owner != owner):
            return False
        with self._lock:
            lv = self._live.pop(run_id, None) or self._ended.pop(run_id, None)
            self._curves.pop(run_id, None)
            self._queue.pop(run_id, None)
            self._drop_models(run_id)
        if lv is not None:
            lv.handle.stop("deleted")
            lv.handle.wait(5)
            self._dispatch()
        self.ledger.delete_run(run_id)
        return True

    # -- reading --------------------------------------------------------------------------------

    def get(self, owner: str, run_id: str | None) -> RunView | None:
        """One of `owner`'s runs, or None (unknown, deleted, or someone else's)."""
        rec = self.ledger.get_run(run_id) if run_id else None
        if rec is None or rec.owner != owner:
            return None
        return RunView(self, rec)

    def get_any(self, run_id: str | None) -> RunView | None:
        """Any run (a teacher's read-only view: the caller checks the role first)."""
        rec = self.ledger.get_run(run_id) if run_id else None
        return RunView(self, rec) if rec else None

    def runs(self, owner: str | None = None, *, sweep_id: str | None = None,
             class_id: str | None = None) -> list[RunView]:
        """Runs, newest first."""
        return [RunView(self, r) for r in self.ledger.list_runs(owner, sweep_id=sweep_id, class_id=class_id)]

    def touch(self, owner: str) -> None:
        """`owner` has a page open: their runs are being watched."""
        self._seen[owner] = self._clock()

    def slots(self) -> int:
        return self.executor.slots

    def _snapshot(self, run_id: str) -> RunSnapshot:
        with self._lock:
            lv = self._live.get(run_id) or self._ended.get(run_id)
            queued = self._queue.get(run_id)
        if lv is not None:
            snap = lv.handle.snapshot()
            if queued and snap.state == QUEUED:
                snap = snap.replace(queue_position=queued[0], queue_wait=queued[1])
            return snap
        rec = self.ledger.get_run(run_id)
        if rec is None:
            raise KeyError(run_id)
        return RunSnapshot(
            state=rec.state, reason=rec.reason, step=rec.step, total_steps=rec.total_steps,
            steps_per_epoch=rec.steps_per_epoch, epoch=rec.step / max(rec.steps_per_epoch, 1),
            epochs=rec.config.get("epochs", 0), samples_per_second=rec.samples_per_second,
            elapsed=rec.seconds, eta=None, live=dict(rec.live), train_loss=rec.train_loss,
            val_loss=rec.val_loss, val_accuracy=rec.val_accuracy,
            best_val_accuracy=rec.best_val_accuracy, best_val_epoch=rec.best_val_epoch,
            test_accuracy=rec.test_accuracy, test_loss=rec.test_loss, device=rec.device,
            weights_version=-(rec.checkpoint_step or 0) - 1)

    def _history(self, run_id: str) -> History:
        with self._lock:
            h = self._curves.get(run_id)
            if h is not None:
                self._curves.move_to_end(run_id)
                return h
        h = History()
        h.extend(self.ledger.load_curves(run_id))
        with self._lock:
            self._curves[run_id] = h
            while len(self._curves) > self.KEEP_CURVES:
                old = next(iter(self._curves))
                if old in self._live:
                    self._curves.move_to_end(old)
                    if all(k in self._live for k in self._curves):
                        break
                    continue
                self._curves.pop(old)
        return h

    def _model(self, run_id: str) -> model_lib.MLP:
        with self._lock:
            lv = self._live.get(run_id) or self._ended.get(run_id)
        if lv is not None:
            return lv.handle.model_snapshot()
        rec = self.ledger.get_run(run_id)
        if rec is None:
            raise WeightsUnavailable("this run is not available (deleted?)")
        if rec.checkpoint_step is None:
            raise WeightsUnavailable(f"run #{rec.number} has no saved weights (it never trained)")
        key = (run_id, rec.checkpoint_step)
        with self._lock:
            cached = self._models.get(key)
        if cached is None:
            try:
                state = self.ledger.load_weights(self.ledger.checkpoint_path(run_id))
                cached = model_lib.from_state_dict(model_lib.Arch.of(HyperParams.validate(rec.config)),
                                                   state["model"])
            except (LedgerError, KeyError, RuntimeError, ValueError) as e:
                raise WeightsUnavailable(f"the weights of run #{rec.number} cannot be read: {e}") from None
            with self._lock:
                self._models[key] = cached
                while len(self._models) > 4:
                    self._models.popitem(last=False)
        return _copy(cached)

    def _drop_models(self, run_id: str) -> None:
        for key in [k for k in self._models if k[0] == run_id]:
            self._models.pop(key)

    def close(self, stop_runs: bool = True) -> None:
        """Stop the supervisor (and the runs, which keep their checkpoints). For tests and the CLI."""
        with self._lock:
            live = list(self._live.values())
        if stop_runs:
            for lv in live:
                lv.handle.stop("the server shut down")
            for lv in live:
                lv.handle.wait(10)
        self.flush_checkpoints()
        self._stop.set()
        with self._write_ready:        # the checkpoint writer sleeps on this: wake it to end now
            self._write_ready.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        self._writer.join(5)
        self._record(force=True)
        self.executor.close()
        self.ledger.close()


def _copy(model: model_lib.MLP) -> model_lib.MLP:
    import copy
    return copy.deepcopy(model)
