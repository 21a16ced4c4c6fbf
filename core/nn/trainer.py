"""The Trainer: one training run, in a background thread, controlled from any thread.

Why a thread and not a process: the data set tensors (190 MB for MNIST) are shared by every run
without a copy, pages can read the newest weights directly (Draw, Look inside), and torch releases
the GIL inside its kernels, so the Streamlit server stays responsive while a run trains.

The trainer is the step loop and nothing else; its neighbours each have one job:
- core.nn.control: the commands (pause, resume, step, stop, live changes, the training slot) and the
  run's state and clock; applied between two mini-batches, so only the training thread ever
  touches the model and the optimizer;
- core.nn.metrics: per-step losses kept on the device and published in batches, divergence;
- core.nn.checkpoint: what a checkpoint holds; the trainer hands one to its sink at every epoch end,
  every CHECKPOINT_SECONDS, on pause and on stop, and continues from one exactly.
Readers use `snapshot()` (numbers), `history` (curves) and `model_snapshot()` (a CPU copy).
"""
from __future__ import annotations

import copy
import ctypes
import dataclasses
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

from core.nn import checkpoint as ckpt
from core.nn import data
from core.nn import model as model_lib
from core.nn.config import LIVE_PARAMS, HyperParams
from core.nn.control import JUST_PAUSED, STOP, Control
from core.nn.history import History
from core.nn.metrics import LN10, StepMetrics
from core.settings import Limits
from core.states import ACTIVE_STATES, DIVERGED, ENDED_STATES, FAILED, FINISHED, IDLE, PAUSED, QUEUED, RUNNING, STOPPED  # noqa: F401

log = logging.getLogger(__name__)

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
    """torch's intra-op threads per training thread, from the operator's settings (default: 1 or
    2, leaving a core to the web server). Set in the training thread itself: it is per OS thread."""
    return Limits.from_env().threads_per_run


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
    elapsed: float               # seconds spent training (pauses and queueing excluded)
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
    weights_version: int = 0     # changes whenever the weights do (a step, early stopping's restore)
    queue_position: int | None = None   # 1 = next to get a training slot (set by the run service)
    queue_wait: float | None = None     # estimated seconds until then

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES

    def replace(self, **changes) -> "RunSnapshot":
        return dataclasses.replace(self, **changes)


class Trainer:
    VAL_POINTS_PER_EPOCH = 5     # validation points per epoch (the last one on the full set)
    VAL_SAMPLE = 2000            # size of the fixed validation sample used within an epoch
    STEP0_FLOPS = 4e9            # the untrained network's point is measured on at most this much work
    CHECKPOINT_SECONDS = 60.0    # a checkpoint at least this often within a long epoch

    def __init__(self, hp: HyperParams, device: torch.device | str | None = None,
                 run_id: str | None = None, *, control: Control | None = None,
                 history: History | None = None, sink: ckpt.Sink | None = None,
                 resume: dict | None = None, threads: int | None = None,
                 test_indices: torch.Tensor | None = None):
        self.id = run_id or secrets.token_urlsafe(6)
        self.hp = hp
        self.device = torch.device(device) if device else pick_device()
        self.threads = threads or torch_threads()
        self.ctl = control or Control()
        self.history = history or History()
        self.metrics = StepMetrics(self.history)
        self._sink = sink
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
        # The test images this run reports on: all of them, or (a student's run while their
        # class's challenge hides part of the test set) only the others.
        self.test_indices = test_indices
        self.live = {name: getattr(hp, name) for name in LIVE_PARAMS}

        n_train = len(self.split.train_idx)
        self.steps_per_epoch = math.ceil(n_train / hp.batch_size)
        self.total_steps = self.steps_per_epoch * hp.epochs
        k = self.VAL_POINTS_PER_EPOCH
        self._val_at = {round(i * self.steps_per_epoch / k) for i in range(1, k)} - {0, self.steps_per_epoch}
        sample = self.split.val_idx[: self.VAL_SAMPLE]
        self._val_x, self._val_y = self.dataset.train_x[sample], self.dataset.train_y[sample]

        # Where the run is: epoch (1-based), the next batch in it and the epoch's batch order.
        self._epoch, self._batch, self._order = 1, 0, None
        self._step = self._samples = 0
        self._version = 0
        self._val: tuple[float, float] | None = None
        self._best: tuple[float, float, int] | None = None   # (val loss, val acc, epoch)
        self._best_state: dict | None = None
        self._bad_epochs = 0
        self._test: tuple[float, float] | None = None
        self._model_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._snap: tuple[int, model_lib.MLP] | None = None
        self._last_checkpoint = time.monotonic()
        self.epoch_end_seconds: list[float] = []   # training clock at each epoch's end (benchmarks)
        self.evaluating_seconds = 0.0               # ... of which validating and testing, so far
        self.epoch_end_evaluating: list[float] = []   # ... and at each epoch's end
        if resume is not None:
            self._restore(resume)

    # -- control (any thread) -------------------------------------------------------------------

    def start(self) -> bool:
        """Start training in the background. Returns False (and does nothing) unless idle, so
        a double click cannot start a second thread."""
        with self.ctl.cond:
            if self._thread is not None or not self.ctl.begin():
                return False
            self._thread = threading.Thread(target=self._run, name=f"trainer-{self.id}", daemon=True)
            self._thread.start()
            return True

    def pause(self, reason: str = "") -> None:
        self.ctl.pause(reason)

    def resume(self) -> None:
        self.ctl.resume()

    def step_once(self) -> bool:
        """Train exactly one mini-batch, then stay paused (starts a paused run if idle).
        False (nothing happens) once the run has ended."""
        if not self.ctl.step_once():
            return False
        self.start()
        return True

    def stop(self, reason: str = "") -> None:
        self.ctl.stop(reason)

    def set_live(self, name: str, value: float) -> None:
        """Change lr, momentum or weight_decay; applied before the next mini-batch and recorded
        as an event on the curves."""
        if name not in LIVE_PARAMS:
            raise ValueError(f"{name} cannot change during a run: start a new run")
        with self.ctl.cond:
            pending = self.ctl.pending_live(name)
            if (pending if pending is not None else self.live[name]) == value:
                return
            if self.ctl.state == IDLE:       # nothing trained yet: just change the optimizer
                self._apply_live({name: value}, record=False)
            else:
                self.ctl.request_live(name, value)

    # the training slot, granted by the run service's scheduler
    def grant(self) -> None:
        self.ctl.grant()

    def revoke(self) -> None:
        self.ctl.revoke()

    @property
    def wants_slot(self) -> bool:
        return self.ctl.wants_slot

    @property
    def holds_slot(self) -> bool:
        return self.ctl.granted

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (True) or the timeout passed (False). For CLI/tests."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():   # ended, but still freeing its optimizer state
                return False
        return self.snapshot().ended

    # -- reading (any thread) -------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        elapsed = self.ctl.elapsed()
        with self.ctl.cond:
            state = self.ctl.state
            speed = self._samples / elapsed if elapsed > 0 else 0.0
            steps_per_s = self._step / elapsed if elapsed > 0 else 0.0
            eta = ((self.total_steps - self._step) / steps_per_s
                   if steps_per_s and state in ACTIVE_STATES else None)
            return RunSnapshot(
                state=state, reason=self.ctl.reason, step=self._step,
                total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch,
                epoch=self._step / self.steps_per_epoch, epochs=self.hp.epochs,
                samples_per_second=speed, elapsed=elapsed, eta=eta, live=dict(self.live),
                train_loss=self.metrics.mean_loss,
                val_loss=self._val[0] if self._val else None,
                val_accuracy=self._val[1] if self._val else None,
                best_val_accuracy=self._best[1] if self._best else None,
                best_val_epoch=self._best[2] if self._best else None,
                test_accuracy=self._test[1] if self._test else None,
                test_loss=self._test[0] if self._test else None,
                device=str(self.device), weights_version=self._version)

    def model_snapshot(self) -> model_lib.MLP:
        """A private CPU copy (eval mode) of the newest weights; the CPU copy is made at most
        once per weights version, and each caller gets its own module to use freely."""
        with self._model_lock:
            if self._snap is None or self._snap[0] != self._version:
                self._snap = (self._version, model_lib.from_state_dict(self.model.arch, self.model.state_dict()))
            return copy.deepcopy(self._snap[1])

    def initial_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights at initialization, on the CPU (do not modify the tensors)."""
        return dict(self._init_state)

    # -- the training thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            torch.set_num_threads(self.threads)
            keep_freed_memory_for_reuse()
            if self._step == 0:
                self._untrained_point()
            self._train()
        except Exception as e:  # the page must show it; the app must keep working
            log.exception("run %s failed", self.id)
            self.ctl.end(FAILED, f"training failed: {type(e).__name__}: {e}")

    def _untrained_point(self) -> None:
        """Step 0: the untrained network's loss and accuracy, measured before the first step so
        a curve appears at once (on a sample sized to cost ~tens of ms, whatever the width)."""
        flops = 2 * model_lib.count_parameters(self.model)
        n = int(min(len(self._val_x), max(64, self.STEP0_FLOPS / max(flops, 1))))
        loss, acc = self._evaluate(self._val_x[:n], self._val_y[:n])
        self.metrics.initial_loss = loss
        self.history.add_validation(0, loss, acc, False)

    def _train(self) -> None:
        hp, X, Y = self.hp, self.dataset.train_x, self.dataset.train_y
        train_idx, B, model, opt = self.split.train_idx, hp.batch_size, self.model, self.optimizer
        model.train()
        while self._epoch <= hp.epochs:
            if self._order is None:
                self._order = train_idx[torch.randperm(len(train_idx), generator=self._gen, device=self.device)]
            while self._batch < self.steps_per_epoch:
                if not self._next_command():
                    return
                idx = self._order[self._batch * B:(self._batch + 1) * B]
                x, y = X[idx], Y[idx]
                with self._model_lock:   # (the model is in train mode: _evaluate restores it)
                    logits = model(x)
                    loss = self.loss_fn(logits, y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    self._step += 1
                    self._version += 1
                self._batch += 1
                self.metrics.add(loss, (logits.detach().argmax(1) == y).sum(), len(y))
                self._samples += len(y)
                if self.metrics.due() or self.ctl.wants_slot is False:
                    if not self._flush():
                        return
                    if time.monotonic() - self._last_checkpoint > self.CHECKPOINT_SECONDS:
                        self._save_checkpoint()
                if self._batch in self._val_at:
                    if not self._flush():
                        return
                    self._validate(self._val_x, self._val_y, full=False)
            if not self._flush():
                return
            if not self._epoch_end():
                return
        self._finish_with_test(f"trained {hp.epochs} epoch{'s' if hp.epochs > 1 else ''}")

    def _epoch_end(self) -> bool:
        """Validate on the whole validation set, keep the best, checkpoint; False when early
        stopping ended the run."""
        hp, epoch = self.hp, self._epoch
        val_loss, val_acc = self._validate(self.dataset.train_x[self.split.val_idx],
                                           self.dataset.train_y[self.split.val_idx], full=True)
        self.epoch_end_seconds.append(self.ctl.elapsed())
        self.epoch_end_evaluating.append(self.evaluating_seconds)
        improved = self._best is None or val_loss < self._best[0] - 1e-4
        with self.ctl.cond:
            if improved:
                self._best = (val_loss, val_acc, epoch)
            self._epoch, self._batch, self._order = epoch + 1, 0, None
        self._bad_epochs = 0 if improved else self._bad_epochs + 1
        if improved and hp.early_stopping:
            self._best_state = ckpt.cpu(self.model.state_dict())
            if self._sink:
                self._sink(ckpt.BEST, {"format": ckpt.FORMAT, "config": hp.to_dict(), "epoch": epoch,
                                       "model": self._best_state})
        if hp.early_stopping and self._bad_epochs >= hp.patience and epoch < hp.epochs:
            with self._model_lock:
                self.model.load_state_dict(self._best_state)
                self._version += 1
            why = (f"early stopping after epoch {epoch}: the validation loss has not improved "
                   f"for {hp.patience} epoch{'s' if hp.patience > 1 else ''}; restored the "
                   f"weights of epoch {self._best[2]} (validation accuracy {self._best[1]:.2%})")
            self.history.add_event(self._step, "early_stop", why)
            self._finish_with_test(why)
            return False
        self._save_checkpoint()
        return True

    def _next_command(self) -> bool:
        """Wait for the go-ahead to train the next mini-batch; False means: stop now."""
        while True:
            command = self.ctl.next_command(lambda changes: self._apply_live(changes, record=True))
            # The steps since the last flush are published first: a loss that diverged there
            # ends the run as diverged, not paused or stopped with the divergence unseen.
            if command == JUST_PAUSED:
                if not self._flush():
                    return False
                self._save_checkpoint()
                continue
            if command == STOP:
                if not self._flush():
                    return False
                self._save_checkpoint()
                reason = self.ctl.stop_reason or "stopped by the user"
                self._end(STOPPED, f"{reason} at step {self._step:,}")
                return False
            return True

    def _apply_live(self, changes: dict[str, float], record: bool) -> None:
        for name, value in changes.items():
            old = self.live[name]
            for group in self.optimizer.param_groups:
                if name in group and (name != "momentum" or self.hp.optimizer in ("momentum", "nesterov")):
                    group[name] = value
            self.live[name] = value
            if record and old != value:
                self.history.add_event(self._step, name, f"{name} {old:g} → {value:g}")

    def _flush(self, final: bool = False) -> bool:
        """Publish the pending step metrics (one device sync). False if the run diverged."""
        bad = self.metrics.flush(self._step)
        if bad is None:
            return True
        if not final:
            self._end(DIVERGED, self._divergence_message(*bad))
        return False

    def _divergence_message(self, step: int, value: float) -> str:
        hp = self.hp
        if math.isfinite(value):
            what = (f"grew to {value:.3g}, past {self.metrics.bound():.3g} (the limit is 100× its "
                    f"value at initialization, at most 10⁴; a random guess scores ln 10 ≈ {LN10:.2f})")
        else:
            what = f"became {'NaN' if math.isnan(value) else 'infinite'}"
        causes = [f"the learning rate {self.live['lr']:g} is too high for this network"]
        if hp.init == "normal" and hp.init_sigma >= 1:
            causes.append(f"init σ = {hp.init_sigma:g} makes the activations explode "
                          f"(He init would use σ ≈ {model_lib.sigmas_for(hp.replace(init='he'))[0]:.3g} for layer 1)"
                          if hp.depth else f"init σ = {hp.init_sigma:g} makes the logits huge")
        return (f"The loss {what} at step {step:,} (epoch {step / self.steps_per_epoch:.2f}): "
                f"{', or '.join(causes)}. Try a 10x smaller learning rate"
                f"{' or a smaller σ' if len(causes) > 1 else ''}.")

    @torch.no_grad()
    def _evaluate(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 1024) -> tuple[float, float]:
        started = time.perf_counter()
        loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        with self._model_lock:
            self.model.eval()
            try:
                for i in range(0, len(x), chunk):
                    logits = self.model(x[i:i + chunk])
                    loss += self.loss_fn(logits, y[i:i + chunk], reduction="sum")
                    correct += (logits.argmax(1) == y[i:i + chunk]).sum()
            finally:
                self.model.train()
        result = loss.item() / len(x), correct.item() / len(x)
        self.evaluating_seconds += time.perf_counter() - started
        return result

    def _validate(self, x: torch.Tensor, y: torch.Tensor, full: bool) -> tuple[float, float]:
        loss, acc = self._evaluate(x, y)
        self.history.add_validation(self._step, loss, acc, full)
        if full:
            with self.ctl.cond:
                self._val = (loss, acc)
        return loss, acc

    def _finish_with_test(self, why: str) -> None:
        x, y, idx = self.dataset.test_x, self.dataset.test_y, self.test_indices
        if idx is not None:
            idx = idx.to(self.device)
            x, y = x[idx], y[idx]
        test = self._evaluate(x, y)
        with self.ctl.cond:
            self._test = test
        self._save_checkpoint()
        held = len(self.dataset.test_y) - len(y)
        where = (f"on the {len(y):,} test images ({held:,} held out for your class's challenge)"
                 if held else f"on the {len(y):,} test images")
        self._end(FINISHED, f"{why}; test accuracy {test[1]:.2%} {where}")

    def _end(self, state: str, reason: str) -> None:
        self.ctl.end(state, reason)
        if state in (FINISHED, STOPPED, DIVERGED):
            self.optimizer.state.clear()  # a run only trains again from its checkpoint: free Adam's moments

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint_state(self) -> dict:
        """Everything needed to continue exactly from here (training thread, between steps)."""
        with self.ctl.cond:
            counters = {"step": self._step, "samples": self._samples, "version": self._version,
                        "elapsed": self.ctl.elapsed(), "bad_epochs": self._bad_epochs,
                        "val": list(self._val) if self._val else None,
                        "best": list(self._best) if self._best else None,
                        "test": list(self._test) if self._test else None,
                        "initial_loss": self.metrics.initial_loss,
                        "epoch_end_seconds": list(self.epoch_end_seconds)}
        return {"format": ckpt.FORMAT, "config": self.hp.to_dict(), "live": dict(self.live),
                "epoch": self._epoch, "batch": self._batch,
                "order": self._order.cpu() if self._order is not None else None,
                "generator": self._gen.get_state(), "counters": counters,
                "model": ckpt.cpu(self.model.state_dict()),
                "optimizer": ckpt.cpu(self.optimizer.state_dict()),
                "best_model": self._best_state}

    def _save_checkpoint(self) -> None:
        self._last_checkpoint = time.monotonic()
        if self._sink is not None:
            try:
                self._sink(ckpt.CHECKPOINT, self.checkpoint_state())
            except OSError as e:   # a full disk must not end the run
                log.warning("run %s: checkpoint not written: %s", self.id, e)
                self.history.add_event(self._step, "warning", f"checkpoint not written: {e}")

    def _restore(self, state: dict) -> None:
        ckpt.check(state, self.hp.to_dict())
        c = state["counters"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._apply_live(state.get("live", {}), record=False)
        self._gen.set_state(state["generator"])
        self._epoch, self._batch = state["epoch"], state["batch"]
        self._order = state["order"].to(self.device) if state["order"] is not None else None
        self._step, self._samples, self._version = c["step"], c["samples"], c["version"] + 1
        self._bad_epochs = c["bad_epochs"]
        self._val = tuple(c["val"]) if c["val"] else None
        self._best = tuple(c["best"]) if c["best"] else None
        self._test = tuple(c["test"]) if c["test"] else None
        self._best_state = state.get("best_model")
        self.metrics.initial_loss = c.get("initial_loss")
        self.epoch_end_seconds = list(c.get("epoch_end_seconds", []))
        self.ctl.set_elapsed(c["elapsed"])
