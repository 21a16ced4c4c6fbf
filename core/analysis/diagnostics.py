"""Look inside a network: where it fails, how signals flow through it, and what it learned.

Pure functions over a model and a batch; nothing here changes the model it is given. They are
meant for the CPU copy of a run's newest weights (`Trainer.model_snapshot()`) or a freshly built
model, never for the model being trained.

    predict(model, x, y)            -> Predictions      (one forward pass, in batches, no_grad)
    confusion_matrix(y, pred)       -> (10, 10) ints, rows = true class, columns = prediction
    class_metrics(cm)               -> per-class accuracy (= recall), precision, recall, F1
    mistakes(preds, true, pred)     -> indices of the wrong examples (of a class, or one cell's),
                                       most confident first
    signal_stats(model, x, y)       -> per hidden layer: mean/std of pre-activations and
                                       activations, dead/saturated units; per Linear: ‖∂L/∂W‖
    signal_problems(stats)          -> what is wrong in that picture (vanishing, dead units, ...)
    read_signal(stats, hp, initial) -> what it says, in plain words; with the run's statistics at
                                       initialization: what the init caused vs what training did
    weight_histograms(model, init)  -> per Linear: histogram of its weights now and at init
    first_layer_images(model, n)    -> the first layer's incoming weights as 28×28 images
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.nn.config import HyperParams
from core.nn.model import MLP, N_CLASSES, from_state_dict, layer_sigmas

RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu")   # "dead" = pre-activation never > 0
SQUASHING = ("tanh", "sigmoid")                      # "saturated" = in the flat tails
TANH_FLAT, SIGMOID_FLAT = 0.99, 0.01                 # |tanh| > 0.99; sigmoid < 0.01 or > 0.99


# -- where it fails -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Predictions:
    """The model's answers on a set of examples (numpy arrays, one entry per example)."""
    y_true: np.ndarray       # int64
    y_pred: np.ndarray       # int64, the arg-max class
    confidence: np.ndarray   # float32, the softmax probability of the predicted class

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean()) if len(self.y_true) else float("nan")


@torch.no_grad()
def predict(model: MLP, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> Predictions:
    """Classify x (N, 784) pixels in [0, 1] in batches. The model must be in eval mode (as a
    snapshot is): in training mode dropout would make the answers random."""
    if model.training:
        raise ValueError("predict() needs a model in eval mode (call model.eval() on your copy)")
    preds, confs = [], []
    for i in range(0, len(x), batch_size):
        p = torch.softmax(model(x[i:i + batch_size].float()), dim=1)
        c, k = p.max(dim=1)
        preds.append(k)
        confs.append(c)
    if not preds:
        empty = np.zeros(0, np.int64)
        return Predictions(empty, empty, np.zeros(0, np.float32))
    return Predictions(y.cpu().numpy().astype(np.int64), torch.cat(preds).cpu().numpy(),
                       torch.cat(confs).cpu().numpy().astype(np.float32))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """cm[t, p] = how many examples of true class t were predicted as p (rows sum to the class
    sizes, the whole matrix to the number of examples)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes) \
        .reshape(n_classes, n_classes)


@dataclass(frozen=True)
class ClassMetrics:
    """Per class (arrays of length n_classes). NaN where a ratio is undefined (0 / 0): recall of
    a class with no examples, precision of a class that is never predicted."""
    support: np.ndarray     # true examples of the class (row sums)
    predicted: np.ndarray   # times the class was predicted (column sums)
    accuracy: np.ndarray    # share of the class's examples classified correctly (= recall)
    precision: np.ndarray   # share of the "it's a c" answers that are right
    recall: np.ndarray
    f1: np.ndarray


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = num.astype(np.float64), den.astype(np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def class_metrics(cm: np.ndarray) -> ClassMetrics:
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    recall, precision = _ratio(tp, support), _ratio(tp, predicted)
    with np.errstate(invalid="ignore"):
        f1 = _ratio(2 * precision * recall, precision + recall)  # NaN stays NaN
    f1[(precision == 0) & (recall == 0)] = 0.0
    return ClassMetrics(support, predicted, recall.copy(), precision, recall, f1)


def mistakes(preds: Predictions, true: int | None = None, pred: int | None = None) -> np.ndarray:
    """Indices (into the evaluated set) of examples, the most confident first:
      - no class given: every misclassified example;
      - only `true` (or only `pred`): the mistakes on that true class (that predicted class);
      - both: that cell of the confusion matrix (a diagonal cell holds the right answers).
    Undefined confidences (NaN, from a diverged model) go last."""
    mask = np.ones(len(preds.y_true), bool)
    if true is not None:
        mask &= preds.y_true == true
    if pred is not None:
        mask &= preds.y_pred == pred
    if true is None or pred is None:
        mask &= preds.y_true != preds.y_pred
    idx = np.flatnonzero(mask)
    conf = np.nan_to_num(preds.confidence[idx].astype(np.float64), nan=-1.0)
    return idx[np.argsort(-conf, kind="stable")]


# -- signal propagation -------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerSignal:
    """One hidden layer on the fixed batch. `std` is the spread from image to image: for each
    unit the standard deviation over the batch, then the root mean square over the layer's
    units. A layer whose output no longer depends on the image has std 0 even if its values are
    large (e.g. a sigmoid layer stuck at 0.5). `mean` is over all units and images."""
    layer: int                   # 1-based
    width: int
    pre_mean: float
    pre_std: float
    act_mean: float
    act_std: float
    dead: float | None           # ReLU family: share of units whose pre-activation is never > 0
    saturated: float | None      # tanh/sigmoid: share of (image, unit) outputs in the flat tails


@dataclass(frozen=True)
class SignalStats:
    activation: str
    batch_norm: bool
    n_images: int
    input_std: float                  # the normalized input, for reference ("layer 0")
    layers: tuple[LayerSignal, ...]   # hidden layers, input side first
    logits_std: float
    grad_norms: tuple[float, ...]     # ‖∂L/∂W‖ (Frobenius) per Linear, output layer last
    weight_stds: tuple[float, ...]    # std of each Linear's weights
    fan_ins: tuple[int, ...]          # in_features of each Linear
    loss: float                       # cross-entropy on the batch

    @property
    def finite(self) -> bool:
        values = [self.input_std, self.logits_std, self.loss, *self.grad_norms]
        for l in self.layers:
            values += [l.pre_mean, l.pre_std, l.act_mean, l.act_std]
        return all(math.isfinite(v) for v in values)

    def series(self, name: str) -> list[float]:
        """One LayerSignal field over the hidden layers, e.g. series("act_std")."""
        return [getattr(l, name) for l in self.layers]


def _spread(t: torch.Tensor) -> tuple[float, float]:
    """(mean, image-to-image std) of an (N, units) tensor, computed in float64 so that huge
    (exploding) values do not overflow on the way."""
    t = t.detach().double()
    std = t.var(dim=0, unbiased=False).mean().sqrt() if len(t) > 1 else torch.tensor(0.0)
    return float(t.mean()), float(std)


def _private_copy(model: MLP) -> MLP:
    """A throw-away copy to run a backward pass on. Dropout stays off (eval); batch norm uses
    the batch's own statistics, as it does during training."""
    net = from_state_dict(model.arch, model.state_dict())
    for block in net.hidden:
        if "bn" in block._modules:
            block.bn.train()
    return net


def signal_stats(model: MLP, x: torch.Tensor, y: torch.Tensor) -> SignalStats:
    """Forward the fixed batch x (N, 784) through a private copy of `model`, recording each
    hidden layer, then one backward pass of the cross-entropy for the weight gradients."""
    net = _private_copy(model)
    x, y = x.float().cpu(), y.cpu()
    with torch.enable_grad():
        logits, taps = net.forward_with_taps(x)
        loss = F.cross_entropy(logits, y)
        weights = [l.weight for l in net.linears()]
        grads = torch.autograd.grad(loss, weights)
    act = model.arch.activation
    layers = []
    for i, tap in enumerate(taps, start=1):
        pre, a = tap["pre"].detach(), tap["act"].detach()
        dead = saturated = None
        if act in RELU_LIKE:
            dead = float((~(pre > 0).any(dim=0)).float().mean())
        elif act == "tanh":
            saturated = float((a.abs() > TANH_FLAT).float().mean())
        elif act == "sigmoid":
            saturated = float(((a < SIGMOID_FLAT) | (a > 1 - SIGMOID_FLAT)).float().mean())
        layers.append(LayerSignal(i, pre.shape[1], *_spread(pre), *_spread(a), dead, saturated))
    return SignalStats(
        activation=act, batch_norm=model.arch.batch_norm, n_images=len(x),
        input_std=_spread(net.normalize(x))[1], layers=tuple(layers),
        logits_std=_spread(logits)[1],
        grad_norms=tuple(float(g.double().norm()) for g in grads),
        weight_stds=tuple(float(w.detach().double().std()) for w in weights),
        fan_ins=tuple(w.shape[1] for w in weights), loss=float(loss.detach()))


# -- reading the picture ------------------------------------------------------------------------
# read_signal() first lists the problems a SignalStats shows (Problem: a kind and its numbers),
# then words each one. Given the same run's statistics at initialization, it tells what the
# initialization caused (present then and now: σ may be to blame) from what training changed
# (absent then: σ is not to blame, whatever it is).

@dataclass(frozen=True)
class Finding:
    level: str   # "ok", "warn" or "bad"
    text: str    # markdown, one or two sentences


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
SIGMA_MARGIN = 1.2        # σ is only called too small/large when off by more than 20 %
DEAD_SHARE, SATURATED_SHARE = 0.1, 0.2   # shares of units/outputs worth a finding
GRADIENT_RATIO = 1e3      # first layer's gradient vs the output layer's


def _fmt_factor(x: float) -> str:
    """3.2, 13, 4,500, 10⁷: readable sizes for 'N× smaller'."""
    if x < 9.5:
        return f"{x:.1f}"
    if x < 99_500:
        return f"{x:,.0f}"
    return "10" + str(round(math.log10(x))).translate(SUPERSCRIPT)


def _fmt_sigma(s: float) -> str:
    return f"{s:.2g}"


def _he_or_xavier(stats: SignalStats) -> list[float]:
    """The σ per layer that keeps the signal's scale: Xavier for tanh/sigmoid, He otherwise."""
    sizes = list(zip(stats.fan_ins, (*stats.fan_ins[1:], N_CLASSES)))
    return layer_sigmas("xavier" if stats.activation in SQUASHING else "he", sizes)


def sigma_advice(stats: SignalStats, hp: HyperParams, direction: str) -> str | None:
    """With the N(0, σ²) init: '{σ} is too small/large for this depth; He init would use ...'
    when σ is off by more than 20 % (SIGMA_MARGIN) from what He/Xavier would use for the hidden
    layers, in that direction; None otherwise (σ is then not the cause: never advise a change
    of a few %). The suggestion names layer 1's σ, and layer 2's when it differs."""
    if hp.init != "normal" or not stats.fan_ins:
        return None
    sig = _he_or_xavier(stats)
    hidden = sig[:-1] or sig
    s = hp.init_sigma
    if direction == "small" and not any(s * SIGMA_MARGIN < v for v in hidden):
        return None
    if direction == "large" and not any(s > v * SIGMA_MARGIN for v in hidden):
        return None
    name, rule = (("Xavier", "σ = √(2/(fan_in + fan_out))") if stats.activation in SQUASHING
                  else ("He", "σ = √(2/fan_in)"))
    text = f"{name} init would use σ = {_fmt_sigma(sig[0])} for layer 1"
    if len(sig) > 2 and _fmt_sigma(sig[1]) != _fmt_sigma(sig[0]):
        text += f" and σ = {_fmt_sigma(sig[1])} for layer 2"
    what = "too small" if direction == "small" else "too large"
    return f"σ = {s:g} is {what} for this depth; {text} ({rule})."


@dataclass(frozen=True)
class Problem:
    kind: str          # see PROBLEM_ORDER
    layer: int         # where it is worst or starts (1-based; depth + 1 = the output)
    value: float       # per-layer factor, share of units, or gradient ratio
    detail: dict       # numbers for the wording


PROBLEM_ORDER = ("overflow", "vanishing", "exploding", "dead", "saturated",
                 "vanishing_gradient", "exploding_gradient", "no_gradient")


def signal_problems(stats: SignalStats) -> dict[str, Problem]:
    """What is wrong in this picture, by kind (empty: healthy). Thresholds: a spread that
    shrinks below half (or grows beyond twice) per layer; >= 10 % dead units; >= 20 % saturated
    outputs; a first-layer gradient 1,000× smaller or larger than the output layer's."""
    out: dict[str, Problem] = {}
    if not stats.layers:
        return out
    vals = [(l.layer, v) for l in stats.layers for v in (l.pre_std, l.act_std, l.pre_mean)]
    bad = [k for k, v in vals if not math.isfinite(v)]
    if bad or not math.isfinite(stats.logits_std):
        where = bad[0] if bad else len(stats.layers) + 1
        out["overflow"] = Problem("overflow", where, math.inf, {})
        return out
    stds = np.array(stats.series("act_std"))
    depth = len(stds)
    # The per-layer factor of the activations' spread: geometric mean from layer 1 to the last
    # layer whose spread is not exactly 0 (float32 rounds tiny differences away entirely).
    alive = np.flatnonzero(stds > 0)
    last = int(alive[-1]) if len(alive) else 0
    r = float((stds[last] / stds[0]) ** (1 / last)) if last > 0 else 1.0
    zero_from = last + 2 if last + 1 < depth else None
    detail = {"first": float(stds[0]), "last": float(stds[last]), "last_layer": last + 1,
              "zero_from": zero_from}
    if r < 0.5 or (depth >= 2 and stds[0] == 0) or (zero_from and last > 0):
        out["vanishing"] = Problem("vanishing", last + 1, r if last > 0 else 0.0, detail)
    elif r > 2:
        out["exploding"] = Problem("exploding", depth, r, {**detail, "last": float(stds[-1])})
    dead = [(l.layer, l.dead) for l in stats.layers if l.dead is not None and l.dead >= DEAD_SHARE]
    if dead:
        layer, share = max(dead, key=lambda d: d[1])
        out["dead"] = Problem("dead", layer, share, {"layers": len(dead)})
    sat = [(l.layer, l.saturated) for l in stats.layers
           if l.saturated is not None and l.saturated >= SATURATED_SHARE]
    if sat:
        layer, share = max(sat, key=lambda d: d[1])
        out["saturated"] = Problem("saturated", layer, share, {})
    g = stats.grad_norms
    if len(g) >= 3 and g[0] > 0 and g[-1] > 0:
        ratio = g[0] / g[-1]
        if ratio < 1 / GRADIENT_RATIO:
            out["vanishing_gradient"] = Problem("vanishing_gradient", 1, ratio, {})
        elif ratio > GRADIENT_RATIO:
            out["exploding_gradient"] = Problem("exploding_gradient", 1, ratio, {})
    elif len(g) >= 2 and g[0] == 0:
        out["no_gradient"] = Problem("no_gradient", 1, 0.0, {})
    return out


def _layer_share(stats: SignalStats | None, kind: str, layer: int) -> float | None:
    """The dead/saturated share of one layer (for 'x % at initialization')."""
    if stats is None or not 1 <= layer <= len(stats.layers):
        return None
    return getattr(stats.layers[layer - 1], "dead" if kind == "dead" else "saturated")


def _spread_factor(stats: SignalStats) -> str:
    """'× 0.1 per layer'-style summary of a picture's activation spread (for comparisons)."""
    stds = np.array(stats.series("act_std"))
    if len(stds) < 2 or not np.isfinite(stds).all() or stds[0] <= 0:
        return "–"
    alive = np.flatnonzero(stds > 0)
    last = int(alive[-1])
    r = float((stds[last] / stds[0]) ** (1 / last)) if last > 0 else 1.0
    return f"{r:.2g}× per layer"


def _word(p: Problem, stats: SignalStats, hp: HyperParams, initial: SignalStats | None,
          init_problems: dict[str, Problem] | None) -> Finding:
    """One problem in words. `init_problems` is None when `stats` is itself the
    initialization; otherwise the problem either was there at initialization (the init caused
    it: σ may be to blame) or appeared during training (σ is not to blame)."""
    from_init = init_problems is None or p.kind in init_problems
    during = init_problems is not None and not from_init
    then = (lambda text: f" At initialization: {text}.") if initial is not None else (lambda text: "")
    d = p.detail
    if p.kind == "overflow":
        where = "the output layer" if p.layer > len(stats.layers) else f"layer {p.layer}"
        cause = (sigma_advice(stats, hp, "large") if from_init else None) or (
            "Training made the weights far too large (a too large learning rate)." if during else
            "The weights are far too large for this depth: each layer multiplies the signal, "
            "and it blows up.")
        return Finding("bad", f"**Overflow:** the numbers exceed the float32 range (inf/NaN) from "
                              f"{where} on. {cause}")
    if p.kind == "vanishing":
        factor = _fmt_factor(1 / p.value) if p.value > 0 else "∞"
        zero = (f" From layer {d['zero_from']} on the spread is exactly 0: the differences "
                "between images fell below float32 precision." if d["zero_from"] else "")
        if during:
            cause = ("This appeared during training (the initialization passed the signal on: "
                     f"{_spread_factor(initial)}): units that died or weights that shrank "
                     f"(weight decay {hp.weight_decay:g}) stop it; a smaller learning rate helps.")
        else:
            cause = sigma_advice(stats, hp, "small") or (
                "The sigmoid's slope is at most 1/4, so every layer shrinks the signal again; "
                "batch norm or a ReLU help." if stats.activation == "sigmoid" else
                "The weights are too small for this depth; batch norm or He init help.")
        return Finding("bad", f"**Vanishing signal:** activations shrink by ~{factor}× per layer "
                              f"(std {d['first']:.2g} in layer 1 → {d['last']:.2g} in layer "
                              f"{d['last_layer']}): the last layers barely depend on the image."
                              f"{zero} {cause}")
    if p.kind == "exploding":
        if during:
            cause = ("This appeared during training (at initialization: "
                     f"{_spread_factor(initial)}): the weights grew; a smaller learning rate or "
                     "weight decay keep them in range.")
        else:
            cause = sigma_advice(stats, hp, "large") or (
                "The weights are too large for this depth; batch norm or He init help.")
        return Finding("bad", f"**Exploding signal:** activations grow by ~{_fmt_factor(p.value)}× "
                              f"per layer (std {d['first']:.2g} in layer 1 → {d['last']:.2g} in "
                              f"layer {len(stats.layers)}). {cause}")
    if p.kind == "dead":
        before = _layer_share(initial, "dead", p.layer)
        base = (f"**Dead units{' (more since initialization)' if during else ''}:** {p.value:.0%} "
                f"of layer {p.layer}'s units never switch on for these {stats.n_images} images "
                "(pre-activation ≤ 0 for all of them), so no gradient flows through them"
                + (f"; {d['layers']} layers have ≥ 10 % dead units" if d["layers"] > 1 else "") + ".")
        if during:
            return Finding("warn" if p.value < 0.5 else "bad", base
                           + f" At initialization: {before:.0%}. They died during training: a "
                             "large learning rate kills units (lower it, or use leaky ReLU).")
        return Finding("bad" if p.value >= 0.5 else "warn", base
                       + (then(f"{before:.0%}") if before is not None and initial is not None else "")
                       + " Deep narrow ReLU stacks lose some units by chance at initialization "
                         "(batch norm helps); a large learning rate kills more during training.")
    if p.kind == "saturated":
        tail = "below 0.01 or above 0.99" if stats.activation == "sigmoid" else "beyond ±0.99"
        base = (f"**Saturated {stats.activation}{' (grew during training)' if during else ''}:** "
                f"{p.value:.0%} of layer {p.layer}'s outputs are in the flat tails ({tail}), where "
                "the slope is almost 0: the gradient cannot pass.")
        if during:
            before = _layer_share(initial, "saturated", p.layer)
            return Finding("warn", base + f" At initialization: {before:.0%}, so the "
                           "initialization is not the cause: training made the weights larger. "
                           "Saturated units learn slowly; if the loss stalls, weight decay or a "
                           "smaller learning rate keep them in range.")
        cause = sigma_advice(stats, hp, "large") or (
            "The weights are too large for this activation." if hp.init != "normal" else
            f"σ = {hp.init_sigma:g} is close to what Xavier init would use; with this depth a "
            "few units saturate anyway (batch norm helps).")
        return Finding("bad" if p.value >= 0.5 else "warn", base + " " + cause)
    if p.kind == "vanishing_gradient":
        return Finding("bad", f"**Vanishing gradient:** the gradient reaching layer 1 is "
                              f"{_fmt_factor(1 / p.value)}× smaller than the output layer's, so "
                              "the first layers hardly learn."
                              + (" It appeared during training." if during else ""))
    if p.kind == "exploding_gradient":
        return Finding("bad", f"**Exploding gradient:** the gradient at layer 1 is "
                              f"{_fmt_factor(p.value)}× larger than the output layer's; training "
                              "steps will be erratic (lower the learning rate or the init σ).")
    return Finding("bad", "**No gradient reaches layer 1** (it is exactly 0): the first layer "
                          "cannot learn.")


def read_signal(stats: SignalStats, hp: HyperParams,
                initial: SignalStats | None = None) -> list[Finding]:
    """Plain-language readings of a SignalStats, the most important first.

    `initial`: the same network's statistics at initialization (for a trained run). Each
    problem is then read against it: present at initialization too, it was caused by the
    initialization (and σ is named when it is off by more than 20 %); absent then, it developed
    during training and σ is not blamed. Problems the initialization had that training removed
    are said too. Without `initial`, `stats` is read as an initialization."""
    if not stats.layers:
        return [Finding("ok", "Softmax regression has no hidden layers, so there is nothing to "
                              "propagate: the single layer sees the pixels directly (its weights "
                              "are the images below).")]
    if not all(math.isfinite(w) for w in stats.weight_stds):
        return [Finding("bad", "**The weights themselves are inf/NaN:** training diverged (a too "
                               "large learning rate, or too large initial weights), so every "
                               "number below is meaningless. Start a new run.")]
    now = signal_problems(stats)
    init = signal_problems(initial) if initial is not None and initial.layers else None
    out = [_word(now[k], stats, hp, initial, init) for k in PROBLEM_ORDER if k in now]
    if "overflow" in now:
        return out
    if init:
        names = {"vanishing": "the signal vanished", "exploding": "the signal exploded",
                 "dead": "many units were dead", "saturated": "many outputs were saturated",
                 "vanishing_gradient": "the gradient vanished before layer 1",
                 "exploding_gradient": "the gradient exploded towards layer 1",
                 "overflow": "the numbers overflowed"}
        fixed = [names[k] for k in PROBLEM_ORDER if k in init and k not in now and k in names]
        if fixed:
            out.append(Finding("ok", f"**Better than at initialization:** there, {' and '.join(fixed)}; "
                                     "training has overcome it."))
    if not any(f.level != "ok" for f in out):
        stds = np.array(stats.series("act_std"))
        depth = len(stds)
        out.insert(0, Finding("ok", f"**Healthy:** activations keep their scale through the {depth} "
                                    f"hidden layer{'s' * (depth > 1)} (std {stds.min():.2g} to "
                                    f"{stds.max():.2g}), no dead or saturated units, and every "
                                    "layer receives a gradient of a useful size."))
    return out


# -- what the weights look like -----------------------------------------------------------------

def linear_weight_keys(model: MLP) -> list[str]:
    """state_dict keys of each Linear's weight, input side first (as MLP.linears())."""
    return [f"hidden.{i}.linear.weight" for i in range(len(model.hidden))] + ["out.weight"]


def layer_names(model: MLP) -> list[str]:
    """'layer 1 (784→128)', ..., 'output (128→10)'."""
    ls = model.linears()
    return [f"{'output' if i == len(ls) - 1 else f'layer {i + 1}'} "
            f"({l.in_features}→{l.out_features})" for i, l in enumerate(ls)]


@dataclass(frozen=True)
class WeightHistogram:
    name: str
    edges: np.ndarray    # bins + 1 shared bin edges
    now: np.ndarray      # counts of the current weights
    init: np.ndarray     # counts of the weights at initialization
    now_std: float
    init_std: float
    nonfinite: int       # current weights that are inf or NaN (not in the counts)


def weight_histograms(model: MLP, initial_state: dict, bins: int = 40) -> list[WeightHistogram]:
    """For each Linear layer, the distribution of its weights now vs. at initialization, on
    common bins so the two can be overlaid."""
    state = model.state_dict()
    out = []
    for key, name in zip(linear_weight_keys(model), layer_names(model)):
        now = state[key].detach().cpu().double().numpy().ravel()
        init = initial_state[key].detach().cpu().double().numpy().ravel()
        ok = np.isfinite(now)
        both = np.concatenate([now[ok], init])
        lo, hi = (float(both.min()), float(both.max())) if len(both) else (-1.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 1e-3, hi + 1e-3
        edges = np.linspace(lo, hi, bins + 1)
        out.append(WeightHistogram(name, edges, np.histogram(now[ok], edges)[0],
                                   np.histogram(init, edges)[0],
                                   float(now[ok].std()) if ok.any() else float("nan"),
                                   float(init.std()), int((~ok).sum())))
    return out


def first_layer_images(model: MLP, n: int = 32, initial_state: dict | None = None) -> np.ndarray:
    """(k, 28, 28) float array: the incoming weights of the first k = min(n, units) units of the
    first layer (for softmax regression: the ten class templates). Positive weights mark pixels
    that switch the unit on, negative ones pixels that switch it off. With `initial_state`, the
    change since initialization instead (what training added on top of the random start)."""
    w = model.linears()[0].weight.detach().cpu()[:n]
    if initial_state is not None:
        w = w - initial_state[linear_weight_keys(model)[0]].detach().cpu()[:n]
    return w.reshape(-1, 28, 28).numpy().astype(np.float64)
