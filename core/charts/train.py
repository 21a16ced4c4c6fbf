"""Figures for the Train page: loss and accuracy against epochs, live, for runs of any length.

A run at batch size 1 records a million steps. Smoothing and thinning them all again every second
cost ~2 s per refresh (issue 9), so the page keeps one `CurveView` per run: it smooths only the
new points (the moving average's state is kept between calls) and folds them into at most
MAX_POINTS buckets of equal length (each keeps the smoothed value at its last step, and the lowest
and highest smoothed value inside it, drawn as a light band), so a refresh costs O(new points +
buckets) however long the run is. `curves_figure(curves, ...)` builds the same figure in one go.

    view = CurveView(steps_per_epoch, smoothing=0.6)
    view.sync(run.curves)                    # fetches and folds in only what is new
    fig = view.figure("loss", log_loss=True, epochs=hp.epochs)

Readability rules (a projector at the back of a room, a 390 px phone): 14 px text in near-black;
no titles above the plots (the y-axis says what a panel is), the legend above the plot area,
event markers that are close together merged into one labelled marker, log axes labelled at powers
of ten only, and a linear loss axis that one spike cannot flatten (it is clipped and marked).
Figures are plain dicts (see `CurveView.figure`).
"""
from __future__ import annotations

import math
import re

import numpy as np
import plotly.graph_objects as go

from core.charts.axes import FONT, GRID, INK, SUPERSCRIPT, log_axis, power_label  # noqa: F401
from core.charts.axes import axis as _axis
from core.nn.history import Curves

MAX_POINTS = 600        # buckets of the training curve: a ~900 px wide panel shows no more
MERGE_FRACTION = 0.05   # markers closer than this share of the x axis merge into one (a rotated
                        # 12 px label is ~15 px wide: 5 % of a 300 px phone plot)
SPIKE_FENCE = 3.0       # the linear loss axis ends at q75 + 3·(q75 - q25) of the smoothed curve
TRAIN, VAL = "#1f77b4", "#d95f02"
COMPARE = ("#2ca02c", "#7570b3", "#8c564b", "#e7298a", "#525252", "#17becf")
LIVE_KINDS = {"lr": "lr", "momentum": "momentum", "weight_decay": "weight decay"}
PANELS = ("loss", "accuracy")


# -- smoothing ------------------------------------------------------------------------------------

class EMA:
    """Exponential moving average, debiased at the start (as TensorBoard does), that keeps its
    state: update() with the next values returns their smoothed values, so a growing curve costs
    O(new points). Vectorized in blocks of L points: inside a block, with the block's start value
    acc_0, acc_i = w^i·acc_0 + (1-w)·w^i·Σ_j≤i w^-j·x_j (L is short enough that w^-L stays far
    from overflow); the blocks' start values then follow one from the other."""

    def __init__(self, weight: float):
        self.w = min(max(float(weight), 0.0), 0.9999)
        self.acc, self.wn = 0.0, 1.0          # the running average (biased) and w**(points seen)
        L = 4096 if self.w <= 0 else max(1, min(4096, int(200 / -math.log10(self.w))))
        self._wk = self.w ** np.arange(1, L + 1)   # w^1 .. w^L

    def update(self, values) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        if self.w <= 0 or not len(v):
            return v.copy()
        L, w, m = len(self._wk), self.w, len(v)
        blocks = -(-m // L)
        x = np.zeros(blocks * L)
        x[:m] = v
        x = x.reshape(blocks, L)
        local = (1 - w) * self._wk * np.cumsum(x / self._wk, axis=1)   # each block from acc_0 = 0
        start = np.empty(blocks)
        acc, wL = self.acc, self._wk[-1]
        for b in range(blocks):                   # one float operation per block
            start[b] = acc
            acc = wL * acc + local[b, -1]
        acc_all = (local + start[:, None] * self._wk).ravel()[:m]
        self.acc = float(acc_all[-1])
        # Debiasing: after n points the weights sum to 1 - w^n.
        wn = (self.wn * (wL ** np.arange(blocks))[:, None] * self._wk).ravel()[:m]
        self.wn = float(wn[-1])
        return acc_all / (1 - wn)


def smooth(values, weight: float) -> np.ndarray:
    """The whole curve smoothed at once (EMA, debiased)."""
    return EMA(weight).update(values)


# -- thinning -------------------------------------------------------------------------------------

class Buckets:
    """Consecutive points of k series folded into at most `size` buckets of `width` points each
    (the newest may be partial). When they are full, neighbours merge in pairs and the width
    doubles, so adding m points costs O(m + size) and the buckets always cover the whole curve.
    Per bucket: x and value at its last point, lowest and highest value, and the sum of a second
    ("raw") set of values (for bucket means)."""

    def __init__(self, k: int, size: int = MAX_POINTS):
        self.size, self.width, self.n = max(2, size), 1, 0
        self.x = np.zeros(self.size)
        self.count = np.zeros(self.size, dtype=np.int64)
        self.last, self.lo, self.hi, self.sum = (np.zeros((k, self.size)) for _ in range(4))

    def _room(self) -> int:
        return self.width - int(self.count[self.n - 1]) if self.n else 0

    def _halve(self) -> None:
        """Merge buckets (0, 1), (2, 3), ...; an odd newest bucket stays on its own."""
        n, h = self.n, self.n // 2
        even, odd = slice(0, 2 * h, 2), slice(1, 2 * h, 2)
        self.lo[:, :h] = np.minimum(self.lo[:, even], self.lo[:, odd])
        self.hi[:, :h] = np.maximum(self.hi[:, even], self.hi[:, odd])
        self.sum[:, :h] = self.sum[:, even] + self.sum[:, odd]
        self.last[:, :h] = self.last[:, odd]
        self.x[:h] = self.x[odd]
        self.count[:h] = self.count[even] + self.count[odd]
        if n % 2:
            for a in (self.lo, self.hi, self.sum, self.last):
                a[:, h] = a[:, n - 1]
            self.x[h], self.count[h] = self.x[n - 1], self.count[n - 1]
        self.n, self.width = h + n % 2, self.width * 2

    def add(self, x: np.ndarray, values: np.ndarray, raw: np.ndarray) -> None:
        """x: (m,), values and raw: (k, m)."""
        m = len(x)
        if not m:
            return
        while self.n + -(-max(0, m - self._room()) // self.width) > self.size:
            if self.n >= 2:
                self._halve()
            else:
                self.width *= 2
        i = min(self._room(), m)
        if i:                                        # top up the newest bucket
            b = self.n - 1
            self.x[b], self.last[:, b] = x[i - 1], values[:, i - 1]
            self.lo[:, b] = np.minimum(self.lo[:, b], values[:, :i].min(axis=1))
            self.hi[:, b] = np.maximum(self.hi[:, b], values[:, :i].max(axis=1))
            self.sum[:, b] += raw[:, :i].sum(axis=1)
            self.count[b] += i
        if i < m:                                    # new buckets for the rest
            starts = np.arange(0, m - i, self.width)
            ends = np.append(starts[1:], m - i)
            new = slice(self.n, self.n + len(starts))
            v, r = values[:, i:], raw[:, i:]
            self.x[new], self.count[new] = x[i:][ends - 1], ends - starts
            self.last[:, new] = v[:, ends - 1]
            self.lo[:, new] = np.minimum.reduceat(v, starts, axis=1)
            self.hi[:, new] = np.maximum.reduceat(v, starts, axis=1)
            self.sum[:, new] = np.add.reduceat(r, starts, axis=1)
            self.n += len(starts)


def thin(x: np.ndarray, *ys: np.ndarray, max_points: int = MAX_POINTS):
    """The curve's last point of each bucket (at most max_points remain)."""
    b = Buckets(len(ys), max_points)
    v = np.vstack([np.asarray(y, dtype=float) for y in ys]) if ys else np.zeros((0, len(x)))
    b.add(np.asarray(x, dtype=float), v, v)
    return (b.x[:b.n].copy(), *(b.last[i, :b.n].copy() for i in range(len(ys))))


# -- the incremental view ---------------------------------------------------------------------------

class CurveView:
    """What the Train page keeps per run (e.g. in st.session_state): the smoothed, thinned
    training curve, the validation points and the events. Feed it with `update(new_curves)` or
    `sync(fetch)`, draw it with `figure(...)`; each costs O(new points + MAX_POINTS)."""

    def __init__(self, steps_per_epoch: int, smoothing: float = 0.6, max_points: int = MAX_POINTS):
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.max_points = max_points
        self.reset(smoothing)

    def reset(self, smoothing: float) -> None:
        """Forget everything (a new smoothing needs the raw points again: sync() refetches)."""
        self.smoothing = float(smoothing)
        self.cursor = (0, 0, 0)
        self._ema = (EMA(smoothing), EMA(smoothing))
        self._train = Buckets(2, self.max_points)
        self.first: tuple[float, float] | None = None        # the first (loss, accuracy)
        self.steps = 0                                        # training points seen
        self.val_step, self.val_loss, self.val_acc, self.val_full = [], [], [], []
        self.events: list[dict] = []

    def update(self, new: Curves, cursor: tuple[int, int, int] | None = None) -> "CurveView":
        if len(new.step):
            raw = np.array([new.loss, new.acc], dtype=float)
            if self.first is None:
                self.first = (float(raw[0, 0]), float(raw[1, 0]))
            smoothed = np.vstack([self._ema[0].update(raw[0]), self._ema[1].update(raw[1])])
            self._train.add(np.asarray(new.step, dtype=float), smoothed, raw)
            self.steps += len(new.step)
        self.val_step += list(new.val_step)
        self.val_loss += list(new.val_loss)
        self.val_acc += list(new.val_acc)
        self.val_full += list(new.val_full)
        self.events += [dict(e) for e in new.events]
        if cursor is not None:
            self.cursor = cursor
        return self

    def sync(self, fetch, smoothing: float | None = None) -> "CurveView":
        """Fold in what is new: fetch(cursor) -> (Curves, cursor), e.g. RunView.curves. A changed
        smoothing starts over from the first point (once, not per refresh)."""
        if smoothing is not None and float(smoothing) != self.smoothing:
            self.reset(smoothing)
        new, cursor = fetch(self.cursor)
        if any(now < seen for now, seen in zip(cursor, self.cursor)):
            # Fewer points than this view has drawn: the run was continued from an earlier
            # checkpoint and its curves cut back to it. Start over, or the points after the
            # checkpoint would be drawn twice (their old copies and the new ones).
            self.reset(self.smoothing)
            new, cursor = fetch(self.cursor)
        return self.update(new, cursor)

    # -- what the chart and the verdict read ----------------------------------------------------

    def train_points(self) -> dict:
        """The thinned training curve: x (steps), and per series (loss, acc) the smoothed value
        at each bucket's last step, its lowest and highest value inside the bucket."""
        b, n = self._train, self._train.n
        return {"x": b.x[:n].copy(), "width": b.width,
                "loss": b.last[0, :n].copy(), "acc": b.last[1, :n].copy(),
                "loss_lo": b.lo[0, :n].copy(), "loss_hi": b.hi[0, :n].copy(),
                "acc_lo": b.lo[1, :n].copy(), "acc_hi": b.hi[1, :n].copy()}

    def digest(self) -> Curves:
        """The run in at most MAX_POINTS training points (each bucket's mean raw loss and
        accuracy at its last step) plus every validation point and event: enough for
        core.analysis.verdict, in constant size."""
        b, n = self._train, self._train.n
        mean = b.sum[:, :n] / np.maximum(b.count[:n], 1)
        return Curves([int(s) for s in b.x[:n]], mean[0].tolist(), mean[1].tolist(),
                      list(self.val_step), list(self.val_loss), list(self.val_acc),
                      list(self.val_full), [dict(e) for e in self.events])

    def figure(self, panel: str | None = None, *, log_loss: bool = False,
               compare: list[tuple[str, object, int]] = (), epochs: float | None = None,
               title: str | None = None, height: int | None = None) -> dict:
        """A plotly figure dict of the loss panel ("loss"), the accuracy panel ("accuracy") or
        both side by side (None). Two one-panel figures in st.columns stack on a phone, one per
        row. `compare`: (label, curves or CurveView, steps_per_epoch) of other runs, whose
        whole-validation-set points are overlaid. `epochs`: the run's length (the epoch axis
        spans the whole run from the start, so a live curve grows into a fixed frame)."""
        return _figure(self, panel, log_loss, compare, epochs, title, height)


def curves_figure(curves: Curves, steps_per_epoch: int, smoothing: float = 0.6,
                  compare: list[tuple[str, Curves, int]] = (), title: str | None = None,
                  epochs: float | None = None, *, panel: str | None = None,
                  log_loss: bool = False, height: int | None = None) -> dict:
    """One-shot: the figure of a whole Curves (see CurveView.figure). ~60 ms at 1M steps."""
    view = CurveView(steps_per_epoch, smoothing).update(curves)
    return view.figure(panel, log_loss=log_loss, compare=compare, epochs=epochs, title=title,
                       height=height)


# -- markers --------------------------------------------------------------------------------------

_CHANGE = re.compile(r"(\S+) → (\S+)$")


def _short(ev: dict) -> str:
    return LIVE_KINDS.get(ev["kind"], ev["kind"].replace("_", " "))


def merge_events(events: list[dict], steps_per_epoch: int, span: float,
                 fraction: float = MERGE_FRACTION) -> list[dict]:
    """Events (e.g. learning-rate changes) that lie within `fraction` of the x axis's span
    (in epochs) of the first event of a group become one marker: {"x0", "x1" (first and last
    epoch), "label" (one line per setting: its first old and last new value, e.g. "lr 0.001 →
    0.01", whatever happened in between; other events by name, e.g. "early stop"), "hover"
    (every change with its epoch), "count"}. Sorted by epoch."""
    evs = sorted(events, key=lambda e: e["step"])
    groups: list[list[dict]] = []
    gap = max(span, 1e-12) * fraction
    for e in evs:
        if groups and e["step"] / steps_per_epoch - groups[-1][0]["step"] / steps_per_epoch <= gap:
            groups[-1].append(e)
        else:
            groups.append([e])
    out = []
    for g in groups:
        parts: dict[str, list[str]] = {}
        for e in g:
            m = _CHANGE.search(e["text"]) if e["kind"] in LIVE_KINDS else None
            if m:
                seq = parts.setdefault(_short(e), [m.group(1)])
                seq.append(m.group(2))
            else:
                parts.setdefault(_short(e), [])
        label = "<br>".join(f"{k} {seq[0]} → {seq[-1]}" if seq else k for k, seq in parts.items())
        hover = "<br>".join(f"epoch {e['step'] / steps_per_epoch:.2f}: {e['text']}" for e in g)
        out.append({"x0": g[0]["step"] / steps_per_epoch, "x1": g[-1]["step"] / steps_per_epoch,
                    "label": label, "hover": hover, "count": len(g)})
    return out


# -- axes -----------------------------------------------------------------------------------------

def robust_top(line: np.ndarray, must_show: list[float], fence: float = SPIKE_FENCE) -> float:
    """Top of a linear loss axis: Tukey's upper fence q75 + fence·(q75 - q25) of the smoothed
    curve's values, raised to what must stay visible (its start, its newest value), plus 5 %.
    A single spike moves neither quartile, so it cannot flatten the curve."""
    line = np.asarray(line, dtype=float)
    line = line[np.isfinite(line)]
    top = 0.0
    if len(line):
        q25, q75 = np.percentile(line, [25, 75])
        top = q75 + fence * (q75 - q25)
    vals = [v for v in must_show if v is not None and math.isfinite(v)]
    top = max([top, *vals])
    return top * 1.05 if top > 0 else 1.0


# -- the figure -----------------------------------------------------------------------------------

def _ref(axis: int) -> dict:
    n = "" if axis == 1 else str(axis)
    return {"xaxis": f"x{n}", "yaxis": f"y{n}"}


def _line(x, y, name, color, axis, *, group, legend=True, markers=None, dash=None, width=2) -> dict:
    trace = {"type": "scatter", "x": [float(v) for v in x], "y": [float(v) for v in y],
             "name": name, "mode": "lines+markers" if markers is not None else "lines",
             "line": {"color": color, "width": width, **({"dash": dash} if dash else {})},
             "legendgroup": group, "showlegend": legend, **_ref(axis)}
    if markers is not None:
        trace["marker"] = {"size": [int(m) for m in markers]}
    return trace


def _band(x, lo, hi, color, axis) -> dict:
    """The lowest-highest range of the smoothed curve inside each bucket (empty when every bucket
    holds one point: the line is then the whole curve)."""
    xs = [float(v) for v in (*x, *x[::-1])] if len(x) else []
    ys = [float(v) for v in (*hi, *lo[::-1])] if len(x) else []
    return {"type": "scatter", "x": xs, "y": ys, "fill": "toself", "mode": "lines",
            "line": {"width": 0, "color": color}, "fillcolor": "rgba(31,119,180,0.18)",
            "hoverinfo": "skip", "showlegend": False, "name": "range within each point",
            **_ref(axis), "zorder": -1}


def _figure(view: CurveView, panel, log_loss, compare, epochs, title, height) -> dict:
    if panel not in (None, *PANELS):
        raise ValueError(f"panel must be one of {PANELS} or None, not {panel!r}")
    panels = PANELS if panel is None else (panel,)
    spe = view.steps_per_epoch
    t = view.train_points()
    x = t["x"] / spe
    banded = t["width"] > 1
    vx = np.asarray(view.val_step, dtype=float) / spe
    sizes = np.where(np.asarray(view.val_full, dtype=bool), 9, 5)
    others = []
    for label, other, ospe in compare:
        full = np.asarray(other.val_full, dtype=bool)
        others.append((label, np.asarray(other.val_step, dtype=float)[full] / ospe,
                       np.asarray(other.val_loss, dtype=float)[full],
                       np.asarray(other.val_acc, dtype=float)[full]))

    # The epoch axis: the whole run when its length is known.
    ends = [*x[-1:], *vx[-1:], *(o[1][-1] for o in others if len(o[1]))]
    span = max([epochs or 0, *ends, 0.0]) or 1.0
    epoch_axis = _axis("epoch", rangemode="tozero")
    if epochs:
        epoch_axis["range"] = [0, span * 1.02]

    layout: dict = {"shapes": [], "annotations": [], "height": height or (300 if panel else 340),
                    "margin": {"l": 8, "r": 12, "t": 8, "b": 8, "autoexpand": True},
                    "font": {"size": FONT, "color": INK}, "plot_bgcolor": "white",
                    "paper_bgcolor": "white", "hovermode": "x",
                    "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0,
                               "yanchor": "bottom"},
                    "uirevision": "keep"}
    if title:
        layout["title"] = {"text": title, "x": 0, "xanchor": "left", "font": {"size": FONT + 2},
                           "automargin": True, "yref": "container", "y": 1, "yanchor": "top"}
        layout["legend"]["y"] = 1.0
    data: list[dict] = []
    bands: list[dict] = []
    clipped: list[dict] = []
    domains = {1: [0, 1]} if panel else {1: [0, 0.45], 2: [0.55, 1]}
    for i, what in enumerate(panels, start=1):
        first = i == 1
        key = "loss" if what == "loss" else "acc"
        y, lo, hi = t[key], t[f"{key}_lo"], t[f"{key}_hi"]
        vy = np.asarray(view.val_loss if key == "loss" else view.val_acc, dtype=float)
        data.append(_line(x, y, "training", TRAIN, i, group="train", legend=first))
        data.append(_line(vx, vy, "validation", VAL, i, group="val", legend=first, markers=sizes))
        for (label, ox, oloss, oacc), color in zip(others, COMPARE):
            data.append(_line(ox, oloss if key == "loss" else oacc, f"{label} (validation)", color, i,
                              group=label, legend=first, dash="dash", markers=[6] * len(ox), width=1.5))
        if banded:
            bands.append(_band(x, lo, hi, TRAIN, i))
        n = "" if i == 1 else str(i)
        layout[f"xaxis{n}"] = {**epoch_axis, "domain": domains[i], "anchor": f"y{n}"}
        yaxis = _axis(what, anchor=f"x{n}")
        if key == "acc":
            yaxis.update(range=[0, 1.0], tickformat=".0%")
        elif log_loss:
            pos = [v for v in (*lo, *vy, *(v for o in others for v in o[2])) if v > 0 and math.isfinite(v)]
            hi_all = [v for v in (*hi, *vy, *(v for o in others for v in o[2])) if math.isfinite(v)]
            yaxis.update(log_axis(min(pos) if pos else 0.01, max(hi_all) if hi_all else 10.0))
            yaxis["title"]["text"] = "loss (log scale)"
        else:
            # The bulk of the band's top edge, the run's start and its newest values stay in
            # view; a spike above all of them is clipped at the top edge and marked.
            top = robust_top(np.concatenate([hi, vy, *(o[2] for o in others)]),
                             [*hi[:1], *y[-1:], *vy[-1:]])
            yaxis.update(range=[0, float(top)])
            over = hi > top
            if over.any():   # spikes: clipped at the top edge, marked with their value
                clipped.append({"x": x[over], "v": hi[over], "axis": i, "top": top})
            vover = vy > top
            if vover.any():
                clipped.append({"x": vx[vover], "v": vy[vover], "axis": i, "top": top})
        layout[f"yaxis{n}"] = yaxis
    for c in clipped:
        data.append({"type": "scatter", "x": [float(v) for v in c["x"]], "y": [c["top"]] * len(c["x"]),
                     "mode": "markers", "name": "off the chart",
                     "marker": {"symbol": "triangle-up", "size": 11, "color": "#c00000"},
                     "cliponaxis": False, "legendgroup": "clipped",
                     "showlegend": c is clipped[0], **_ref(c["axis"]),
                     "text": [f"{v:.3g}" for v in c["v"]],
                     "hovertemplate": "loss %{text} at epoch %{x:.2f} (above the axis)<extra></extra>"})
    data += bands

    for m in merge_events(view.events, spe, span * 1.02 if epochs else span):
        for i in range(1, len(panels) + 1):
            n = "" if i == 1 else str(i)
            line = {"color": "#555", "dash": "dot", "width": 1.5}
            layout["shapes"].append({"type": "line", "xref": f"x{n}", "yref": f"y{n} domain",
                                     "x0": m["x0"], "x1": m["x0"], "y0": 0, "y1": 1, "line": line})
            if m["x1"] > m["x0"]:
                layout["shapes"].append({"type": "rect", "xref": f"x{n}", "yref": f"y{n} domain",
                                         "x0": m["x0"], "x1": m["x1"], "y0": 0, "y1": 1,
                                         "fillcolor": "rgba(0,0,0,0.06)", "line": {"width": 0}})
            if i == 1 or panel is not None:
                layout["annotations"].append({
                    "x": m["x0"], "xref": f"x{n}", "y": 1, "yref": f"y{n} domain",
                    "text": m["label"], "hovertext": m["hover"], "showarrow": False,
                    "textangle": -90, "xanchor": "right", "yanchor": "top",
                    "font": {"size": 12}, "bgcolor": "rgba(255,255,255,0.8)"})
    return {"data": data, "layout": layout}


def unchecked(fig: dict) -> go.Figure:
    """The figure dict as a plotly Figure, without plotly's validation. st.plotly_chart validates
    a dict on every call (~15-25 ms for this figure on a 2-core machine, once a second per chart
    while a run trains, holding the GIL the training thread needs); a Figure passes through as
    it is. Safe because the unit tests validate every variant of these figures
    (tests/unit/test_charts_train.py) and check that both routes give the same JSON."""
    return go.Figure(fig, _validate=False)


# -- export ---------------------------------------------------------------------------------------

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
