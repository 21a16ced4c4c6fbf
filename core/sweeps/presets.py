"""The lesson presets: each lecture table as one sweep, with what to look for and a check.

Each preset holds
- the settings from the lecture (base settings + what varies) as a SweepSpec,
- `lesson`: a short text for the student: what they should see and why (shown next to the result),
- `expected`: the outcome in one line, and `check(table, results)`: that outcome as a predicate
  (the list of expectations that did not hold; empty = the lesson is visible),
- `reduced`: the changes (fewer images, fewer epochs) that keep the lesson visible in seconds on
  two CPU cores; the unit tests run every preset in that form and assert its check.

    preset = PRESETS["init-sigma"]
    spec = preset.spec(reduced=False)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from core.nn.config import HyperParams
from core.sweeps.spec import Axis, Level, SweepSpec
from core.sweeps.table import RunResult, Table

LN10 = math.log(10)
Check = Callable[[Table, Sequence[RunResult]], list[str]]


@dataclass(frozen=True)
class Preset:
    key: str                           # as on the command line: --preset init-sigma
    title: str
    lesson: str                        # markdown: what to look at, and why it happens
    expected: str                      # the outcome, one line
    base: Mapping[str, Any]
    axes: tuple[Axis, ...]
    check: Check
    reduced: Mapping[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] = ("test_accuracy",)
    seeds: int = 1

    def spec(self, reduced: bool = False, seeds: int | None = None, **changes: Any) -> SweepSpec:
        """The sweep: the lecture's settings, or their reduced form; `changes` override the base
        settings (e.g. epochs=2 from the command line)."""
        base = HyperParams.validate({**self.base, **(self.reduced if reduced else {}), **changes})
        return SweepSpec.build(base, self.axes, seeds or self.seeds, columns=self.columns,
                               metric=self.columns[0], name=self.title, preset=self.key)

    def outcome(self, table: Table, results: Sequence[RunResult]) -> list[str]:
        """The expectations that did not hold (empty: the lesson is there to see)."""
        return self.check(table, results)


def _mean(table: Table, row: str, col: str | None = None) -> float:
    """A cell's mean, or NaN when it has none (every comparison with NaN fails: a missing figure
    never passes a check)."""
    m = table.cell(row, col).mean
    return math.nan if m is None else m


def _expect(failures: list[str], ok: bool, text: str) -> None:
    if not ok:
        failures.append(text)


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.1f} %"


def _runs_of(results: Sequence[RunResult], **match: Any) -> list[RunResult]:
    return [r for r in results if all(getattr(r.hp, k) == v for k, v in match.items())]


# -- 1. Initialization σ ----------------------------------------------------------------------------

SIGMAS = (0.001, 0.01, 0.1, 1.0, 10.0)


def _check_init(t: Table, results) -> list[str]:
    f: list[str] = []
    for s in ("σ=0.001", "σ=0.01"):
        acc, loss = _mean(t, s, "test accuracy"), _mean(t, s, "validation loss")
        _expect(f, 0.07 <= acc <= 0.15, f"{s} should be stuck near 11 % (chance), got {_pct(acc)}")
        _expect(f, abs(loss - LN10) < 0.02, f"{s}: validation loss should stay at ln 10 = 2.303, got {loss:.3f}")
    acc01 = _mean(t, "σ=0.1", "test accuracy")
    _expect(f, acc01 >= 0.3, f"σ=0.1 should learn (well above 11 %), got {_pct(acc01)}")
    for s in ("σ=1", "σ=10"):
        c = t.cell(s)
        _expect(f, c.diverged == c.runs, f"{s} should explode (diverge), got {c.text()}")
    he = _mean(t, "He", "test accuracy")
    others = [_mean(t, r, "test accuracy") for r in t.rows if r != "He"]
    _expect(f, all(he > o for o in others if not math.isnan(o)), f"He should be best, got {_pct(he)}")
    return f


INIT_SIGMA = Preset(
    "init-sigma", "Initialization σ",
    lesson=(
        "Nine hidden layers of 100 ReLU units, started from weights drawn from N(0, σ²). "
        "With **σ ≤ 0.01** every layer shrinks the signal: after nine layers nothing reaches the "
        "output, the gradients vanish too, and the network stays at chance (about 11 %, loss "
        "ln 10 = 2.30). With **σ ≥ 1** every layer multiplies the signal (by about 10·σ for 100 "
        "inputs): it explodes and the loss becomes NaN. **σ = 0.1** is about right for 100 inputs "
        "and learns, slowly. **He** (σ = √(2/fan_in)) picks the right σ for each layer's width so "
        "the signal keeps its size through ReLUs: it learns best. Xavier is made for tanh and "
        "starts ReLUs a bit too small."),
    expected="σ ≤ 0.01 stuck near 11 % (loss ln 10), σ = 0.1 learns (~70 %), σ ≥ 1 diverges, He best (~90 %)",
    base=dict(depth=9, width="100", activation="relu", dropout=0.0, optimizer="sgd", lr=0.01,
              batch_size=128, epochs=1),
    axes=(Axis("Initialization", tuple(Level.of(f"σ={s:g}", s, init="normal", init_sigma=s) for s in SIGMAS)
               + (Level.of("He", init="he"), Level.of("Xavier", init="xavier")), log=True),),
    columns=("test_accuracy", "val_loss"),
    check=_check_init,
    reduced=dict(subset=20000, batch_size=64),
)

# -- 2. Accuracy vs depth ---------------------------------------------------------------------------

DEPTHS = (0, 1, 2, 3, 4, 5, 8)


def _check_depth(t: Table, results) -> list[str]:
    f: list[str] = []
    acc = {d: _mean(t, str(d)) for d in DEPTHS}
    _expect(f, all(acc[0] < acc[d] for d in DEPTHS[1:]),
            f"softmax regression (0 hidden layers) should be the worst, got {_pct(acc[0])}")
    _expect(f, acc[1] - acc[0] >= 0.02, f"one hidden layer should beat none by 2 points or more, "
                                        f"got {_pct(acc[0])} → {_pct(acc[1])}")
    best_shallow = max(acc[1], acc[2])
    _expect(f, max(acc[d] for d in (3, 4, 5, 8)) - best_shallow < 0.01,
            "more than two hidden layers should add less than a point")
    return f


DEPTH = Preset(
    "depth", "Accuracy vs depth",
    lesson=(
        "The same 100-unit ReLU layers, He init, Adam, stacked 0 to 8 deep. **No hidden layer** "
        "(softmax regression) is a linear classifier: about 92 %. **One hidden layer** already "
        "reaches about 97 %: MNIST needs a non-linearity, not much depth. Beyond two layers the "
        "gain is within the noise of a seed: depth costs time and, without He init, can stop "
        "learning altogether (see the initialization lesson)."),
    expected="0 layers ~92 %, 1 layer ≥ 2 points better, more than 2 layers add < 1 point",
    base=dict(width="100", activation="relu", init="he", optimizer="adam", lr=1e-3, dropout=0.0,
              batch_size=128, epochs=5),
    axes=(Axis.over("depth", DEPTHS),),
    check=_check_depth,
    reduced=dict(subset=10000, epochs=3),
)

# -- 3. Layer sizes and learning rate ---------------------------------------------------------------

SIZES = ("200,100", "200,64", "128,64", "64,30", "30,64", "30,30")


def _check_sizes(t: Table, results) -> list[str]:
    f: list[str] = []
    test = {r: _mean(t, r, "test accuracy") for r in t.rows}
    train = {r: _mean(t, r, "training accuracy") for r in t.rows}
    _expect(f, test["200-100"] > test["30-30"], f"200-100 should beat 30-30: {_pct(test['200-100'])} vs {_pct(test['30-30'])}")
    _expect(f, train["200-100"] >= test["200-100"], "the large network should fit its training set better than the test set")
    _expect(f, test["64-30 · lr 0.01 + momentum"] > test["64-30 · lr 0.01"],
            "momentum should help at the same learning rate")
    _expect(f, test["64-30 · lr 0.02"] > test["64-30 · lr 0.01"],
            "without momentum, lr 0.02 should learn faster than 0.01 in the same epochs")
    return f


def _size_label(w: str) -> str:
    return w.replace(",", "-")


SIZES_LR = Preset(
    "sizes-lr", "Layer sizes and learning rate",
    lesson=(
        "Two hidden layers of different sizes, SGD with momentum 0.9 at lr 0.01; then the 64-30 "
        "network with plain SGD at lr 0.02 and 0.01, and with momentum at 0.01 and 0.005. "
        "**Bigger layers** fit the training set better and generalize a little better: MNIST is "
        "far from overfitting them in a few epochs. A **narrow first layer** (30-64) loses what the "
        "second cannot recover. **Momentum** acts like a larger step along directions the "
        "gradients agree on: at lr 0.01 it beats plain SGD, and plain SGD needs twice the learning "
        "rate to catch up. Compare the training and test columns: the gap is what overfitting "
        "would widen."),
    expected="200-100 beats 30-30; momentum beats plain SGD at lr 0.01; plain lr 0.02 beats plain lr 0.01",
    base=dict(depth=2, activation="relu", init="he", dropout=0.0, optimizer="momentum", lr=0.01,
              momentum=0.9, batch_size=128, epochs=5),
    axes=(Axis("Hidden sizes / learning rate",
               tuple(Level.of(_size_label(w), width=w) for w in SIZES) + (
                   Level.of("64-30 · lr 0.02", width="64,30", optimizer="sgd", lr=0.02),
                   Level.of("64-30 · lr 0.01", width="64,30", optimizer="sgd", lr=0.01),
                   Level.of("64-30 · lr 0.01 + momentum", width="64,30", lr=0.01),
                   Level.of("64-30 · lr 0.005 + momentum", width="64,30", lr=0.005))),),
    columns=("train_accuracy", "test_accuracy"),
    check=_check_sizes,
    reduced=dict(subset=10000, epochs=3),
)

# -- 4. Overfitting ---------------------------------------------------------------------------------


def _check_overfit(t: Table, results) -> list[str]:
    f: list[str] = []
    plain = _runs_of(results, dropout=0.0, early_stopping=False)
    drop = _runs_of(results, dropout=0.5)
    early = _runs_of(results, early_stopping=True)
    if not (plain and drop and early) or not all(r.epoch_val_loss for r in plain + drop + early):
        return ["every variant should finish with its curves"]
    for r in plain:
        v, best = r.epoch_val_loss, r.epoch_val_loss.index(min(r.epoch_val_loss))
        _expect(f, r.epoch_train_loss[-1] < 0.01, f"without regularization the training loss should "
                                                    f"approach 0, got {r.epoch_train_loss[-1]:.4f}")
        _expect(f, v[-1] > 1.08 * v[best] and best <= len(v) - 4,
                f"the validation loss should turn up (lowest {v[best]:.3f} after epoch {best + 1}, "
                f"last {v[-1]:.3f})")
    _expect(f, min(r.epoch_val_loss[-1] for r in drop) < min(r.epoch_val_loss[-1] for r in plain),
            "dropout 0.5 should end with a lower validation loss than no dropout")
    for r in early:
        v, best = r.epoch_val_loss, r.epoch_val_loss.index(min(r.epoch_val_loss))
        _expect(f, len(v) < r.hp.epochs and len(v) - 1 - best <= r.hp.patience,
                f"early stopping should stop {r.hp.patience} epochs after the lowest validation loss "
                f"(lowest after epoch {best + 1}, stopped after {len(v)} of {r.hp.epochs})")
    return f


OVERFIT = Preset(
    "overfitting", "Overfitting",
    lesson=(
        "Only 4,000 training images and two wide layers (500, 50): the network can memorize them. "
        "Watch the curves: **without regularization** the training loss goes to almost zero while "
        "the validation loss reaches its minimum after a few epochs and then **turns up**: from "
        "there on the network learns the training images, not digits. **Dropout 0.5** makes "
        "memorizing hard (each step trains a random half-network): the validation loss stays lower. "
        "**Early stopping** simply stops when the validation loss stops improving and keeps the "
        "best weights."),
    expected="training loss → 0 while the validation loss turns up; dropout keeps it lower; early stopping stops early",
    base=dict(subset=4000, depth=2, width="500,50", activation="relu", init="he", optimizer="adam",
              lr=1e-3, batch_size=128, epochs=40, dropout=0.0, patience=3),
    axes=(Axis("Regularization", (Level.of("no regularization", dropout=0.0),
                                  Level.of("dropout 0.5", dropout=0.5),
                                  Level.of("early stopping", dropout=0.0, early_stopping=True))),),
    columns=("train_accuracy", "test_accuracy", "val_loss"),
    check=_check_overfit,
    reduced=dict(subset=1000, batch_size=16, epochs=15, val_fraction=0.05),
)

# -- 5. Optimizers ----------------------------------------------------------------------------------


def _check_optim(t: Table, results) -> list[str]:
    f: list[str] = []
    acc = {r: _mean(t, r) for r in t.rows}
    _expect(f, all(acc["SGD"] < acc[r] for r in t.rows if r != "SGD"), f"plain SGD should be slowest, got {_pct(acc['SGD'])}")
    _expect(f, min(acc["Adam"], acc["RMSProp"]) > acc["SGD"] + 0.02, "Adam and RMSProp should be well ahead of SGD")
    return f


OPTIMIZERS = Preset(
    "optimizers", "Optimizers",
    lesson=(
        "The same network and seed (two layers of 100 ReLU units, He init), trained for the same "
        "epochs with five update rules. **Plain SGD** at lr 0.01 crawls; **momentum** and "
        "**Nesterov** keep a running direction and go several times faster at the same learning "
        "rate; **Adam** and **RMSProp** scale each weight's step by its recent gradient size, "
        "so they make fast progress with their usual lr 0.001 without tuning. Look at the curves: "
        "the difference is largest in the first epoch."),
    expected="SGD slowest; momentum/Nesterov faster; Adam and RMSProp ahead",
    base=dict(depth=2, width="100", activation="relu", init="he", dropout=0.0, batch_size=128,
              epochs=2),
    axes=(Axis("Optimizer", (Level.of("SGD", optimizer="sgd", lr=0.01),
                             Level.of("momentum", optimizer="momentum", lr=0.01, momentum=0.9),
                             Level.of("Nesterov", optimizer="nesterov", lr=0.01, momentum=0.9),
                             Level.of("Adam", optimizer="adam", lr=1e-3),
                             Level.of("RMSProp", optimizer="rmsprop", lr=1e-3))),),
    check=_check_optim,
    reduced=dict(subset=10000, epochs=1),
)

# -- 6. Activations ---------------------------------------------------------------------------------


def _check_act(t: Table, results) -> list[str]:
    f: list[str] = []
    acc = {r: _mean(t, r) for r in t.rows}
    _expect(f, acc["sigmoid"] < min(acc["ReLU"], acc["tanh"]) - 0.1,
            f"sigmoid should learn far slower at depth 5, got {_pct(acc['sigmoid'])}")
    _expect(f, acc["identity"] < max(acc["ReLU"], acc["tanh"]) - 0.01,
            "identity (a linear model, however deep) should trail ReLU and tanh")
    return f


ACTIVATIONS = Preset(
    "activations", "Activations",
    lesson=(
        "Five hidden layers of 100 units, Xavier init for all, SGD with momentum. **ReLU** and **tanh** "
        "learn. **sigmoid** barely does: its derivative is at most 1/4 and its output is never "
        "centred on zero, so the gradient shrinks at every layer (vanishing gradients) and the "
        "first layers hardly move. **identity** stacks linear maps, which compose to one linear "
        "map: however deep, it is softmax regression (about 92 %) and cannot do better."),
    expected="ReLU and tanh learn; sigmoid far behind; identity ≈ a linear model, behind ReLU/tanh",
    base=dict(depth=5, width="100", init="xavier", dropout=0.0, optimizer="momentum", lr=0.01,
              momentum=0.9, batch_size=128, epochs=2),
    axes=(Axis("Activation", tuple(Level.of(label, activation=a) for label, a in (
        ("ReLU", "relu"), ("tanh", "tanh"), ("sigmoid", "sigmoid"), ("identity", "identity")))),),
    check=_check_act,
    reduced=dict(subset=20000, epochs=1),
)

# -- 7. Loss ----------------------------------------------------------------------------------------


def _check_loss(t: Table, results) -> list[str]:
    f: list[str] = []
    ce, mse = _mean(t, "cross-entropy"), _mean(t, "MSE")
    _expect(f, ce > mse + 0.03, f"cross-entropy should learn faster than MSE: {_pct(ce)} vs {_pct(mse)}")
    return f


LOSS = Preset(
    "loss", "Loss: cross-entropy vs MSE",
    lesson=(
        "The same network trained on two losses. **Cross-entropy** on the softmax gives a gradient "
        "of (p − y): large when the network is confidently wrong. **MSE** between the softmax and "
        "the one-hot target multiplies that by the softmax's own derivative, which is tiny where "
        "the softmax saturates, exactly when the network is wrong and sure of itself: it learns "
        "much slower, which is why classification uses cross-entropy."),
    expected="cross-entropy well ahead of MSE after the same epoch (~90 % vs ~86 %)",
    base=dict(depth=2, width="100", activation="relu", init="he", dropout=0.0, optimizer="sgd",
              lr=0.01, batch_size=128, epochs=1),
    axes=(Axis("Loss", (Level.of("cross-entropy", loss="cross_entropy"), Level.of("MSE", loss="mse"))),),
    check=_check_loss,
    reduced=dict(subset=10000),
)

# -- 8. Batch size ----------------------------------------------------------------------------------

BATCHES = (8, 32, 128, 512, 2048)


def _check_batch(t: Table, results) -> list[str]:
    f: list[str] = []
    acc = {b: _mean(t, str(b), "test accuracy") for b in BATCHES}
    sec = {b: _mean(t, str(b), "time (s)") for b in BATCHES}
    _expect(f, acc[2048] < acc[128] < acc[32], "at a fixed number of epochs, larger batches should reach "
                                               "a lower accuracy (fewer steps): " + ", ".join(_pct(acc[b]) for b in BATCHES))
    _expect(f, sec[8] > 1.5 * sec[2048], f"an epoch at batch 8 should take much longer than at 2048: "
                                         f"{sec[8]:.1f} s vs {sec[2048]:.1f} s")
    return f


BATCH = Preset(
    "batch-size", "Batch size",
    lesson=(
        "The same network, plain SGD at lr 0.01, for the same number of epochs with mini-batches "
        "of 8 to 2048 images. Each epoch sees every image once, so **small batches make many more "
        "steps** (7,000 at batch 8, 27 at 2048) and get further; **large batches** average the "
        "gradient over more images (less noise) but make few steps, and at a fixed learning rate "
        "they stop short. Time goes the other way: a step costs roughly the same whatever its size "
        "until the batch fills the processor, so tiny batches are slow per epoch."),
    expected="accuracy falls as the batch grows (fixed epochs); batch 8 takes much longer per epoch",
    base=dict(depth=2, width="100", activation="relu", init="he", dropout=0.0, optimizer="sgd",
              lr=0.01, epochs=2),
    axes=(Axis.over("batch_size", BATCHES),),
    columns=("test_accuracy", "seconds"),
    check=_check_batch,
    reduced=dict(subset=6000, epochs=1),
)

PRESETS: dict[str, Preset] = {p.key: p for p in (INIT_SIGMA, DEPTH, SIZES_LR, OVERFIT, OPTIMIZERS,
                                                 ACTIVATIONS, LOSS, BATCH)}
