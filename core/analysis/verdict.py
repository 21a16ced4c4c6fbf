"""Did this run learn? The answer in plain words, with the likely cause and where to see it.

A run that ends "finished" at 11 % accuracy looks like a success unless somebody says otherwise
(issue 14). Two questions, answered from numbers the pages already have:

    judge(snapshot, curves, hp, init_signal)  -> Verdict | None   after (or while) a run trains
    warn_before_start(hp, init_signal=None)   -> str | None        before Start

Rules (chance = 1 / number of classes; L0 = the loss of a uniform guess: ln 10 for cross-entropy):
- diverged: the run's state says so;
- did not learn: validation accuracy <= 1.5 × chance (after at least MIN_STEPS steps);
  "stuck at L0" when, besides, the training loss is still within 10 % of L0 and never fell;
- learned little: accuracy below half-way between chance and 100 %;
- stalled at a high loss: the training loss (>= L0 / 4) fell less than 3 % over the last
  quarter of the run;
- learned: anything else.
The likely cause comes from the network at initialization (core.analysis.diagnostics: a vanishing or
exploding signal, saturated units) and then from the curves (learning rate too small or too
large); each verdict names the Look inside tab that shows it.

`warn_before_start` only speaks when the initialization is known to stop learning, measured on
a fresh network (init_signal): numbers overflow, the output is 100× or more bigger than an image
difference calls for (runs diverge), or the output no longer depends on the image at all
(its spread from image to image below 1e-6, or 1e-10 with Adam/RMSProp, whose steps do not shrink
with the gradient until it falls below their ε = 1e-8; calibrated on real one-epoch runs: see
tests/unit/test_verdict.py).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from core.analysis.diagnostics import SignalStats, sigma_advice, signal_problems, signal_stats
from core.nn import data
from core.nn import model as model_lib
from core.nn.config import HyperParams
from core.nn.history import Curves
from core.states import DIVERGED, ENDED_STATES, FAILED, IDLE, QUEUED

# The Look inside page's tabs (pages/look_inside.py uses these names).
TAB_FAILS, TAB_SIGNAL, TAB_WEIGHTS = "Where it fails", "Signal propagation", "What the first layer sees"

CHANCE_FACTOR = 1.5       # accuracy up to 1.5 × chance = did not learn
MIN_STEPS = 100           # fewer steps: too early to tell
PLATEAU_DROP = 0.03       # < 3 % lower over the last quarter of the run = flat
HIGH_LOSS = 0.25          # "high" = at least a quarter of a uniform guess's loss
VANISHED_OUTPUT = {"adaptive": 1e-10, "sgd": 1e-6}   # spread of the logits from image to image
EXPLODED_OUTPUT = 100.0
SATURATED_AT_INIT = 0.6   # tanh/sigmoid: share of layer 1's outputs in the flat tails
PROBE_IMAGES = 256        # the fixed batch for the signal at initialization
PROXY_WIDTH = 512         # wider layers are measured on a narrower stand-in (see initial_signal)
ADAPTIVE = ("adam", "rmsprop")


@dataclass(frozen=True)
class Verdict:
    kind: str            # "learned", "not_learned", "little", "plateau", "diverged"
    level: str           # "ok", "warn" or "bad" (how the page shows it)
    headline: str        # "Did not learn"
    text: str            # one paragraph of markdown, the headline in bold first
    cause: str | None    # the likely cause in a few words, e.g. "the signal vanishes at initialization"
    tab: str | None      # the Look inside tab that shows it


# -- what a guess gets ----------------------------------------------------------------------------

def n_classes(hp: HyperParams) -> int:
    return len(data.DATASETS[hp.dataset].class_names)


def chance_accuracy(hp: HyperParams) -> float:
    return 1.0 / n_classes(hp)


def chance_loss(hp: HyperParams) -> float:
    """The loss of a network that gives every class the same probability: ln K for the
    cross-entropy, (1 - 1/K)² + (K - 1)/K² = 1 - 1/K for the squared error on one-hot targets."""
    k = n_classes(hp)
    return math.log(k) if hp.loss == "cross_entropy" else 1.0 - 1.0 / k


# -- the network at initialization ----------------------------------------------------------------

def initial_signal(hp: HyperParams, n_images: int = PROBE_IMAGES) -> SignalStats:
    """Signal statistics of the network `hp` describes, at initialization (seeded as a run with
    these settings), on the first `n_images` validation images of the seeded split. Cheap
    (~10 ms for the default network): layers wider than PROXY_WIDTH are measured on a stand-in
    PROXY_WIDTH wide whose weights are scaled by √(fan_in / proxy fan_in), which keeps every
    pre-activation's variance (fan_in · σ² · E[a²]) and so the picture; the fan-ins reported are
    the real network's. Callers cache it (it depends on hp only)."""
    ds = data.load(hp.dataset)
    idx = data.split(len(ds.train_x), hp.val_fraction, 0, hp.seed).val_idx[:n_images]
    x, y = ds.train_x[idx], ds.train_y[idx]
    real = model_lib.sigmas_for(hp)
    fan_ins = (model_lib.N_INPUTS, *hp.widths)
    proxy = hp
    if hp.depth and max(hp.widths) > PROXY_WIDTH:
        proxy = hp.replace(width=",".join(str(min(w, PROXY_WIDTH)) for w in hp.widths))
    model = model_lib.build(proxy, ds.mean, ds.std, torch.Generator().manual_seed(hp.seed)).eval()
    if proxy is not hp:
        with torch.no_grad():
            for lin, s_real, s_proxy, fi in zip(model.linears(), real, model_lib.sigmas_for(proxy), fan_ins):
                lin.weight.mul_(s_real * math.sqrt(fi / lin.in_features) / s_proxy)
    stats = signal_stats(model, x, y)
    return dataclasses.replace(stats, fan_ins=tuple(fan_ins))


def init_trouble(signal: SignalStats, hp: HyperParams) -> tuple[str, str] | None:
    """(kind, sentence) when this initialization is known to stop learning: "overflow",
    "explodes", "vanishes" or "saturated"; None when it is fine or only mildly off. The
    sentence's words before its first colon name the cause in short."""
    if not signal.finite:
        return "overflow", ("the numbers overflow the float32 range already at initialization: "
                            "each layer multiplies the signal and it blows up")
    out = signal.logits_std
    if out >= EXPLODED_OUTPUT:
        return "explodes", (f"the signal explodes at initialization: the ten output scores differ "
                            f"by ~{out:,.0f} from image to image (a healthy network: about 1), so "
                            f"the loss starts at {signal.loss:,.3g} and the first steps are huge")
    limit = VANISHED_OUTPUT["adaptive" if hp.optimizer in ADAPTIVE else "sgd"]
    if signal.layers and out < limit:
        return "vanishes", (f"the signal vanishes at initialization: the output hardly depends on "
                            f"the image (the scores differ by {_power(out)} from image to image; "
                            "a healthy network: about 1), so the gradients that would teach it "
                            "are vanishingly small too")
    sat = signal.layers[0].saturated if signal.layers else None
    if sat is not None and sat >= SATURATED_AT_INIT:
        return "saturated", (f"the {signal.activation} units saturate at initialization: {sat:.0%} "
                             "of layer 1's outputs sit in the flat tails, where the slope is almost "
                             "0 and little gradient passes")
    return None


def _power(v: float) -> str:
    """1.7e-15 -> '~10⁻¹⁵'."""
    if v <= 0:
        return "exactly 0"
    return "~10" + str(round(math.log10(v))).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _sigma_fix(signal: SignalStats, hp: HyperParams, kind: str) -> str:
    advice = sigma_advice(signal, hp, "small" if kind == "vanishes" else "large")
    if advice:
        return " " + advice
    if hp.init == "normal":
        return ""
    return " Batch norm helps." if kind == "vanishes" else " A smaller learning rate or batch norm helps."


def warn_before_start(hp: HyperParams, init_signal: SignalStats | None = None) -> str | None:
    """One paragraph when these settings are known not to learn (see the module's rules), else
    None. `init_signal`: initial_signal(hp), cached by the caller (computed here if omitted)."""
    if init_signal is None:
        try:
            init_signal = initial_signal(hp)
        except data.DataError:
            return None
    trouble = init_trouble(init_signal, hp)
    if trouble is None:
        return None
    kind, why = trouble
    fate = {"overflow": "such a run diverges at once",
            "explodes": "such a run usually diverges in its first steps",
            "vanishes": f"such a run usually stays at chance level ({chance_accuracy(hp):.0%}) or "
                        "learns very slowly",
            "saturated": "such a run learns slowly, if at all"}[kind]
    return (f"**These settings will probably not learn.** {why[0].upper()}{why[1:]}; {fate}."
            f"{_sigma_fix(init_signal, hp, kind)} Look inside → {TAB_SIGNAL} shows this network "
            "before it trains. You can start anyway to see it happen.")


# -- after (or while) a run trains ----------------------------------------------------------------

def _mean_where(steps: np.ndarray, values: np.ndarray, lo: float, hi: float) -> float | None:
    """Mean of the values whose step lies in [lo, hi] (None if there are none)."""
    sel = values[(steps >= lo) & (steps <= hi)]
    return float(sel.mean()) if len(sel) else None


def _loss_levels(curves: Curves) -> dict | None:
    """Start, recent and quarter-by-quarter levels of the training loss (works on full curves
    and on a CurveView.digest())."""
    steps = np.asarray(curves.step, dtype=float)
    loss = np.asarray(curves.loss, dtype=float)
    ok = np.isfinite(loss)
    steps, loss = steps[ok], loss[ok]
    if len(steps) < 4:
        return None
    last = steps[-1]
    head = max(1, min(20, len(loss) // 20))
    return {"start": float(loss[:head].mean()),
            "recent": _mean_where(steps, loss, 0.9 * last, last) or float(loss[-1]),
            "q3": _mean_where(steps, loss, 0.5 * last, 0.75 * last),
            "q4": _mean_where(steps, loss, 0.75 * last, last)}


def _accuracy(snap, curves: Curves) -> tuple[float | None, str, int]:
    """The run's accuracy as the verdict uses it, and the step it was measured at: the best
    whole-validation-set accuracy, else the latest validation point after training began (the
    point at step 0 is the untrained network), else the recent training accuracy."""
    best = getattr(snap, "best_val_accuracy", None)
    if best is not None:
        return best, "validation accuracy", getattr(snap, "step", 0) or 0
    trained = [(s, a) for s, a in zip(curves.val_step, curves.val_acc) if s > 0]
    if trained:
        return trained[-1][1], "validation accuracy", trained[-1][0]
    if curves.acc:
        tail = curves.acc[-max(1, len(curves.acc) // 10):]
        return float(np.mean(tail)), "training accuracy", curves.step[-1]
    return None, "", 0


def _cause(hp: HyperParams, init_signal: SignalStats | None, levels: dict | None) -> tuple[str | None, str, str | None]:
    """(short cause, sentence, tab): the initialization first, then the curves."""
    if init_signal is not None:
        trouble = init_trouble(init_signal, hp)
        if trouble:
            kind, why = trouble
            return (why.split(":")[0], f"Likely cause: {why}.{_sigma_fix(init_signal, hp, kind)}",
                    TAB_SIGNAL)
        problems = signal_problems(init_signal)
        for kind, short in (("vanishing", "the signal fades at initialization"),
                            ("exploding", "the signal grows at initialization")):
            if kind in problems:
                p = problems[kind]
                factor = p.value if kind == "exploding" else (1 / p.value if p.value else math.inf)
                fix = sigma_advice(init_signal, hp, "small" if kind == "vanishing" else "large")
                return (short, f"Likely cause: {short} (by ~{factor:.2g}× per layer)."
                               + (f" {fix}" if fix else ""), TAB_SIGNAL)
    lr = hp.lr
    if levels is not None:
        start, recent = levels["start"], levels["recent"]
        if recent > 1.1 * start:
            return ("the learning rate is too high",
                    f"Likely cause: the learning rate {lr:g} is too high: the training loss rose "
                    f"from {start:.3g} to {recent:.3g}. Try a 10× smaller one.", None)
        if hp.optimizer not in ADAPTIVE and lr <= 1e-3 and recent < start:
            return ("the learning rate is too small",
                    f"Likely cause: the learning rate {lr:g} is too small for {hp.optimizer}: the "
                    f"loss only went from {start:.3g} to {recent:.3g}. Try a 10× larger one.", None)
    if hp.loss == "mse":
        return ("the squared-error loss learns slowly",
                "The squared error on one-hot targets gives small gradients once the softmax "
                "saturates: cross-entropy learns much faster.", None)
    return (None, f"Look inside → {TAB_SIGNAL} shows how the signal flows through this network "
                  "now, and what changed since initialization.", TAB_SIGNAL)


def judge(snap, curves: Curves, hp: HyperParams, init_signal: SignalStats | None = None) -> Verdict | None:
    """The verdict on a run from its snapshot (anything with state, step, best_val_accuracy,
    reason), its curves (a core.nn.history.Curves, or a CurveView.digest() for long runs) and its
    settings; `init_signal` (initial_signal(hp), cached by the caller) names the cause when the
    initialization is to blame. None while it is too early to tell."""
    state, step = snap.state, getattr(snap, "step", 0) or 0
    if state in (IDLE, QUEUED, FAILED):
        return None
    ended = state in ENDED_STATES
    so_far = "" if ended else " so far"
    levels = _loss_levels(curves)
    if state == DIVERGED:
        cause, sentence, tab = None, "", None
        if init_signal is not None and (t := init_trouble(init_signal, hp)) and t[0] in ("overflow", "explodes"):
            cause, sentence, tab = t[1].split(":")[0], f" Likely cause: {t[1]}.{_sigma_fix(init_signal, hp, t[0])}", TAB_SIGNAL
        return Verdict("diverged", "bad", "Diverged",
                       f"**Diverged:** {getattr(snap, 'reason', '') or 'the loss became inf/NaN.'}{sentence}",
                       cause, tab)
    acc, what, measured_at = _accuracy(snap, curves)
    if acc is None or measured_at < 1:
        return None
    chance = chance_accuracy(hp)
    L0 = chance_loss(hp)
    if acc <= CHANCE_FACTOR * chance:
        if min(step, measured_at) < MIN_STEPS:
            return None
        stuck = levels is not None and abs(levels["recent"] - L0) <= 0.1 * L0 \
            and levels["start"] - levels["recent"] < 0.05 * L0
        cause, sentence, tab = _cause(hp, init_signal, levels)
        loss_words = (f", and the training loss stayed at {'ln 10 ≈ ' if hp.loss == 'cross_entropy' and n_classes(hp) == 10 else ''}"
                      f"{L0:.2f}, the loss of a network that gives every class the same "
                      "probability" if stuck else "")
        head = "Did not learn" + so_far
        return Verdict("not_learned", "bad", head,
                       f"**{head}:** {acc:.2%} {what} is chance level (a guess is right {chance:.0%} "
                       f"of the time){loss_words}. {sentence}", cause, tab)
    if acc < chance + 0.5 * (1 - chance):
        cause, sentence, tab = _cause(hp, init_signal, levels)
        head = "Learned little" + so_far
        return Verdict("little", "warn", head,
                       f"**{head}:** {acc:.2%} {what} (a guess: {chance:.0%}). {sentence}", cause, tab)
    if (levels is not None and levels["q3"] is not None and levels["q4"] is not None
            and levels["recent"] >= HIGH_LOSS * L0 and levels["q4"] > (1 - PLATEAU_DROP) * levels["q3"]):
        cause, sentence, tab = _cause(hp, init_signal, levels)
        head = "Stalled at a high loss"
        return Verdict("plateau", "warn", head,
                       f"**{head}:** the training loss has stayed at ~{levels['recent']:.2f} over the "
                       f"last quarter of the run (a guess: {L0:.2f}), at {acc:.2%} {what}. "
                       f"{sentence}", cause, tab)
    return Verdict("learned", "ok", "Learned" + so_far,
                   f"**Learned{so_far}:** {acc:.2%} {what} (a guess: {chance:.0%}).", None, None)
