"""What the run ledger costs, measured (core/ledger.py; SQLite in WAL mode, a temporary folder).

    python bench/bench_ledger.py [--steps 1000000] [--delta 1000] [--readers 2]

Prints:
  1. append(): a run's curve grown to --steps steps in --delta-point deltas (one append a second
     per run is the service's rhythm): median / p95 / max milliseconds per append, the database
     size; then the same appends while --readers page threads keep reloading that run's curves
     and record (side by side: the ratio is what WAL's readers cost the writer);
  2. load_curves() of the whole run, and of only the last delta (what a live page asks for);
  3. get_run() and list_runs() over 100 runs (a page refresh);
  4. save_weights() / load_weights() of a 784-1000-100-10 checkpoint with Adam's state (fsync'ed).
The writer's cost per second of training (at --delta steps/s) is the append median: a share of
one core printed as a percentage.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.ledger import Ledger, RunRecord  # noqa: E402
from core.nn.history import Curves  # noqa: E402


def delta(first: int, n: int) -> Curves:
    s = list(range(first, first + n))
    return Curves(step=s, loss=[1.0 / k for k in s], acc=[0.5] * n, val_step=[s[-1]], val_loss=[0.3],
                  val_acc=[0.9], val_full=[False])


def grow(led: Ledger, run_id: str, steps: int, n: int) -> list[float]:
    times = []
    for first in range(1, steps + 1, n):
        t = time.perf_counter()
        led.append(run_id, delta(first, n), step=first + n - 1, train_loss=0.1)
        times.append((time.perf_counter() - t) * 1e3)
    return times


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    return f"median {statistics.median(ms):6.2f} ms   p95 {ms[int(0.95 * (len(ms) - 1))]:6.2f} ms   max {ms[-1]:7.2f} ms"


def timed(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--delta", type=int, default=1000)
    ap.add_argument("--readers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        led = Ledger(home)
        for k in range(100):
            led.add_run(RunRecord(id=f"r{k}", owner="alice" if k % 2 else "bob", number=k + 1,
                                  config={"lr": 0.01, "width": "1000,100"}, state="finished", created=k))

        side = min(args.steps, 200_000)
        done, reads = threading.Event(), [0] * args.readers

        def page(i: int) -> None:
            while not done.is_set():
                led.load_curves("r1")
                led.get_run("r1")
                reads[i] += 1

        led.append("r1", delta(1, 100_000))            # what the readers reload: a 100k-step curve
        alone = grow(led, "r2", side, args.delta)
        readers = [threading.Thread(target=page, args=(i,)) for i in range(args.readers)]
        for t in readers:
            t.start()
        busy = grow(led, "r3", side, args.delta)
        done.set()
        for t in readers:
            t.join()
        print(f"1. append of {args.delta}-point deltas, side by side, a run grown to {side:,} steps:")
        print(f"   alone                                   {summary(alone)}")
        print(f"   {args.readers} page threads reloading a 100k-step run {summary(busy)}   ({sum(reads)} reloads)")
        print(f"   ratio of medians {statistics.median(busy) / statistics.median(alone):.2f}x")
        full = grow(led, "r0", args.steps, args.delta)
        size = sum(p.stat().st_size for p in Path(home).glob("ledger.sqlite3*"))
        print(f"   a run grown to {args.steps:,} steps          {summary(full)}   database {size / 1e6:.1f} MB")
        print(f"   writer's cost at {args.delta} steps/s: {statistics.median(full) / 10:.2f} % of one core")

        whole = timed(lambda: led.load_curves("r0"), 3)
        n = args.steps // args.delta * args.delta
        vals = n // args.delta
        tail = timed(lambda: led.load_curves("r0", since=(n - args.delta, vals - 1, 0)), 50)
        print(f"2. load_curves of {n:,} steps: {whole * 1e3:.0f} ms;   only the last {args.delta}: {tail * 1e3:.2f} ms")

        one = timed(lambda: led.get_run("r5"), 200)
        many = timed(lambda: led.list_runs(), 20)
        mine = timed(lambda: led.list_runs("alice"), 20)
        print(f"3. get_run {one * 1e6:.0f} µs;   list_runs of 100 runs {many * 1e3:.2f} ms;   one owner's 50 {mine * 1e3:.2f} ms")

        model = torch.nn.Sequential(torch.nn.Linear(784, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 100),
                                    torch.nn.ReLU(), torch.nn.Linear(100, 10))
        opt = torch.optim.Adam(model.parameters())
        model(torch.randn(8, 784)).sum().backward()
        opt.step()
        ck = {"model": model.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state()}
        path = led.checkpoint_path("r4")
        nbytes = led.save_weights(path, ck)
        save = timed(lambda: led.save_weights(path, ck), 5)
        load = timed(lambda: led.load_weights(path), 5)
        print(f"4. checkpoint of 784-1000-100-10 + Adam ({nbytes / 1e6:.1f} MB): save {save * 1e3:.0f} ms (fsync'ed), "
              f"load {load * 1e3:.0f} ms")
        led.close()


if __name__ == "__main__":
    main()
