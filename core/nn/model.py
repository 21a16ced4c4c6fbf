"""The network: an MLP built from HyperParams, its weight initialization, and a summary.

    x (N, 784) in [0, 1] ─► Normalize ─► [Linear ─► BatchNorm? ─► activation ─► Dropout?] × depth ─► Linear ─► logits (N, 10)

The model owns its input normalization (the training set's mean and std, stored as buffers), so
whoever uses a model (the trainer, the Draw page, a saved checkpoint) feeds plain [0, 1] pixels
and can never forget or mismatch it. Depth 0 is softmax regression: one Linear(784, 10).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from core.nn.config import HyperParams

N_INPUTS, N_CLASSES = 28 * 28, 10

ACTIVATION_MODULES = {
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01), "elu": nn.ELU, "gelu": nn.GELU,
    "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity,
}


class Normalize(nn.Module):
    def __init__(self, mean: float, std: float):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Dropout(nn.Module):
    """Inverted dropout drawing from the run's own generator. nn.Dropout draws from torch's
    global RNG, which all runs of the process (threads) share, so two students training at once
    would perturb each other's runs and break "same seed, same curves".

    The mask comes from random 16-bit integers, four per 64-bit draw (`keep_mask`): on the CPU
    that is 3x cheaper than `bernoulli_`, which draws one 32-bit number per unit and was a fifth
    of a training step of 784-1000-100-10 (bench/bench_train.py)."""

    def __init__(self, p: float, generator: torch.Generator | None = None):
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        with torch.no_grad():
            scale = keep_mask(x.shape, 1 - self.p, x.device, self.generator).to(x.dtype)
            scale *= 1 / (1 - self.p)
        return x * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


def keep_mask(shape: torch.Size, keep: float, device, generator: torch.Generator | None = None) -> torch.Tensor:
    """A boolean tensor whose entries are True with probability `keep` (to 1/65536), independently.
    On a CPU, random 64-bit integers are read as four 16-bit ones, each compared with a threshold;
    GPUs draw Bernoulli numbers fast enough as they are."""
    if torch.device(device).type != "cpu":
        return torch.empty(shape, device=device).bernoulli_(keep, generator=generator).bool()
    n = math.prod(shape)
    # random_(-2**63, None) draws all 64 bits; plain random_() leaves the sign bit 0, which would
    # make every fourth 16-bit number non-negative.
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-2**63, None, generator=generator)
    threshold = round(keep * 65536) - 32768          # int16 values are uniform on [-32768, 32767]
    return (bits.view(torch.int16)[:n] < threshold).view(shape)


@dataclass(frozen=True)
class Arch:
    """What it takes to rebuild a model (stored in checkpoints next to the weights)."""
    widths: tuple[int, ...]
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False

    @classmethod
    def of(cls, hp: HyperParams) -> "Arch":
        return cls(hp.widths, hp.activation, hp.dropout, hp.batch_norm)

    def to_dict(self) -> dict:
        return {"widths": list(self.widths), "activation": self.activation,
                "dropout": self.dropout, "batch_norm": self.batch_norm}

    @classmethod
    def from_dict(cls, d: dict) -> "Arch":
        return cls(tuple(int(w) for w in d["widths"]), str(d["activation"]),
                   float(d["dropout"]), bool(d["batch_norm"]))


class MLP(nn.Module):
    def __init__(self, arch: Arch, mean: float = 0.0, std: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.arch = arch
        self.normalize = Normalize(mean, std)
        self.hidden = nn.ModuleList()
        fan_in = N_INPUTS
        for width in arch.widths:
            block = nn.Sequential()
            block.add_module("linear", nn.Linear(fan_in, width))
            if arch.batch_norm:
                block.add_module("bn", nn.BatchNorm1d(width))
            block.add_module("act", ACTIVATION_MODULES[arch.activation]())
            if arch.dropout > 0:
                block.add_module("dropout", Dropout(arch.dropout, generator))
            self.hidden.append(block)
            fan_in = width
        self.out = nn.Linear(fan_in, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.normalize(x)
        for block in self.hidden:
            h = block(h)
        return self.out(h)

    def linears(self) -> list[nn.Linear]:
        """Every Linear layer, input side first (the output layer last)."""
        return [b.linear for b in self.hidden] + [self.out]

    def forward_with_taps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """Logits plus, for each hidden layer, its pre-activation (after batch norm, if any, i.e.
        what the non-linearity receives) and its activation. Used by core.analysis.diagnostics."""
        taps = []
        h = self.normalize(x)
        for block in self.hidden:
            pre = block.linear(h)
            if "bn" in block._modules:
                pre = block.bn(pre)
            act = block.act(pre)
            taps.append({"pre": pre, "act": act})
            h = block.dropout(act) if "dropout" in block._modules else act
        return self.out(h), taps


# -- initialization -----------------------------------------------------------------------------

def layer_sigmas(init: str, sizes: list[tuple[int, int]], sigma: float = 0.1) -> list[float]:
    """The standard deviation of each layer's initial weights, for layers of (fan_in, fan_out)."""
    if init == "normal":
        return [float(sigma)] * len(sizes)
    if init == "he":
        return [math.sqrt(2.0 / fi) for fi, _ in sizes]
    if init == "xavier":
        return [math.sqrt(2.0 / (fi + fo)) for fi, fo in sizes]
    if init == "pytorch":  # kaiming_uniform(a=√5): U(±1/√fan_in), whose std is 1/√(3·fan_in)
        return [1.0 / math.sqrt(3.0 * fi) for fi, _ in sizes]
    raise ValueError(f"unknown init {init!r}")


def initialize(model: MLP, init: str, sigma: float = 0.1,
               generator: torch.Generator | None = None) -> list[float]:
    """Draw every Linear layer's weights; returns the std used per layer. Biases are zero except
    for the PyTorch default, which draws them from U(±1/√fan_in) as nn.Linear does."""
    layers = model.linears()
    sigmas = layer_sigmas(init, [(l.in_features, l.out_features) for l in layers], sigma)
    with torch.no_grad():
        for layer, s in zip(layers, sigmas):
            if init == "pytorch":
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
            else:
                layer.weight.normal_(0.0, s, generator=generator)
                layer.bias.zero_()
    return sigmas


def build(hp: HyperParams, mean: float, std: float,
          generator: torch.Generator | None = None) -> MLP:
    """The MLP for `hp`, initialized. Pass a seeded generator for reproducible weights (the same
    generator then drives dropout during training)."""
    model = MLP(Arch.of(hp), mean, std, generator)
    initialize(model, hp.init, hp.init_sigma, generator)
    return model


def sigmas_for(hp: HyperParams) -> list[float]:
    """Per-layer init std for `hp` without building the model (for the sidebar)."""
    sizes = list(zip((N_INPUTS, *hp.widths), (*hp.widths, N_CLASSES)))
    return layer_sigmas(hp.init, sizes, hp.init_sigma)


# -- summary ------------------------------------------------------------------------------------

def summary(model: MLP) -> list[dict]:
    """A Keras-like model.summary(): one row per layer with its output shape and parameter count."""
    rows = []
    for i, block in enumerate(model.hidden, start=1):
        for name, module in block.named_children():
            n = sum(p.numel() for p in module.parameters())
            width = block.linear.out_features
            rows.append({"layer": f"hidden {i} · {type(module).__name__}", "output shape": f"(N, {width})",
                         "parameters": n})
    rows.append({"layer": "output · Linear", "output shape": f"(N, {N_CLASSES})",
                 "parameters": sum(p.numel() for p in model.out.parameters())})
    return rows


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save(model: MLP, path, **meta) -> None:
    """Save weights + architecture (+ JSON-friendly metadata); loadable with weights_only=True."""
    torch.save({"arch": model.arch.to_dict(), "state_dict": model.state_dict(), "meta": meta}, path)


def from_state_dict(arch: Arch, state_dict: dict[str, torch.Tensor]) -> MLP:
    """A CPU model in eval mode holding copies of these weights. It is laid out on the meta
    device first, so no memory is filled and no random init is drawn only to be overwritten."""
    with torch.device("meta"):
        model = MLP(arch)
    model = model.to_empty(device="cpu")
    model.load_state_dict(state_dict)
    return model.eval()


def load(path, map_location="cpu") -> tuple[MLP, dict]:
    """Load a checkpoint written by `save`, never unpickling arbitrary objects."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    return from_state_dict(Arch.from_dict(ckpt["arch"]), ckpt["state_dict"]), dict(ckpt.get("meta", {}))
