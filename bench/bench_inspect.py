"""How much do the Look inside diagnostics cost, and how much do they slow a run that trains?

    python -m bench.bench_inspect [--seconds 12] [--rounds 3] [--period 2] [--depth 2 --width 128]

1. Times one refresh of each tab of the page as it runs during training: the CPU snapshot of the
   weights, the computation in core.analysis.diagnostics, and the plotly figures serialized to JSON (what
   st.plotly_chart sends), then all three together.
2. Trains one real run and measures its samples/s in alternating windows: without diagnostics;
   with a page refresh every `period` seconds in another thread (as the Streamlit script thread
   does; the page refreshes only the open tab, here the three tabs in turn); and with all three
   tabs refreshed every `period` seconds (worst case). The windows are repeated `rounds` times in
   the same run so that drift (warm-up, epoch ends, validations, other load on the machine) hits
   every side. Prints the slowdowns; the target is <= 10 %.
"""
from __future__ import annotations

import argparse
import io
import statistics
import threading
import time

import plotly.io as pio
import torch
from PIL import Image

from core.analysis import diagnostics as diag
from core.charts import inspect as charts
from core.nn import model as model_lib
from core.nn.config import HyperParams
from core.nn.trainer import Trainer

BATCH = 512


def refresh_failures(tr: Trainer) -> None:
    model = tr.model_snapshot()
    val = tr.split.val_idx
    preds = diag.predict(model, tr.dataset.train_x[val].cpu(), tr.dataset.train_y[val].cpu())
    cm = diag.confusion_matrix(preds.y_true, preds.y_pred)
    names = tr.dataset.class_names
    idx = diag.mistakes(preds)[:24]
    tiles = charts.digit_tiles(tr.dataset.train_x[val][torch.as_tensor(idx)].cpu().numpy(), 4)
    for tile in tiles:                           # what st.image does with each gallery digit
        Image.fromarray(tile).save(io.BytesIO(), format="PNG")
    pio.to_json(charts.confusion_figure(cm, names), validate=False)
    pio.to_json(charts.class_metrics_figure(diag.class_metrics(cm), names), validate=False)


_initial: dict[str, diag.SignalStats] = {}


def refresh_signal(tr: Trainer, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """As the page does: the run now, read against its initialization (computed once per run)."""
    if tr.id not in _initial:
        init = model_lib.from_state_dict(tr.model.arch, tr.initial_state_dict())
        _initial[tr.id] = diag.signal_stats(init, *batch)
    stats = diag.signal_stats(tr.model_snapshot(), *batch)
    diag.read_signal(stats, tr.hp, initial=_initial[tr.id])
    pio.to_json(charts.signal_figure(stats, _initial[tr.id]), validate=False)


def refresh_weights(tr: Trainer) -> None:
    model = tr.model_snapshot()
    pio.to_json(charts.weight_grid_figure(diag.first_layer_images(model, 32)), validate=False)
    pio.to_json(charts.weight_histogram_figure(diag.weight_histograms(model, tr.initial_state_dict())),
                validate=False)


def refresh_all(tr: Trainer, batch) -> None:
    refresh_failures(tr)
    refresh_signal(tr, batch)
    refresh_weights(tr)


def timed(fn, *args, repeat: int = 5) -> float:
    fn(*args)                                    # warm-up (first calls allocate)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def samples_per_second(tr: Trainer, seconds: float) -> float:
    s0, t0 = tr.snapshot().step, time.perf_counter()
    time.sleep(seconds)
    s1, t1 = tr.snapshot().step, time.perf_counter()
    return (s1 - s0) * tr.hp.batch_size / (t1 - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each measuring window")
    ap.add_argument("--rounds", type=int, default=8,
                    help="rounds of three windows (without, page, all tabs; order rotates)")
    ap.add_argument("--period", type=float, default=2.0, help="seconds between two refreshes")
    ap.add_argument("--depth", type=int, help="hidden layers (default: the app's default)")
    ap.add_argument("--width", help="units per hidden layer (default: the app's default)")
    args = ap.parse_args()

    arch = {k: v for k, v in (("depth", args.depth), ("width", args.width)) if v is not None}
    hp = HyperParams.validate(epochs=200, **arch)
    tr = Trainer(hp, device="cpu")
    val = tr.split.val_idx[:BATCH]
    batch = (tr.dataset.train_x[val].cpu(), tr.dataset.train_y[val].cpu())
    print(f"network {hp.describe()}; torch threads {torch.get_num_threads()}")

    tabs = (("where it fails (6,000 validation images)", refresh_failures, (tr,)),
            ("signal propagation (512 images)", refresh_signal, (tr, batch)),
            ("weights (first layer + histograms)", refresh_weights, (tr,)))
    print("\none refresh (median of 5, trainer not running):")
    cost = {}
    for name, fn, fargs in (*tabs, ("all three tabs", refresh_all, (tr, batch))):
        cost[name] = timed(fn, *fargs)
        print(f"  {name:42s} {1e3 * cost[name]:7.1f} ms")
    page_cost = statistics.mean(cost[name] for name, _, _ in tabs)
    print(f"  -> share of the wall time at one refresh every {args.period:g} s (an upper bound "
          f"of the CPU taken from the trainer): page {100 * page_cost / args.period:.1f} %, "
          f"all three tabs {100 * cost['all three tabs'] / args.period:.1f} %")

    tr.start()
    time.sleep(3.0)                              # warm-up of the training loop
    stop = threading.Event()
    took: dict[str, list[float]] = {"page": [], "all": []}

    def refresher(kind: str) -> None:
        i = 0
        while not stop.is_set():
            t = time.perf_counter()
            if kind == "all":
                refresh_all(tr, batch)
            else:                                # the open tab; here each tab in turn
                _, fn, fargs = tabs[i % len(tabs)]
                fn(*fargs)
            i += 1
            took[kind].append(time.perf_counter() - t)
            stop.wait(max(0.0, args.period - (time.perf_counter() - t)))

    def window(kind: str | None) -> float:
        if kind is None:
            return samples_per_second(tr, args.seconds)
        stop.clear()
        th = threading.Thread(target=refresher, args=(kind,), daemon=True)
        th.start()
        try:
            return samples_per_second(tr, args.seconds)
        finally:
            stop.set()
            th.join()

    # Windows in rotating order (none, page, all / page, all, none / ...), so that slow phases
    # of a noisy machine hit each kind alike; each round gives one ratio per kind.
    kinds: list[str | None] = [None, "page", "all"]
    speed: dict[str | None, list[float]] = {k: [] for k in kinds}
    print(f"\ntrainer samples/s in {args.seconds:g} s windows (refresh every {args.period:g} s):")
    for r in range(args.rounds):
        for kind in kinds[r % 3:] + kinds[:r % 3]:
            speed[kind].append(window(kind))
        print(f"  round {r + 1}: {speed[None][-1]:8,.0f} without, {speed['page'][-1]:8,.0f} with "
              f"the page's refresh, {speed['all'][-1]:8,.0f} with all three tabs")
    tr.stop()
    tr.wait(10)
    base = statistics.mean(speed[None])
    print(f"\ntrainer samples/s without diagnostics: {base:,.0f} (mean of {args.rounds} windows)")
    for kind, what in (("page", "the page's refresh (the open tab)"), ("all", "all three tabs")):
        ratios = [w / n for w, n in zip(speed[kind], speed[None])]
        print(f"with {what} every {args.period:g} s: {statistics.mean(speed[kind]):,.0f} "
              f"samples/s; refresh median {1e3 * statistics.median(took[kind]):.0f} ms while "
              f"training; slowdown {100 * (1 - statistics.median(ratios)):.1f} % (median of the "
              f"per-round ratios; mean {100 * (1 - statistics.mean(ratios)):.1f} %)")
    print("target: slowdown <= 10 %")


if __name__ == "__main__":
    main()
