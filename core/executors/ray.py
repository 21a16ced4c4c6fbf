"""Runs on a Ray cluster: where a class outgrows one server.

Only imported when the operator names a cluster ($MNIST_PLAYGROUND_RAY_ADDRESS or a CLI's
--ray-address); nothing a student types reaches Ray except validated HyperParams.

A run trains on a *host*: a named, detached actor (`RunHost`, namespace "mnist-playground",
holding the run's CPUs, and a GPU where the cluster has them) with a core.nn.trainer.Trainer in it:
the same step loop, control protocol and checkpoints as a run on the server's own threads. The
web server keeps a `RayRun` handle per run, with the handle interface of core.executors:
commands become remote calls (in order: a sync actor runs one caller's calls in the order they
were sent), and a thread of the handle pulls the run's new curve points, its figures and any
newer checkpoint a few times a second into the service's History and sink. The run service
cannot tell the difference.

A run gets its host when the service first grants it a training slot, not when it is submitted:
a queued run holds no CPUs on the cluster, so the service's fair queue (not Ray's) decides who
trains next. A run paused for a while gives its host back too (it is "parked": its checkpoint is
already on the server; Resume or Step gives it a host again, on any node). A host outlives its
run for a minute and takes the next one: starting a worker (Python, torch) costs seconds.

Data: the first run on a node asks that node's `DataShelf` (a detached actor with no CPUs) for the
data set; the shelf reads the package's embedded files once and puts the arrays into the node's
shared-memory object store, from which every run on the node maps them without a copy. The code
and the data files travel with the job (Ray's working_dir): nodes need no shared file system.

Faults: when a run's host or node dies, its snapshot turns "interrupted", with the step it
reached and the checkpoint Continue resumes from (core.runs re-creates it through `create`).
A restarted web server asks every host which run it trains (`reattach`).
"""
from __future__ import annotations

import copy
import gc
import hashlib
import logging
import math
import os
import secrets
import socket
import threading
import time
import warnings
from pathlib import Path

import ray
import torch
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from core.executors import ClusterUnavailable  # noqa: F401  (callers may catch it from either module)
from core.nn import checkpoint as ckpt
from core.nn import data
from core.nn import model as model_lib
from core.nn.config import LIVE_PARAMS, HyperParams
from core.nn.history import History
from core.nn.trainer import RunSnapshot
from core.settings import Limits
from core.states import ENDED_STATES, FAILED, IDLE, INTERRUPTED, PAUSED, QUEUED, STOPPED

log = logging.getLogger(__name__)

NAMESPACE = "mnist-playground"
ROOT = Path(__file__).resolve().parents[2]
# What the cluster's workers get of this repository (the code and MNIST's files, ~11 MB): the
# same version of the code as the web server, without a shared file system.
SHIPPED_EXCLUDES = [".venv", "tests", "test-artifacts", "bench", "pages", "components",
                    "scripts", "assets/screenshots", "assets/models", "**/__pycache__", "*.pyc",
                    ".pytest_cache", "*.md"]


def code_version() -> str:
    """A hash of this package's code: a data shelf left by another version is not used."""
    h = hashlib.sha256()
    for f in sorted((ROOT / "core").rglob("*.py")):
        h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


VERSION = code_version()


def reachable(address: str, timeout: float = 5.0) -> str | None:
    """None if something answers at a "host:port" (or "ray://host:port") address, else why not.
    (ray.init itself retries an unreachable address for minutes.) Other forms, such as "auto",
    are left to ray.init."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as e:
        return f"nothing answers at {host}:{port} ({e.strerror or e})"
    return None


def _kill(actor) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:     # already gone
        pass


def _steps_per_epoch(hp: HyperParams) -> int:
    """As the Trainer counts them (both data sets have 60,000 training images)."""
    n = 60000 - round(60000 * hp.val_fraction)
    return math.ceil((min(n, hp.subset) if hp.subset else n) / hp.batch_size)


# -- on the cluster ---------------------------------------------------------------------------------

@ray.remote(num_cpus=0)
class DataShelf:
    """One per node: loads a data set from this node's copy of the package once and keeps its
    arrays in the node's object store, shared read-only (zero-copy) by every run on the node."""

    def __init__(self):
        self._shelved: dict[str, tuple] = {}
        self._loads: dict[str, int] = {}

    def loads(self) -> dict[str, int]:
        """How often each data set was read from files here (once: the point of the shelf)."""
        return dict(self._loads)

    def dataset(self, name: str) -> tuple[list, float, float]:
        if name not in self._shelved:
            self._loads[name] = self._loads.get(name, 0) + 1
            ds = data.load(name)
            arrays = {k: getattr(ds, k).numpy() for k in ("train_x", "train_y", "test_x", "test_y")}
            self._shelved[name] = (ray.put(arrays), ds.mean, ds.std)
            with data._cache_lock:        # the tensors live on in the object store only
                data._cache.clear()
        ref, mean, std = self._shelved[name]
        return [ref], mean, std           # (a ref inside a list travels as a ref, not its value)


def shelf_on(node: str):
    """The data shelf of cluster node `node` (created the first time it is asked for)."""
    name = f"data-{VERSION}-{node}"
    options = dict(name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                   num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
    for _ in range(5):     # two runs starting at once on a new node may race for the name
        try:
            return DataShelf.options(**options).remote()
        except ValueError:
            time.sleep(0.2)
    return ray.get_actor(name, namespace=NAMESPACE)


def adopt_node_dataset(name: str) -> data.Dataset:
    """Make `name` this process's data set (core.nn.data.load's cache) from the node's shelf."""
    [ref], mean, std = ray.get(shelf_on(ray.get_runtime_context().get_node_id()).dataset.remote(name))
    arrays = ray.get(ref)
    with warnings.catch_warnings():      # read-only shared memory: runs only ever read it
        warnings.filterwarnings("ignore", message=".*not writable.*")
        t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    ds = data.Dataset(name, data.DATASETS[name].class_names, t["train_x"], t["train_y"],
                      t["test_x"], t["test_y"], mean, std)
    with data._cache_lock:
        data._cache[(name, "cpu")] = ds
    return ds


@ray.remote(max_restarts=0, max_task_retries=0)
class RunHost:
    """A worker process on a cluster node that trains runs, one at a time: a Trainer whose
    checkpoints are kept here (the newest of each kind) until the web server fetches them.

    Starting a worker costs ~6 s of CPU (Python, torch, this package), so a host outlives its
    run: the executor keeps it for the next run a while (RayExecutor.IDLE_HOST_SECONDS). Hosts
    are named ("host-<random>") and detached: a restarted web server asks each whose run it
    trains. A host nobody has asked anything for ORPHAN_SECONDS (its server gone for good)
    stops its run and ends, so that it does not hold its CPUs forever; an idle one ends after
    IDLE_SECONDS."""
    ORPHAN_SECONDS = 3600.0
    IDLE_SECONDS = 300.0

    def __init__(self):
        from core.nn import trainer  # noqa: F401  (imported now, once per host, not per run)
        self.ip = ray.util.get_node_ip_address()
        self.node = ray.get_runtime_context().get_node_id()
        self.started = time.time()
        self.run_id: str | None = None
        self.trainer = None
        self.error: str | None = None
        self.base, self.seq, self.kept, self._kept_count = (0, 0, 0), 0, {}, 0
        self.timings: dict = {}
        self._asked = time.monotonic()
        threading.Thread(target=self._watch, name="orphan-watch", daemon=True).start()

    def load(self, run_id: str, config: dict, resume: dict | None, threads: int, base: tuple) -> None:
        """Take run `run_id` (from its checkpoint `resume`, if any). `base`: the length of the
        run's curves on the server when this host took it (for a restarted server)."""
        from core.nn.control import Control
        from core.nn.trainer import Trainer
        self._asked = time.monotonic()
        self.timings = {"host_started": self.started, "loading": time.time(), "pid": os.getpid()}
        self.run_id, self.base, self.seq, self.error = run_id, tuple(base), 0, None
        self.trainer, self.kept, self._kept_count = None, {}, 0
        try:       # an error here is reported by poll (a clear message, not a dead host)
            hp = HyperParams.validate(config)
            adopt_node_dataset(hp.dataset)
            self.timings["data"] = time.time()
            self.trainer = Trainer(hp, run_id=run_id, control=Control(granted=False),
                                   sink=lambda kind, state: self._keep(run_id, kind, state),
                                   resume=resume, threads=threads)
        except Exception as e:
            log.exception("run %s could not start", run_id)
            self.error = f"{type(e).__name__}: {e}"
        self.timings["ready"] = time.time()

    def unload(self, run_id: str) -> None:
        """The server has everything of this (ended or parked) run: free its memory."""
        if run_id == self.run_id:
            self.run_id, self.trainer, self.kept = None, None, {}
            gc.collect()

    def whose(self) -> tuple[str | None, str]:
        """(the run this host trains or None, its node)"""
        self._asked = time.monotonic()
        return self.run_id, self.node

    def _watch(self) -> None:
        while True:
            time.sleep(30.0)
            quiet = time.monotonic() - self._asked
            if self.trainer is not None and quiet > self.ORPHAN_SECONDS:
                log.warning("no web server asked for run %s for %.0f s: stopping it", self.run_id, quiet)
                self.trainer.stop("no web server followed this run any more")
                self.trainer.wait(60)
                break
            if self.trainer is None and quiet > self.IDLE_SECONDS:
                break
        ray.kill(ray.get_runtime_context().current_actor, no_restart=True)

    def _keep(self, run_id: str, kind: str, state: dict) -> None:   # the trainer's sink
        if run_id == self.run_id:
            self._kept_count += 1
            self.kept[kind] = (self._kept_count, state)

    def command(self, run_id: str, seq: int, name: str, *args) -> None:
        if run_id == self.run_id:
            if self.trainer is not None:
                getattr(self.trainer, name)(*args)
            self.seq = seq

    def poll(self, run_id: str, cursor: tuple) -> dict:
        """Everything new since `cursor` (of the run's History here), in one round trip."""
        self._asked = time.monotonic()
        if run_id != self.run_id:
            return {"error": None, "gone": True, "node": self.node}
        if self.trainer is None:
            return {"error": self.error, "seq": self.seq, "base": self.base, "node": self.node}
        t = self.trainer
        snap = t.snapshot()
        delta, cursor = t.history.snapshot(tuple(cursor))
        return {"snapshot": snap.replace(device=f"{snap.device} on Ray node {self.ip}"),
                "delta": delta, "cursor": cursor, "seq": self.seq, "base": self.base,
                "kept": {k: v[0] for k, v in self.kept.items()}, "granted": t.holds_slot,
                "wants": t.wants_slot, "node": self.node, "error": None, "timings": self.timings}

    def checkpoint(self, run_id: str, kind: str) -> tuple[int, dict]:
        assert run_id == self.run_id, "this host trains another run"
        return self.kept[kind]

    def weights(self, run_id: str) -> tuple[int, dict]:
        assert run_id == self.run_id, "this host trains another run"
        version = self.trainer.snapshot().weights_version
        return version, self.trainer.model_snapshot().state_dict()


# -- in the web server ------------------------------------------------------------------------------

class RayRun:
    """The web server's handle of one cluster run (core.executors' handle interface)."""
    POLL_SECONDS = 0.3        # curves and figures pulled this often
    WEIGHTS_SECONDS = 0.25    # weights fetched at most this often (Draw, Look inside)
    PARK_SECONDS = 60.0       # a run paused this long gives its cluster CPUs back
    CALL_TIMEOUT = 30.0

    def __init__(self, executor: "RayExecutor", run_id: str, hp: HyperParams, *, history: History,
                 sink, resume: dict | None = None):
        self._ex, self.id, self.hp, self.history, self._sink = executor, run_id, hp, history, sink
        self.steps_per_epoch = _steps_per_epoch(hp)
        self.total_steps = self.steps_per_epoch * hp.epochs
        self._lock = threading.RLock()
        self._resume = resume                 # the checkpoint a new actor starts from
        self._host = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._quit = threading.Event()
        # What the handle knows of the run's commands (authoritative until an actor exists, and
        # between a command and the next poll that has seen it).
        self._started = self._paused = False
        self._stop_reason: str | None = None
        self._budget = 0
        self._wants = False
        self._granted = False
        self._seq = 0
        self._replay: list[tuple] = []        # commands sent before the actor exists
        self._cursor = (0, 0, 0)
        self._kept = {ckpt.CHECKPOINT: 0, ckpt.BEST: 0}
        self._checkpoint_step = resume["counters"]["step"] if resume else None
        self._weights: tuple[int, model_lib.MLP] | None = None
        self._weights_at = 0.0
        self._init_state: dict | None = None
        self._node: str | None = None
        self._answered = False
        self._paused_since: float | None = None
        self._parked = False
        self._pause_reason = ""
        self._placed_at = 0.0
        self._host_reusable = True
        self.timings: dict | None = None     # when the actor imported, had its data, was ready
        self._snap = self._local_snapshot(IDLE, "")

    # -- the snapshot before (or without) an actor -----------------------------------------------

    def _local_snapshot(self, state: str, reason: str) -> RunSnapshot:
        c = (self._resume or {}).get("counters", {})
        step = c.get("step", 0)
        live = {name: getattr(self.hp, name) for name in LIVE_PARAMS}
        live.update((self._resume or {}).get("live", {}))
        val, best, test = c.get("val"), c.get("best"), c.get("test")
        return RunSnapshot(
            state=state, reason=reason, step=step, total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch, epoch=step / self.steps_per_epoch,
            epochs=self.hp.epochs, samples_per_second=c.get("samples", 0) / c["elapsed"] if c.get("elapsed") else 0.0,
            elapsed=c.get("elapsed", 0.0), eta=None, live=live, train_loss=None,
            val_loss=val[0] if val else None, val_accuracy=val[1] if val else None,
            best_val_accuracy=best[1] if best else None, best_val_epoch=best[2] if best else None,
            test_accuracy=test[1] if test else None, test_loss=test[0] if test else None,
            device="Ray cluster", weights_version=c.get("version", 0))

    def _set_local_state(self) -> None:
        """The state a run without an actor is in, from its commands."""
        if self._stop_reason is not None:
            step = self._snap.step
            reason = (f"{self._stop_reason} at step {step:,}" if self._checkpoint_step is not None
                      else "stopped before it started")
            self._snap = self._snap.replace(state=STOPPED, reason=reason, eta=None)
            self._done.set()
        elif not self._started:
            self._snap = self._snap.replace(state=IDLE)
        elif self._paused and self._budget == 0:
            if self._snap.state != PAUSED:
                self._snap = self._snap.replace(state=PAUSED, reason=self._pause_reason, eta=None)
        else:
            self._snap = self._snap.replace(state=QUEUED, reason=self._ex.WAITING)

    # -- commands (any thread) -------------------------------------------------------------------

    def _send(self, name: str, *args) -> None:
        """Apply a command to the actor, or keep it for the actor to come."""
        self._seq += 1
        if self._host is not None:
            self._host.command.remote(self.id, self._seq, name, *args)
        else:
            self._replay.append((name, *args))

    def start(self) -> bool:
        with self._lock:
            if self._started or self._snap.state != IDLE:
                return False
            self._started = True
            self._wants = not self._paused or self._budget > 0
            self._send("start")
            if self._host is None:
                self._set_local_state()
            return True

    def pause(self, reason: str = "") -> None:
        with self._lock:
            if self._snap.state in ENDED_STATES:
                return
            self._paused, self._pause_reason, self._wants = True, reason, False
            self._send("pause", reason)
            if self._host is None:
                self._budget = 0
                self._set_local_state()

    def resume(self) -> None:
        with self._lock:
            if self._snap.state in ENDED_STATES:
                return
            self._paused, self._budget = False, 0
            self._wants = self._started and self._stop_reason is None
            self._send("resume")
            if self._host is None:
                self._set_local_state()

    def step_once(self) -> bool:
        with self._lock:
            if self._snap.state in ENDED_STATES or self._stop_reason is not None:
                return False
            self._paused, self._pause_reason = True, ""
            self._budget += 1
            self._started = self._wants = True
            self._send("step_once")
            if self._host is None:
                self._set_local_state()
            return True

    def stop(self, reason: str = "") -> None:
        with self._lock:
            if self._snap.state in ENDED_STATES or self._stop_reason is not None:
                return
            self._stop_reason = reason or "stopped by the user"
            self._wants = False
            if self._host is None:
                self._set_local_state()
            else:
                self._send("stop", reason)

    def set_live(self, name: str, value: float) -> None:
        if name not in LIVE_PARAMS:
            raise ValueError(f"{name} cannot change during a run: start a new run")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number")
        with self._lock:
            if self._host is None and not self._started and self._checkpoint_step is None:
                self._snap = self._snap.replace(live={**self._snap.live, name: value})
            self._send("set_live", name, value)

    def grant(self) -> None:
        with self._lock:
            self._granted = True
            if self._snap.state in ENDED_STATES:
                return
            if self._host is None:
                self._place()
            self._send("grant")

    def revoke(self) -> None:
        with self._lock:
            self._granted = False
            if self._host is not None:
                self._send("revoke")

    @property
    def wants_slot(self) -> bool:
        with self._lock:
            return self._wants and self._snap.state not in ENDED_STATES

    @property
    def holds_slot(self) -> bool:
        return self._granted

    @property
    def placed(self) -> bool:
        """Has an actor on the cluster (holding its CPUs)."""
        return self._host is not None

    def wait(self, timeout: float | None = None) -> bool:
        self._done.wait(timeout)
        return self.snapshot().ended

    # -- reading (any thread) --------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        return self._snap

    def model_snapshot(self) -> model_lib.MLP:
        """The newest weights: fetched from the actor at most every WEIGHTS_SECONDS (and only
        when they changed), else the copy fetched last."""
        with self._lock:
            actor, cached, version = self._host, self._weights, self._snap.weights_version
            fresh = cached is not None and (cached[0] == version or
                                            time.monotonic() - self._weights_at < self.WEIGHTS_SECONDS)
        if actor is not None and self._answered and not fresh:
            try:
                self._store_weights(*ray.get(actor.weights.remote(self.id), timeout=self.CALL_TIMEOUT))
            except (RayError, GetTimeoutError) as e:
                log.warning("run %s: weights not fetched: %s", self.id, e)
        with self._lock:
            if self._weights is not None:
                return copy.deepcopy(self._weights[1])
        if self._resume is not None:
            return model_lib.from_state_dict(model_lib.Arch.of(self.hp), self._resume["model"])
        return model_lib.from_state_dict(model_lib.Arch.of(self.hp), self.initial_state_dict())

    def _store_weights(self, version: int, state: dict) -> None:
        model = model_lib.from_state_dict(model_lib.Arch.of(self.hp), state)
        with self._lock:
            self._weights, self._weights_at = (version, model), time.monotonic()

    def initial_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights at initialization: built here, exactly as the actor builds them (the same
        seed), so they need no round trip."""
        if self._init_state is None:
            ds = data.load(self.hp.dataset)
            m = model_lib.build(self.hp, ds.mean, ds.std, torch.Generator().manual_seed(self.hp.seed))
            self._init_state = {k: v.detach().clone() for k, v in m.state_dict().items()}
        return dict(self._init_state)

    # -- the actor -------------------------------------------------------------------------------

    def _place(self) -> None:
        """Give the run a host (an idle one, else a new one) that starts it from self._resume,
        if any, and replay the commands it missed. Non-blocking: Ray places a new host when a
        node has the CPUs."""
        ex = self._ex
        self._host, self._host_reusable = ex.take_host(), True
        self._host.load.remote(self.id, self.hp.to_dict(), self._resume, ex.threads, self.history.cursor())
        self._cursor, self._answered, self._paused_since = (0, 0, 0), False, None
        self._kept = {ckpt.CHECKPOINT: 0, ckpt.BEST: 0}      # (counted by each actor anew)
        self._placed_at = time.monotonic()
        self._snap = self._snap.replace(reason="starting on the cluster")
        replay, self._replay = self._replay, []
        if self._parked:   # a fresh trainer from the checkpoint: bring it to where the run was
            replay = ([("start",)] + [c for c in replay if c[0] == "set_live"]
                      + ([("step_once",)] * self._budget if self._paused else []))
            self._parked = False
        for name, *args in replay:
            self._host.command.remote(self.id, self._seq, name, *args)
        self._follow()

    def _follow(self) -> None:
        self._quit.clear()
        self._thread = threading.Thread(target=self._pull, name=f"ray-run-{self.id}", daemon=True)
        self._thread.start()

    def _pull(self) -> None:
        """The handle's thread while the run has an actor: pull what is new, a few times a second."""
        pending = None
        while not self._quit.is_set() and not self._ex.closed:
            started = time.monotonic()
            actor = self._host
            if actor is None:
                return
            if pending is None:
                pending = actor.poll.remote(self.id, self._cursor)
            ready, _ = ray.wait([pending], timeout=1.0)
            if not ready:
                if not self._answered:
                    with self._lock:
                        if self._snap.state not in ENDED_STATES:
                            self._snap = self._snap.replace(
                                reason=self._ex.placing_reason(time.monotonic() - self._placed_at))
                continue
            try:
                reply, pending = ray.get(pending), None
                if self._take(actor, reply):
                    return
            except (ActorUnavailableError, GetTimeoutError):   # a network hiccup, or a node on its way out
                pending = None
                self._quit.wait(self.POLL_SECONDS)
                continue
            except RayActorError as e:
                self._lost(e)
                return
            except RayError as e:          # the cluster could not set up the run's worker
                self._lost(e)
                return
            self._quit.wait(max(0.0, self.POLL_SECONDS - (time.monotonic() - started)))

    def _take(self, actor, reply: dict) -> bool:
        """Apply one poll's answer; True when the actor is done with (ended, failed or parked)."""
        self._node = reply.get("node")
        self.timings = reply.get("timings")
        if reply.get("gone"):
            raise ActorDiedError()      # (the host was given to another run: treated as lost)
        if reply.get("error"):
            with self._lock:
                self._release()      # (the host is fine: it may take the next run)
                self._end_without_actor(FAILED, f"the cluster could not start this run: {reply['error']}")
            return True
        snap = reply["snapshot"]
        # Checkpoints first: by the time the snapshot says "ended", its last checkpoint is with
        # the service's sink (which a waiting caller flushes).
        for kind, count in reply["kept"].items():
            if count > self._kept[kind]:
                count, state = ray.get(actor.checkpoint.remote(self.id, kind), timeout=self.CALL_TIMEOUT)
                self._kept[kind] = count
                if kind == ckpt.CHECKPOINT:
                    self._checkpoint_step = state["counters"]["step"]
                if self._sink is not None:
                    self._sink(kind, state)
        if snap.state in ENDED_STATES:
            self._store_weights(*ray.get(actor.weights.remote(self.id), timeout=self.CALL_TIMEOUT))
        self.history.extend(reply["delta"])
        self._cursor = tuple(reply["cursor"])
        with self._lock:
            self._answered, self._resume = True, None    # (the actor has it now)
            if reply["seq"] == self._seq:       # no command on its way: the actor knows best
                self._wants = reply["wants"]
            self._snap = snap
            if snap.state in ENDED_STATES:
                self._release()
                self._done.set()
                return True
            if snap.state != PAUSED or self._wants or self._granted:
                self._paused_since = None
                return False
            self._paused_since = self._paused_since or time.monotonic()
            if (time.monotonic() - self._paused_since < self.PARK_SECONDS
                    or self._checkpoint_step != snap.step):
                return False
            seq = self._seq
        return self._park(actor, seq)

    def _park(self, host, seq: int) -> bool:
        """Give a long-paused run's CPUs back: its newest checkpoint (taken when it paused) is
        with the server; Resume or Step gives it a host again, on any node. False (and nothing
        changes) if a command came in meanwhile."""
        version, weights = ray.get(host.weights.remote(self.id), timeout=self.CALL_TIMEOUT)
        _, state = ray.get(host.checkpoint.remote(self.id, ckpt.CHECKPOINT), timeout=self.CALL_TIMEOUT)
        with self._lock:
            if seq != self._seq or self._wants or self._granted:
                return False
            self._store_weights(version, weights)
            self._resume = state
            self._release()
            self._parked, self._paused_since = True, None
            self._snap = self._snap.replace(device="Ray cluster")
            return True

    def _release(self) -> None:
        """The server has all of the run: its host is free for the next run."""
        host, self._host = self._host, None
        if host is not None:
            host.unload.remote(self.id)
            if self._host_reusable:
                self._ex.give_back(host, self._node)
            else:
                _kill(host)

    def _lost(self, error: RayError) -> None:
        """The actor or its node died: the run is interrupted at its last checkpoint."""
        with self._lock:
            snap = self._snap
            if not self._answered and (not isinstance(error, RayActorError) or
                                       (isinstance(error, ActorDiedError) and error.actor_init_failed)):
                self._end_without_actor(FAILED, f"the cluster could not start this run: {error}")
                return
            node_died = self._node is not None and not self._ex.node_alive(self._node)
            where = "the cluster node training this run" if node_died else "the Ray worker training this run"
            if self._checkpoint_step is not None:
                then = (f"Continue resumes it from the checkpoint of step {self._checkpoint_step:,}"
                        f"{' on another node' if node_died else ''}")
            else:
                then = "it had no checkpoint yet: start it again"
            self._end_without_actor(INTERRUPTED, f"{where} stopped at step {snap.step:,}; {then}")

    def _end_without_actor(self, state: str, reason: str) -> None:
        with self._lock:
            self._host = None
            self._snap = self._snap.replace(state=state, reason=reason, eta=None)
            self._done.set()

    def _adopt(self, actor, reply: dict) -> None:
        """Take over a running actor found after a restart of the web server."""
        base = tuple(reply["base"])
        recorded = self.history.cursor()
        self._cursor = tuple(max(0, r - b) for r, b in zip(recorded, base))
        self._host, self._started, self._seq = actor, True, reply.get("seq", 0)
        if reply.get("error"):
            self._take(actor, reply)
            return
        snap = reply["snapshot"]
        self._snap = snap.replace(reason=snap.reason)
        self._granted, self._wants = reply["granted"], reply["wants"]
        self._paused = snap.state == PAUSED
        self._pause_reason = snap.reason if self._paused else ""
        self._follow()

    def close(self) -> None:
        """Stop following the actor (it goes on training: a restarted server finds it again)."""
        self._quit.set()


class RayExecutor:
    """Runs train on hosts (actors) on the Ray cluster at `address` (the operator's setting)."""
    name = "Ray cluster"
    WAITING = "waiting for a free training slot on the cluster"
    CAPACITY_SECONDS = 2.0
    IDLE_HOST_SECONDS = 60.0   # a host whose run ended waits this long for the next run

    def __init__(self, address: str, limits: Limits, *, ship_code: bool = True):
        self.limits = limits
        self.threads = max(1, int(limits.threads_per_run))
        self.closed = False
        self._runs: dict[str, RayRun] = {}
        self._lock = threading.Lock()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            problem = reachable(address)
            if problem:
                raise ClusterUnavailable(f"cannot reach the Ray cluster at {address!r} "
                                         f"(MNIST_PLAYGROUND_RAY_ADDRESS or --ray-address): {problem}")
            env = {"working_dir": str(ROOT), "excludes": SHIPPED_EXCLUDES} if ship_code else None
            try:
                ray.init(address=address, namespace=NAMESPACE, runtime_env=env,
                         log_to_driver=False, logging_level=logging.WARNING)
            except Exception as e:    # ConnectionError, a bad address, another Ray version...
                raise ClusterUnavailable(
                    f"cannot reach the Ray cluster at {address!r} (MNIST_PLAYGROUND_RAY_ADDRESS or "
                    f"--ray-address): {type(e).__name__}: {e}") from None
        gpus = ray.cluster_resources().get("GPU", 0)
        self.gpus_per_run = 1 if gpus >= 1 else 0
        self._nodes: dict[str, bool] = {}
        self._shelved: set[str] = set()
        self._closing = threading.Event()
        self._cluster_slots = 0
        self._idle: list[tuple] = []     # (host, its node, since when) of hosts without a run
        self._found: dict[str, object] | None = None    # run id -> host, found at a restart
        self._end_old_shelves()
        self._refresh()
        self._watcher = threading.Thread(target=self._watch, name="ray-capacity", daemon=True)
        self._watcher.start()

    # -- capacity --------------------------------------------------------------------------------

    def _refresh(self) -> None:
        slots, alive = 0, {}
        nodes = ray.nodes()
        for n in nodes:
            alive[n["NodeID"]] = bool(n.get("Alive"))
            if n.get("Alive"):
                res = n.get("Resources", {})
                here = int(res.get("CPU", 0)) // self.threads
                if self.gpus_per_run:
                    here = min(here, int(res.get("GPU", 0)))
                slots += here
        self._nodes, self._cluster_slots = alive, slots
        for n in nodes:
            if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= self.threads \
                    and n["NodeID"] not in self._shelved:
                self._shelved.add(n["NodeID"])
                # Load MNIST on a new node now, so that its first run does not wait for it.
                shelf_on(n["NodeID"]).dataset.remote("mnist")

    def _watch(self) -> None:
        while not self._closing.wait(self.CAPACITY_SECONDS):
            try:
                self._refresh()
            except Exception:
                if not self.closed:
                    log.exception("Ray cluster capacity")
            with self._lock:     # forget runs that ended (the service keeps what it needs)
                for run_id in [k for k, r in self._runs.items() if r._done.is_set() and not r.placed]:
                    del self._runs[run_id]
                now = time.monotonic()
                keep = [(h, node, since) for h, node, since in self._idle
                        if now - since <= self.IDLE_HOST_SECONDS and self._nodes.get(node, True)]
                old = [h for h, _, _ in self._idle if all(h is not k[0] for k in keep)]
                self._idle = keep
            for host in old:       # their CPUs go back to the cluster (or their node is gone)
                _kill(host)

    # -- hosts -----------------------------------------------------------------------------------

    def take_host(self):
        """A host for a run: the one that became idle last, else a new one (placed by Ray on a
        node with the CPUs, spreading runs over the nodes)."""
        with self._lock:
            while self._idle:
                host, node, _ = self._idle.pop()
                if self._nodes.get(node, True):
                    return host
        return RunHost.options(name=f"host-{secrets.token_hex(6)}", namespace=NAMESPACE,
                               lifetime="detached", num_cpus=self.threads,
                               num_gpus=self.gpus_per_run, scheduling_strategy="SPREAD").remote()

    def give_back(self, host, node: str | None) -> None:
        if self.closed:
            _kill(host)
            return
        with self._lock:
            self._idle.append((host, node, time.monotonic()))

    def _end_old_shelves(self) -> None:
        """Data shelves of another version of the code (an update of the app) hold 220 MB of
        each node's shared memory: ended (a server of that version still running makes its own
        again when it needs one)."""
        for a in ray.util.list_named_actors(all_namespaces=True):
            name = a["name"]
            if a.get("namespace") == NAMESPACE and name.startswith("data-") \
                    and not name.startswith(f"data-{VERSION}-"):
                try:
                    _kill(ray.get_actor(name, namespace=NAMESPACE))
                except ValueError:
                    pass

    def close_idle_hosts(self) -> None:
        """End every idle host now (their CPUs go back to the cluster)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for host, _, _ in idle:
            _kill(host)

    def _hosts(self) -> dict[str, object]:
        """After a restart: every host of this namespace, by the run it trains (idle ones are
        ended: they may run older code)."""
        if self._found is None:
            self._found = {}
            names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                     if a.get("namespace") == NAMESPACE and a["name"].startswith("host-")]
            hosts = {}
            for name in names:
                try:
                    hosts[name] = ray.get_actor(name, namespace=NAMESPACE)
                except ValueError:
                    pass
            asked = {name: h.whose.remote() for name, h in hosts.items()}
            for name, ref in asked.items():
                try:
                    run_id, node = ray.get(ref, timeout=RayRun.CALL_TIMEOUT)
                except (RayError, GetTimeoutError):
                    continue
                if run_id is None:      # (maybe of older code: a new host is cheap)
                    _kill(hosts[name])
                else:
                    self._found[run_id] = hosts[name]
        return self._found

    @property
    def slots(self) -> int:
        """Runs that can train at once: the cluster's CPUs (GPUs where it has them) in runs'
        worth, less those held by runs that have an actor but no training slot (paused, not yet
        parked). Refreshed every few seconds, so new or lost nodes count."""
        with self._lock:
            runs = list(self._runs.values())
        idle = sum(1 for r in runs if r.placed and not r.holds_slot and not r.snapshot().ended)
        return max(0, self._cluster_slots - idle)

    def node_alive(self, node_id: str) -> bool:
        try:
            self._refresh()
        except Exception:
            pass
        return self._nodes.get(node_id, False)

    def placing_reason(self, waited: float) -> str:
        if waited < 60:
            return "starting on the cluster"
        need = f"{self.threads} free CPU{'s' if self.threads > 1 else ''}{' and a GPU' if self.gpus_per_run else ''}"
        return (f"still starting on the cluster after {waited / 60:.0f} min: no node may have {need} "
                "right now (runs of other users of the cluster?)")

    # -- runs ------------------------------------------------------------------------------------

    def create(self, run_id: str, hp: HyperParams, *, history: History, sink,
               resume: dict | None = None) -> RayRun:
        run = RayRun(self, run_id, hp, history=history, sink=sink, resume=resume)
        with self._lock:
            old = self._runs.get(run_id)
            self._runs[run_id] = run
        if old is not None:
            old.close()
        return run

    def reattach(self, run_id: str, hp: HyperParams, *, history: History, sink) -> RayRun | None:
        """The handle of a run whose host still trains it (after a restart of the web server),
        or None."""
        host = self._hosts().get(run_id)
        if host is None:
            return None
        try:
            reply = ray.get(host.poll.remote(run_id, (0, 0, 0)), timeout=RayRun.CALL_TIMEOUT)
        except (RayError, GetTimeoutError):
            return None
        if reply.get("gone"):
            return None
        run = RayRun(self, run_id, hp, history=history, sink=sink)
        run._adopt(host, {**reply, "delta": None})
        run._host_reusable = False      # it may run older code: ended with its run
        with self._lock:
            self._runs[run_id] = run
        return run

    def close(self) -> None:
        """Stop following the runs (their hosts are detached: they go on, and a restarted
        server finds them again), end the idle hosts and disconnect from the cluster."""
        self.closed = True
        self._closing.set()
        self._watcher.join(10)
        with self._lock:
            runs = list(self._runs.values())
        self.close_idle_hosts()
        for r in runs:
            r.close()
        for r in runs:
            if r._thread is not None:
                r._thread.join(5)
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
