"""Figures for the Train page: loss and accuracy against epochs, live.

Pure functions from curves to plotly figures (testable without a browser). The training curve
has one point per step; it is smoothed (exponential moving average, like TensorBoard) and thinned
to at most MAX_POINTS so that a refresh every second stays cheap for long runs. Figures are plain
dicts (see curves_figure).
"""
from __future__ import annotations

import numpy as np
from ..history import Curves

MAX_POINTS = 600   # a ~900 px wide panel shows no more
TRAIN, VAL = "#1f77b4", "#ff7f0e"
COMPARE = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")


def smooth(values: list[float] | np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average, debiased at the start (as TensorBoard does)."""
    v = np.asarray(values, dtype=float)
    if weight <= 0 or len(v) == 0:
        return v
    out = np.empty_like(v)
    acc, norm = 0.0, 0.0
    for i, x in enumerate(v):  # a plain loop: ~1 µs per point, only over what is plotted
        acc = weight * acc + (1 - weight) * x
        norm = weight * norm + (1 - weight)
        out[i] = acc / norm
    return out


def thin(x: np.ndarray, *ys: np.ndarray, max_points: int = MAX_POINTS):
    """Keep every k-th point (and the last) so that at most max_points remain."""
    if len(x) <= max_points:
        return (x, *ys)
    idx = np.unique(np.r_[np.arange(0, len(x), int(np.ceil(len(x) / max_points))), len(x) - 1])
    return (x[idx], *(y[idx] for y in ys))


def _line(x, y, name, color, axis, *, group, legend=True, markers=None, dash=None) -> dict:
    trace = {"type": "scatter", "x": list(map(float, x)), "y": list(map(float, y)), "name": name,
             "mode": "lines+markers" if markers is not None else "lines",
             "line": {"color": color, **({"dash": dash} if dash else {})},
             "legendgroup": group, "showlegend": legend, "xaxis": f"x{axis}", "yaxis": f"y{axis}"}
    if markers is not None:
        trace["marker"] = {"size": [int(m) for m in markers]}
    return trace


def curves_figure(curves: Curves, steps_per_epoch: int, smoothing: float = 0.6,
                  compare: list[tuple[str, Curves, int]] = (), title: str | None = None,
                  epochs: float | None = None) -> dict:
    """Two panels, loss and accuracy, against epochs. Training (per step, smoothed), validation
    (a fixed sample within an epoch; the whole validation set at each epoch end, larger markers)
    and events (e.g. learning-rate changes) as vertical dotted lines. `compare` overlays the
    full-validation curves of other runs: (label, curves, steps_per_epoch). With `epochs` (the
    run's length), the epoch axes span the whole run from the start, so a live curve grows into a
    fixed frame instead of the axis rescaling every second.

    Returned as a plain plotly figure dict (st.plotly_chart takes it as is): building it costs
    about 1 ms, where plotly's validating Figure objects cost ~25 ms of Python per refresh, time
    during which the training thread, which needs the GIL to launch each op, would wait."""
    # Both series are always there (empty before the first step): plotly rejects a figure
    # without traces, and a fixed set of traces keeps the legend steady while it grows.
    ep = np.asarray(curves.step, dtype=float) / steps_per_epoch
    x, loss, acc = thin(ep, smooth(curves.loss, smoothing), smooth(curves.acc, smoothing))
    vx = np.asarray(curves.val_step, dtype=float) / steps_per_epoch
    sizes = np.where(np.asarray(curves.val_full, dtype=bool), 9, 5)
    data = [_line(x, loss, "training", TRAIN, 1, group="train"),
            _line(x, acc, "training", TRAIN, 2, group="train", legend=False),
            _line(vx, curves.val_loss, "validation", VAL, 1, group="val", markers=sizes),
            _line(vx, curves.val_acc, "validation", VAL, 2, group="val", legend=False, markers=sizes)]
    for (label, other, spe), color in zip(compare, COMPARE):
        full = np.asarray(other.val_full, dtype=bool)
        ox = np.asarray(other.val_step, dtype=float)[full] / spe
        name = f"{label} (validation)"
        data += [_line(ox, np.asarray(other.val_loss)[full], name, color, 1, group=label, dash="dash",
                       markers=[6] * len(ox)),
                 _line(ox, np.asarray(other.val_acc)[full], name, color, 2, group=label, dash="dash",
                       markers=[6] * len(ox), legend=False)]
    shapes, notes = [], []
    for ev in curves.events:
        xe = ev["step"] / steps_per_epoch
        shapes += [{"type": "line", "xref": f"x{a}", "yref": f"y{a} domain", "x0": xe, "x1": xe,
                    "y0": 0, "y1": 1, "line": {"color": "#888", "dash": "dot", "width": 1}}
                   for a in ("", "2")]
        notes.append({"x": xe, "xref": "x2", "y": 1.0, "yref": "paper", "text": ev["text"],
                      "showarrow": False, "font": {"size": 11, "color": "#555"}, "textangle": -90,
                      "xanchor": "right", "yanchor": "top"})
    titles = [{"text": t, "x": x, "xref": "paper", "y": 1.0, "yref": "paper", "showarrow": False,
               "xanchor": "center", "yanchor": "bottom", "font": {"size": 16}}
              for t, x in (("Loss", 0.23), ("Accuracy", 0.77))]
    epoch_axis = {"title": {"text": "epoch"}, "rangemode": "tozero"}
    if epochs:
        ends = [epochs, *(x[-1:]), *(vx[-1:])]
        ends += [o.val_step[-1] / spe for _, o, spe in compare if o.val_step]
        epoch_axis["range"] = [0, max(ends) * 1.02]
    return {"data": data, "layout": {
        "xaxis": {**epoch_axis, "domain": [0, 0.46], "anchor": "y"},
        "xaxis2": {**epoch_axis, "domain": [0.54, 1], "anchor": "y2"},
        "yaxis": {"rangemode": "tozero", "anchor": "x"},
        "yaxis2": {"range": [0, 1.0], "tickformat": ".0%", "anchor": "x2"},
        "shapes": shapes, "annotations": titles + notes, "height": 380,
        "margin": {"l": 40, "r": 20, "t": 40, "b": 40}, "legend": {"orientation": "h", "y": -0.2},
        "uirevision": "keep", **({"title": {"text": title}} if title else {})}}


def curves_table(curves: Curves, steps_per_epoch: int) -> str:
    """All points as CSV (for the export button): one row per step or validation point."""
    rows = ["kind,step,epoch,loss,accuracy"]
    rows += [f"train,{s},{s / steps_per_epoch:.5f},{l:.6g},{a:.6g}"
             for s, l, a in zip(curves.step, curves.loss, curves.acc)]
    rows += [f"{'val_full' if f else 'val_sample'},{s},{s / steps_per_epoch:.5f},{l:.6g},{a:.6g}"
             for s, l, a, f in zip(curves.val_step, curves.val_loss, curves.val_acc, curves.val_full)]
    rows += [f"event:{e['kind']},{e['step']},{e['step'] / steps_per_epoch:.5f},,\"{e['text']}\""
             for e in curves.events]
    return "\n".join(rows) + "\n"
