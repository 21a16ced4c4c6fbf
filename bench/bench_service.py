"""What keeping runs costs, and what the trainer costs over a bare loop (ratios, side by side).

    python bench/bench_service.py [--rounds 3] [--epochs 2]

Prints:
  1. the ledger's cost: the same run (784-1000-100-10, batch 128, Adam) trained by a bare Trainer
     (nothing recorded) and through the run service (curves into SQLite every second, a
     checkpoint file at every epoch end), rounds alternating -> target: <= 2 % slower;
  2. the headless trainer vs a bare torch loop over pre-sliced batches (no metrics, no
     validation), with the same number of threads (the CLI's: every core) -> target: the
     trainer's epoch <= 1.10x the bare loop's.
Each figure is the median of the per-round ratios: this machine drifts by +-10 % within minutes.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.ledger import Ledger  # noqa: E402
from core.nn import data  # noqa: E402
from core.nn import model as model_lib
from core.nn.config import HyperParams  # noqa: E402
from core.nn.trainer import Trainer, keep_freed_memory_for_reuse, loss_function, make_optimizer  # noqa: E402
from core.runs import RunService  # noqa: E402
from core.settings import Limits  # noqa: E402

NET = dict(depth=2, width="1000,100", batch_size=128, optimizer="adam", lr=1e-3, seed=0, dropout=0)


def bare_trainer(hp: HyperParams, threads: int) -> tuple[float, float]:
    """The trainer's time to its last epoch end, and the part of it spent validating (5 points
    per epoch, the last on the whole validation set, and the untrained network's point)."""
    t = Trainer(hp, device="cpu", threads=threads)
    t.start()
    t.wait()
    return t.epoch_end_seconds[-1], t.epoch_end_evaluating[-1]


def through_service(hp: HyperParams, limits: Limits, home: Path) -> float:
    svc = RunService(Ledger(home), limits=limits, headless=True)
    try:
        run = svc.submit("bench", hp)
        svc.wait(run.id)
        handle = svc._ended[run.id].handle
        return handle.epoch_end_seconds[-1]
    finally:
        svc.close()


def bare_loop(hp: HyperParams, threads: int) -> float:
    """One epoch's worth of steps over batches sliced before the clock starts, with the same
    malloc setting as a training thread (without it this loop is 1.5-5x slower: page faults)."""
    keep_freed_memory_for_reuse()
    torch.set_num_threads(threads)
    ds = data.load("mnist")
    split = data.split(len(ds.train_x), hp.val_fraction, 0, hp.seed)
    order = split.train_idx[torch.randperm(len(split.train_idx), generator=torch.Generator().manual_seed(0))]
    batches = [(ds.train_x[i], ds.train_y[i]) for i in order.split(hp.batch_size)]
    net = model_lib.build(hp, ds.mean, ds.std, torch.Generator().manual_seed(0)).train()
    opt, loss_fn = make_optimizer(hp, net.parameters()), loss_function(hp.loss)
    seconds = []
    for _ in range(hp.epochs):
        t = time.perf_counter()
        for x, y in batches:
            loss = loss_fn(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - t)
    return sum(seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    limits = Limits.from_env(headless=True)
    threads = limits.threads_per_run
    hp = HyperParams.validate(**NET, epochs=args.epochs)
    data.load("mnist")
    print(f"784-1000-100-10, batch 128, Adam, {args.epochs} epochs, {threads} thread(s), "
          f"{args.rounds} rounds")
    ledger_ratios, loop_ratios, step_ratios = [], [], []
    with tempfile.TemporaryDirectory() as home:
        for r in range(args.rounds):
            plain, validating = bare_trainer(hp, threads)
            kept = through_service(hp, limits, Path(home) / f"r{r}")
            loop = bare_loop(hp, threads)
            ledger_ratios.append(kept / plain)
            loop_ratios.append(plain / loop)
            step_ratios.append((plain - validating) / loop)
            print(f"  round {r + 1}: trainer {plain:.2f} s (validating {validating:.2f} s), through the "
                  f"service {kept:.2f} s ({kept / plain:.3f}x), bare loop {loop:.2f} s (trainer "
                  f"{plain / loop:.3f}x, its steps alone {(plain - validating) / loop:.3f}x)")
    print(f"ledger + checkpoints cost: {statistics.median(ledger_ratios):.3f}x the bare trainer's "
          f"time (target <= 1.02x)")
    print(f"trainer vs bare loop over pre-sliced batches: {statistics.median(loop_ratios):.3f}x with its "
          f"validation passes, {statistics.median(step_ratios):.3f}x its training steps alone "
          f"(target <= 1.10x)")


if __name__ == "__main__":
    main()
