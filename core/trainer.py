"""The Trainer: one training run, in a background thread, controlled from any thread.

Why a thread and not a process: the data set tensors (190 MB for MNIST) are shared by every run
without a copy, pages can read the newest weights directly (Draw, Look inside), and torch releases
the GIL inside its kernels, so the Streamlit server stays responsive while a run trains.

States:  idle ─start─► running ⇄ paused ─► finished | stopped | diverged | failed
         (a run waits as "queued" while every training slot of the process is taken)

Control methods (start, pause, resume, step_once, stop, set_live) only set flags under a lock and
wake the thread; the thread applies them between two mini-batches, so the model and optimizer are
only ever touched by the training thread. Readers use `snapshot()` (numbers) and `history`
(curves) or `model_snapshot()` (a CPU copy of the weights).

The hot loop keeps everything on the device: per-step losses and correct counts stay tensors and
are read back together every FLUSH_STEPS steps (one device sync instead of one per step).
"""
from __future__ import annotations

import copy
import ctypes
import logging
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass

import torch
import torch._dynamo  # noqa: F401  the first optimizer imports it (~1 s): do it at start-up, not on the first click on Start
import torch.nn.functional as F

from . import data, model as model_lib
from .config import LIVE_PARAMS, HyperParams
from .history import History

log = logging.getLogger(__name__)

IDLE, QUEUED, RUNNING, PAUSED = "idle", "queued", "running", "paused"
FINISHED, STOPPED, DIVERGED, FAILED = "finished", "stopped", "diverged", "failed"
ACTIVE_STATES = (QUEUED, RUNNING, PAUSED)
ENDED_STATES = (FINISHED, STOPPED, DIVERGED, FAILED)


def pick_device() -> torch.device:
    """cuda or mps when present, else the CPU ($MNIST_PLAYGROUND_DEVICE overrides)."""
    forced = os.environ.get("MNIST_PLAYGROUND_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# CPU budget. One core is left to the web server (and, on a laptop, to the browser): torch's
# OpenMP threads wait for each other at every op, so a training thread team that shares its cores
# with anything else slows down many times over (measured on 2 cores: 2 threads with the Train page
# open kept 48 % of their headless speed, 1 thread 82 %; bench/bench_ui.py). Small MLPs gain
# little beyond 2 threads, so a classroom server runs several runs side by side instead; further
# runs wait as "queued".
_CORES = os.cpu_count() or 1


def torch_threads() -> int:
    """torch's intra-op threads per training thread ($MNIST_PLAYGROUND_THREADS; default: 1 or 2,
    leaving a core free). Set in the training thread itself: the setting is per OS thread."""
    return max(1, int(os.environ.get("MNIST_PLAYGROUND_THREADS") or min(2, _CORES - 1)))


def keep_freed_memory_for_reuse() -> bool:
    """Stop glibc from handing freed memory back to the OS after every training step.

    Each step frees and re-allocates the same few MB (gradients, activations). In a thread other
    than the main one, glibc's malloc trims its arena after such frees, so the next step touches
    fresh pages: ~170 page faults per step of 784-1000-100-10, 5 % of the step time, which is why
    a training thread ran slower than the same loop in the main thread. Keeping up to 64 MB free
    per arena, and serving blocks below 16 MB from the arena instead of mmap, removes them.
    No-op (False) where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):   # not glibc (macOS, musl: no-op), or Windows
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_TRIM_THRESHOLD, 64 << 20)) and bool(mallopt(M_MMAP_THRESHOLD, 16 << 20))


MAX_CONCURRENT = int(os.environ.get("MNIST_PLAYGROUND_MAX_RUNS") or max(1, (_CORES - 1) // torch_threads()))
_slots = threading.Semaphore(MAX_CONCURRENT)


def loss_function(name: str):
    """(logits, targets, reduction) -> loss. 'mse' is the lecture's counter-example: squared error
    between the softmax and the one-hot target, summed over the 10 classes (the Brier score)."""
    if name == "cross_entropy":
        return lambda logits, y, reduction="mean": F.cross_entropy(logits, y, reduction=reduction)

    def mse(logits, y, reduction="mean"):
        per_sample = (logits.softmax(1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)).pow(2).sum(1)
        return per_sample.mean() if reduction == "mean" else per_sample.sum()
    return mse


def make_optimizer(hp: HyperParams, params) -> torch.optim.Optimizer:
    """The optimizer for `hp`, with torch's fused kernels where they exist (one kernel for all
    parameters instead of ~6 per tensor: on the CPU, Adam's update costs 4x less)."""
    params = list(params)
    kinds = {
        "sgd": (torch.optim.SGD, dict(weight_decay=hp.weight_decay)),
        "momentum": (torch.optim.SGD, dict(momentum=hp.momentum, weight_decay=hp.weight_decay)),
        "nesterov": (torch.optim.SGD, dict(momentum=hp.momentum, nesterov=True,
                                           weight_decay=hp.weight_decay)),
        "adam": (torch.optim.Adam, dict(weight_decay=hp.weight_decay)),
        "rmsprop": (torch.optim.RMSprop, dict(alpha=0.9, weight_decay=hp.weight_decay)),
    }
    if hp.optimizer not in kinds:
        raise ValueError(f"unknown optimizer {hp.optimizer!r}")
    cls, kwargs = kinds[hp.optimizer]
    try:
        return cls(params, lr=hp.lr, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):   # no fused kernel for this optimizer/device
        return cls(params, lr=hp.lr, **kwargs)


@dataclass(frozen=True)
class RunSnapshot:
    """Everything a status line needs, copied at one instant."""
    state: str
    reason: str
    step: int
    total_steps: int
    steps_per_epoch: int
    epoch: float                 # fractional: 1.5 = half-way through the second epoch
    epochs: int
    samples_per_second: float
    elapsed: float               # seconds spent training (pauses excluded)
    eta: float | None            # seconds left at the current speed
    live: dict                   # the current lr / momentum / weight_decay
    train_loss: float | None     # mean loss of the last flushed steps
    val_loss: float | None       # last full validation
    val_accuracy: float | None
    best_val_accuracy: float | None
    best_val_epoch: int | None
    test_accuracy: float | None
    test_loss: float | None
    device: str

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES


class Trainer:
    VAL_POINTS_PER_EPOCH = 5     # validation points per epoch (the last one on the full set)
    VAL_SAMPLE = 2000            # size of the fixed validation sample used within an epoch
    FLUSH_STEPS = 32             # publish step metrics (one device sync) at least this often
    FLUSH_SECONDS = 0.2          # ... and at least this often in time

    def __init__(self, hp: HyperParams, device: torch.device | str | None = None,
                 run_id: str | None = None):
        self.id = run_id or secrets.token_urlsafe(6)
        self.hp = hp
        self.device = torch.device(device) if device else pick_device()
        self.dataset = data.load(hp.dataset, self.device)
        self.split = data.split(len(self.dataset.train_x), hp.val_fraction, hp.subset, hp.seed,
                                self.device)
        # Two seeded generators: one (CPU) draws the initial weights, one (on the device) the
        # batch order and dropout masks. Own generators, not torch's global RNG, so that runs in
        # other threads cannot change this run's random numbers.
        self._gen = torch.Generator(device=self.device).manual_seed(hp.seed)
        self.model = model_lib.build(hp, self.dataset.mean, self.dataset.std,
                                     torch.Generator().manual_seed(hp.seed)).to(self.device)
        for m in self.model.modules():
            if isinstance(m, model_lib.Dropout):
                m.generator = self._gen
        self._init_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        self.optimizer = make_optimizer(hp, self.model.parameters())
        self.loss_fn = loss_function(hp.loss)
        self.history = History()

        n_train = len(self.split.train_idx)
        self.steps_per_epoch = math.ceil(n_train / hp.batch_size)
        self.total_steps = self.steps_per_epoch * hp.epochs
        k = self.VAL_POINTS_PER_EPOCH
        self._val_at = {round(i * self.steps_per_epoch / k) for i in range(1, k)} - {0, self.steps_per_epoch}
        sample = self.split.val_idx[: self.VAL_SAMPLE]
        self._val_x, self._val_y = self.dataset.train_x[sample], self.dataset.train_y[sample]

        # Shared between threads: guarded by _ctl (flags, counters) and _model_lock (weights).
        self._ctl = threading.Condition()
        self._model_lock = threading.Lock()
        self._state, self._reason = IDLE, ""
        self._paused = False
        self._step_budget = 0          # single steps requested while paused
        self._stop_requested = False
        self._live_requests: dict[str, float] = {}
        self.live = {name: getattr(hp, name) for name in LIVE_PARAMS}
        self._step = 0
        self._samples = 0
        self._active_seconds = 0.0
        self._run_started: float | None = None
        self._last_train_loss: float | None = None
        self._val: tuple[float, float] | None = None
        self._best: tuple[float, float, int] | None = None   # (val loss, val acc, epoch)
        self._test: tuple[float, float] | None = None
        self._holds_slot = False
        self._thread: threading.Thread | None = None
        self._snap: tuple[int, model_lib.MLP] | None = None
        self._pending: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        self.epoch_end_seconds: list[float] = []   # training clock at each epoch's end (benchmarks)
        self._last_flush = time.monotonic()

    # -- control (any thread) -------------------------------------------------------------------

    def start(self) -> bool:
        """Start training in the background. Returns False (and does nothing) unless idle, so
        a double click cannot start a second thread."""
        with self._ctl:
            if self._thread is not None or self._state != IDLE:
                return False
            self._state, self._reason = QUEUED, "starting"
            self._thread = threading.Thread(target=self._run, name=f"trainer-{self.id}", daemon=True)
            self._thread.start()
            return True

    def pause(self) -> None:
        with self._ctl:
            if self._state in ACTIVE_STATES:
                self._paused = True
                self._ctl.notify_all()

    def resume(self) -> None:
        with self._ctl:
            self._paused = False
            self._ctl.notify_all()

    def step_once(self) -> None:
        """Train exactly one mini-batch, then stay paused (starts a paused run if idle)."""
        with self._ctl:
            if self._state in ENDED_STATES:
                return
            self._paused = True
            self._step_budget += 1
            self._ctl.notify_all()
        self.start()

    def stop(self) -> None:
        with self._ctl:
            self._stop_requested = True
            if self._state == IDLE:
                self._state, self._reason = STOPPED, "stopped before it started"
            self._ctl.notify_all()

    def set_live(self, name: str, value: float) -> None:
        """Change lr, momentum or weight_decay; applied before the next mini-batch and recorded
        as an event on the curves."""
        if name not in LIVE_PARAMS:
            raise ValueError(f"{name} cannot change during a run: start a new run")
        with self._ctl:
            if self._live_requests.get(name, self.live[name]) == value:
                return
            if self._state == IDLE:       # nothing trained yet: just change the optimizer
                self._apply_live(name, value)
            else:
                self._live_requests[name] = value
                self._ctl.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (True) or the timeout passed (False). For CLI/tests."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.snapshot().ended

    # -- reading (any thread) -------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        with self._ctl:
            elapsed = self._clock()
            speed = self._samples / elapsed if elapsed > 0 else 0.0
            steps_per_s = self._step / elapsed if elapsed > 0 else 0.0
            eta = (self.total_steps - self._step) / steps_per_s if steps_per_s and self._state in ACTIVE_STATES else None
            return RunSnapshot(
                state=self._state, reason=self._reason, step=self._step,
                total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch,
                epoch=self._step / self.steps_per_epoch, epochs=self.hp.epochs,
                samples_per_second=speed, elapsed=elapsed, eta=eta, live=dict(self.live),
                train_loss=self._last_train_loss,
                val_loss=self._val[0] if self._val else None,
                val_accuracy=self._val[1] if self._val else None,
                best_val_accuracy=self._best[1] if self._best else None,
                best_val_epoch=self._best[2] if self._best else None,
                test_accuracy=self._test[1] if self._test else None,
                test_loss=self._test[0] if self._test else None,
                device=str(self.device))

    def _clock(self) -> float:
        """Seconds spent training so far, pauses excluded (call with _ctl held)."""
        return self._active_seconds + (time.monotonic() - self._run_started if self._run_started else 0.0)

    def model_snapshot(self) -> model_lib.MLP:
        """A private CPU copy (eval mode) of the newest weights; the CPU copy is made at most
        once per training step, and each caller gets its own module to use freely."""
        with self._model_lock:
            if self._snap is None or self._snap[0] != self._step:
                self._snap = (self._step, model_lib.from_state_dict(self.model.arch, self.model.state_dict()))
            return copy.deepcopy(self._snap[1])

    def initial_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights at initialization, on the CPU (do not modify the tensors)."""
        return dict(self._init_state)

    # -- the training thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            torch.set_num_threads(torch_threads())
            keep_freed_memory_for_reuse()
            self._train()
        except Exception as e:  # the page must show it; the app must keep working
            log.exception("run %s failed", self.id)
            self._end(FAILED, f"training failed: {type(e).__name__}: {e}")
        finally:
            self._release_slot()

    def _train(self) -> None:
        hp, X, Y = self.hp, self.dataset.train_x, self.dataset.train_y
        train_idx, B = self.split.train_idx, hp.batch_size
        model, opt = self.model, self.optimizer
        bad_epochs = 0
        model.train()
        for epoch in range(1, hp.epochs + 1):
            order = train_idx[torch.randperm(len(train_idx), generator=self._gen, device=self.device)]
            for b in range(self.steps_per_epoch):
                if not self._between_steps():
                    return
                idx = order[b * B:(b + 1) * B]
                x, y = X[idx], Y[idx]
                with self._model_lock:   # (the model is in train mode: _evaluate restores it)
                    logits = model(x)
                    loss = self.loss_fn(logits, y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    self._step += 1
                self._pending.append((loss.detach(), (logits.detach().argmax(1) == y).sum(), len(y)))
                self._samples += len(y)
                if (len(self._pending) >= self.FLUSH_STEPS or self._paused
                        or time.monotonic() - self._last_flush > self.FLUSH_SECONDS):
                    if not self._flush():
                        return
                if b + 1 in self._val_at:
                    if not self._flush():
                        return
                    self._validate(self._val_x, self._val_y, full=False)
            if not self._flush():
                return
            val_loss, val_acc = self._validate(X[self.split.val_idx], Y[self.split.val_idx], full=True)
            with self._ctl:
                self.epoch_end_seconds.append(self._clock())
            if self._best is None or val_loss < self._best[0] - 1e-4:
                self._best = (val_loss, val_acc, epoch)
                if hp.early_stopping:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                bad_epochs = 0
            else:
                bad_epochs += 1
            if hp.early_stopping and bad_epochs >= hp.patience and epoch < hp.epochs:
                with self._model_lock:
                    model.load_state_dict(best_state)
                    self._snap = None
                why = (f"early stopping after epoch {epoch}: the validation loss has not improved "
                       f"for {hp.patience} epoch{'s' if hp.patience > 1 else ''}; restored the "
                       f"weights of epoch {self._best[2]} (validation accuracy {self._best[1]:.2%})")
                self.history.add_event(self._step, "early_stop", why)
                self._finish_with_test(why)
                return
        self._finish_with_test(f"trained {hp.epochs} epoch{'s' if hp.epochs > 1 else ''}")

    def _between_steps(self) -> bool:
        """Apply pending commands; wait while paused or queued. False means: stop now."""
        with self._ctl:
            while True:
                for name, value in self._live_requests.items():
                    self._apply_live(name, value, record=True)
                self._live_requests.clear()
                if self._stop_requested:
                    self._stop_clock()
                    break
                if self._paused and self._step_budget == 0:
                    if self._state != PAUSED:
                        self._stop_clock()
                        self._state = PAUSED
                        self._release_slot()
                    self._ctl.wait(0.5)
                    continue
                if not self._holds_slot:
                    if not _slots.acquire(blocking=False):
                        self._state = QUEUED
                        self._reason = (f"waiting: {MAX_CONCURRENT} run"
                                        f"{'s are' if MAX_CONCURRENT > 1 else ' is'} training on "
                                        "this server; this one starts when a slot frees up")
                        self._ctl.wait(0.25)
                        continue
                    self._holds_slot = True
                if self._step_budget:
                    self._step_budget -= 1
                self._state, self._reason = RUNNING, ""
                if self._run_started is None:
                    self._run_started = time.monotonic()
                return True
        self._flush()
        self._end(STOPPED, f"stopped by the user at step {self._step}")
        return False

    def _apply_live(self, name: str, value: float, record: bool = False) -> None:
        old = self.live[name]
        for group in self.optimizer.param_groups:
            if name in group and (name != "momentum" or self.hp.optimizer in ("momentum", "nesterov")):
                group[name] = value
        self.live[name] = value
        if record and old != value:
            self.history.add_event(self._step, name, f"{name} {old:g} → {value:g}")

    def _flush(self) -> bool:
        """Publish the pending step metrics (one device sync). False if the loss is not finite."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return True
        losses = torch.stack([p[0] for p in self._pending]).tolist()
        correct = torch.stack([p[1] for p in self._pending]).tolist()
        sizes = [p[2] for p in self._pending]
        first = self._step - len(losses) + 1
        self._pending.clear()
        bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
        n = len(losses) if bad is None else bad
        self.history.add_steps(list(range(first, first + n)), losses[:n],
                               [c / s for c, s in zip(correct[:n], sizes[:n])])
        if n:
            with self._ctl:
                self._last_train_loss = sum(losses[:n]) / n
        if bad is not None:
            self._end(DIVERGED, self._divergence_message(first + bad, losses[bad]))
            return False
        return True

    def _divergence_message(self, step: int, value: float) -> str:
        hp = self.hp
        what = "NaN" if math.isnan(value) else "infinite"
        causes = [f"the learning rate {self.live['lr']:g} is too high for this network"]
        if hp.init == "normal" and hp.init_sigma >= 1:
            causes.append(f"init σ = {hp.init_sigma:g} makes the activations explode "
                          f"(He init would use σ ≈ {model_lib.sigmas_for(hp.replace(init='he'))[0]:.3g} for layer 1)"
                          if hp.depth else f"init σ = {hp.init_sigma:g} makes the logits huge")
        return (f"The loss became {what} at step {step} (epoch {step / self.steps_per_epoch:.2f}): "
                f"{', or '.join(causes)}. Try a 10x smaller learning rate"
                f"{' or a smaller σ' if len(causes) > 1 else ''}.")

    @torch.no_grad()
    def _evaluate(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 1024) -> tuple[float, float]:
        loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        with self._model_lock:
            self.model.eval()
            for i in range(0, len(x), chunk):
                logits = self.model(x[i:i + chunk])
                loss += self.loss_fn(logits, y[i:i + chunk], reduction="sum")
                correct += (logits.argmax(1) == y[i:i + chunk]).sum()
            self.model.train()
        return loss.item() / len(x), correct.item() / len(x)

    def _validate(self, x: torch.Tensor, y: torch.Tensor, full: bool) -> tuple[float, float]:
        loss, acc = self._evaluate(x, y)
        self.history.add_validation(self._step, loss, acc, full)
        if full:
            with self._ctl:
                self._val = (loss, acc)
        return loss, acc

    def _finish_with_test(self, why: str) -> None:
        test = self._evaluate(self.dataset.test_x, self.dataset.test_y)
        with self._ctl:
            self._test = test
        self._end(FINISHED, f"{why}; test accuracy {test[1]:.2%} on the 10,000 test images")

    def _end(self, state: str, reason: str) -> None:
        with self._ctl:
            self._stop_clock()
            self._state, self._reason = state, reason
            self._ctl.notify_all()
        if state in (FINISHED, STOPPED, DIVERGED):
            self.optimizer.state.clear()  # a run never trains again: free Adam's moments

    def _stop_clock(self) -> None:
        if self._run_started is not None:
            self._active_seconds += time.monotonic() - self._run_started
            self._run_started = None

    def _release_slot(self) -> None:
        if self._holds_slot:
            self._holds_slot = False
            _slots.release()
