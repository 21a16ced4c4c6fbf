"""Training on a Ray cluster (core.executors.ray) against threads in the server, side by side.

    python bench/bench_ray.py [--threads 1] [--epochs 2] [--rounds 2] [--sweep 4]

Starts its own local cluster (separate `ray start` processes, tests/ray/local_cluster.py) and
prints:
  1. one run's samples/s through Ray vs on threads (the trainer in a plain process), with the
     same number of torch threads on the same machine, rounds interleaved (median of --rounds)
     -> target >= 90 %;
  2. Start -> first curve point through Ray (submit until the untrained network's point is in
     the run's curves): the first run on a node and a later one, with where the time goes (the
     worker process starting and importing torch, the node's data set, the trainer);
  3. the memory of one run's worker: private (anonymous) vs shared (the node's data set, mapped
     from the object store, not copied);
  4. a sweep of --sweep runs on 1 node, then on 2 nodes of --threads CPUs each: wall time, and
     the slowest run's own time (a sweep on n slots should take about (runs / n) x one run).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.ledger import Ledger  # noqa: E402
from core.nn.config import HyperParams  # noqa: E402
from core.settings import Limits  # noqa: E402
from tests.ray.local_cluster import LocalCluster  # noqa: E402

NET = dict(depth=2, width="256,128", batch_size=128, optimizer="adam", lr=1e-3, dropout=0, subset=20000)


THREADS_RUN = """
import sys
from core.nn.config import HyperParams
from core.nn.trainer import Trainer
t = Trainer(HyperParams.validate(**eval(sys.argv[1])), device="cpu", threads=int(sys.argv[2]))
t.start()
t.wait()
print(t.snapshot().samples_per_second)
"""


def threads_run(hp: HyperParams, threads: int) -> float:
    """The run on threads, in a process of its own started like a Ray node's (a session of its
    own: with the kernel's autogroup scheduling, a session is what gets a fair CPU share)."""
    out = subprocess.run([sys.executable, "-c", THREADS_RUN, repr(hp.to_dict()), str(threads)],
                         capture_output=True, text=True, check=True, start_new_session=True,
                         cwd=Path(__file__).resolve().parents[1])
    return float(out.stdout.split()[-1])


def service(address: str, limits: Limits, home: Path):
    from core.executors.ray import RayExecutor
    from core.runs import RunService
    return RunService(Ledger(home), executor=RayExecutor(address, limits), limits=limits)


def first_point(svc, hp: HyperParams) -> tuple[float, dict, str]:
    """Seconds from submit to the first curve point, the actor's own timings, the run's id."""
    t0 = time.time()
    run = svc.submit("bench", hp)
    while not run.curves()[0].val_step:
        time.sleep(0.01)
    seconds = time.time() - t0
    svc.wait(run.id)
    lv = svc._live.get(run.id) or svc._ended.get(run.id)
    return seconds, {k: (v - t0 if k != "pid" else v) for k, v in lv.handle.timings.items()}, run.id


def memory_of(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssShmem", "RssFile"):
            out[key] = int(value.split()[0]) // 1024
    return out


def sweep_seconds(svc, hp: HyperParams, n: int) -> tuple[float, float, float]:
    """Wall time of n runs submitted together (fed as slots free up), the slowest run's
    training time and the sum of their training times."""
    from core.sweeps.runner import run_sweep
    from core.sweeps.spec import SweepSpec, parse_grid
    lrs = ",".join(f"{0.001 * (i + 1):g}" for i in range(n))
    spec = SweepSpec.build(hp, [parse_grid(f"lr={lrs}")], seeds=1)
    t0 = time.time()
    sweep = run_sweep(svc, "bench-sweep", spec)
    wall = time.time() - t0
    seconds = [svc.ledger.get_run(r.run_id).seconds for r in sweep.results()]
    return wall, max(seconds), sum(seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (and cluster CPUs) per run")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sweep", type=int, default=4, help="runs in the sweep of part 4")
    args = ap.parse_args()
    hp = HyperParams.validate(**NET, epochs=args.epochs)
    small = HyperParams.validate(**{**NET, "subset": 5000}, epochs=1)
    limits = Limits.defaults().replace(training_cores=args.threads, threads_per_run=args.threads,
                                       runs_per_student=args.sweep + 1)
    print(f"network {hp.describe()}, {args.epochs} epochs of {hp.subset} images; "
          f"{args.threads} torch thread(s) per run")
    with LocalCluster() as cluster:
        t = time.time()
        address = cluster.start_head(cpus=args.threads)
        print(f"cluster: head started in {time.time() - t:.1f} s")
        import tempfile
        home = Path(tempfile.mkdtemp(prefix="bench-ray-"))
        svc = service(address, limits, home / "a")
        try:
            # 2. Start -> first curve point: on a new host (a worker process to start), then on
            # the host the first run left (reused), then on a new one again
            for label in ("a new host", "the host of the run before", "a new host again"):
                if label == "a new host again":
                    svc.executor.close_idle_hosts()
                seconds, timings, _ = first_point(svc, small)
                started = (f"worker started {timings['host_started']:.2f} s, " if timings["host_started"] > 0
                           else "worker already up, ")
                print(f"Start -> first curve point on {label}: {seconds:.2f} s ({started}run loading "
                      f"{timings['loading']:.2f} s, data {timings['data']:.2f} s, trainer ready "
                      f"{timings['ready']:.2f} s after Start)")
            # 1. samples/s, interleaved
            local, remote = [], []
            for i in range(args.rounds):
                local.append(threads_run(hp, args.threads))
                run = svc.submit("bench", hp)
                svc.wait(run.id)
                remote.append(svc.ledger.get_run(run.id).samples_per_second)
                print(f"  round {i + 1}: threads {local[-1]:,.0f} samples/s, Ray {remote[-1]:,.0f} samples/s")
            lm, rm = statistics.median(local), statistics.median(remote)
            print(f"samples/s: threads {lm:,.0f}, Ray {rm:,.0f} -> Ray/threads {rm / lm:.1%} (target >= 90 %)")
            # 3. memory of a run's worker, mid-run
            run = svc.submit("bench", hp)
            while True:
                lv = svc._live.get(run.id) or svc._ended.get(run.id)
                if lv.handle.timings and run.snapshot().step > 20:
                    break
                time.sleep(0.05)
            mem = memory_of(lv.handle.timings["pid"])
            print(f"a run's worker mid-run: RSS {mem['VmRSS']} MB = private {mem['RssAnon']} MB + "
                  f"files {mem['RssFile']} MB + shared {mem['RssShmem']} MB (the node's MNIST, "
                  "220 MB in the object store, is mapped, not copied)")
            svc.stop("bench", run.id)
            svc.wait(run.id)
        finally:
            svc.close()
        # 4. a sweep on 1 node, then on 2: each twice, with new hosts (their workers start
        # first), then with the hosts the first sweep left
        walls = {}
        for nodes in (1, 2):
            if nodes == 2:
                cluster.add_node(cpus=args.threads)
            svc = service(address, limits, home / f"sweep{nodes}")
            try:
                deadline = time.time() + 30
                while svc.slots() < nodes and time.time() < deadline:
                    time.sleep(0.2)
                for hosts in ("new hosts", "warm hosts"):
                    wall, slowest, total = sweep_seconds(svc, hp, args.sweep)
                    walls[nodes, hosts] = wall
                    print(f"sweep of {args.sweep} runs on {nodes} node{'s' if nodes > 1 else ''} "
                          f"({svc.slots()} slot{'s' if nodes > 1 else ''}), {hosts}: {wall:.1f} s "
                          f"(training: slowest run {slowest:.1f} s, all runs {total:.1f} s, "
                          f"all / {nodes} = {total / nodes:.1f} s)")
            finally:
                svc.close()
        for hosts in ("new hosts", "warm hosts"):
            print(f"2 nodes vs 1, {hosts}: {walls[1, hosts] / walls[2, hosts]:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
