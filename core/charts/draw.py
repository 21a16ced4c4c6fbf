"""Figures for the Draw page: the ten probabilities, the evidence map, and the preprocessing steps
as pixelated images. Pure functions from arrays to plotly figures or PIL images.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

TOP, RUNNER_UP, OTHER = "#1f77b4", "#ff7f0e", "#c7c7c7"
STEP_PX = 140  # every preprocessing step is shown as a STEP_PX x STEP_PX image (28 x 5)


def probability_bars(probs: np.ndarray, class_names: tuple[str, ...] | None = None,
                     highlight_runner_up: bool = False) -> go.Figure:
    """One bar per class (in %), the top class in blue, the runner-up in orange when asked."""
    probs = np.asarray(probs, dtype=float)
    names = list(class_names or (str(i) for i in range(len(probs))))
    order = np.argsort(-probs)
    colours = [OTHER] * len(probs)
    colours[order[0]] = TOP
    if highlight_runner_up:
        colours[order[1]] = RUNNER_UP
    # The layout goes into the constructor: update_layout() re-validates and costs ~5x more,
    # and this figure is rebuilt after every stroke.
    return go.Figure(
        go.Bar(x=names, y=probs * 100, marker_color=colours,
               text=[f"{p:.0%}" if p >= 0.005 else "" for p in probs], textposition="outside",
               hovertemplate="%{x}: %{y:.2f} %<extra></extra>"),
        layout=dict(height=220, margin=dict(l=10, r=10, t=10, b=10), showlegend=False,
                    yaxis=dict(title=dict(text="probability (%)"), range=[0, 112], fixedrange=True),
                    xaxis=dict(type="category", tickfont=dict(size=20), fixedrange=True)))


def evidence_figure(evidence: np.ndarray, size: int = STEP_PX) -> go.Figure:
    """A 28x28 map of core.predict.evidence: red ink argues for the predicted class, blue ink
    for the runner-up, white is empty paper. Sized like the preprocessing steps."""
    lim = float(np.abs(evidence).max()) or 1.0
    return go.Figure(
        go.Heatmap(z=evidence, zmin=-lim, zmax=lim, zmid=0, colorscale="RdBu_r", showscale=False,
                   xgap=0, ygap=0, hovertemplate="row %{y}, col %{x}: %{z:+.3f}<extra></extra>"),
        layout=dict(height=size, width=size, margin=dict(l=0, r=0, t=0, b=0),
                    xaxis=dict(visible=False, constrain="domain", fixedrange=True),
                    yaxis=dict(visible=False, autorange="reversed", scaleanchor="x",
                               fixedrange=True)))


# -- the preprocessing steps as images ----------------------------------------------------------

def _grey(a: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8)).convert("RGB")


def pixelated(a: np.ndarray, size: int = STEP_PX, frame: int | None = None) -> Image.Image:
    """A small [0, 1] image scaled up with nearest neighbour so each pixel shows as a square,
    centred on a black size x size square. With `frame`, pixels are sized as if the image were
    frame x frame (e.g. a 20x13 digit drawn in its 20x20 box)."""
    h, w = a.shape
    k = max(1, size // max(h, w, frame or 0))
    img = _grey(a).resize((w * k, h * k), Image.NEAREST)
    out = Image.new("RGB", (size, size))
    out.paste(img, ((size - w * k) // 2, (size - h * k) // 2))
    return out


def fitted_in(a: np.ndarray, size: int = STEP_PX) -> Image.Image:
    """A large image shrunk (smoothly) to fit a black size x size square, keeping its aspect."""
    h, w = a.shape
    k = size / max(h, w)
    img = _grey(a).resize((max(1, round(w * k)), max(1, round(h * k))), Image.BOX)
    out = Image.new("RGB", (size, size))
    out.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return out


def drawing_with_box(ink: np.ndarray, box: tuple[int, int, int, int],
                     size: int = STEP_PX) -> Image.Image:
    """The whole drawing, shrunk to size x size, with the ink's bounding box in red."""
    img = fitted_in(ink, size)
    k = size / max(ink.shape)
    top, bottom, left, right = box
    ImageDraw.Draw(img).rectangle((left * k, top * k, right * k - 1, bottom * k - 1),
                                  outline=(255, 60, 60), width=2)
    return img
