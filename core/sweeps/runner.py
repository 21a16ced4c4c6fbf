"""Running a sweep through the run service: its runs go through RunService.submit like any
other run (the same admission, fair queue, training slots and ledger), fed a few at a time; the
feeder thread, reopening a sweep after a reload or a restart, and its JSON."""
from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

from core import states
from core.nn.config import PARAMS, ConfigError, HyperParams
from core.sweeps.spec import SweepSpec, effective, value_text

# -- running a sweep through the run service ----------------------------------------------------------
# A sweep's runs go through RunService.submit like any other run: the same admission, the same
# fair queue and training slots, the same ledger (each run carries the sweep's id). They are fed
# to the service a few at a time (enough to keep the training slots busy), so a sweep of 35 runs
# fits within the per-student limit on unfinished runs and its memory is that of a few runs.

log = logging.getLogger(__name__)


def check(svc, owner: str, spec: SweepSpec) -> None:
    """Refuse (runs.Refused, with the figures) a sweep the server's limits cannot take, before
    anything is submitted: a run that could never be admitted, or more runs or bytes than the
    server keeps for one student (the sweep's first runs would be deleted to make room)."""
    from core.nn.data import available
    from core.nn.memory import estimate, size_text
    from core.runs import Refused
    lim, hps = svc.limits, spec.runs()
    for name in dict.fromkeys(hp.dataset for hp in hps):
        ok, why = available(name)
        if not ok:
            raise Refused(why)
    _check_class_rules(svc, owner, hps)
    for hp in hps:
        svc.check_run(hp, "A run of this sweep")
    if len(hps) > lim.stored_runs_per_student:
        raise Refused(f"This sweep needs {len(hps)} runs; the server keeps {lim.stored_runs_per_student} "
                      "runs per student: fewer values or seeds.")
    stored = sum(estimate(hp).checkpoint for hp in hps)
    if stored > lim.stored_bytes_per_student:
        raise Refused(f"This sweep's {len(hps)} runs would keep ~{size_text(stored)} of weights; the "
                      f"server keeps {size_text(lim.stored_bytes_per_student)} per student: fewer "
                      "values or seeds, or a smaller network.")


def _check_class_rules(svc, owner: str, hps: list[HyperParams]) -> None:
    """A student whose class lesson fixes some settings gets them on every run (RunService.submit
    forces them): a sweep that varies or sets one of them would train runs that are not the ones
    in its table, so it is refused, naming them; so is one past the class's epoch limit."""
    from core.classroom.classes import Classroom, enforce
    from core.runs import Refused
    found = Classroom(svc.ledger).student_class(owner)
    if found is None:
        return
    info, forced = found[0], {}
    for hp in hps:
        if info.max_epochs is not None and hp.epochs > info.max_epochs:
            raise Refused(f"Your class allows at most {info.max_epochs} epochs per run; this sweep's runs "
                          f"have {hp.epochs}. Lower the epochs.")
        try:
            got = effective(enforce(info.lesson, hp))
        except ConfigError as e:
            raise Refused(f"Your class's lesson does not allow these settings: {e}") from None
        forced.update({p.name: getattr(got, p.name) for p in PARAMS if getattr(got, p.name) != getattr(hp, p.name)})
    if forced:
        fixed = ", ".join(f"{n}={value_text(n, v)}" for n, v in forced.items())
        raise Refused(f"Your class's lesson fixes {fixed}: a sweep cannot change "
                      f"{'it' if len(forced) == 1 else 'them'}. Vary other settings, or use its values.")


def window(svc, spec: SweepSpec) -> int:
    """How many of the sweep's runs may be unfinished at once: enough to fill the training slots
    with one more waiting (no slot idles between two runs), within the per-student limits on
    unfinished runs and memory; on a web server one run is left for the student's Train page."""
    from core.nn.memory import estimate
    lim = svc.limits
    runs_allowed = lim.runs_per_student - (0 if svc.headless else 1)
    biggest = max(estimate(hp).total for hp in spec.runs())
    return max(1, min(svc.slots() + 1, runs_allowed, lim.student_memory // max(biggest, 1)))


class Sweep:
    """A sweep in the ledger, and its feeder thread while it runs in this process.

    `start_sweep` creates one, `open_sweep` finds one again (after a page reload or a restart).
    Results come from the runs themselves (`svc.runs(owner, sweep_id=...)`), matched to their cell
    by their settings, so the table is right however the sweep was run or resumed."""

    POLL = 0.2               # the feeder looks at its runs this often (the next one already waits queued)

    def __init__(self, svc, owner: str, spec: SweepSpec, sweep_id: str, record: dict | None = None):
        self.svc, self.owner, self.spec, self.id = svc, owner, spec, sweep_id
        self._record = record or {}
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self.waiting_for = ""          # why the next run is not submitted yet (a refusal), if so
        self._ended: dict[str, Any] = {}   # run id -> RunResult, for runs that have ended
        self.cell_of = {p.hp: (p.row, p.col) for p in spec.points()}

    # -- state ----------------------------------------------------------------------------------

    @property
    def feeding(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def state(self) -> str:
        """RUNNING while fed (here or by another live process), else as recorded; a sweep left
        running by a process that is gone is INTERRUPTED (Continue finishes it)."""
        if self.feeding:
            return states.RUNNING
        rec = self.svc.ledger.get_sweep(self.id) or self._record
        if rec.get("state") == states.RUNNING:
            token = (rec.get("result") or {}).get("process", "")
            from core.ledger import process_alive, this_process
            if token and token != this_process() and process_alive(token):
                return states.RUNNING
            return states.INTERRUPTED
        return rec.get("state") or states.IDLE

    def views(self) -> list:
        """The sweep's runs that exist (newest first)."""
        return self.svc.runs(self.owner, sweep_id=self.id)

    def label(self, hp: HyperParams) -> str:
        """'σ=0.01 · he' (+ ' · seed 1' when the sweep has several seeds): a run's place in the table."""
        hp = effective(hp)
        cell = self.cell_of.get(hp)
        if cell is None:
            return hp.describe()
        r, c = cell
        parts = [self.spec.rows.levels[r].label] + ([self.spec.cols.levels[c].label] if self.spec.cols else [])
        if len(self.spec.seeds) > 1:
            parts.append(f"seed {hp.seed}")
        return " · ".join(parts)

    def results(self) -> list:
        """A RunResult for each existing run (ended ones read once and kept)."""
        from core.sweeps.table import RunResult
        out = []
        for v in self.views():
            r = self._ended.get(v.id)
            if r is None:
                snap = v.snapshot()
                r = RunResult.of(v.id, v.hp, snap, v.curves()[0] if snap.ended else None)
                if r.ended:
                    self._ended[v.id] = r
            out.append(r)
        return out

    def table(self, results=None):
        from core.sweeps.table import Table
        return Table.build(self.spec, self.results() if results is None else results,
                           over=self.state not in (states.RUNNING, states.IDLE))

    def progress(self) -> tuple[int, int]:
        """(runs ended, runs in all)."""
        total = len(self.spec.runs())
        ended = sum(1 for v in self.views() if v.snapshot().state in states.ENDED_STATES)
        return ended, total

    # -- control --------------------------------------------------------------------------------

    def start(self) -> "Sweep":
        """Feed the runs that do not exist yet (and continue stopped or interrupted ones) in a
        background thread."""
        with self._lock:
            if self.feeding:
                return self
            from core.ledger import this_process
            self._cancel.clear()
            self.svc.ledger.update_sweep(self.id, state=states.RUNNING, ended=None,
                                         result={"process": this_process()})
            self._thread = threading.Thread(target=self._feed, name=f"sweep-{self.id}", daemon=True)
            self._thread.start()
        with _lock:
            _active[self.id] = self
        return self

    def cancel(self) -> None:
        """Stop the whole sweep: nothing more is submitted, and its unfinished runs are stopped
        (they keep their checkpoints: Continue goes on from there)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(30)
        active = [v for v in self.views() if v.snapshot().state in (states.IDLE, *states.ACTIVE_STATES)]
        for v in active:
            self.svc.stop(self.owner, v.id, "stopped: the sweep was cancelled")
        for v in active:
            self.svc.wait(v.id, 30)
        self._finish(states.STOPPED)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the sweep is over (True) or the timeout passed."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.feeding

    def _feed(self) -> None:
        svc, owner = self.svc, self.owner
        from core.runs import Refused
        try:
            width = window(svc, self.spec)
            existing = {effective(v.hp): v for v in self.views()}
            todo = [hp for hp in self.spec.runs()
                    if hp not in existing or existing[hp].snapshot().state in states.RESUMABLE_STATES]
            mine: list[str] = [v.id for v in existing.values()
                               if v.snapshot().state in (states.IDLE, *states.ACTIVE_STATES)]
            for v in existing.values():          # a run created but never started (a crash)
                if v.snapshot().state == states.IDLE:
                    svc.start(owner, v.id)
            while not self._cancel.is_set():
                mine = [rid for rid in mine if not self._ended_now(rid)]
                if not todo and not mine:
                    break
                if todo and len(mine) < width:
                    hp = todo[0]
                    try:
                        old = existing.get(hp)
                        if old is not None:
                            view = svc.continue_run(owner, old.id) or old
                        else:
                            view = svc.submit(owner, hp, sweep_id=self.id, name=self.label(hp)[:80])
                        todo.pop(0)
                        mine.append(view.id)
                        self.waiting_for = ""
                        continue
                    except Refused as e:          # room is taken (other runs): wait for it
                        self.waiting_for = str(e)
                        if not mine:
                            self._cancel.wait(1.0)
                            continue
                self._cancel.wait(self.POLL)
        except Exception:
            log.exception("sweep %s", self.id)
            self._finish(states.FAILED)
            return
        if not self._cancel.is_set():       # cancel() finishes a cancelled sweep itself
            self._finish(states.FINISHED)

    def _ended_now(self, run_id: str) -> bool:
        view = self.svc.get(self.owner, run_id)
        return view is None or view.snapshot().state in states.ENDED_STATES

    def _finish(self, state: str) -> None:
        for v in self.views():                     # the last figures are in the ledger
            if v.snapshot().state in states.ENDED_STATES:
                self.svc.wait(v.id, 10)
        from core.sweeps.table import Table
        table = Table.build(self.spec, self.results(), over=True)
        self.svc.ledger.update_sweep(self.id, state=state, ended=time.time(),
                                     result={"table": table.to_json()})
        with _lock:
            _active.pop(self.id, None)


def sweep_json(sweep: Sweep, results=None, table=None) -> dict:
    """Everything about a sweep as one JSON-ready dict (the CLI's last line, the page's download):
    its spec, its runs (settings and results), the table, the line chart, the preset's check."""
    from core.sweeps.presets import PRESETS
    from core.sweeps.table import line_chart
    results = sweep.results() if results is None else results
    table = sweep.table(results) if table is None else table
    out = {"sweep_id": sweep.id, "state": sweep.state, "spec": sweep.spec.to_json(), "table": table.to_json(),
           "chart": line_chart(sweep.spec, table),
           "runs": [{**r.to_json(), "label": sweep.label(r.hp)} for r in results[::-1]]}
    if sweep.spec.preset in PRESETS:
        preset = PRESETS[sweep.spec.preset]
        out["preset"] = {"key": preset.key, "expected": preset.expected,
                         "failed": preset.outcome(table, results) if table.done else None}
    return out


_active: dict[str, Sweep] = {}     # sweeps fed by this process, by id
_lock = threading.Lock()


def start_sweep(svc, owner: str, spec: SweepSpec) -> Sweep:
    """Check, record and start a sweep; raises runs.Refused when the server cannot take it."""
    check(svc, owner, spec)
    sweep_id = secrets.token_hex(8)
    svc.ledger.add_sweep(sweep_id, owner, spec.to_json(), time.time())
    svc.ledger.update_sweep(sweep_id, name=spec.name or spec.describe())
    return Sweep(svc, owner, spec, sweep_id).start()


def open_sweep(svc, owner: str, sweep_id: str | None) -> Sweep | None:
    """One of `owner`'s sweeps: the live one when this process feeds it, else rebuilt from the
    ledger. None for an unknown id or someone else's sweep."""
    if not sweep_id:
        return None
    with _lock:
        live = _active.get(sweep_id)
    if live is not None:
        return live if live.owner == owner else None
    rec = svc.ledger.get_sweep(sweep_id)
    if rec is None or rec["owner"] != owner:
        return None
    return Sweep(svc, owner, SweepSpec.from_json(rec["spec"]), sweep_id, rec)


def list_sweeps(svc, owner: str) -> list[dict]:
    """The owner's sweeps, newest first (ledger records: id, name, created, state...)."""
    return svc.ledger.list_sweeps(owner)


def run_sweep(svc, owner: str, spec: SweepSpec, *, on_progress=None, poll: float = 0.5) -> Sweep:
    """Run a whole sweep and return it when every run has ended; `on_progress(sweep)` is called
    about every `poll` seconds. KeyboardInterrupt cancels it."""
    sweep = start_sweep(svc, owner, spec)
    try:
        while not sweep.wait(poll):
            if on_progress is not None:
                on_progress(sweep)
    except KeyboardInterrupt:
        sweep.cancel()
        raise
    return sweep
