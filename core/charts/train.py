"""Figures for the Train page: loss and accuracy against epochs, live.

Pure functions from curves to plotly figures (testable without a browser). The training curve
has one point per step; it is smoothed (exponential moving average, like TensorBoard) and thinned
to at most MAX_POINTS so that a refresh every second stays cheap for long runs.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..history import Curves

MAX_POINTS = 1500
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


def curves_figure(curves: Curves, steps_per_epoch: int, smoothing: float = 0.6,
                  compare: list[tuple[str, Curves, int]] = (), title: str | None = None) -> go.Figure:
    """Two panels, loss and accuracy, against epochs. Training (per step, smoothed), validation
    (a fixed sample within an epoch; the whole validation set at each epoch end, larger markers)
    and events (e.g. learning-rate changes) as vertical dotted lines. `compare` overlays the
    full-validation curves of other runs: (label, curves, steps_per_epoch)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"), horizontal_spacing=0.08)
    ep = np.asarray(curves.step, dtype=float) / steps_per_epoch
    if len(ep):
        loss = smooth(curves.loss, smoothing)
        acc = smooth(curves.acc, smoothing)
        x, loss, acc = thin(ep, loss, acc)
        fig.add_scatter(x=x, y=loss, name="training", line=dict(color=TRAIN), legendgroup="train",
                        row=1, col=1)
        fig.add_scatter(x=x, y=acc, name="training", line=dict(color=TRAIN), legendgroup="train",
                        showlegend=False, row=1, col=2)
    vx = np.asarray(curves.val_step, dtype=float) / steps_per_epoch
    if len(vx):
        full = np.asarray(curves.val_full, dtype=bool)
        sizes = np.where(full, 9, 5)
        for col, ys in ((1, curves.val_loss), (2, curves.val_acc)):
            fig.add_scatter(x=vx, y=ys, name="validation", mode="lines+markers",
                            line=dict(color=VAL), marker=dict(size=sizes), legendgroup="val",
                            showlegend=col == 1, row=1, col=col)
    for (label, other, spe), color in zip(compare, COMPARE):
        full = np.asarray(other.val_full, dtype=bool)
        ox = np.asarray(other.val_step, dtype=float)[full] / spe
        for col, ys in ((1, other.val_loss), (2, other.val_acc)):
            fig.add_scatter(x=ox, y=np.asarray(ys)[full], name=f"{label} (validation)",
                            mode="lines+markers", line=dict(color=color, dash="dash"),
                            legendgroup=label, showlegend=col == 1, row=1, col=col)
    for ev in curves.events:
        xe = ev["step"] / steps_per_epoch
        for col in (1, 2):
            fig.add_vline(x=xe, line=dict(color="#888", dash="dot", width=1), row=1, col=col)
        fig.add_annotation(x=xe, y=1.0, yref="paper", xref="x2", text=ev["text"], showarrow=False,
                           font=dict(size=11, color="#555"), textangle=-90, xanchor="right",
                           yanchor="top")
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.0], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=380, margin=dict(l=40, r=20, t=40, b=40), title=title,
                      legend=dict(orientation="h", y=-0.2), uirevision="keep")
    return fig


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
