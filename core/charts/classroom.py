"""The class as one experiment: every student's run as a point of one big sweep.

`experiment_figure`: the lesson's parameter (e.g. σ, on a log axis) against accuracy, one point
per finished run, diverged runs marked at the bottom with a red ×, the class's mean per value as a
line; each point carries its run id (customdata) so a click can open that run.
`parcoords_figure`: every setting that differs across the class and the accuracy as parallel
axes, one line per finished run, coloured by accuracy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from core.nn.config import PARAM, format_value
from core.states import DIVERGED, FINISHED

DIVERGED_Y = 0.0        # where diverged runs sit (no accuracy): the bottom of the chart
METRICS = {"test_accuracy": "test accuracy", "best_val_accuracy": "best validation accuracy"}


@dataclass(frozen=True)
class Point:
    run_id: str
    student: str
    number: int
    settings: dict
    state: str
    reason: str
    accuracy: float | None


def points(records, names: dict[str, str], metric: str = "test_accuracy") -> list[Point]:
    """Finished and diverged runs of the class (ledger records) as chart points."""
    out = []
    for r in records:
        if r.state not in (FINISHED, DIVERGED):
            continue
        acc = getattr(r, metric)
        if acc is not None and not math.isfinite(acc):
            acc = None
        if r.state == FINISHED and acc is None:
            continue
        out.append(Point(r.id, names.get(r.owner, "?"), r.number, r.config, r.state, r.reason,
                         acc if r.state == FINISHED else None))
    return out


def _x(param: str, value: Any):
    p = PARAM[param]
    return float(value) if p.kind in (int, float) and not p.choices else format_value(p, value)


def _numeric(param: str) -> bool:
    p = PARAM[param]
    return p.kind in (int, float) and not p.choices


def _spread(i: int) -> float:
    """A small deterministic offset in [-0.03, 0.03] for the i-th point, so students with the
    same settings do not hide each other."""
    return ((i * 7919) % 11 - 5) / 5 * 0.03


def experiment_figure(pts: list[Point], param: str, metric: str = "test_accuracy",
                      font: dict | None = None, height: int = 460) -> go.Figure:
    p = PARAM[param]
    numeric, log = _numeric(param), PARAM[param].log
    ok = [q for q in pts if q.state == FINISHED]
    bad = [q for q in pts if q.state == DIVERGED]
    data = []

    def xs(group):
        raw = [_x(param, q.settings.get(param, p.default)) for q in group]
        if not numeric or len(group) < 2:
            return raw
        if log:
            return [x * 10 ** _spread(i) if x > 0 else x for i, x in enumerate(raw)]
        span = (max(raw) - min(raw)) or 1.0
        return [x + _spread(i) * span for i, x in enumerate(raw)]

    hover = ("%{customdata[1]} · run #%{customdata[2]}<br>" + p.label + " %{customdata[3]}<br>"
             "%{customdata[4]}<extra></extra>")

    def custom(group, what):
        return [[q.run_id, q.student, q.number, format_value(p, q.settings.get(param, p.default)), what(q)]
                for q in group]

    if numeric and ok:   # the class's mean per value
        by: dict[float, list[float]] = {}
        for q in ok:
            by.setdefault(float(q.settings.get(param, p.default)), []).append(q.accuracy)
        keys = sorted(by)
        data.append(go.Scatter(x=keys, y=[float(np.mean(by[k])) for k in keys], mode="lines",
                               name="class mean", line=dict(color="#8c959f", width=2, dash="dot"),
                               hoverinfo="skip"))
    data.append(go.Scatter(
        x=xs(ok), y=[q.accuracy for q in ok], mode="markers", name=METRICS[metric],
        marker=dict(size=14, color="#0969da", line=dict(color="white", width=1)),
        customdata=custom(ok, lambda q: f"{METRICS[metric]} {q.accuracy:.2%}"), hovertemplate=hover))
    if bad:
        data.append(go.Scatter(
            x=xs(bad), y=[DIVERGED_Y] * len(bad), mode="markers", name="diverged",
            marker=dict(size=16, color="#cf222e", symbol="x"),
            customdata=custom(bad, lambda q: "diverged: " + (q.reason[:80] or "loss not finite")),
            hovertemplate=hover))
    xaxis = dict(title=dict(text=p.label + (" (log scale)" if log else "")),
                 type="log" if log and numeric else ("linear" if numeric else "category"))
    return go.Figure(data, layout=dict(
        height=height, margin=dict(l=10, r=10, t=40, b=10), font=font or {},
        title=dict(text=f"The class as one experiment: {p.label} vs {METRICS[metric]}"),
        xaxis=xaxis, yaxis=dict(title=dict(text=METRICS[metric]), tickformat=".0%",
                                range=[-0.04, 1.02]),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
        clickmode="event+select", dragmode=False))


def parcoords_figure(pts: list[Point], params: list[str], metric: str = "test_accuracy",
                     font: dict | None = None, height: int = 420) -> go.Figure | None:
    """Parallel coordinates of the finished runs: one axis per setting in `params` (log axes for
    log-scale settings, categories for choices) and the accuracy last. None with no runs."""
    ok = [q for q in pts if q.state == FINISHED]
    if not ok:
        return None
    dims = []
    for name in params:
        p = PARAM[name]
        values = [q.settings.get(name, p.default) for q in ok]
        if _numeric(name) and p.log:
            logs = [math.log10(max(float(v), 1e-12)) for v in values]
            ticks = sorted(set(values))
            dims.append(dict(label=p.label, values=logs, tickvals=[math.log10(t) for t in ticks],
                             ticktext=[format_value(p, t) for t in ticks]))
        elif _numeric(name):
            dims.append(dict(label=p.label, values=[float(v) for v in values]))
        else:
            cats = sorted({format_value(p, v) for v in values})
            dims.append(dict(label=p.label, values=[cats.index(format_value(p, v)) for v in values],
                             tickvals=list(range(len(cats))), ticktext=cats))
    acc = [q.accuracy for q in ok]
    dims.append(dict(label=METRICS[metric], values=acc, range=[min(acc + [0.9]), 1.0], tickformat=".0%"))
    return go.Figure(go.Parcoords(dimensions=dims, line=dict(color=acc, colorscale="Viridis", showscale=True,
                                                             colorbar=dict(tickformat=".0%"))),
                     layout=dict(height=height, margin=dict(l=60, r=60, t=60, b=20), font=font or {}))
