"""How much memory a run will need, known before it is created.

A classroom server must refuse a run that would not fit *before* building it: the largest allowed
network (12 × 4096, 188 M parameters) takes 0.75 GB per float32 copy of its weights, and a run
keeps several such copies. `estimate(hp)` adds up, from the hyper-parameters alone:

    kept for the whole run                       at one moment, the largest of
    ─────────────────────────────────────        ─────────────────────────────────────────────
    weights (parameters + batch-norm buffers)    activations of one training step (batch size)
    the weights at initialization (Look inside)  evaluation (the validation images gathered,
    gradients                                       one chunk of 1024 through the network)
    optimizer state: Adam 2×, momentum 1×,       the checkpoint (a CPU copy of the weights and
      RMSProp 1×, SGD 0× the weights                the optimizer state, written at each epoch
    early stopping's best weights                   end, pause, stop and at least every minute)
    the run's data: index tensors, the fixed validation sample
    the allocator's reserve (freed memory it keeps for the next step)

The three on the right happen one after another in the training thread (the checkpoint is
handed to its sink between two steps), so only the largest counts. Activations are counted as
the tensors autograd keeps for the backward pass, per hidden layer (the activation, the input of
an activation whose derivative needs it, dropout's mask and output, batch norm's input), plus
the batch, its normalized copy and two gradients flowing back. Checked against real runs, within
±12 % from 70 MB to 5.7 GB (bench/bench_memory.py; tests/unit/test_memory.py measures three);
for the largest network, 12 × 4096 with Adam: 6.05e9 bytes estimated, 6.14e9 measured.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass

from core.nn.config import HyperParams

FLOAT = 4                       # bytes per float32
N_INPUTS, N_CLASSES, N_TRAIN = 784, 10, 60000
EVAL_CHUNK = 1024               # core.nn.trainer.Trainer._evaluate's chunk
VAL_SAMPLE = 2000               # core.nn.trainer.Trainer.VAL_SAMPLE
OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2, "rmsprop": 1}
GB, MB = 1 << 30, 1 << 20
# The C allocator serves blocks below 16 MB from its arena and keeps up to 64 MB of them once
# freed, for the next step (core.nn.trainer.keep_freed_memory_for_reuse): resident memory, too. How
# much of it a run holds varies from run to run (fragmentation); measured, it was 0 to 110 MB,
# about half the arena-sized transient bytes on average, which is what the estimate counts.
ARENA_BLOCK, ARENA_KEEP = 16 * MB, 64 * MB


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs, by part. `total` is the peak: what is kept for the whole run plus the
    largest of the parts that come and go (activations, evaluation, checkpoint)."""
    hp: HyperParams = dataclasses.field(repr=False, compare=False)
    parameters: int                 # how many numbers the network learns
    weights: int
    initial_weights: int
    gradients: int
    optimizer: int
    best_weights: int
    data: int
    activations: int
    evaluation: int
    checkpoint: int
    allocator: int                  # freed memory the C allocator keeps for reuse

    @property
    def kept(self) -> int:
        return (self.weights + self.initial_weights + self.gradients + self.optimizer
                + self.best_weights + self.data)

    @property
    def total(self) -> int:
        return self.kept + max(self.activations, self.evaluation, self.checkpoint) + self.allocator

    def parts(self) -> list[tuple[str, int]]:
        """(what, bytes) for people, largest first; the transient parts as the largest one."""
        opt = {"adam": "Adam state (2 copies)", "momentum": "momentum buffer",
               "nesterov": "momentum buffer", "rmsprop": "RMSProp average"}.get(self.hp.optimizer)
        transient = max(("activations at batch %d" % self.hp.batch_size, self.activations),
                        ("evaluation buffers", self.evaluation),
                        ("checkpoint copy", self.checkpoint), key=lambda p: p[1])
        rows = [("weights+gradients", self.weights + self.gradients),
                ("initial weights", self.initial_weights), transient,
                ("early stopping's best weights", self.best_weights),
                ("data", self.data), ("allocator reserve", self.allocator)]
        if opt:
            rows.insert(1, (opt, self.optimizer))
        return sorted((r for r in rows if r[1] > 0), key=lambda r: -r[1])

    def describe(self) -> str:
        """'~4.3 GB: 1.4 GB weights+gradients, 1.4 GB Adam state (2 copies), …'"""
        shown = [f"{size_text(b)} {what}" for what, b in self.parts() if b >= 0.01 * self.total]
        return f"~{size_text(self.total)}: " + ", ".join(shown)


def size_text(n: float) -> str:
    """Bytes for people, in binary units as the server's budgets are: 4.2 GB, 350 MB, 12 KB."""
    if n >= GB:
        return f"{n / GB:.1f} GB"
    if n >= MB:
        return f"{n / MB:.0f} MB"
    return f"{max(n, 0) / 1024:.0f} KB"


def parameter_count(widths: tuple[int, ...], batch_norm: bool = False) -> int:
    """Weights and biases of 784 → widths → 10 (plus batch norm's scale and shift)."""
    sizes = (N_INPUTS, *widths, N_CLASSES)
    n = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    return n + (2 * sum(widths) if batch_norm else 0)


def _tensors_per_layer(hp: HyperParams) -> int:
    """How many (rows × width) float tensors one hidden layer keeps for the backward pass."""
    n = 1 if hp.batch_norm else 0                    # batch norm keeps its input
    if hp.activation in ("gelu", "elu", "leaky_relu"):
        n += 1                                       # their backward reads their input
    if hp.dropout > 0:
        n += 2                                       # the mask (as floats) and the output
        n += hp.activation in ("relu", "tanh", "sigmoid")   # these keep their output too
    else:
        n += 1                                       # the output, the next layer's input
    return n


def _step_tensors(hp: HyperParams, rows: int) -> list[int]:
    """Bytes of each tensor alive at a training step's peak (the start of the backward pass):
    the batch and its normalized copy, what each layer keeps for backward, two gradients
    flowing back through the widest layer, and the few (rows × 10) tensors of the loss.
    At the step's very start, the normalization briefly holds three copies of the batch."""
    images = rows * N_INPUTS * FLOAT
    layers = [rows * w * FLOAT for w in hp.widths for _ in range(_tensors_per_layer(hp))]
    flowing = [rows * max((*hp.widths, N_CLASSES)) * FLOAT] * 2
    step = [images, images, *layers, *flowing, *[rows * N_CLASSES * FLOAT] * 4]
    return step if sum(step) > 3 * images else [images] * 3


def _evaluation_tensors(hp: HyperParams, n_val: int) -> list[int]:
    """Validation at an epoch's end: the validation images gathered (and labels), then chunks of
    1024 through the network without a graph (a chunk, its normalized copy, ~3 layer outputs)."""
    rows = min(EVAL_CHUNK, n_val)
    widest = max((*hp.widths, N_CLASSES))
    return [n_val * N_INPUTS * FLOAT, n_val * 8, *[rows * N_INPUTS * FLOAT] * 2,
            *[rows * widest * FLOAT] * 3]


def _checkpoint_tensors(hp: HyperParams, copies: int) -> list[int]:
    """A checkpoint copies every weight tensor and its optimizer state to the CPU (the sizes of
    the copies; which of them the allocator serves from its arena)."""
    sizes = (N_INPUTS, *hp.widths, N_CLASSES)
    per_param = [FLOAT * a * b for a, b in zip(sizes, sizes[1:])] + [FLOAT * b for b in sizes[1:]]
    if hp.batch_norm:
        per_param += [FLOAT * w for w in hp.widths for _ in range(4)]
    return per_param * (1 + copies)


def _arena_part(tensors: list[int]) -> int:
    return sum(t for t in tensors if t < ARENA_BLOCK)


def estimate(hp: HyperParams) -> MemoryEstimate:
    """The memory a run of `hp` will need on its device, from the hyper-parameters alone."""
    widths = hp.widths
    params = parameter_count(widths, hp.batch_norm)
    # + batch norm's running mean and variance (and an int64 count), + Normalize's mean and std
    buffers = (FLOAT * 2 * sum(widths) + 8 * len(widths)) if hp.batch_norm else 0
    weights = FLOAT * params + buffers + 2 * FLOAT
    copies = OPTIMIZER_COPIES[hp.optimizer]
    if hp.optimizer == "momentum" and hp.momentum == 0:
        copies = 0                                                        # torch keeps no buffer
    n_val = round(N_TRAIN * hp.val_fraction)
    n_train = min(hp.subset or N_TRAIN - n_val, N_TRAIN - n_val)
    step = _step_tensors(hp, min(hp.batch_size, n_train))
    evaluation = _evaluation_tensors(hp, n_val)
    checkpoint = _checkpoint_tensors(hp, copies)
    return MemoryEstimate(
        hp=hp, parameters=params, weights=weights, initial_weights=weights,
        gradients=FLOAT * params, optimizer=copies * FLOAT * params,
        best_weights=weights if hp.early_stopping else 0,
        data=8 * (N_TRAIN + n_train) + min(VAL_SAMPLE, n_val) * (N_INPUTS * FLOAT + 8),
        activations=sum(step), evaluation=sum(evaluation), checkpoint=weights + copies * FLOAT * params,
        allocator=min(ARENA_KEEP, max(map(_arena_part, (step, evaluation, checkpoint)))) // 2)


def what_to_shrink(est: MemoryEstimate, budget: int) -> str:
    """What would bring a run within `budget` bytes, in a user's words: '' when it fits, else
    e.g. 'fewer or narrower layers (12 × 2048 needs ~1.1 GB), or a smaller batch (512 or less)'.
    Each suggestion is checked with `estimate`; the network's size is always suggested."""
    if est.total <= budget:
        return ""
    hp, tips = est.hp, []
    fits = lambda **change: estimate(hp.replace(**change)).total <= budget  # noqa: E731
    if hp.depth:
        smaller = _smaller_network(hp, budget)
        tips.append("fewer or narrower layers" + (f" ({smaller})" if smaller else ""))
    else:
        tips.append("a smaller network")
    batches = [b for b in (2 ** i for i in range(13, -1, -1)) if b < hp.batch_size]
    batch = next((b for b in batches if fits(batch_size=b)), None)
    if batch is not None:
        tips.append(f"a smaller batch ({batch} or less)")
    if hp.optimizer == "adam":
        alt = next((o for o in ("rmsprop", "sgd") if fits(optimizer=o)), None)
        if alt:
            tips.append("RMSProp instead of Adam (one copy of the weights instead of two)"
                        if alt == "rmsprop" else "SGD instead of Adam (no optimizer state)")
    if hp.early_stopping and fits(early_stopping=False):
        tips.append("no early stopping (it keeps a copy of the best weights)")
    if len(tips) == 1:
        return tips[0]
    return ", ".join(tips[:-1]) + ", or " + tips[-1]


def _smaller_network(hp: HyperParams, budget: int) -> str:
    """A same-shaped network that fits: the same depth, narrower (halving the widths), or, failing
    that, fewer layers of the same width. '' when neither fits."""
    widths = list(hp.widths)
    for _ in range(12):
        widths = [max(1, w // 2) for w in widths]
        text = ",".join(map(str, widths)) if len(set(widths)) > 1 else str(widths[0])
        cand = hp.replace(width=text)
        if estimate(cand).total <= budget:
            return f"{_shape(cand)} needs ~{size_text(estimate(cand).total)}"
        if widths == [1] * len(widths):
            break
    for depth in range(hp.depth - 1, 0, -1):
        cand = hp.replace(depth=depth, width=",".join(map(str, hp.widths[:depth])))
        if estimate(cand).total <= budget:
            return f"{_shape(cand)} needs ~{size_text(estimate(cand).total)}"
    return ""


def _shape(hp: HyperParams) -> str:
    w = hp.widths
    return f"{len(w)} × {w[0]}" if len(set(w)) == 1 else "-".join(map(str, w))


# -- measuring a real run (tests, bench/bench_memory.py) --------------------------------------------

def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(runs: list[tuple[HyperParams, int | None]]) -> list[dict]:
    """Train each of `runs` (settings, steps) for real on the CPU, with a checkpoint sink that
    drops what it is given, and report how far resident memory rose above what it was just
    before the run was created: {"created": bytes, "peak": bytes, "steps": n, "state": ...}.
    With `steps`, a run is stopped after that many steps (stopping writes a checkpoint); with
    None it runs to its end (validation, test, checkpoints).

    Linux only: the kernel's high-water mark of resident memory, reset before each run. The data
    sets are loaded and torch warmed up once; each run then trains in a forked copy of this
    process, so it starts from the same memory state as a run in a new process would, and
    no run inherits what another freed."""
    import json as json_lib

    import torch

    from core.nn import data
    from core.nn.trainer import Trainer

    def run(hp: HyperParams, steps: int | None) -> None:
        t = Trainer(hp, device="cpu", sink=lambda kind, state: None)
        created = _status_kb("VmHWM") - base
        t.start()
        while not t.wait(timeout=0.02):
            if steps is not None and t.snapshot().step >= steps:
                t.stop()
        t.wait()   # until the thread has exited, not only the run ended (it still frees memory)
        s = t.snapshot()
        print(json_lib.dumps({"created": created, "peak": _status_kb("VmHWM") - base,
                              "steps": s.step, "state": s.state}))

    # One thread: an OpenMP thread team started before fork() would deadlock the children.
    torch.set_num_threads(1)
    for name in dict.fromkeys(hp.dataset for hp, _ in runs):
        data.load(name)
    warm, _ = runs[0]
    warm = Trainer(warm.replace(depth=1, width="8", subset=128, batch_size=64, epochs=1),
                   device="cpu", sink=lambda k, s: None)
    warm.start()
    warm.wait()
    del warm
    out = []
    for hp, steps in runs:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:   # the child: measure one run, report it through the pipe, leave at once
            os.close(read)
            try:
                os.dup2(write, 1)
                with open("/proc/self/clear_refs", "w") as f:   # VmHWM := current resident size
                    f.write("5")
                base = _status_kb("VmRSS")
                run(hp, steps)
                sys.stdout.flush()
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as f:
            text = f.read()
        os.waitpid(pid, 0)
        out.append(json_lib.loads(text) if text.strip() else {"error": "the measuring process failed"})
    return out


def main(argv: list[str]) -> int:
    """python -m core.nn.memory JSON             the estimate in words
       python -m core.nn.memory --measure JSON...   measure real runs (Linux), one JSON line each;
                                             a "steps" key stops a run after that many steps"""
    if argv and argv[0] == "--measure":
        runs = []
        for a in argv[1:]:
            settings = json.loads(a)
            steps = settings.pop("steps", None)
            runs.append((HyperParams.validate(settings), steps))
        for (hp, steps), m in zip(runs, measure(runs)):
            print(json.dumps({**m, "estimate": estimate(hp).total, "steps_asked": steps,
                              "hp": hp.non_defaults()}), flush=True)
        return 0
    if len(argv) == 1:
        print(estimate(HyperParams.validate(json.loads(argv[0]))).describe())
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
