"""What one refresh of the Train page's chart costs as a run grows: before and after CurveView.

    python -m bench.bench_charts [--sizes 10000 100000 1000000] [--new 500] [--repeat 7]

A refresh happens once a second while a run trains. Before, the page kept every point and rebuilt
the figure from all of them (a Python loop smoothing each step, then thinning); now it keeps a
core.charts.train.CurveView that smooths and buckets only the new points. For each run length
the script times, side by side in one process, a refresh that brings `--new` new steps (one
second at batch size 1 is a few hundred):

  data      folding in the new points and building the figure dict(s) (the loss and accuracy
            panels; "old" built its one two-panel figure)
  + plotly  what st.plotly_chart adds on the server: its JSON encoding, and plotly's
            validation for a dict (old); new hands it charts.unchecked(fig), validated by the
            unit tests instead

Target (issue 9): <= 50 ms per refresh at 1M recorded steps, not growing with the run's length.
Each refresh is timed in wall time and in this thread's CPU time (time.thread_time): on a shared,
busy machine the wall time includes waiting for a core, the CPU time does not. Also prints the
one-shot curves_figure() and the CSV export at each size (done once, not per refresh).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import plotly.io as pio
import plotly.tools

from core.charts import train as charts
from core.nn.history import Curves

SPE = 54_000     # steps per epoch of MNIST at batch size 1: 1M steps are 18.5 epochs


# -- the previous implementation (core/charts/train.py before CurveView), frozen for comparison --

def old_smooth(values, weight):
    v = np.asarray(values, dtype=float)
    if weight <= 0 or len(v) == 0:
        return v
    out = np.empty_like(v)
    acc, norm = 0.0, 0.0
    for i, x in enumerate(v):
        acc = weight * acc + (1 - weight) * x
        norm = weight * norm + (1 - weight)
        out[i] = acc / norm
    return out


def old_thin(x, *ys, max_points=600):
    if len(x) <= max_points:
        return (x, *ys)
    idx = np.unique(np.r_[np.arange(0, len(x), int(np.ceil(len(x) / max_points))), len(x) - 1])
    return (x[idx], *(y[idx] for y in ys))


def old_curves_figure(curves: Curves, spe: int, smoothing: float, epochs: float) -> dict:
    def line(x, y, name, axis, markers=None):
        return {"type": "scatter", "x": list(map(float, x)), "y": list(map(float, y)), "name": name,
                "mode": "lines+markers" if markers is not None else "lines",
                "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                **({"marker": {"size": [int(m) for m in markers]}} if markers is not None else {})}
    ep = np.asarray(curves.step, dtype=float) / spe
    x, loss, acc = old_thin(ep, old_smooth(curves.loss, smoothing), old_smooth(curves.acc, smoothing))
    vx = np.asarray(curves.val_step, dtype=float) / spe
    sizes = np.where(np.asarray(curves.val_full, dtype=bool), 9, 5)
    data = [line(x, loss, "training", 1), line(x, acc, "training", 2),
            line(vx, curves.val_loss, "validation", 1, sizes), line(vx, curves.val_acc, "validation", 2, sizes)]
    shapes = [{"type": "line", "xref": f"x{a}", "yref": f"y{a} domain", "x0": e["step"] / spe,
               "x1": e["step"] / spe, "y0": 0, "y1": 1} for e in curves.events for a in ("", "2")]
    return {"data": data, "layout": {
        "xaxis": {"domain": [0, 0.46], "anchor": "y", "range": [0, epochs * 1.02]},
        "xaxis2": {"domain": [0.54, 1], "anchor": "y2", "range": [0, epochs * 1.02]},
        "yaxis": {"rangemode": "tozero", "anchor": "x"}, "yaxis2": {"range": [0, 1], "anchor": "x2"},
        "shapes": shapes, "height": 380}}


# -- a synthetic run ------------------------------------------------------------------------------

def synthetic(n: int, start: int = 0, seed: int = 0) -> Curves:
    """Steps start+1 .. start+n of a plausible run: loss decaying from ln 10 with mini-batch
    noise, accuracy rising; 5 validation points per epoch; an lr change every 50 epochs."""
    rng = np.random.default_rng(seed + start)
    s = np.arange(start + 1, start + n + 1)
    base = 0.05 + 2.25 * np.exp(-s / (3 * SPE))
    loss = base * (1 + 0.3 * rng.standard_normal(n)).clip(0.1)
    acc = (1 - base / 2.4 + 0.05 * rng.standard_normal(n)).clip(0, 1)
    val = [v for v in s if v % (SPE // 5) == 0]
    vb = 0.05 + 2.25 * np.exp(-np.asarray(val, dtype=float) / (3 * SPE))
    events = [{"step": int(v), "kind": "lr", "text": "lr 0.001 → 0.0005"} for v in s if v % (5 * SPE) == 0]
    return Curves(s.tolist(), loss.tolist(), acc.tolist(), [int(v) for v in val], vb.tolist(),
                  (1 - vb / 2.4).tolist(), [v % SPE == 0 for v in val], events)


def plotly_cost(fig) -> None:
    """What st.plotly_chart does with a figure: validate it if it is a dict, then encode it."""
    pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True), validate=False)


def median_ms(times: list[float]) -> float:
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--new", type=int, default=500, help="new steps per refresh")
    ap.add_argument("--repeat", type=int, default=7, help="refreshes timed per size (median)")
    args = ap.parse_args()

    print(f"one refresh bringing {args.new} new steps (median of {args.repeat}); smoothing 0.6")
    print(f"{'steps':>10} | {'old: data':>10} {'+ plotly':>9} {'(cpu)':>9} | {'new: data':>10} "
          f"{'+ plotly':>9} {'(cpu)':>8} | {'old/new':>7} | {'one-shot new':>12} {'CSV':>8}")
    for n in args.sizes:
        curves = synthetic(n)
        epochs = (n + args.new * args.repeat) / SPE
        # The page's state before the timed refreshes: old kept the whole Curves, new a CurveView.
        kept = Curves()
        kept.extend(curves)
        view = charts.CurveView(SPE, 0.6).update(curves)
        old_data, old_all, new_data, new_all, old_cpu, new_cpu = [], [], [], [], [], []
        for r in range(args.repeat):
            delta = synthetic(args.new, start=n + r * args.new)
            t0, c0 = time.perf_counter(), time.thread_time()
            kept.extend(delta)
            fig = old_curves_figure(kept, SPE, 0.6, epochs)
            t1 = time.perf_counter()
            plotly_cost(fig)
            t2, c2 = time.perf_counter(), time.thread_time()
            old_data.append(t1 - t0)
            old_all.append(t2 - t0)
            old_cpu.append(c2 - c0)

            t0, c0 = time.perf_counter(), time.thread_time()
            view.update(delta)
            figs = [charts.unchecked(view.figure(p, epochs=epochs)) for p in charts.PANELS]
            t1 = time.perf_counter()
            for f in figs:
                plotly_cost(f)
            t2, c2 = time.perf_counter(), time.thread_time()
            new_data.append(t1 - t0)
            new_all.append(t2 - t0)
            new_cpu.append(c2 - c0)
        t0 = time.perf_counter()
        charts.curves_figure(kept, SPE, 0.6, epochs=epochs)
        one_shot = time.perf_counter() - t0
        t0 = time.perf_counter()
        charts.curves_table(kept, SPE)
        csv = time.perf_counter() - t0
        print(f"{n:>10,} | {median_ms(old_data):>8.1f}ms {median_ms(old_all):>7.1f}ms "
              f"{median_ms(old_cpu):>7.1f}ms | {median_ms(new_data):>8.1f}ms {median_ms(new_all):>7.1f}ms "
              f"{median_ms(new_cpu):>6.1f}ms | "
              f"{statistics.median(old_all) / statistics.median(new_all):>6.0f}x | "
              f"{1e3 * one_shot:>10.0f}ms {1e3 * csv:>6.0f}ms")
    print("target: new '+ plotly' <= 50 ms at 1M steps, flat across sizes")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average while measuring: {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
