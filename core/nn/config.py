"""The hyper-parameter schema: the one place where each knob is defined.

Every hyper-parameter has a name, a type, a range or a list of choices, a default, a label and
a one-line help text. The sidebar widgets, the URL (query parameters), the CLI flags
(`python -m core.train --lr 0.01`) and validation are all derived from `PARAMS` below, so adding
a knob here adds it everywhere at once (the same idea as TensorFlow Playground's `state.ts`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "identity")
INITS = ("he", "xavier", "normal", "pytorch")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop")
LOSSES = ("cross_entropy", "mse")
DATASETS = ("mnist", "fashion")

MAX_DEPTH = 12


def log_grid(low: float, high: float) -> tuple[float, ...]:
    """1-2-3-5 steps per decade from low to high: 0.001, 0.002, 0.003, 0.005, 0.01, ..."""
    out, decade = [], 10.0 ** math.floor(math.log10(low))
    while decade <= high:
        out += [float(f"{m * decade:.6g}") for m in (1, 2, 3, 5) if low <= m * decade <= high]
        decade *= 10
    return tuple(out)

MAX_WIDTH = 4096

# Human-readable names of the choices (used by widgets and messages).
CHOICE_LABELS = {
    "relu": "ReLU", "leaky_relu": "Leaky ReLU (0.01)", "elu": "ELU", "gelu": "GELU",
    "tanh": "tanh", "sigmoid": "sigmoid", "identity": "identity (linear)",
    "he": "He (σ = √(2/fan_in))", "xavier": "Xavier/Glorot (σ = √(2/(fan_in+fan_out)))",
    "normal": "N(0, σ²) with my σ", "pytorch": "PyTorch default (uniform ±1/√fan_in)",
    "sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "SGD + Nesterov momentum",
    "adam": "Adam", "rmsprop": "RMSProp",
    "cross_entropy": "cross-entropy", "mse": "MSE on one-hot (counter-example)",
    "mnist": "MNIST digits", "fashion": "Fashion-MNIST",
}


@dataclass(frozen=True)
class Param:
    name: str
    kind: type                      # int, float, str or bool
    default: Any
    label: str
    help: str
    group: str
    low: float | None = None        # inclusive range for numbers
    high: float | None = None
    choices: tuple[str, ...] | None = None
    log: bool = False               # a number best picked on a log scale
    live: bool = False              # may change while a run trains
    shown: Callable[[Mapping[str, Any]], bool] | None = None  # hidden when irrelevant
    zero_means: str | None = None   # e.g. subset: 0 = "all"
    grid: tuple | None = None       # the values a slider offers (any value in range is valid)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def to_text(self, value: Any) -> str:
        """`value` written as text for a URL, a command line or a table: the one spelling, read
        back exactly by `parse_value` (lr=0.0004 stays 0.0004; `:g` alone would keep 6 digits)."""
        if self.kind is bool:
            return "true" if value else "false"
        if self.kind is float:
            return float_text(float(value))
        return str(value)

    def is_shown(self, values: Mapping[str, Any]) -> bool:
        return self.shown is None or self.shown(values)


PARAMS: tuple[Param, ...] = (
    # The order is the sidebar's: what a lesson changes first (the network, how it starts, how it
    # learns) on top; rarely changed knobs and the data below. A parameter whose `shown` reads
    # another one comes after it (the sidebar decides visibility from the values above).
    # -- network ------------------------------------------------------------------------------
    Param("depth", int, 2, "Hidden layers", "Number of hidden layers. 0 = softmax regression "
          "(a single linear layer, 7,850 parameters).", "Network", low=0, high=MAX_DEPTH),
    Param("width", str, "256", "Width", "Units per hidden layer: one number for all layers, or "
          "one per layer separated by commas (e.g. 1000,100).", "Network",
          shown=lambda v: int(v.get("depth", 1) or 0) > 0),
    Param("activation", str, "relu", "Activation", "Non-linearity after each hidden layer.",
          "Network", choices=ACTIVATIONS, shown=lambda v: int(v.get("depth", 1) or 0) > 0),
    Param("dropout", float, 0.2, "Dropout", "Probability of zeroing each hidden unit during "
          "training (a regularizer against overfitting).", "Network", low=0.0, high=0.9,
          grid=tuple(round(0.05 * i, 2) for i in range(19)), shown=lambda v: int(v.get("depth", 1) or 0) > 0),
    # -- initialization -----------------------------------------------------------------------
    Param("init", str, "he", "Weight init", "How the weights start. With N(0, σ²) and a deep "
          "net, σ decides whether signals vanish, explode or flow.", "Initialization",
          choices=INITS),
    Param("init_sigma", float, 0.1, "Init σ", "Standard deviation of the initial weights "
          "(all layers), log scale.", "Initialization", low=1e-3, high=10.0, log=True, grid=log_grid(1e-3, 10.0),
          shown=lambda v: v.get("init") == "normal"),
    # -- optimizer ----------------------------------------------------------------------------
    Param("optimizer", str, "adam", "Optimizer", "The update rule.", "Optimizer",
          choices=OPTIMIZERS),
    Param("lr", float, 1e-3, "Learning rate", "Step size of each update; can be changed while "
          "training.", "Optimizer", low=1e-5, high=10.0, log=True, live=True,
          grid=log_grid(1e-5, 10.0)),
    Param("momentum", float, 0.9, "Momentum", "How much of the previous update is kept "
          "; can be changed while training.", "Optimizer",
          low=0.0, high=0.999, live=True, grid=(0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999),
          shown=lambda v: v.get("optimizer") in ("momentum", "nesterov")),
    Param("batch_size", int, 128, "Batch size", "Images per mini-batch (one step).",
          "Optimizer", low=1, high=8192,
          grid=tuple(2 ** i for i in range(14))),
    Param("epochs", int, 8, "Epochs", "Passes over the training set.", "Optimizer",
          low=1, high=200),
    # -- more: knobs a lesson changes now and then --------------------------------------------
    Param("weight_decay", float, 0.0, "Weight decay", "L2 penalty on the weights; can be "
          "changed while training.", "More", low=0.0, high=0.1, live=True,
          grid=(0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)),
    Param("batch_norm", bool, False, "Batch norm", "Normalize each hidden layer's "
          "pre-activations over the mini-batch.", "More",
          shown=lambda v: int(v.get("depth", 1) or 0) > 0),
    Param("loss", str, "cross_entropy", "Loss", "Cross-entropy on the softmax, or mean squared "
          "error between the softmax and one-hot targets (learns slower).", "More",
          choices=LOSSES),
    Param("early_stopping", bool, False, "Early stopping", "Stop when the validation loss has "
          "not improved for `patience` epochs and restore the best weights.", "More"),
    Param("patience", int, 3, "Patience", "Epochs without validation improvement before "
          "stopping.", "More", low=1, high=50, shown=lambda v: bool(v.get("early_stopping"))),
    Param("seed", int, 0, "Seed", "Random seed for the split, the init, the batch order and "
          "dropout: same seed + same settings = same curves (on the CPU).", "More",
          low=0, high=2**31 - 1),
    # -- data ---------------------------------------------------------------------------------
    Param("dataset", str, "mnist", "Data set", "MNIST handwritten digits (embedded) or "
          "Fashion-MNIST clothes (installed separately).", "Data", choices=DATASETS),
    Param("val_fraction", float, 0.1, "Validation fraction", "Share of the 60,000 training "
          "images held out (seeded) to measure generalization during training.", "Data",
          low=0.01, high=0.5, grid=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)),
    Param("subset", int, 0, "Training images", "Train on only this many images (empty or 0 = "
          "all). Small subsets (e.g. 4,000) make overfitting visible.", "Data", low=0, high=60000,
          zero_means="all"),
)
PARAM = {p.name: p for p in PARAMS}
GROUPS = tuple(dict.fromkeys(p.group for p in PARAMS))
LIVE_PARAMS = tuple(p.name for p in PARAMS if p.live)


class ConfigError(ValueError):
    """Invalid hyper-parameters; `errors` maps each parameter name to a readable message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def float_text(x: float) -> str:
    """The shortest readable text that reads back as exactly `x`: 0.001, 1e-5, 0.0004, 2.5,
    0.30000000000000004. `:g` when it is exact, else Python's repr (the shortest exact digits)."""
    text = f"{x:g}"
    if float(text) != x:
        text = repr(x)
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text   # 1e-05 -> 1e-5


_fmt = float_text


def format_value(p: Param, value: Any) -> str:
    """`value` for people (widgets, captions, tables): as `to_text`, but a value with a special
    meaning says it ("all" for a training subset of 0) and a choice shows its label."""
    if p.zero_means and value == 0:
        return p.zero_means
    if p.choices:
        return CHOICE_LABELS.get(value, str(value))
    return p.to_text(value)


def parse_value(p: Param, raw: Any) -> Any:
    """Convert raw input (a string from a URL or a CLI, or a widget's value) to `p.kind`,
    checking the range or the choices. Raises ValueError with a message for the user."""
    if p.kind is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if p.kind is str:
        s = str(raw).strip()
        if p.choices is not None and s not in p.choices:
            raise ValueError(f"{s!r} is not one of {', '.join(p.choices)}")
        return s
    try:
        if p.kind is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            value = int(str(raw).strip().replace("_", "")) if isinstance(raw, str) else int(raw)
        else:
            value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a{'n integer' if p.kind is int else ' number'}, got {raw!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {raw!r}")
    if p.low is not None and not (p.low <= value <= p.high):
        raise ValueError(f"{_fmt(value)} is outside the range {_fmt(p.low)} to {_fmt(p.high)}")
    return value


def parse_widths(text: str, depth: int) -> tuple[int, ...]:
    """'128' -> (128,)*depth; '1000,100' -> (1000, 100) (must then have `depth` entries)."""
    if depth == 0:
        return ()
    parts = [s.strip() for s in str(text).replace(";", ",").split(",") if s.strip()]
    if not parts:
        raise ValueError("give the number of units, e.g. 128 or 1000,100")
    try:
        widths = [int(s) for s in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not a number or a comma-separated list of numbers") from None
    if any(not 1 <= w <= MAX_WIDTH for w in widths):
        raise ValueError(f"each width must be between 1 and {MAX_WIDTH}")
    if len(widths) == 1:
        return tuple(widths) * depth
    if len(widths) != depth:
        raise ValueError(f"{len(widths)} widths given for {depth} hidden layers: give one "
                         f"number, or exactly {depth}")
    return tuple(widths)


_Base = dataclasses.make_dataclass(
    "_Base", [(p.name, p.kind, dataclasses.field(default=p.default)) for p in PARAMS], frozen=True)


class HyperParams(_Base):
    """A validated set of hyper-parameters (immutable). Build it with `HyperParams.validate`."""

    @classmethod
    def validate(cls, raw: Mapping[str, Any] | None = None, **overrides: Any) -> "HyperParams":
        """Parse and check every value (missing ones take their default). Unknown names and
        all invalid values are reported together in one ConfigError."""
        values = {**(raw or {}), **overrides}
        errors: dict[str, str] = {}
        for name in values:
            if name not in PARAM:
                errors[name] = "unknown hyper-parameter"
        parsed: dict[str, Any] = {}
        for p in PARAMS:
            try:
                parsed[p.name] = parse_value(p, values.get(p.name, p.default))
            except ValueError as e:
                errors[p.name] = str(e)
        if "depth" in parsed and "width" in parsed:
            try:
                widths = parse_widths(parsed["width"], parsed["depth"])
                parsed["width"] = ",".join(map(str, widths)) if len(set(widths)) > 1 else (
                    str(widths[0]) if widths else parsed["width"])
            except ValueError as e:
                errors["width"] = str(e)
        if "subset" in parsed and "val_fraction" in parsed and parsed["subset"]:
            available = 60000 - round(60000 * parsed["val_fraction"])
            if parsed["subset"] < 10:
                errors["subset"] = "use at least 10 images (or 0 for all)"
            elif parsed["subset"] > available:
                errors["subset"] = (f"only {available:,} training images are left after holding "
                                    f"out {parsed['val_fraction']:.0%} for validation (0 = all)")
        if parsed.get("optimizer") == "nesterov" and parsed.get("momentum") == 0:
            errors["momentum"] = "Nesterov momentum needs a momentum above 0"
        if errors:
            raise ConfigError(errors)
        return cls(**parsed)

    @property
    def widths(self) -> tuple[int, ...]:
        return parse_widths(self.width, self.depth)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "HyperParams":
        return HyperParams.validate(self.to_dict(), **changes)

    def non_defaults(self) -> dict[str, Any]:
        """The values that differ from the defaults (what a URL needs to carry)."""
        return {p.name: getattr(self, p.name) for p in PARAMS if getattr(self, p.name) != p.default}

    def describe(self) -> str:
        """One line for humans, e.g. '784-128-128-10 relu, he init, adam lr 0.001'."""
        arch = "-".join(map(str, (784, *self.widths, 10)))
        act = f" {self.activation}" if self.depth else " (softmax regression)"
        init = f"N(0,{self.init_sigma:g}²)" if self.init == "normal" else self.init
        return f"{arch}{act}, {init} init, {self.optimizer} lr {self.lr:g}, batch {self.batch_size}"


def cli_flags(hp: HyperParams) -> list[str]:
    """The command-line flags that reproduce `hp` with `python -m core.train` (only values that
    differ from the defaults), as an argument list: `shlex.join(["python", "-m", "core.train",
    *cli_flags(hp)])` is the line to show."""
    out: list[str] = []
    for name, value in hp.non_defaults().items():
        p = PARAM[name]
        if p.kind is bool:
            out.append(p.flag if value else "--no-" + p.flag[2:])
        else:
            out += [p.flag, p.to_text(value)]
    return out


def structural_changes(a: HyperParams, b: HyperParams) -> list[str]:
    """Names of the parameters that differ between a and b and cannot change mid-run."""
    return [p.name for p in PARAMS if not p.live and getattr(a, p.name) != getattr(b, p.name)]
