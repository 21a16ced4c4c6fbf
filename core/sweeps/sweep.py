"""Sweeps: the lecture's tables in one go.

A sweep varies one or two things (the *axes*) over a few values (the *levels*), each combination
trained with 1 to 5 seeds, and ends in a table laid out like the lecture's: rows x columns = the
levels, cells = test accuracy as mean ± std over the seeds (core.sweeps.table).

    axis = parse_grid("init_sigma=0.001,0.01,0.1")        # text from the CLI or the page
    spec = SweepSpec.build(HyperParams.validate(depth=9), [axis], seeds=3)
    spec.points()                                          # every (row, column, seed, HyperParams)

A level is a label and the settings it overrides, usually one parameter (`lr=0.01`); a lesson
preset may bundle several (`He` = {init: he}, `lr 0.005 + momentum` = {optimizer, lr, momentum}).
Every value goes through the schema (core.nn.config): a grid accepts exactly what the CLI, the URL
and the sidebar accept, and says the same errors.

Combinations that give identical settings (σ with He init, where σ is unused) train once and fill
every cell they belong to.
"""
from __future__ import annotations

import argparse
import difflib
import itertools
import json
import logging
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from core import states
from core.nn.config import PARAM, PARAMS, ConfigError, HyperParams, Param, parse_value

log = logging.getLogger(__name__)

MAX_AXES = 2
MAX_LEVELS = 12          # values per axis: a lecture table has at most about ten
MAX_SEEDS = 5
METRICS = {             # what a cell can show: name -> (label, is a fraction shown in %)
    "test_accuracy": ("test accuracy", True),
    "val_accuracy": ("validation accuracy", True),
    "best_val_accuracy": ("best validation accuracy", True),
    "train_accuracy": ("training accuracy", True),
    "train_loss": ("training loss", False),
    "val_loss": ("validation loss", False),
    "seconds": ("time (s)", False),
}


class SweepError(ValueError):
    """A grid or a sweep the user asked for that cannot run; `problems` lists every reason."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(dict.fromkeys(problems))
        super().__init__("; ".join(self.problems))


def value_text(name: str, value: Any) -> str:
    """A parameter's value as the user writes it (CLI, URL, table labels): the one place sweeps
    format values, so it follows the schema's own writer when it has one."""
    p = PARAM[name]
    to_text = getattr(p, "to_text", None)
    if to_text is not None:
        return to_text(value)
    if p.kind is bool:
        return "true" if value else "false"
    return f"{value:g}" if p.kind is float else str(value)


@dataclass(frozen=True)
class Level:
    """One row or column of the table: its label and the settings it overrides. `x` places it
    on a line chart's horizontal axis (None: not a number, e.g. 'He')."""
    label: str
    overrides: tuple[tuple[str, Any], ...]
    x: float | None = None

    @classmethod
    def of(cls, label: str, x: float | None = None, **overrides: Any) -> "Level":
        return cls(label, tuple(overrides.items()), x)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.overrides)


@dataclass(frozen=True)
class Axis:
    """What varies along the rows (or the columns): a title and its levels. `param` is set when
    every level changes just that one parameter (a plain grid such as `lr=1e-3,1e-2`)."""
    title: str
    levels: tuple[Level, ...]
    param: str | None = None
    log: bool = False                  # a line chart puts x on a log scale

    @property
    def numeric(self) -> bool:
        return any(level.x is not None for level in self.levels)

    @property
    def labels(self) -> list[str]:
        return [level.label for level in self.levels]

    @classmethod
    def over(cls, name: str, values: Iterable[Any]) -> "Axis":
        """A plain axis over one schema parameter (values already parsed)."""
        p = PARAM[name]
        numeric = p.kind in (int, float)
        levels = tuple(Level(value_text(name, v), ((name, v),), float(v) if numeric else None)
                       for v in values)
        return cls(p.label, levels, name, log=p.log)


def _split_values(text: str) -> list[str]:
    """'1e-3,1e-2' -> ['1e-3', '1e-2']; commas inside parentheses or brackets stay, so per-layer
    widths can be listed: 'width=(200,100),(30,30)' -> ['200,100', '30,30']."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
            if depth == 1:
                continue
        elif ch in ")]":
            depth -= 1
            if depth == 0:
                continue
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def param_named(name: str) -> Param:
    """The schema parameter called `name` (CLI spelling `init-sigma` accepted), or a SweepError
    that names the close matches and every parameter a sweep can vary."""
    key = name.strip().lstrip("-").replace("-", "_")
    if key in PARAM and key != "seed":
        return PARAM[key]
    if key == "seed":
        raise SweepError(["seed: give the number of seeds with --seeds (1 to 5), not a grid"])
    names = [p.name for p in PARAMS if p.name != "seed"]
    close = difflib.get_close_matches(key, names, n=2)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise SweepError([f"{name!r} is not a hyper-parameter{hint}; known: {', '.join(names)}"])


def parse_grid(text: str) -> Axis:
    """'lr=1e-3,1e-2' -> an Axis over lr. Raises SweepError naming every bad part."""
    name, sep, values = str(text).partition("=")
    if not sep or not name.strip():
        raise SweepError([f"{text!r}: write a grid as NAME=VALUE,VALUE,... e.g. lr=1e-3,1e-2"])
    p = param_named(name)
    raw = _split_values(values)
    if not any(raw):
        raise SweepError([f"{p.name}: give at least one value after '='"])
    problems, parsed = [], []
    for r in raw:
        if not r:
            problems.append(f"{p.name}: an empty value in {values!r}")
            continue
        try:
            parsed.append(parse_value(p, r))
        except ValueError as e:
            problems.append(f"{p.name}={r}: {e}")
    if len(set(map(str, parsed))) < len(parsed):
        problems.append(f"{p.name}: a value is listed twice")
    if len(raw) > MAX_LEVELS:
        problems.append(f"{p.name}: {len(raw)} values; a sweep takes at most {MAX_LEVELS} per parameter")
    if problems:
        raise SweepError(problems)
    return Axis.over(p.name, parsed)


def suggested_values(name: str) -> list:
    """Three values to start a grid over `name` from, around its default (a page pre-fills them):
    its neighbours on the schema's grid, the first choices, or half and twice the default."""
    p = PARAM[name]
    if p.choices:
        return list(p.choices[:3])
    if p.kind is bool:
        return [False, True]
    if p.grid:
        i = min(range(len(p.grid)), key=lambda k: abs(p.grid[k] - p.default))
        i = min(max(i, 1), len(p.grid) - 2)
        return list(p.grid[i - 1:i + 2])
    if name == "width":
        return ["64", "256", "1024"]
    d = p.default or (1000 if p.zero_means else 1)
    return list(dict.fromkeys(int(min(max(v, p.low), p.high)) for v in (d // 2 or 1, d, d * 2)))


def _when_used(p: Param, base: Mapping[str, Any]) -> str:
    """A hint for a parameter that has no effect with `base`: which setting would make it count
    (found by trying the schema's choices, so no rule is written twice)."""
    for q in PARAMS:
        candidates = q.choices or ((True,) if q.kind is bool else (1,) if q.kind is int else ())
        for v in candidates:
            if p.is_shown({**base, q.name: v}):
                return f"; it is used when {q.name}={value_text(q.name, v)}"
    return ""


def effective(hp: HyperParams) -> HyperParams:
    """`hp` with every parameter that has no effect (the schema hides it: σ with He init,
    momentum with Adam) set to its default, so that two settings that train the same network
    compare equal and train once."""
    values = hp.to_dict()
    unused = {p.name: p.default for p in PARAMS if not p.is_shown(values) and values[p.name] != p.default}
    return hp.replace(**unused) if unused else hp


@dataclass(frozen=True)
class Point:
    """One training run of the sweep: its cell (row, column) and seed, and its settings."""
    row: int
    col: int
    seed: int
    hp: HyperParams


@dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep (stored with it, so a page or the CLI can rebuild its
    table from the runs alone)."""
    base: HyperParams
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    metric: str = "test_accuracy"                  # what a 2-parameter table's cells show
    columns: tuple[str, ...] = ("test_accuracy",)  # a 1-parameter table's columns
    name: str = ""
    preset: str | None = None

    @classmethod
    def build(cls, base: HyperParams | Mapping[str, Any], axes: Sequence[Axis], seeds: int | Sequence[int] = 1,
              *, metric: str = "test_accuracy", columns: Sequence[str] | None = None,
              name: str = "", preset: str | None = None) -> "SweepSpec":
        """Check a sweep as a whole and return it; SweepError lists every problem."""
        problems = []
        if isinstance(base, HyperParams):
            hp = base
        else:
            try:
                hp = HyperParams.validate(base)
            except ConfigError as e:
                raise SweepError([f"{k}: {v}" for k, v in e.errors.items()]) from None
        if isinstance(seeds, int):
            seeds = tuple(hp.seed + i for i in range(seeds))
        seeds = tuple(int(s) for s in seeds)
        if not 1 <= len(seeds) <= MAX_SEEDS:
            problems.append(f"seeds: give 1 to {MAX_SEEDS} seeds, not {len(seeds)}")
        if len(set(seeds)) < len(seeds):
            problems.append("seeds: a seed is listed twice")
        if not 1 <= len(axes) <= MAX_AXES:
            problems.append(f"give one or two parameters to vary, not {len(axes)}")
        params = [a.param for a in axes if a.param]
        if len(set(params)) < len(params):
            problems.append(f"{params[0]}: the same parameter is given twice; list all its values in one grid")
        for m in (metric, *(columns or ())):
            if m not in METRICS:
                problems.append(f"{m!r} is not a result a table can show; known: {', '.join(METRICS)}")
        if problems:
            raise SweepError(problems)
        spec = cls(hp, tuple(axes), seeds, metric, tuple(columns or (metric,)), name, preset)
        spec.points()   # every combination must be valid
        return spec

    @property
    def rows(self) -> Axis:
        return self.axes[0]

    @property
    def cols(self) -> Axis | None:
        return self.axes[1] if len(self.axes) > 1 else None

    def points(self) -> list[Point]:
        """Every run: for each cell and seed, the base settings with the levels' overrides.
        Raises SweepError naming each combination the schema rejects, and each axis whose
        parameter has no effect at all with these settings (its runs would all be the same)."""
        problems, out = [], []
        cols = self.cols.levels if self.cols else (None,)
        used = {a.param: False for a in self.axes if a.param}
        base = self.base.to_dict()
        for (r, row), (c, col) in itertools.product(enumerate(self.rows.levels), enumerate(cols)):
            overrides = {**row.settings, **(col.settings if col else {})}
            where = " × ".join(x.label for x in (row, col) if x)
            try:
                hp0 = HyperParams.validate(base, **overrides)
            except ConfigError as e:
                problems += [f"{where}: {k}: {v}" for k, v in e.errors.items()]
                continue
            for name in used:
                used[name] |= PARAM[name].is_shown(hp0.to_dict())
            hp0 = effective(hp0)
            out += [Point(r, c, s, hp0.replace(seed=s) if s != hp0.seed else hp0) for s in self.seeds]
        for name, ok in used.items():
            if not ok and not problems:
                problems.append(f"{name} has no effect with these settings{_when_used(PARAM[name], base)}")
        if problems:
            raise SweepError(problems)
        return out

    def runs(self) -> list[HyperParams]:
        """The distinct settings to train (identical combinations train once), in table order."""
        return list(dict.fromkeys(p.hp for p in self.points()))

    # -- stored with the sweep (JSON) --------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "base": self.base.to_dict(), "seeds": list(self.seeds), "metric": self.metric,
            "columns": list(self.columns), "name": self.name, "preset": self.preset,
            "axes": [{"title": a.title, "param": a.param, "log": a.log,
                      "levels": [{"label": lv.label, "x": lv.x, "settings": lv.settings} for lv in a.levels]}
                     for a in self.axes],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "SweepSpec":
        if isinstance(d, str):
            d = json.loads(d)
        axes = [Axis(a["title"], tuple(Level(lv["label"], tuple(lv["settings"].items()), lv["x"])
                                       for lv in a["levels"]), a.get("param"), a.get("log", False))
                for a in d["axes"]]
        return cls(HyperParams.validate(d["base"]), tuple(axes), tuple(d["seeds"]), d["metric"],
                   tuple(d["columns"]), d.get("name", ""), d.get("preset"))

    def describe(self) -> str:
        """'Init σ (5) × Weight init (2) × 3 seeds = 30 runs'."""
        parts = [f"{a.title} ({len(a.levels)})" for a in self.axes]
        n = len(self.runs())
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}"
        return f"{' × '.join(parts)} × {seeds} = {n} run{'s' if n != 1 else ''}"


# -- running a sweep through the run service ----------------------------------------------------------
# A sweep's runs go through RunService.submit like any other run: the same admission, the same
# fair queue and training slots, the same ledger (each run carries the sweep's id). They are fed
# to the service a few at a time (enough to keep the training slots busy), so a sweep of 35 runs
# fits within the per-student limit on unfinished runs and its memory is that of a few runs.

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


# -- the command line ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from core.sweeps.presets import PRESETS
    parser = argparse.ArgumentParser(
        prog="python -m core.sweep",
        description="Train a grid of runs (one or two parameters x seeds) or a lesson preset, and "
                    "print the lecture-style table. Progress goes to stderr; with --json the last "
                    "stdout line is one JSON object (the runs and the table).",
        epilog="examples:\n  python -m core.sweep --preset init-sigma --json\n"
               "  python -m core.sweep --grid lr=1e-3,1e-2 --grid width=10,100,1000 --seeds 3 --epochs 2 --json\n"
               "presets: " + ", ".join(PRESETS),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_argument_group("what to sweep")
    what.add_argument("--preset", choices=list(PRESETS), help="a lesson preset (its settings, grid and check)")
    what.add_argument("--reduced", action="store_true",
                      help="the preset's reduced form: fewer images and epochs, same lesson, seconds")
    what.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                      help="a parameter and its values (once or twice); per-layer widths in "
                           "parentheses: width=(200,100),(30,30)")
    what.add_argument("--seeds", type=int, default=None, metavar="N", help=f"seeds per cell, 1 to {MAX_SEEDS} (default 1)")
    what.add_argument("--metric", choices=[m for m in METRICS if m.endswith("accuracy")], default=None,
                      help="what the table's cells show (default test_accuracy)")
    from core.cli.train import add_common_flags
    add_common_flags(parser)          # --home, --device, --ray-address: as python -m core.train
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    base = parser.add_argument_group("base settings (as python -m core.train; a preset's own unless given)")
    for p in PARAMS:
        if p.kind is bool:
            base.add_argument(p.flag, dest=p.name, default=argparse.SUPPRESS,
                              action=argparse.BooleanOptionalAction, help=p.help)
        else:
            base.add_argument(p.flag, dest=p.name, default=argparse.SUPPRESS,
                              metavar=p.kind.__name__.upper(), help=p.help)
    return parser


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    """The sweep the command line asks for; SweepError (with every problem) when it cannot run."""
    from core.sweeps.presets import PRESETS
    given = {p.name: getattr(args, p.name) for p in PARAMS if hasattr(args, p.name)}
    if args.preset and args.grid:
        raise SweepError(["give either --preset or --grid, not both"])
    if args.seeds is not None and not 1 <= args.seeds <= MAX_SEEDS:
        raise SweepError([f"--seeds: give 1 to {MAX_SEEDS}, not {args.seeds}"])
    if args.reduced and not args.preset:
        raise SweepError(["--reduced goes with --preset"])
    if args.preset:
        preset = PRESETS[args.preset]
        try:
            spec = preset.spec(reduced=args.reduced, seeds=args.seeds, **given)
        except ConfigError as e:
            raise SweepError([f"{PARAM[k].flag if k in PARAM else k}: {v}" for k, v in e.errors.items()]) from None
        if args.metric:
            spec = SweepSpec.build(spec.base, spec.axes, spec.seeds, metric=args.metric,
                                   columns=(args.metric, *[c for c in spec.columns if c != args.metric]),
                                   name=spec.name, preset=spec.preset)
        return spec
    if not args.grid:
        raise SweepError(["give a --preset or at least one --grid NAME=VALUES (e.g. --grid lr=1e-3,1e-2)"])
    axes, problems = [], []
    for text in args.grid:
        try:
            axes.append(parse_grid(text))
        except SweepError as e:
            problems += e.problems
    if problems:
        raise SweepError(problems)
    try:
        base = HyperParams.validate(given)
    except ConfigError as e:
        raise SweepError([f"{PARAM[k].flag}: {v}" for k, v in e.errors.items()]) from None
    metric = args.metric or "test_accuracy"
    return SweepSpec.build(base, axes, args.seeds or 1, metric=metric, columns=(metric,))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        spec = spec_from_args(args)
    except SweepError as e:
        parser.error("; ".join(e.problems))
    from core.cli.train import apply_common_flags, make_service
    device = apply_common_flags(parser, {k: getattr(args, k) for k in ("home", "device", "ray_address")})
    from core.nn.data import DataError
    from core.executors import ClusterUnavailable
    from core.ledger import LedgerError
    from core.runs import Refused
    try:
        svc = make_service(device)   # every core of this machine, or the Ray cluster named
    except (LedgerError, OSError) as e:
        parser.error(f"--home: cannot use the data folder: {e}")
    except ClusterUnavailable as e:
        parser.error(str(e))
    owner = "cli"
    _say(f"{spec.name + ': ' if spec.name else ''}{spec.describe()} · {svc.slots()} training slot"
         f"{'s' if svc.slots() > 1 else ''} of {svc.limits.threads_per_run} thread"
         f"{'s' if svc.limits.threads_per_run > 1 else ''} · ledger {svc.ledger.home}")
    reported: set[str] = set()

    def progress(sweep: Sweep) -> None:
        for r in sweep.results():
            if r.ended and r.run_id not in reported:
                reported.add(r.run_id)
                figure = (f"test accuracy {r.test_accuracy:.2%}" if r.test_accuracy is not None
                          else r.reason)
                _say(f"  [{len(reported)}/{len(spec.runs())}] {sweep.label(r.hp)}: {r.state}, {figure} "
                     f"({r.seconds or 0:.1f} s)")
        if sweep.waiting_for:
            _say(f"  waiting: {sweep.waiting_for}")

    try:
        try:
            sweep = run_sweep(svc, owner, spec, on_progress=progress)
        except Refused as e:
            parser.error(str(e))
        except DataError as e:
            _say(f"error: {e}")
            return 1
        except KeyboardInterrupt:
            _say("cancelled")
            return 130
        progress(sweep)
        results = sweep.results()
        table = sweep.table(results)
        _say("\n" + table.to_text())
        out = sweep_json(sweep, results, table)
        if "preset" in out:
            failed = out["preset"]["failed"] or []
            _say(f"expected: {out['preset']['expected']}\n" + ("lesson visible ✓" if not failed else
                                                                "not as expected: " + "; ".join(failed)))
        if args.json:
            print(json.dumps(out, allow_nan=False, default=_json_default))
        bad = [r for r in results if r.state not in (states.FINISHED, states.DIVERGED)]
        return 1 if bad else 0
    finally:
        svc.close()


def _json_default(x):
    raise TypeError(f"not JSON: {type(x).__name__}")


if __name__ == "__main__":
    sys.exit(main())
