"""Plotly figures for the Look inside page (pure builders: data in, go.Figure out).

    confusion_figure       the confusion matrix: right answers in green on the diagonal, mistakes
                           in red, plus an invisible marker per cell so a click can select it
    class_metrics_figure   per-class recall (= accuracy on that class) and precision
    signal_figure          signal propagation vs depth: spread, mean, dead/saturated, gradients
    weight_histogram_figure  each layer's weights now vs at initialization
    weight_grid_figure     first-layer weights as 28×28 images on a zero-centred diverging scale
    digit_tiles            digits upscaled with nearest neighbour (for st.image)
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from ..diagnostics import ClassMetrics, SignalStats, WeightHistogram

RIGHT, WRONG = "Greens", "Reds"
NOW_COLOR, REF_COLOR = "#1f77b4", "#ff7f0e"

# The figures are written as one dict and validated once by go.Figure(...): several times
# faster than make_subplots + add_trace + update_* calls, which matters for a page that
# refreshes every few seconds while a run trains on the same CPU.


def _panels(rows: int, cols: int, titles: list[str], hspace: float, vspace: float) -> dict:
    """Layout entries for a rows × cols grid of subplots (xaxis, yaxis, ..., one title each):
    panel i (0-based, row by row) uses axes x{i+1}/y{i+1} ("x"/"y" for the first)."""
    w, h = (1 - hspace * (cols - 1)) / cols, (1 - vspace * (rows - 1)) / rows
    layout: dict = {"annotations": []}
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        n = "" if i == 0 else str(i + 1)
        x0, y1 = c * (w + hspace), 1 - r * (h + vspace)
        clip = lambda v: min(1.0, max(0.0, round(v, 6)))  # noqa: E731  (float rounding)
        layout[f"xaxis{n}"] = {"domain": [clip(x0), clip(x0 + w)], "anchor": f"y{n}"}
        layout[f"yaxis{n}"] = {"domain": [clip(y1 - h), clip(y1)], "anchor": f"x{n}"}
        if i < len(titles):
            layout["annotations"].append({
                "text": titles[i], "x": x0 + w / 2, "y": y1, "xref": "paper", "yref": "paper",
                "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                "font": {"size": 13}})
    return layout


def _axes(i: int) -> dict:
    n = "" if i == 0 else str(i + 1)
    return {"xaxis": f"x{n}", "yaxis": f"y{n}"}


# -- where it fails -----------------------------------------------------------------------------

def confusion_figure(cm: np.ndarray, class_names: tuple[str, ...] | list[str],
                     normalize: bool = False, selected: tuple[int, int] | None = None) -> go.Figure:
    """Rows = true class, columns = prediction. With normalize=True each row is divided by the
    class size (cells show % of that class). Mistakes get their own red scale so that a handful
    of errors does not vanish next to the hundreds of right answers on the diagonal. The last
    trace holds one marker per cell (x = predicted, y = true) for click selection."""
    n = len(cm)
    counts = np.asarray(cm, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    z = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0) * 100 if normalize \
        else counts.astype(float)
    diag = np.eye(n, dtype=bool)
    text = np.array([[f"{v:.1f}%" if normalize else f"{int(v)}" for v in row] for row in z])
    text[(counts == 0) & ~diag] = ""
    unit = "% of the true class" if normalize else "number of images"
    data = []
    for mask, scale, name in ((diag, RIGHT, "right"), (~diag, WRONG, "mistakes")):
        values = z[mask]
        data.append({
            "type": "heatmap", "z": np.where(mask, z, np.nan), "x": list(range(n)),
            "y": list(range(n)), "colorscale": scale, "name": name, "zmin": 0,
            "zmax": max(float(values.max()) if values.size else 1.0, 1e-9),
            "text": np.where(mask, text, ""), "texttemplate": "%{text}", "textfont": {"size": 12},
            "showscale": name == "mistakes", "hoverinfo": "skip", "xgap": 1, "ygap": 1,
            "colorbar": {"title": {"text": f"mistakes<br>({'%' if normalize else 'count'})"},
                         "thickness": 12}})
    tt, pp = np.meshgrid(range(n), range(n), indexing="ij")
    data.append({
        "type": "scatter", "x": pp.ravel(), "y": tt.ravel(), "mode": "markers", "name": "cells",
        "showlegend": False,
        "marker": {"symbol": "square", "size": 26, "color": "rgba(0,0,0,0.01)", "line": {"width": 0}},
        "selected": {"marker": {"color": "rgba(0,0,0,0.25)"}},
        "unselected": {"marker": {"opacity": 1}},
        "customdata": np.stack([counts.ravel(), z.ravel()], axis=1),
        "hovertemplate": ("true %{y} → predicted %{x}: %{customdata[0]} images"
                          + (" (%{customdata[1]:.1f}% of the class)" if normalize else "")
                          + "<extra></extra>")})
    shapes = []
    if selected is not None:
        t, p = selected
        shapes.append({"type": "rect", "x0": p - 0.5, "x1": p + 0.5, "y0": t - 0.5,
                       "y1": t + 0.5, "line": {"color": "black", "width": 3}})
    labels = [str(c) for c in class_names]
    axis = {"tickvals": list(range(n)), "ticktext": labels, "showgrid": False, "zeroline": False}
    return go.Figure({"data": data, "layout": {
        "height": 520, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "shapes": shapes,
        "clickmode": "event+select", "dragmode": False,
        "title": {"text": f"Confusion matrix ({unit}); click a cell to see its images",
                  "font": {"size": 14}},
        "xaxis": {**axis, "title": {"text": "predicted"}, "range": [-0.5, n - 0.5]},
        "yaxis": {**axis, "title": {"text": "true"}, "range": [n - 0.5, -0.5],
                  "scaleanchor": "x"}}})


def class_metrics_figure(m: ClassMetrics, class_names: tuple[str, ...] | list[str]) -> go.Figure:
    """Grouped bars per class: recall (the accuracy on that class) and precision, in %."""
    labels = [str(c) for c in class_names]
    data = []
    for values, name, color, meaning in (
            (m.recall, "recall = accuracy on the class", "#2ca02c", "of the true %{x}s were found"),
            (m.precision, "precision", "#1f77b4", "of the answers '%{x}' were right")):
        y = [None if not math.isfinite(v) else 100 * v for v in values]
        data.append({"type": "bar", "x": labels, "y": y, "name": name, "marker": {"color": color},
                     "text": [f"{v:.0f}" if v is not None else "n/a" for v in y],
                     "textposition": "outside", "cliponaxis": False,
                     "hovertemplate": f"%{{y:.1f}}% {meaning}<extra></extra>"})
    finite = [100 * v for v in (*m.recall, *m.precision) if math.isfinite(v)]
    low = max(0.0, min(finite) - 5) if finite else 0.0
    return go.Figure({"data": data, "layout": {
        "barmode": "group", "height": 320, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "legend": {"orientation": "h", "y": 1.15, "x": 0},
        "yaxis": {"title": {"text": "%"}, "range": [low, 102]},
        "xaxis": {"title": {"text": "class"}, "type": "category"}}})


# -- signal propagation -------------------------------------------------------------------------

def _plottable(values, log: bool) -> tuple[list[float | None], list[int], list[int]]:
    """Values for a chart: non-finite (overflow) and, on a log axis, zero (underflow) become
    gaps; returns (values, indices that overflowed, indices that were exactly 0)."""
    out, over, zero = [], [], []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
        elif not math.isfinite(v):
            out.append(None)
            over.append(i)
        elif log and abs(v) == 0:
            out.append(None)
            zero.append(i)
        else:
            out.append(abs(v) if log else v)
    return out, over, zero


def signal_figure(stats: SignalStats, reference: SignalStats | None = None,
                  names: tuple[str, str] = ("now", "at initialization")) -> go.Figure:
    """Four panels against depth. Solid lines: `stats`; dashed: `reference` (e.g. the same run
    at initialization). Values that overflowed (inf/NaN) or are exactly 0 on a log axis are left
    out of the lines and listed in a note under the chart."""
    depth = len(stats.layers)
    layout = _panels(2, 2, ["spread (std over images) — log scale", "mean",
                            "dead (ReLU) / saturated (tanh, sigmoid) units",
                            "gradient norm ‖∂L/∂W‖ of each layer — log scale"], 0.1, 0.2)
    layers = list(range(1, depth + 1))
    data: list[dict] = []
    notes: list[str] = []

    def line(panel, x, values, name, color, dash, log, show=True):
        y, over, zero = _plottable(values, log)
        if over:
            notes.append(f"{name}: overflow (inf/NaN) at layer {', '.join(str(x[i]) for i in over)}")
        if zero:
            notes.append(f"{name}: exactly 0 (underflow) at layer {', '.join(str(x[i]) for i in zero)}")
        data.append({"type": "scatter", "x": x, "y": y, "name": name, "mode": "lines+markers",
                     "showlegend": show, "line": {"color": color, "dash": dash},
                     "legendgroup": name, **_axes(panel),
                     "hovertemplate": f"{name}<br>layer %{{x}}: %{{y:.3g}}<extra></extra>"})

    for s, dash, suffix in ((stats, "solid", ""), (reference, "dash", f" ({names[1]})")):
        if s is None:
            continue
        tag = suffix if reference is not None else ""
        line(0, [0, *layers], [s.input_std, *s.series("act_std")], "activations" + tag,
             NOW_COLOR, dash, True)
        line(0, layers, s.series("pre_std"), "pre-activations" + tag, REF_COLOR, dash, True)
        line(1, layers, s.series("act_mean"), "activations" + tag, NOW_COLOR, dash, False, False)
        line(1, layers, s.series("pre_mean"), "pre-activations" + tag, REF_COLOR, dash, False, False)
        if s.activation in ("tanh", "sigmoid"):
            line(2, layers, s.series("saturated"), "saturated" + tag, "#d62728", dash, False)
        elif s.activation != "identity":
            line(2, layers, s.series("dead"), "dead" + tag, "#d62728", dash, False)
        line(3, [*layers, depth + 1], list(s.grad_norms), "‖∂L/∂W‖" + tag, "#9467bd", dash, True)
    if stats.activation == "identity":
        layout["annotations"].append({"text": "no dead or saturated units<br>for the identity",
                                      "showarrow": False, "xref": "x3", "yref": "y3",
                                      "x": (depth + 1) / 2, "y": 0.5})
    layer_axis = {"dtick": 1, "range": [0.5, depth + 0.5]}
    layout["xaxis"].update(title={"text": "layer (0 = input)"}, dtick=1)
    layout["xaxis2"].update(title={"text": "layer"}, **layer_axis)
    layout["xaxis3"].update(title={"text": "layer"}, **layer_axis)
    layout["xaxis4"].update(title={"text": "layer"}, tickmode="array",
                            tickvals=[*layers, depth + 1], ticktext=[*map(str, layers), "out"])
    layout["yaxis"].update(type="log", exponentformat="power")
    layout["yaxis3"].update(range=[-0.03, 1.03], tickformat=".0%")
    layout["yaxis4"].update(type="log", exponentformat="power")
    if notes:
        layout["annotations"].append({
            "text": "<br>".join(notes), "showarrow": False, "xref": "paper", "yref": "paper",
            "x": 0, "y": -0.2, "xanchor": "left", "yanchor": "top", "align": "left",
            "font": {"color": "#d62728"}})
    layout.update(height=620, margin={"l": 10, "r": 10, "t": 40, "b": 40 + 18 * len(notes)},
                  legend={"orientation": "h", "y": -0.12, "x": 0}, hovermode="closest",
                  meta={"notes": notes})
    return go.Figure({"data": data, "layout": layout})


# -- weights ------------------------------------------------------------------------------------

def weight_histogram_figure(hists: list[WeightHistogram], cols: int = 3) -> go.Figure:
    """One panel per Linear layer: the weights now (blue bars) over their distribution at
    initialization (black outline)."""
    cols = max(1, min(cols, len(hists)))
    rows = math.ceil(len(hists) / cols)
    titles = [f"{h.name}: std {h.init_std:.2g} → "
              + (f"{h.now_std:.2g}" if math.isfinite(h.now_std) else "inf/NaN")
              + (f" ({h.nonfinite} inf/NaN)" if h.nonfinite else "") for h in hists]
    layout = _panels(rows, cols, titles, 0.06, min(0.12, 0.5 / rows))
    data = []
    for i, h in enumerate(hists):
        centers, width = (h.edges[:-1] + h.edges[1:]) / 2, float(h.edges[1] - h.edges[0])
        data.append({"type": "bar", "x": centers, "y": h.now, "width": width, "name": "now",
                     "marker": {"color": NOW_COLOR}, "opacity": 0.75, "showlegend": i == 0,
                     "legendgroup": "now", **_axes(i),
                     "hovertemplate": "now: %{y} weights near %{x:.3g}<extra></extra>"})
        data.append({"type": "scatter", "x": centers, "y": h.init, "name": "at initialization",
                     "mode": "lines", "line": {"color": "black", "width": 1.5, "shape": "hvh"},
                     "showlegend": i == 0, "legendgroup": "init", **_axes(i),
                     "hovertemplate": "at init: %{y} weights near %{x:.3g}<extra></extra>"})
    for a in layout["annotations"]:
        a["font"] = {"size": 12}
    layout.update(bargap=0, height=max(280, 230 * rows + 50),
                  margin={"l": 10, "r": 10, "t": 70, "b": 10},
                  legend={"orientation": "h", "yanchor": "bottom", "y": 1.0 + 0.35 / rows, "x": 0})
    return go.Figure({"data": data, "layout": layout})


def mosaic(images: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile (k, h, w) images into one array with a 1-pixel NaN gap; also returns, per pixel, the
    index of the image it belongs to (-1 in the gaps)."""
    k, h, w = images.shape
    cols = max(1, min(cols, k))
    rows = math.ceil(k / cols)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, dtype=np.float32)
    owner = np.full(out.shape, -1, dtype=np.int16)
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = images[i]
        owner[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = i
    return out, owner


def weight_grid_figure(images: np.ndarray, cols: int = 8, first_unit: int = 1,
                       label: str = "weight") -> go.Figure:
    """First-layer weights as images: blue = positive (the pixel switches the unit on), red =
    negative, white = 0. One colour scale for all tiles, symmetric around 0, capped at the 99th
    percentile of |w| so a few large weights do not wash out the rest."""
    finite = images[np.isfinite(images)]
    vmax = float(np.percentile(np.abs(finite), 99)) if finite.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    z, owner = mosaic(np.nan_to_num(images, nan=0.0, posinf=vmax, neginf=-vmax), cols)
    z[owner < 0] = np.nan
    unit = np.where(owner >= 0, owner + first_unit, -1)
    width = z.shape[1]
    return go.Figure({"data": [{
        "type": "heatmap", "z": z, "customdata": unit, "colorscale": "RdBu", "zmid": 0,
        "zmin": -vmax, "zmax": vmax,
        "hovertemplate": f"unit %{{customdata}}: {label} %{{z:.3g}}<extra></extra>",
        "colorbar": {"title": {"text": label}, "thickness": 12}}], "layout": {
        "height": max(200, min(900, 90 * math.ceil(len(images) / max(1, cols)) + 40)),
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"visible": False, "range": [-0.5, width - 0.5], "constrain": "domain"},
        "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x",
                  "constrain": "domain"}}})


def digit_tiles(x: np.ndarray, scale: int = 3) -> np.ndarray:
    """(k, 784) pixels in [0, 1] -> (k, 28·scale, 28·scale) uint8 images, each pixel repeated
    scale×scale times (nearest neighbour: crisp pixels, no blur)."""
    imgs = (np.clip(np.asarray(x, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)
    imgs = imgs.reshape(-1, 28, 28)
    return imgs.repeat(scale, axis=1).repeat(scale, axis=2)
