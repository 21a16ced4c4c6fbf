"""Figures for the Runs and Experiments pages: several runs' curves overlaid, all runs as
parallel coordinates, and a sweep's table as a line chart. Pure functions from data to plotly
figure dicts (tested without a browser; `go.Figure(fig)` validates them in the tests).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from core.charts.axes import FONT, INK, base_layout, log_axis_of
from core.charts.axes import axis as _axis
from core.charts.train import thin
from core.nn.config import PARAM
from core.nn.history import Curves

# Ten colours that stay apart on a projector (Tableau 10), one per run in the order given.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
MAX_POINTS = 300        # training points per run (several runs share a panel)
LOSS_TOP = 100.0        # a validation loss above this is off the chart (the run diverged)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _legend() -> dict:
    return {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom"}


def overlay_figure(runs: Sequence[tuple[str, Curves, int]], *, training: bool = True,
                   height: int = 340) -> dict:
    """Loss (left) and accuracy (right) against epochs, one colour per run: (legend name,
    curves, steps per epoch) each. Validation points are the line with markers (large at each
    epoch end, on the whole validation set); the training loss, thinned, is a faint line of the
    same colour."""
    data: list[dict] = []
    for i, (name, c, spe) in enumerate(runs):
        spe, col = max(1, spe), color(i)
        if training and c.step:
            x, loss, acc = thin(np.asarray(c.step, float), c.loss, c.acc, max_points=MAX_POINTS)
            for axis, y in ((1, loss), (2, acc)):
                data.append({"type": "scatter", "mode": "lines", "x": (x / spe).tolist(), "y": y.tolist(),
                             "name": f"{name} (training)", "legendgroup": name, "showlegend": False,
                             "line": {"color": col, "width": 1}, "opacity": 0.35,
                             "hoverinfo": "skip", **_ref(axis)})
        vx = [s / spe for s in c.val_step]
        sizes = [8 if full else 4 for full in c.val_full]
        for axis, y in ((1, c.val_loss), (2, c.val_acc)):
            data.append({"type": "scatter", "mode": "lines+markers", "x": vx, "y": [_finite(v) for v in y],
                         "name": name, "legendgroup": name, "showlegend": axis == 1,
                         "line": {"color": col, "width": 2}, "marker": {"size": sizes, "color": col},
                         "hovertemplate": f"{name}<br>epoch %{{x:.2f}}<br>%{{y:.4g}}<extra></extra>",
                         **_ref(axis)})
    # The loss axis spans the runs' losses up to LOSS_TOP: a diverged run's 1e9 would squash the
    # others into a line at the bottom (its points beyond the axis are simply cut off).
    losses = [v for _, c, _ in runs for v in c.val_loss if v is not None and 0 < v <= LOSS_TOP]
    layout = {**base_layout(), "height": height, "legend": _legend(), "hovermode": "closest",
              "margin": {"l": 8, "r": 12, "t": 8, "b": 8, "autoexpand": True}, "uirevision": "keep",
              "xaxis": {**_axis("epoch", rangemode="tozero"), "domain": [0, 0.45], "anchor": "y"},
              "xaxis2": {**_axis("epoch", rangemode="tozero"), "domain": [0.55, 1], "anchor": "y2"},
              "yaxis": {**_axis("validation loss (log scale)", anchor="x"), **log_axis_of(losses)},
              "yaxis2": {**_axis("validation accuracy", anchor="x2"), "range": [0, 1.03], "tickformat": ".0%"}}
    return {"data": data, "layout": layout}


def _ref(axis: int) -> dict:
    n = "" if axis == 1 else str(axis)
    return {"xaxis": f"x{n}", "yaxis": f"y{n}"}


def _finite(v):
    return v if v is not None and math.isfinite(v) else None


def parcoords_figure(rows: Sequence[Mapping[str, Any]], params: Sequence[str],
                     color_by: str = "best val acc", height: int = 420) -> dict:
    """All runs as lines across one vertical axis per parameter that varies (and the figures),
    coloured by `color_by` (validation accuracy, in %). Choices are spread over their axis
    with their names as ticks; log-scale parameters (lr, σ) are drawn on log10 with their values
    as ticks. Runs without the figure yet are grey."""
    dims = []
    for name in params:
        values = [r[name] for r in rows]
        p = PARAM.get(name)
        numeric = p is not None and p.kind in (int, float) and "" not in values
        if numeric and p.log and min(float(v) for v in values) > 0:
            nums = [float(v) for v in values]
            ticks = sorted(set(nums))
            dims.append({"label": p.label, "values": [math.log10(v) for v in nums],
                         "tickvals": [math.log10(v) for v in ticks], "ticktext": [f"{v:g}" for v in ticks]})
        elif numeric:
            dims.append({"label": p.label, "values": [float(v) for v in values]})
        else:   # choices, widths, and numbers some runs do not use (blank: shown as '–')
            cats = sorted(set(map(str, values)), key=lambda v: _order(v, p))
            dims.append({"label": p.label if p else name, "values": [cats.index(str(v)) for v in values],
                         "tickvals": list(range(len(cats))), "ticktext": [c or "–" for c in cats],
                         "range": [-0.5, len(cats) - 0.5] if len(cats) == 1 else [0, len(cats) - 1]})
    for fig_name in ("best val acc", "test acc"):
        vals = [r.get(fig_name) for r in rows]
        dims.append({"label": f"{fig_name} (%)", "values": [v if v is not None else 0.0 for v in vals],
                     "range": [0, 100]})
    c = [r.get(color_by) for r in rows]
    line = {"color": [v if v is not None else 0.0 for v in c], "colorscale": "Viridis",
            "cmin": 0, "cmax": 100, "showscale": True,
            "colorbar": {"title": {"text": f"{color_by} (%)"}, "thickness": 14}}
    return {"data": [{"type": "parcoords", "line": line, "dimensions": dims,
                      "labelfont": {"size": FONT, "color": INK}, "tickfont": {"size": FONT - 2}}],
            "layout": {**base_layout(), "height": height, "margin": {"l": 60, "r": 40, "t": 50, "b": 20}}}


def _order(value: str, p) -> tuple:
    """Categories in a sensible order: blanks first, numbers by value, choices as the schema lists them."""
    if value == "":
        return (0, 0.0, "")
    if p is not None and p.choices and value in p.choices:
        return (1, float(p.choices.index(value)), value)
    try:
        return (1, float(value), value)
    except ValueError:
        return (2, 0.0, value)


def varying(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[str]:
    """The columns among `names` whose value is not the same in every row."""
    return [n for n in names if len({str(r[n]) for r in rows}) > 1]


def sweep_chart_figure(chart: Mapping[str, Any], height: int = 360) -> dict:
    """A sweep table as a line chart (core.sweeps.table.line_chart's data): mean ± std per value,
    diverged values marked on the axis, reference levels as dotted horizontal lines."""
    data, shapes, annotations = [], [], []
    pct = "accuracy" in chart["y_title"]
    for i, s in enumerate(chart["series"]):
        col = color(i)
        err = [v if v is not None else 0 for v in s["std"]]
        data.append({"type": "scatter", "mode": "lines+markers", "x": s["x"], "y": s["y"], "name": s["name"],
                     "line": {"color": col, "width": 2}, "marker": {"size": 9, "color": col},
                     "error_y": {"type": "data", "array": err, "visible": any(err)}, "connectgaps": False})
        bad = [x for x, y, d in zip(s["x"], s["y"], s["diverged"]) if d and y is None]
        if bad:
            data.append({"type": "scatter", "mode": "markers", "x": bad, "y": [0.0] * len(bad),
                         "name": f"{s['name']}: diverged", "marker": {"symbol": "x", "size": 12, "color": col},
                         "hovertemplate": "diverged at %{x}<extra></extra>"})
    for i, ref in enumerate(chart["references"]):
        if ref["y"] is None:
            continue
        shapes.append({"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": ref["y"],
                       "y1": ref["y"], "line": {"dash": "dot", "width": 2, "color": color(len(chart["series"]) + i)}})
        annotations.append({"xref": "x domain", "x": 1, "xanchor": "right", "yref": "y", "y": ref["y"],
                            "yanchor": "bottom", "showarrow": False, "text": ref["name"]})
    xs = [x for s in chart["series"] for x in s["x"]]
    xaxis = _axis(chart["x_title"])
    if chart["log_x"]:
        xaxis.update(log_axis_of(xs))
        lo, hi = xaxis["range"]             # whole decades: the end points would sit on the
        xaxis["range"] = [lo - 0.15, hi + 0.15]   # frame, their markers cut in half
    yaxis = _axis(chart["y_title"])
    if pct:   # below 0 and above 1 a little: the diverged ✖ at 0 and a 100 % point show whole
        yaxis.update(range=[-0.05, 1.05], tickformat=".0%")
    return {"data": data, "layout": {**base_layout(), "height": height, "legend": _legend(),
                                     "xaxis": xaxis, "yaxis": yaxis, "shapes": shapes,
                                     "annotations": annotations,
                                     "margin": {"l": 8, "r": 12, "t": 8, "b": 8, "autoexpand": True}}}
