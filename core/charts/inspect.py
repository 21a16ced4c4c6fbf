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

from core.analysis.diagnostics import ClassMetrics, SignalStats, WeightHistogram
from core.charts.axes import FONT, axis, base_layout, log_axis_of

RIGHT, WRONG = "Greens", "Reds"
NOW_COLOR, REF_COLOR = "#1f77b4", "#ff7f0e"

# The figures are written as one dict and validated once by go.Figure(...): several times
# faster than make_subplots + add_trace + update_* calls, which matters for a page that
# refreshes every few seconds while a run trains on the same CPU. Text is 14 px near-black
# (core.charts.axes), legends sit above the plots, notes are returned in layout.meta for the page
# to print under the chart (never drawn over a legend), log axes are labelled at powers of ten.


def _panels(rows: int, cols: int, titles: list[str], hspace: float, vspace: float) -> dict:
    """Layout entries for a rows × cols grid of subplots (xaxis, yaxis, ..., one title each):
    panel i (0-based, row by row) uses axes x{i+1}/y{i+1} ("x"/"y" for the first)."""
    w, h = (1 - hspace * (cols - 1)) / cols, (1 - vspace * (rows - 1)) / rows
    layout: dict = {"annotations": [], **base_layout()}
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        n = "" if i == 0 else str(i + 1)
        x0, y1 = c * (w + hspace), 1 - r * (h + vspace)
        clip = lambda v: min(1.0, max(0.0, round(v, 6)))  # noqa: E731  (float rounding)
        layout[f"xaxis{n}"] = axis(domain=[clip(x0), clip(x0 + w)], anchor=f"y{n}")
        layout[f"yaxis{n}"] = axis(domain=[clip(y1 - h), clip(y1)], anchor=f"x{n}")
        if i < len(titles):
            layout["annotations"].append({
                "text": titles[i], "x": x0 + w / 2, "y": y1, "xref": "paper", "yref": "paper",
                "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                "font": {"size": FONT}})
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
    axis = {"tickvals": list(range(n)), "ticktext": labels, "showgrid": False, "zeroline": False,
            "automargin": True}
    return go.Figure({"data": data, "layout": {
        **base_layout(), "height": 520, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "shapes": shapes,
        "clickmode": "event+select", "dragmode": False,
        "title": {"text": f"Confusion matrix: {unit}", "automargin": True},
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
        **base_layout(), "barmode": "group", "height": 320,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "uniformtext": {"mode": "hide", "minsize": 10},   # a phone: no labels over each other
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        "yaxis": axis("%", range=[low, 102]),
        "xaxis": axis("class", type="category", showgrid=False)}})


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


SIGNAL_PANELS = ("spread", "mean", "units", "gradient")


def signal_figure(stats: SignalStats, reference: SignalStats | None = None,
                  names: tuple[str, str] = ("now", "at initialization"),
                  panel: str | None = None) -> go.Figure:
    """Signal propagation against depth: the spread of the activations from image to image
    ("spread"), their mean ("mean"), the dead/saturated share ("units") and each layer's
    gradient norm ("gradient"). All four in a 2 × 2 grid, or one `panel` alone (the page puts
    four one-panel figures in columns, which stack on a phone). Solid lines: `stats`; dashed:
    `reference` (e.g. the same run at initialization). Each panel says what it is on its y axis;
    log axes are labelled at powers of ten. Values that overflowed (inf/NaN) or are exactly 0
    on a log axis are left out of the lines and listed in layout.meta["notes"], for the page to
    print under the chart (never over its legend)."""
    if panel not in (None, *SIGNAL_PANELS):
        raise ValueError(f"panel must be one of {SIGNAL_PANELS} or None, not {panel!r}")
    depth = len(stats.layers)
    shown = SIGNAL_PANELS if panel is None else (panel,)
    layout = _panels(2, 2, [], 0.18, 0.2) if panel is None else _panels(1, 1, [], 0, 0)
    layers = list(range(1, depth + 1))
    data: list[dict] = []
    notes: list[str] = []
    logged: dict[str, list[float]] = {"spread": [], "gradient": []}

    def line(which, x, values, name, color, dash, show=True):
        if which not in shown:
            return
        log = which in logged
        y, over, zero = _plottable(values, log)
        if over:
            notes.append(f"{name}: overflow (inf/NaN) at layer {', '.join(str(x[i]) for i in over)}")
        if zero:
            notes.append(f"{name}: exactly 0 (underflow) at layer {', '.join(str(x[i]) for i in zero)}")
        if log:
            logged[which] += [v for v in y if v is not None]
        data.append({"type": "scatter", "x": x, "y": y, "name": name, "mode": "lines+markers",
                     "showlegend": show or panel is not None, "line": {"color": color, "dash": dash},
                     "legendgroup": name, **_axes(shown.index(which)),
                     "hovertemplate": f"{name}<br>layer %{{x}}: %{{y:.3g}}<extra></extra>"})

    for s, dash, suffix in ((stats, "solid", ""), (reference, "dash", f" ({names[1]})")):
        if s is None:
            continue
        tag = suffix if reference is not None else ""
        line("spread", [0, *layers], [s.input_std, *s.series("act_std")], "activations" + tag,
             NOW_COLOR, dash)
        line("spread", layers, s.series("pre_std"), "pre-activations" + tag, REF_COLOR, dash)
        line("mean", layers, s.series("act_mean"), "activations" + tag, NOW_COLOR, dash, False)
        line("mean", layers, s.series("pre_mean"), "pre-activations" + tag, REF_COLOR, dash, False)
        if s.activation in ("tanh", "sigmoid"):
            line("units", layers, s.series("saturated"), "saturated" + tag, "#d62728", dash)
        elif s.activation != "identity":
            line("units", layers, s.series("dead"), "dead" + tag, "#d62728", dash)
        line("gradient", [*layers, depth + 1], list(s.grad_norms), "‖∂L/∂W‖" + tag, "#9467bd", dash)
    unit = "saturated" if stats.activation in ("tanh", "sigmoid") else "dead units"
    # Few ticks: a one-panel figure on a phone is ~300 px wide.
    layer_ticks = {"tickmode": "array", "tickvals": layers[::max(1, math.ceil(depth / 6))]}
    axes = {"spread": ({"title": {"text": "layer (0 = input)"}, "tickmode": "array",
                        "tickvals": [0, *layers][::max(1, math.ceil((depth + 1) / 6))]},
                       {"title": {"text": "spread over images"}, **log_axis_of(logged["spread"], 6)}),
            "mean": ({"title": {"text": "layer"}, "range": [0.5, depth + 0.5], **layer_ticks},
                     {"title": {"text": "mean"}}),
            "units": ({"title": {"text": "layer"}, "range": [0.5, depth + 0.5], **layer_ticks},
                      {"title": {"text": unit}, "range": [-0.03, 1.03], "tickformat": ".0%"}),
            "gradient": ({"title": {"text": "layer"}, "tickmode": "array",
                          "tickvals": [*layers, depth + 1][::max(1, math.ceil((depth + 1) / 6))],
                          "ticktext": [*map(str, layers), "out"][::max(1, math.ceil((depth + 1) / 6))]},
                         {"title": {"text": "‖∂L/∂W‖"}, **log_axis_of(logged["gradient"], 6)})}
    for i, which in enumerate(shown):
        n = "" if i == 0 else str(i + 1)
        layout[f"xaxis{n}"].update(axes[which][0])
        layout[f"yaxis{n}"].update(axes[which][1])
        if which == "units" and stats.activation == "identity":
            layout["annotations"].append({"text": "none for<br>the identity", "showarrow": False,
                                          "xref": f"x{n}", "yref": f"y{n}", "x": (depth + 1) / 2, "y": 0.5})
    if not data:   # e.g. the identity's dead/saturated panel: plotly needs one (empty) trace
        data.append({"type": "scatter", "x": [], "y": [], "showlegend": False, "hoverinfo": "skip"})
    layout.update(height=640 if panel is None else 360, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                  legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
                  hovermode="closest", meta={"notes": notes})
    return go.Figure({"data": data, "layout": layout})


# -- weights ------------------------------------------------------------------------------------

def weight_histogram_figure(hists: list[WeightHistogram], cols: int = 2) -> go.Figure:
    """One panel per Linear layer: the weights now (blue bars) over their distribution at
    initialization (black outline). Two columns and two-line titles (the layer; its std at
    initialization → now), so that titles fit side by side on a phone."""
    cols = max(1, min(cols, len(hists)))
    rows = math.ceil(len(hists) / cols)
    titles = [f"{h.name}<br>std {h.init_std:.2g} → "
              + (f"{h.now_std:.2g}" if math.isfinite(h.now_std) else "inf/NaN")
              + (f" ({h.nonfinite} inf/NaN)" if h.nonfinite else "") for h in hists]
    layout = _panels(rows, cols, titles, 0.08, min(0.2, 0.6 / rows))
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
    layout.update(bargap=0, height=max(300, 250 * rows + 90),
                  margin={"l": 10, "r": 10, "t": 50, "b": 50},
                  legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0})
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
