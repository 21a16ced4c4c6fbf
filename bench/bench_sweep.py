"""A sweep's overhead: does a sweep of 8 small runs finish within 1.1x (sum of the runs' headless
times / training slots)?

Each round, side by side: the 8 runs one at a time as bare Trainers (no service, no ledger: the
strictest "headless time"), the same 8 one at a time through the run service (submit, wait until
recorded, as `python -m core.train` would), then the same 8 as one sweep (core.sweeps.runner.run_sweep:
fed to the service a few at a time, results read back from the runs). The ratios are the sweep's
wall time over (sum of single times / slots), against both baselines; every round and the medians
are printed, with the machine's load average (the figures mean little on a busy machine).

    python bench/bench_sweep.py [--rounds 3] [--threads-per-run N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.ledger import Ledger  # noqa: E402
from core.nn.config import HyperParams  # noqa: E402
from core.runs import RunService  # noqa: E402
from core.settings import Limits  # noqa: E402
from core.sweeps.runner import run_sweep
from core.sweeps.spec import SweepSpec, parse_grid  # noqa: E402

BASE = dict(depth=1, subset=5000, epochs=2, batch_size=64, dropout=0.0, optimizer="adam")
GRID = ("lr=0.0005,0.001,0.002,0.005", "width=64,128")          # 8 small runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads-per-run", type=int, default=None,
                    help="threads per run (default: the headless CLI's, all cores in one slot)")
    args = ap.parse_args()
    limits = Limits.from_env(headless=True)
    if args.threads_per_run:
        limits = limits.replace(threads_per_run=args.threads_per_run)
    home = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    svc = RunService(Ledger(home), limits=limits, headless=True)
    spec = SweepSpec.build(HyperParams.validate(**BASE), [parse_grid(g) for g in GRID])
    hps = spec.runs()
    print(f"{len(hps)} runs ({spec.describe()}), {svc.slots()} slot(s) x {limits.threads_per_run} "
          f"thread(s), {os.cpu_count()} cores")
    svc.wait(svc.submit("warm-up", hps[0]).id)        # data set, kernels, first optimizer: loaded once
    from core.nn.trainer import Trainer
    ratios, bare_ratios = [], []
    for r in range(args.rounds):
        bare = []
        for hp in hps:
            t = time.perf_counter()
            tr = Trainer(hp, threads=limits.threads_per_run)
            tr.start()
            tr.grant()
            tr.wait()
            bare.append(time.perf_counter() - t)
        singles = []
        for hp in hps:
            t = time.perf_counter()
            view = svc.submit("singles", hp)
            svc.wait(view.id)
            singles.append(time.perf_counter() - t)
        ideal = sum(singles) / svc.slots()
        t = time.perf_counter()
        sweep = run_sweep(svc, "sweeper", spec, poll=0.05)
        took = time.perf_counter() - t
        ok = sum(1 for x in sweep.results() if x.state == "finished")
        ratios.append(took / ideal)
        bare_ratios.append(took / (sum(bare) / svc.slots()))
        print(f"round {r + 1} (load {os.getloadavg()[0]:.1f}): bare trainers {sum(bare):.2f} s, through the "
              f"service one by one {sum(singles):.2f} s ({', '.join(f'{s:.2f}' for s in singles)}), "
              f"{svc.slots()} slot(s); sweep {took:.2f} s ({ok}/{len(hps)} finished); "
              f"ratio {took / ideal:.3f} (vs bare {bare_ratios[-1]:.3f})")
    print(f"sweep / (sum of single runs / slots): median {statistics.median(ratios):.3f} "
          f"({min(ratios):.3f}-{max(ratios):.3f}); against bare trainers {statistics.median(bare_ratios):.3f} "
          f"({min(bare_ratios):.3f}-{max(bare_ratios):.3f}); target <= 1.10")
    svc.close()


if __name__ == "__main__":
    main()
