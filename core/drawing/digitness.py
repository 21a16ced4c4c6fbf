"""Does a drawing look like a digit at all? The Draw page's "That doesn't look like a digit".

A network trained on the ten digits has never seen anything else, so it answers a dot, a line,
a scribble or a letter with a digit, often a confident one (a dot is a "0, 94 % sure"). Its own
confidence is no guide either: a run that trained for one epoch is unsure of many real digits.
So the question is put to a separate, small network that has seen both: MNIST digits and
drawings that are not digits (scripts/train_digitness.py says which). It looks at the same 28x28
image the digit classifier gets (core.drawing.preprocess), so it judges the drawing, never the model:
the verdict is the same whichever model is answering.

    scores(x) -> array           one score per image; above threshold(): looks like a digit
    judge(x28) -> Verdict        is_digit, score, threshold

The threshold is not a tuned number: the training script sets it to the score that rejects
1 % (its REJECT_DIGITS) of 5,000 MNIST training digits the network never trained on, and stores
it in the checkpoint (threshold()). Measured on sets the tests generate (seed 7, which played
no part in building it; tests/unit/test_digitness.py): it rejects 90 % of dots, lines,
scribbles, letters it never saw and blobs (letters 72 %, the rest 84-100 %), 0.67 % of the MNIST
test digits and 0.9 % of the project's drawing set (targets: >= 80 %, <= 1 %, <= 3 %).

The network is tiny (784-64-1, ~200 KB, < 0.1 ms per drawing) and loaded once per process.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.nn.model import Normalize

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "assets" / "models" / "digitness.pt"
TRAIN_COMMAND = "python -m scripts.train_digitness"
HIDDEN = 64


class Unavailable(Exception):
    """The digitness network's file is missing or unreadable."""


def build(hidden: int = HIDDEN) -> nn.Sequential:
    """784 pixels in [0, 1] -> one score (a logit: > threshold means "a digit")."""
    return nn.Sequential(Normalize(0.0, 1.0), nn.Linear(784, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


def save(net: nn.Sequential, meta: dict, path: Path) -> None:
    """Weights and metadata (the threshold among them), loadable with weights_only=True."""
    torch.save({"hidden": net[1].out_features, "state_dict": net.state_dict(), "meta": meta}, path)


@dataclass(frozen=True)
class Verdict:
    is_digit: bool
    score: float        # the network's logit; the larger, the more digit-like
    threshold: float


_loaded: tuple[nn.Sequential, dict] | None = None
_lock = threading.Lock()


def load(path: Path | None = None) -> tuple[nn.Sequential, dict]:
    """The network (eval mode, no gradients) and its metadata, loaded once per process."""
    global _loaded
    with _lock:
        if _loaded is None or path is not None:
            path = path or DEFAULT_PATH
            if not path.is_file():
                raise Unavailable(f"{path} is missing; create it with `{TRAIN_COMMAND}`")
            try:
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
                net = build(int(ckpt["hidden"]))
                net.load_state_dict(ckpt["state_dict"])
            except Exception as e:
                raise Unavailable(f"cannot read {path} ({e}); recreate it with "
                                  f"`{TRAIN_COMMAND}`") from None
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
            _loaded = net, dict(ckpt["meta"])
        return _loaded


def threshold() -> float:
    return float(load()[1]["threshold"])


def scores(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Scores of a batch of (N, 784) or (N, 28, 28) images in [0, 1]."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1, 784)
    with torch.inference_mode():
        return load()[0](x)[:, 0].numpy()


def judge(x28: np.ndarray) -> Verdict:
    """Is this 28x28 image (what the digit classifier gets) a digit?"""
    s = float(scores(x28)[0])
    t = threshold()
    return Verdict(s > t, s, t)
