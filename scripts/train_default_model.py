"""Train the Draw page's default model: the one that predicts before the user has trained anything.

    python -m scripts.train_default_model            # writes assets/models/default.pt
    python scripts/train_default_model.py --epochs 2 --out /tmp/quick.pt   # a quick try

A 784-512-256-10 ReLU MLP (built by core.nn.model from HyperParams, so it is the same kind of model
the app trains, normalizing its own input) trained with Adam on the 60,000 MNIST training
images, with light augmentation so that it copes with digits drawn with a mouse: every
mini-batch is randomly rotated (±15°), sheared, scaled per axis, shifted by up to 2 pixels, and
some of it made bolder or thinner (a soft 3x3 dilation/erosion, because pens are thicker or
thinner than MNIST's). All of it is batched tensor ops (a per-image affine sampling grid and
grid_sample), no per-image Python. The learning rate decays along a cosine to zero.

Reproducible: one seeded generator drives the initialization, the batch order and the
augmentation; the same seed on the same machine (and number of threads) gives the same weights.
15 epochs take 1-2 minutes on one CPU core (the default, --threads 1). The checkpoint (~2 MB) is
written with core.nn.model.save, so it loads with torch.load(weights_only=True), and carries its
test accuracy, seed, command and augmentation in its metadata.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

if __package__ in (None, ""):  # run as a file: make `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.nn import data  # noqa: E402
from core.nn import model as model_lib
from core.nn.config import HyperParams  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "models" / "default.pt"
# Every setting that matters is spelled out: the app's defaults may change, this model must not.
HP = HyperParams.validate(dataset="mnist", depth=2, width="512,256", activation="relu",
                          dropout=0.0, batch_norm=False, init="he", optimizer="adam", lr=1e-3,
                          weight_decay=0.0, loss="cross_entropy", batch_size=128, seed=0)
AUGMENTATION = ("rotation ±15°, shear ±0.25, scale 0.85-1.15 per axis, shift ±2 px, "
                "soft dilation (25 %) or erosion (15 %)")


# Pixel centres in grid_sample's coordinates (align_corners=False): -1 + (2i + 1) / 28.
_CENTRES = (torch.arange(28) * 2 + 1) / 28 - 1
_BASE_Y, _BASE_X = torch.meshgrid(_CENTRES, _CENTRES, indexing="ij")


def _max3x3(img: torch.Tensor) -> torch.Tensor:
    """3x3 max filter (same size, zero padding), done separably: much faster than max_pool2d
    on a CPU for such small images."""
    p = F.pad(img, (1, 1, 1, 1))
    rows = torch.maximum(torch.maximum(p[..., :, :-2], p[..., :, 1:-1]), p[..., :, 2:])
    return torch.maximum(torch.maximum(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A randomly distorted copy of a batch of (B, 784) images in [0, 1]."""
    b = x.shape[0]
    img = x.view(b, 1, 28, 28)

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.empty(b, device=x.device).uniform_(lo, hi, generator=g)

    # Each output pixel samples the input at A @ (x, y) + t, in grid_sample's [-1, 1] units
    # (1 unit = 14 pixels): A rotates, shears and scales the sampling grid, t shifts it.
    a = torch.deg2rad(u(-15, 15))
    cos, sin = torch.cos(a), torch.sin(a)
    sx, sy, shear = 1 / u(0.85, 1.15), 1 / u(0.85, 1.15), u(-0.25, 0.25)
    a00, a01, a10, a11 = cos * sx, cos * shear - sin * sy, sin * sx, sin * shear + cos * sy
    tx, ty = u(-2, 2) / 14, u(-2, 2) / 14
    col = lambda v: v.view(b, 1, 1)  # noqa: E731
    x0, y0 = _BASE_X.to(x.device), _BASE_Y.to(x.device)
    grid = torch.stack([col(a00) * x0 + col(a01) * y0 + col(tx),
                        col(a10) * x0 + col(a11) * y0 + col(ty)], dim=-1)
    img = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # Stroke thickness: blend part of the batch towards its dilation (bolder) or erosion (thinner;
    # near k = 1 it leaves little of a 1-2 px stroke, ~3 % of images keep < 40 % of their ink).
    bolder, thinner = _max3x3(img), -_max3x3(-img)
    r, k = u(0, 1).view(b, 1, 1, 1), u(0, 1).view(b, 1, 1, 1)
    img = torch.where(r < 0.25, img + k * (bolder - img),
                      torch.where(r < 0.40, img + k * (thinner - img), img))
    return img.reshape(b, 784)


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    batches = zip(x.split(2000), y.split(2000))
    return sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in batches) / len(y)


def train(epochs: int, seed: int, log=print) -> tuple[model_lib.MLP, float, float]:
    """The trained model, its MNIST test accuracy and the training time in seconds."""
    ds = data.load("mnist")
    g = torch.Generator().manual_seed(seed)
    net = model_lib.build(HP, ds.mean, ds.std, generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=HP.lr)
    n, bs = len(ds.train_y), HP.batch_size
    total_steps, step = epochs * math.ceil(n / bs), 0
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        net.train()
        for idx in torch.randperm(n, generator=g).split(bs):
            for group in opt.param_groups:  # cosine decay to zero
                group["lr"] = HP.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            loss = F.cross_entropy(net(augment(ds.train_x[idx], g)), ds.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        test_acc = accuracy(net, ds.test_x, ds.test_y)
        log(f"epoch {epoch}/{epochs}: last loss {loss.item():.4f}, test accuracy {test_acc:.4f} "
            f"({time.perf_counter() - t0:.0f} s)")
    return net.eval(), test_acc, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: reproducible, and fastest for such small "
                             "matrices on a busy 2-core machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    net, test_acc, seconds = train(args.epochs, args.seed)
    command = (f"python -m scripts.train_default_model --epochs {args.epochs} --seed {args.seed} "
               f"--threads {args.threads}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    hp = HP.replace(epochs=args.epochs, seed=args.seed)
    model_lib.save(net, args.out, test_accuracy=test_acc, seed=args.seed, epochs=args.epochs,
                   command=command, hyperparams=hp.to_dict(), augmentation=AUGMENTATION,
                   train_seconds=round(seconds, 1), torch_version=str(torch.__version__),
                   threads=args.threads)
    size_mb = args.out.stat().st_size / 1e6
    print(f"test accuracy {test_acc:.4f}; wrote {args.out} ({size_mb:.1f} MB)")
    if test_acc < 0.98:
        sys.exit("error: the default model must reach 98 % test accuracy")


if __name__ == "__main__":
    main()
