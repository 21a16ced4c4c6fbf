"""What a model says about one 28x28 digit: its ten probabilities and which ink pushed it.

The default model (assets/models/default.pt, trained by scripts/train_default_model.py) answers
before the user has trained anything; it is loaded once per process and shared read-only by
every session (inference never changes a module in eval mode, so threads may share it).
Models take plain [0, 1] pixels: they normalize their own input (core.nn.model.Normalize).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from core.nn import model as model_lib

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "assets" / "models" / "default.pt"
TRAIN_COMMAND = "python -m scripts.train_default_model"


class ModelUnavailable(Exception):
    """The default model's file is missing or unreadable; the message says how to fix it."""


_default: tuple[model_lib.MLP, dict] | None = None
_default_lock = threading.Lock()


def _load_default() -> tuple[model_lib.MLP, dict]:
    global _default
    with _default_lock:
        if _default is None:
            if not DEFAULT_PATH.is_file():
                raise ModelUnavailable(f"the default model {DEFAULT_PATH} is missing; "
                                       f"create it with `{TRAIN_COMMAND}`")
            try:
                net, meta = model_lib.load(DEFAULT_PATH)  # torch.load(weights_only=True)
            except Exception as e:  # a truncated or foreign file: say which and how to fix it
                raise ModelUnavailable(f"cannot read the default model {DEFAULT_PATH} ({e}); "
                                       f"recreate it with `{TRAIN_COMMAND}`") from None
            for p in net.parameters():  # it is never trained here: no gradients kept for it
                p.requires_grad_(False)
            _default = net, meta
        return _default


def default_model() -> model_lib.MLP:
    """The shipped default model in eval mode, loaded once per process."""
    return _load_default()[0]


def default_meta() -> dict:
    """The default model's metadata: test_accuracy, seed, command, epochs, augmentation, ..."""
    return dict(_load_default()[1])


def warm_up() -> None:
    """Everything the Draw page's first stroke needs, done now: the default model and the
    digitness network loaded, their first inference and gradient (torch's one-off set-up), PIL's
    resampling and PNG encoder. Errors are left for the page to explain."""
    from core.charts import draw as charts
    from core.drawing import digitness, preprocess

    image = np.zeros((280, 280), np.uint8)
    image[40:240, 130:150] = 255
    x = preprocess.canvas_to_mnist(image)
    probs = np.full(10, 0.1, np.float32)
    try:
        probs = predict(default_model(), x)
        evidence(default_model(), x, 1, 7)
    except ModelUnavailable:
        pass
    try:
        digitness.judge(x)
    except digitness.Unavailable:
        pass
    charts.bars_html(probs)
    charts.data_url(charts.pixelated(x))


def preload_in_background() -> threading.Thread:
    """warm_up() in a daemon thread, so that a server start does not wait for it."""
    t = threading.Thread(target=warm_up, name="draw-warm-up", daemon=True)
    t.start()
    return t


def _as_input(x28: np.ndarray) -> torch.Tensor:
    x = np.asarray(x28, dtype=np.float32)
    if x.size != 784:
        raise ValueError(f"expected a 28x28 image (784 pixels), got shape {x.shape}")
    return torch.from_numpy(x.reshape(1, 784))


def predict(model: torch.nn.Module, x28: np.ndarray) -> np.ndarray:
    """The ten class probabilities (float32, summing to 1) for one (28, 28) image in [0, 1].
    `model` must be in eval mode (the default model and Trainer.model_snapshot() are)."""
    with torch.inference_mode():
        return torch.softmax(model(_as_input(x28)), dim=1)[0].numpy()


def evidence(model: torch.nn.Module, x28: np.ndarray, cls: int, other: int) -> np.ndarray:
    """(28, 28): how much each pixel's ink argues for class `cls` rather than `other`, as
    input x gradient of the score difference: x * d(z_cls - z_other)/dx. Positive where the
    ink makes it look like `cls`, negative where it argues for `other`, zero where there is no
    ink. For a ReLU network the map sums, up to a constant bias term, to z_cls - z_other (the
    network is linear around x). Gradients go to the input only: the model is left alone."""
    x = _as_input(x28).requires_grad_(True)
    with torch.enable_grad():
        z = model(x)[0]
        (grad,) = torch.autograd.grad(z[cls] - z[other], x)
    return (x.detach() * grad).reshape(28, 28).numpy()
