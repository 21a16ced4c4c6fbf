"""A class on one server: N simulated students against a real `streamlit run app.py` (issue 9).

    nice python bench/bench_load.py                 # N = 10, 30, 60 in turn, a fresh server each
    nice python bench/bench_load.py --n 30 --seed 1 [--images 30000] [-v]

Each student is a real browser session over the app's websocket (scripts/ws_student.py: the
same messages Chromium sends, its own owner cookie; 60 Chromiums would not fit beside the
server on a 2-core machine). Students arrive over --arrive seconds, as a class opening the
teacher's link, and each:
  (after the teacher has opened the app once: --cold leaves that out)
  opens the Train page from the link (a small network, STUDENT), moves the learning-rate
  slider, reads for a moment, presses Start, watches (the page's live panel refreshes itself,
  as in the browser) until the run has finished, opens Draw and draws a digit three times.
Printed per N:
  - click -> answered (the page complete again, the click's reruns included): p50 / p95 / max,
    over every click, slider move and drawing; opening a page separately;
  - Start -> the first curve point, for the first and the last student to press Start;
  - queue wait per student (Start -> the status line says running; seen at the page's refresh);
  - total training throughput (all runs' samples / the time during which some run was queued or
    training) vs a headless run of the same network on the same cores (mean of one before, one after);
  - the server's memory (RSS, sampled every 0.5 s: peak) vs the server budget (Limits);
  - the Draw page's answer (drawing sent -> probabilities on the page) during the load;
  - runs lost or stuck (the ledger must hold one finished run per student), errors, tracebacks.
Targets (issue 9): clicks p95 <= 1 s at N = 30; throughput >= 90 % of headless; no run lost
or stuck; memory under the budget. All traffic goes to 127.0.0.1; every wait has a deadline.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.states import ENDED_STATES, FINISHED, QUEUED, RUNNING  # noqa: E402
from scripts.app_server import app_server  # noqa: E402
from scripts.ws_student import Student, digit_drawing, in_thread  # noqa: E402

# The teacher's link: one hidden layer of 64, batch 64, 2 epochs of --images images (default
# 30,000: ~6-8 s per run on one core, validation and test included). Short enough that 60 runs
# through one training slot fit in minutes; long enough that a run's fixed costs (its start,
# step 0, the test, the page's fast refresh in its first 4 s) are a small share, as they are for
# a real lesson's runs of a minute or more.
STUDENT = dict(depth=1, width=64, batch_size=64, epochs=2, subset=30000)


def student_config(images: int | None = None) -> dict:
    return {**STUDENT, **({"subset": images} if images else {})}


def query_of(config: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in config.items())
LEARNING_RATES = ("0.0005", "0.002", "0.003", "0.005")   # what the students move the slider to


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))] if xs else float("nan")


@dataclass
class StudentResult:
    name: str
    token: str
    clicks: list[tuple[str, float]] = field(default_factory=list)
    opens: list[float] = field(default_factory=list)
    start_at: float | None = None          # monotonic time Start was pressed
    first_point: float | None = None       # seconds from Start to a point in the chart's data
    queue_wait: float | None = None        # seconds from Start to "running" on the page
    queued_position: int | None = None     # the position the page showed, if it was queued
    draws: list[float] = field(default_factory=list)
    final_state: str | None = None
    errors: list[str] = field(default_factory=list)
    auto_reruns: int = 0
    fragment_runs: list[float] = field(default_factory=list)


VERBOSE = False


def say(*args) -> None:
    if VERBOSE:
        print(f"{time.strftime('%H:%M:%S')}", *args, file=sys.stderr, flush=True)


async def one_student(url: str, i: int, rng: random.Random, deadline: float, draws: int = 3,
                      config: dict = STUDENT) -> StudentResult:
    """One student's lesson, bounded by `deadline` (monotonic)."""
    s = Student(url, name=f"student{i:02d}")
    r = StudentResult(s.name, s.token)
    left = lambda: max(1.0, deadline - time.monotonic())   # noqa: E731

    def phase(name: str) -> None:
        r.phase = name
        say(s.name, name, s.state() or "", s.status()[:80])
    try:
        phase("open")
        r.opens.append(await s.open("train", query_of(config), timeout=min(120, left())))
        if s.widget("lr") is not None:
            await s.choose("lr", rng.choice(LEARNING_RATES), timeout=min(60, left()))
        await asyncio.sleep(rng.uniform(0.5, 3.0))            # reads the page
        phase("start")
        r.start_at = time.monotonic()
        await s.click("btn_start", timeout=min(60, left()))
        if s.curve_points() == 0:
            await s.wait_until(lambda: s.curve_points() > 0, min(60, left()))
        r.first_point = time.monotonic() - r.start_at
        if s.state() == QUEUED:
            import re
            m = re.search(r"number (\d+) in the queue", s.text())
            r.queued_position = int(m.group(1)) if m else None
        phase("queued")
        await s.wait_until(lambda: s.state() in (RUNNING, *ENDED_STATES), left())
        r.queue_wait = time.monotonic() - r.start_at
        phase("watch")
        await s.wait_until(lambda: s.state() in ENDED_STATES, left())
        r.final_state = s.state()
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        phase("draw")
        r.opens.append(await s.open("draw", "", timeout=min(60, left())))
        for k in range(draws):
            t0 = time.monotonic()
            await s.send_component("draw_canvas", digit_drawing(seq=k + 1), timeout=min(60, left()))
            await s.wait_until(lambda: s.metric("The network says") is not None, min(30, left()))
            r.draws.append(time.monotonic() - t0)
            await asyncio.sleep(rng.uniform(0.3, 1.0))
        if s.exceptions():
            r.errors += s.exceptions()
        phase("done")
    except (TimeoutError, LookupError, RuntimeError, ValueError, OSError) as e:
        r.errors.append(f"{type(e).__name__} in {r.phase}: {e} (page: {s.status()[:100] or s.text()[:100]!r})")
        say(s.name, "ERROR", r.errors[-1])
    finally:
        r.clicks = [(w, t) for w, t in s.stats.clicks if not w.startswith("open")]
        r.errors += s.stats.errors
        r.auto_reruns = s.stats.auto_reruns
        r.fragment_runs = s.stats.fragment_runs
        await s.close()
    return r


async def run_class(url: str, n: int, *, arrive: float = 10.0, seed: int = 0, limit: float = 1800,
                    draws: int = 3, config: dict = STUDENT) -> list[StudentResult]:
    """N students arriving over `arrive` seconds; all stop by `limit` seconds from now."""
    rng = random.Random(seed)
    deadline = time.monotonic() + limit
    delays = sorted(rng.uniform(0, arrive) for _ in range(n))

    async def later(i, d):
        await asyncio.sleep(d)
        return await one_student(url, i, random.Random(seed * 1000 + i), deadline, draws, config)
    return list(await asyncio.gather(*(later(i, d) for i, d in enumerate(delays))))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class MemoryWatch:
    """The server's RSS every 0.5 s in a thread: peak and last."""

    def __init__(self, server):
        self.server, self.peak, self.last = server, 0, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(2)

    def _watch(self):
        while not self._stop.wait(0.5):
            self.last = self.server.rss()
            self.peak = max(self.peak, self.last)


def headless_throughput(env: dict, config: dict = STUDENT) -> float:
    """Samples per wall-clock second of one headless CLI run of the students' network on the
    server's training cores, timed as the server's runs are: from the run's start to its end
    in the ledger (step 0, the validations and the test included; Python's start-up not)."""
    from core.ledger import Ledger
    flags = [a for k, v in config.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    home = tempfile.mkdtemp(prefix="bench-load-headless-")
    subprocess.run([sys.executable, "-m", "core.train", *flags, "--home", home, "--json"],
                   cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
                   env={**os.environ, **env})
    (run,) = Ledger(home).list_runs()
    return run.step * config["batch_size"] / (run.ended - run.started)


def ledger_summary(home: Path, tokens: list[str]) -> dict:
    """From the server's ledger: runs per student, their states, the training throughput."""
    from core.ledger import Ledger
    ledger = Ledger(home)
    runs = [r for r in ledger.list_runs() if r.owner in set(tokens)]
    samples = sum(r.step * r.config["batch_size"] for r in runs)
    # Time with demand: while at least one run was queued or training (Start pressed, not yet
    # ended). A slot left idle then is lost throughput; idle time between students is not.
    spans = sorted((r.started, r.ended) for r in runs if r.started and r.ended)
    demand, end = 0.0, None
    for a, b in spans:
        if end is None or a > end:
            demand, end = demand + (b - a), b
        elif b > end:
            demand, end = demand + (b - end), b
    return {"runs": runs, "by_owner": {t: [r for r in runs if r.owner == t] for t in tokens},
            "samples": samples, "span": demand, "throughput": samples / demand if demand else 0.0,
            "training_seconds": sum(r.seconds for r in runs),
            "training_speed": samples / max(sum(r.seconds for r in runs), 1e-9)}


def server_limits(env: dict):
    from core.settings import Limits
    old = dict(os.environ)
    os.environ.update(env)
    try:
        return Limits.from_env()
    finally:
        os.environ.clear()
        os.environ.update(old)


async def teacher_opens(url: str) -> float:
    """The teacher opens the app before the class arrives (the server's first page run loads
    torch, the data and the models)."""
    s = Student(url, name="teacher")
    try:
        return await s.open("train", timeout=180)
    finally:
        await s.close()


def measure(n: int, *, seed: int = 0, arrive: float = 10.0, env: dict | None = None,
            limit: float = 1800, draws: int = 3, cold: bool = False, config: dict = STUDENT,
            log=subprocess.DEVNULL) -> dict:
    """Start a fresh server, run a class of N on it, and gather every figure (see the module
    docstring). Used by main() and by tests/browser/test_load_small.py."""
    env = dict(env or {})
    limits = server_limits(env)
    home = Path(tempfile.mkdtemp(prefix=f"bench-load-{n}-"))
    cores = {"MNIST_PLAYGROUND_TRAINING_CORES": str(limits.training_cores),
             "MNIST_PLAYGROUND_THREADS_PER_RUN": str(limits.threads_per_run)}
    headless = [headless_throughput(cores, config)]
    with app_server(home=home, env=env, log=log) as server, MemoryWatch(server) as mem:
        first_open = None if cold else in_thread(teacher_opens(server.url))
        idle_rss = server.rss()
        cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
        results = in_thread(run_class(server.url, n, arrive=arrive, seed=seed, limit=limit, draws=draws,
                                        config=config))
        wall = time.monotonic() - t0
        server_cpu = (cpu_seconds(server.pid) - cpu0) / wall
        time.sleep(1.5)   # the supervisor records the last run's end
        led = ledger_summary(home, [r.token for r in results])
    headless.append(headless_throughput(cores, config))   # before and after: the machine drifts
    return {"n": n, "config": config, "limits": limits, "results": results, "wall": wall,
            "headless": statistics.mean(headless), "headless_runs": headless,
            "first_open": first_open, "server_cpu": server_cpu,
            "ledger": led, "rss_peak": mem.peak, "rss_idle": idle_rss, "rss_last": mem.last}


def problems(m: dict) -> list[str]:
    """Runs lost or stuck, errors and tracebacks: everything that must be empty."""
    out = []
    for r in m["results"]:
        runs = m["ledger"]["by_owner"][r.token]
        if len(runs) != 1:
            out.append(f"{r.name}: {len(runs)} runs in the ledger (expected 1)")
        elif runs[0].state != FINISHED:
            out.append(f"{r.name}: run #{runs[0].number} is {runs[0].state} ({runs[0].reason})")
        if r.final_state != FINISHED:
            out.append(f"{r.name}: the page showed {r.final_state!r} at the end")
        out += [f"{r.name}: {e}" for e in r.errors]
    return out


def report(m: dict) -> None:
    res, led, lim = m["results"], m["ledger"], m["limits"]
    clicks = [t for r in res for _, t in r.clicks if _ != "auto" and not _.startswith("draw")]
    draws = [t for r in res for t in r.draws]
    opens = [t for r in res for t in r.opens]
    started = sorted((r for r in res if r.start_at is not None and r.first_point is not None),
                     key=lambda r: r.start_at)
    waits = [r.queue_wait for r in sorted(res, key=lambda r: r.start_at or 0) if r.queue_wait is not None]
    gb = 1 << 30
    print(f"\nN = {m['n']} students ({lim.slots} training slot(s) of {lim.threads_per_run} thread(s); "
          f"whole lesson {m['wall']:.0f} s; load average now {os.getloadavg()[0]:.1f})")
    if m.get("first_open") is not None:
        print(f"  the teacher's first page after the server started: {m['first_open']:.1f} s")
    print(f"  click -> answered      p50 {pct(clicks, .5):.2f} s  p95 {pct(clicks, .95):.2f} s  "
          f"max {max(clicks, default=float('nan')):.2f} s   ({len(clicks)} clicks and slider moves)")
    print(f"  open a page            p50 {pct(opens, .5):.2f} s  p95 {pct(opens, .95):.2f} s  "
          f"max {max(opens, default=float('nan')):.2f} s")
    if started:
        print(f"  Start -> first point   first student {started[0].first_point:.2f} s, last student "
              f"{started[-1].first_point:.2f} s  (p95 over all {pct([r.first_point for r in started], .95):.2f} s)")
    if waits:
        print(f"  queue wait             min {min(waits):.1f} s  median {statistics.median(waits):.1f} s  "
              f"max {max(waits):.1f} s  (per student in order of Start: "
              f"{' '.join(f'{w:.0f}' for w in waits)})")
    positions = [r.queued_position for r in res if r.queued_position]
    if positions:
        print(f"  queue positions shown  {len(positions)} students saw one; largest {max(positions)}")
    ratio = led["throughput"] / m["headless"] if m["headless"] else float("nan")
    print(f"  training throughput    {led['throughput']:,.0f} samples/s over {led['span']:.0f} s "
          f"with runs waiting or training vs headless {m['headless']:,.0f}: {ratio:.1%} (target >= 90 %;"
          f" headless before {m['headless_runs'][0]:,.0f}, after {m['headless_runs'][-1]:,.0f})")
    print(f"  ... of which           the slot trained {led['training_seconds'] / led['span']:.0%} of that time "
          f"(the rest: between runs); while training {led['training_speed']:,.0f} samples/s")
    print(f"  server memory (RSS)    idle {m['rss_idle'] / gb:.2f} GB, peak {m['rss_peak'] / gb:.2f} GB, "
          f"end {m['rss_last'] / gb:.2f} GB; budget {lim.server_memory / gb:.1f} GB")
    print(f"  Draw: drawing -> answer p50 {pct(draws, .5) * 1000:.0f} ms  p95 {pct(draws, .95) * 1000:.0f} ms  "
          f"max {max(draws, default=float('nan')) * 1000:.0f} ms  ({len(draws)} drawings)")
    autos = sum(r.auto_reruns for r in res)
    frag = [t for r in res for t in r.fragment_runs]
    print(f"  live-panel refreshes   {autos} asked ({autos / m['wall']:.1f}/s across the class); each ran "
          f"p50 {pct(frag, .5) * 1000:.0f} ms p95 {pct(frag, .95) * 1000:.0f} ms on the server")
    print(f"  server CPU             {m['server_cpu']:.2f} cores on average during the lesson "
          f"(training included)")
    bad = problems(m)
    print(f"  runs lost or stuck, errors: {len(bad)}" + "".join(f"\n    {b}" for b in bad[:20]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="*", default=[10, 30, 60])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=None, help=f"training images per run (default {STUDENT['subset']:,})")
    ap.add_argument("--arrive", type=float, default=10.0, help="students arrive over this many seconds")
    ap.add_argument("--limit", type=float, default=1800, help="stop a class after this many seconds")
    ap.add_argument("--log", default=None, help="write the server's log here")
    ap.add_argument("-v", "--verbose", action="store_true", help="each student's steps on stderr")
    ap.add_argument("--cold", action="store_true",
                    help="the students arrive at a server nobody has opened yet (no teacher first)")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    config = student_config(args.images)
    print(f"{os.cpu_count()} cores; each student: {query_of(config)}; load average {os.getloadavg()[0]:.1f}")
    for n in args.n:
        log = open(args.log, "a") if args.log else subprocess.DEVNULL
        report(measure(n, seed=args.seed, arrive=args.arrive, limit=args.limit, cold=args.cold,
                       config=config, log=log))


if __name__ == "__main__":
    main()
