"""Training speed, measured side by side in one run (ratios, since machines are noisy).

    python bench/bench_train.py [--epochs 3] [--skip-dataloader] [--skip-default] [--device cuda]

Prints:
  1. the machine's peak float32 matmul GFLOP/s (the best of a few large matmuls);
  2. the FLOP-limited epoch time of the 784-1000-100-10 MLP at batch 128 (the training FLOPs of
     one epoch divided by that peak, at the trainer's number of threads), and the trainer's real
     epoch time with live metrics on (validation 5x per epoch, per-step loss/accuracy; the final
     test evaluation is not part of an epoch; the median of --epochs epochs) -> target: trainer <= 1.3x the limit. Two FLOP
     counts are printed: the usual 6 FLOPs per parameter and image, and the exact count, which
     leaves out the first layer's input gradient (nothing needs it, so torch never computes it);
     for this network, whose first layer holds 89 % of the weights, the exact count is 30 % lower;
  3. one epoch of the same network through a torch DataLoader over per-sample tensors (the
     textbook loop) -> target: the trainer is >= 2x faster; and the data path alone (batches,
     no training) both ways, which shows what the DataLoader costs on its own;
  4. the default configuration: its test accuracy and wall time (target >= 97.5 %, well under
     a minute on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from core.nn import data  # noqa: E402
from core.nn import model as model_lib
from core.nn.config import HyperParams  # noqa: E402
from core.nn.trainer import Trainer, torch_threads  # noqa: E402

# The lecture's network, plain (dropout 0): the FLOP limit is about its matrix products.
BENCH_NET = dict(depth=2, width="1000,100", batch_size=128, optimizer="adam", lr=1e-3, seed=0,
                 dropout=0)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (GPU kernels run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def peak_gflops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def epoch_flops(widths: tuple[int, ...], n_samples: int, exact: bool = True) -> float:
    """Matrix-product FLOPs of one training epoch. Forward: 2·N·Σ fan_in·fan_out. Backward: the
    weight gradients cost as much again, and so do the input gradients of every layer but the
    first (exact=True); exact=False is the usual rule of thumb, 6 FLOPs per weight and image."""
    sizes = [a * b for a, b in zip((784, *widths), (*widths, 10))]
    forward = 2 * n_samples * sum(sizes)
    return 3 * forward - (2 * n_samples * sizes[0] if exact else 0)


def trainer_epoch_seconds(epochs: int, device: torch.device) -> tuple[float, float, int]:
    hp = HyperParams.validate(**BENCH_NET, epochs=epochs)
    t = Trainer(hp, device=device)
    t.start()
    t.wait()
    s = t.snapshot()
    assert s.state == "finished", s.reason
    ends = [0.0, *t.epoch_end_seconds]
    epoch = statistics.median(b - a for a, b in zip(ends, ends[1:]))   # the machine drifts: median
    n = len(t.split.train_idx)
    return epoch, n / epoch, n


class PerSample(torch.utils.data.Dataset):
    """The textbook Dataset: one (image, label) pair of tensors per __getitem__."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def dataloader_epoch_seconds(device: torch.device) -> float:
    hp = HyperParams.validate(**BENCH_NET, epochs=1)
    ds = data.load("mnist")
    split = data.split(len(ds.train_x), hp.val_fraction, 0, hp.seed)
    x, y = ds.train_x[split.train_idx], ds.train_y[split.train_idx]
    model = model_lib.build(hp, ds.mean, ds.std, torch.Generator().manual_seed(0)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=hp.lr)
    loader = torch.utils.data.DataLoader(PerSample(x, y), batch_size=hp.batch_size, shuffle=True)
    t = time.perf_counter()
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # the usual per-step logging
    return time.perf_counter() - t


def data_path_seconds() -> tuple[float, float]:
    """One epoch of batches and nothing else: the DataLoader over per-sample tensors vs. the
    trainer's way (one index gather per batch from the shared tensor)."""
    ds = data.load("mnist")
    split = data.split(len(ds.train_x), 0.1, 0, 0)
    x, y = ds.train_x[split.train_idx], ds.train_y[split.train_idx]
    loader = torch.utils.data.DataLoader(PerSample(x, y), batch_size=128, shuffle=True)
    t = time.perf_counter()
    for xb, yb in loader:
        pass
    dl = time.perf_counter() - t
    t = time.perf_counter()
    order = split.train_idx[torch.randperm(len(split.train_idx))]
    for i in range(0, len(order), 128):
        idx = order[i:i + 128]
        _ = ds.train_x[idx], ds.train_y[idx]   # the slicing is what is timed
    return dl, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3, help="trainer epochs (the median one counts)")
    ap.add_argument("--skip-dataloader", action="store_true")
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or mps: where the trainer "
                    "and the DataLoader loop train, and whose peak the FLOP limit uses")
    args = ap.parse_args()
    device = torch.device(args.device)
    if (device.type == "cuda" and not torch.cuda.is_available()) or (
            device.type == "mps" and not torch.backends.mps.is_available()):
        ap.error(f"--device {args.device}: this machine (torch {torch.__version__}) has no such device")
    torch.set_num_threads(torch_threads())
    data.load("mnist")
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads")

    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
        all_cores = peak_gflops(device)
        torch.set_num_threads(threads)
        peak = peak_gflops(device)
        print(f"peak matmul (float32, 2048x2048): {peak:7.1f} GFLOP/s at the trainer's {threads} "
              f"thread(s), {all_cores:.1f} at {os.cpu_count()}")
    else:
        peak = peak_gflops(device, n=8192)
        print(f"peak matmul (float32, 8192x8192) on {device}: {peak:7.1f} GFLOP/s")
    real, speed, n = trainer_epoch_seconds(args.epochs, device)
    exact, rule = (epoch_flops((1000, 100), n, e) / (peak * 1e9) for e in (True, False))
    where = f"{threads} thread(s)" if device.type == "cpu" else str(device)
    print(f"784-1000-100-10, batch 128, {n:,} images/epoch, Adam, {where}")
    print(f"  FLOP-limited epoch:            {exact:8.2f} s exact count, {rule:.2f} s at 6 FLOPs/weight/image")
    print(f"  trainer epoch (live metrics):  {real:8.2f} s   ({speed:,.0f} samples/s)")
    print(f"  trainer / FLOP limit:          {real / exact:8.2f}x exact count, {real / rule:.2f}x at 6 FLOPs"
          f"/weight/image  (target <= 1.3x)")
    if not args.skip_dataloader:
        dl = dataloader_epoch_seconds(device)
        print(f"  DataLoader, per-sample epoch:  {dl:8.2f} s")
        print(f"  DataLoader / trainer:          {dl / real:8.2f}x  (target >= 2x)")
        dl_only, gather_only = data_path_seconds()
        print(f"  data path alone, one epoch:    DataLoader {dl_only:.3f} s, index gather "
              f"{gather_only:.3f} s ({dl_only / gather_only:.0f}x)")
    if not args.skip_default:
        hp = HyperParams.validate()
        t0 = time.perf_counter()
        t = Trainer(hp, device=device)
        t.start()
        t.wait()
        s = t.snapshot()
        print(f"default configuration ({hp.describe()}, {hp.epochs} epochs):")
        print(f"  test accuracy {s.test_accuracy:.2%}, training {s.elapsed:.1f} s, wall "
              f"{time.perf_counter() - t0:.1f} s  (target >= 97.5 %, well under a minute)")


if __name__ == "__main__":
    main()
