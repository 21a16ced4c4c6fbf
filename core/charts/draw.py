"""Figures for the Draw page: the ten probabilities, the evidence map, and the preprocessing steps.
Pure functions from arrays to HTML, PIL images or (probability_bars, for other pages) a plotly
figure.

The Draw page redraws its answer ~10 times a second while the pen moves, so it gets plain HTML:
bars as divs (bars_html), images as one block of inline PNG data URLs (figure_row), not
st.image files: a browser still fetching the previous image files would find them already
deleted (broken images, "Image source error"). plotly is imported only when a plotly figure is
built (importing it costs a first page ~0.3 s).
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np
from PIL import Image, ImageDraw

TOP, RUNNER_UP, OTHER = "#1f77b4", "#ff7f0e", "#c7c7c7"
STEP_PX = 140  # every preprocessing step is shown STEP_PX x STEP_PX on the page (28 x 5)


def probability_bars(probs: np.ndarray, class_names: tuple[str, ...] | None = None,
                     highlight_runner_up: bool = False, muted: bool = False):
    """One bar per class (in %), the top class in blue, the runner-up in orange when asked;
    all grey when `muted` (the drawing is not a digit: no answer to point at). A plotly Figure."""
    import plotly.graph_objects as go

    probs = np.asarray(probs, dtype=float)
    names = list(class_names or (str(i) for i in range(len(probs))))
    order = np.argsort(-probs)
    colours = [OTHER] * len(probs)
    if not muted:
        colours[order[0]] = TOP
    if highlight_runner_up and not muted:
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


BARS_PX = 150  # height of a 100 % bar in bars_html


def bars_html(probs: np.ndarray, class_names: tuple[str, ...] | None = None,
              highlight_runner_up: bool = False, muted: bool = False) -> str:
    """probability_bars as plain HTML, for the Draw page: it is redrawn ~10 times a second while
    the pen moves, and a plotly chart costs ~15 ms to build and validate on the server, more
    to redraw in the browser, and ~3 MB of plotly.js on a page's first answer; these are
    eleven divs. The probabilities ride along in data-probs (for tests and bench/bench_draw.py)
    and the aria-label reads them out."""
    probs = np.asarray(probs, dtype=float)
    names = list(class_names or (str(i) for i in range(len(probs))))
    order = np.argsort(-probs)
    colours = [OTHER] * len(probs)
    if not muted:
        colours[order[0]] = TOP
        if highlight_runner_up:
            colours[order[1]] = RUNNER_UP
    small = max(len(n) for n in names) > 2
    cols = []
    for name, p, colour in zip(names, probs, colours):
        label = f"{p:.0%}" if p >= 0.005 else ""
        cols.append(
            '<div style="flex:1;display:flex;flex-direction:column;align-items:center;'
            'justify-content:flex-end;min-width:0">'
            f'<div style="font-size:0.75rem;opacity:0.75;height:1.1rem">{label}</div>'
            f'<div style="width:70%;height:{max(1.0, p * BARS_PX):.1f}px;background:{colour};'
            'border-radius:2px 2px 0 0"></div>'
            f'<div style="font-size:{"0.72rem" if small else "1.25rem"};line-height:1.2;'
            'width:100%;border-top:1px solid rgba(128,128,128,0.45);padding-top:4px;'
            f'text-align:center;overflow-wrap:anywhere">{html.escape(name)}</div>'
            '</div>')
    said = ", ".join(f"{n}: {p:.0%}" for n, p in zip(names, probs))
    data = ",".join(f"{p:.6g}" for p in probs)
    return (f'<div class="draw-bars" role="img" aria-label="probabilities: {html.escape(said)}" '
            f'data-probs="{data}" style="display:flex;align-items:flex-end;'
            f'height:{BARS_PX + 60}px;padding:0 4px">{"".join(cols)}</div>')


def evidence_image(evidence: np.ndarray) -> Image.Image:
    """core.drawing.predict.evidence as a picture at its own 28x28 (figure_row enlarges it): red ink
    argues for the predicted class, blue ink for the runner-up, white is empty paper (strength
    relative to the strongest pixel)."""
    lim = float(np.abs(evidence).max()) or 1.0
    t = np.clip(np.asarray(evidence, np.float64) / lim, -1, 1)
    fade = 1 - np.abs(t)                          # 1: white, 0: full colour
    rgb = np.stack([np.where(t < 0, fade, 1), fade, np.where(t > 0, fade, 1)], axis=-1)
    return Image.fromarray((rgb * 255).round().astype(np.uint8), "RGB")


# -- the preprocessing steps as images ----------------------------------------------------------

def _grey(a: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8), "L")


def pixelated(a: np.ndarray, frame: int | None = None) -> Image.Image:
    """A small [0, 1] image at its own resolution, centred on a black square (side: its longer
    side, or `frame`, e.g. a 20x13 digit in its 20x20 box). figure_row shows it enlarged with
    every pixel a square (CSS image-rendering: pixelated), so only its few pixels are sent."""
    h, w = a.shape
    side = max(h, w, frame or 0)
    out = Image.new("L", (side, side))
    out.paste(_grey(a), ((side - w) // 2, (side - h) // 2))
    return out


def fitted_in(a: np.ndarray, size: int = STEP_PX) -> Image.Image:
    """A large image shrunk (smoothly) to fit a black size x size square, keeping its aspect."""
    h, w = a.shape
    k = size / max(h, w)
    img = _grey(a).resize((max(1, round(w * k)), max(1, round(h * k))), Image.BOX)
    out = Image.new("L", (size, size))
    out.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return out


def drawing_with_box(ink: np.ndarray, box: tuple[int, int, int, int],
                     size: int = STEP_PX) -> Image.Image:
    """The whole drawing, shrunk to size x size, with the ink's bounding box in red."""
    img = fitted_in(ink, size).convert("RGB")
    k = size / max(ink.shape)
    top, bottom, left, right = box
    ImageDraw.Draw(img).rectangle((left * k, top * k, right * k - 1, bottom * k - 1),
                                  outline=(255, 60, 60), width=2)
    return img


def data_url(img: Image.Image) -> str:
    """A PNG data URL (fast compression: these images are made ~10 times a second)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure_row(figures: list[tuple[Image.Image, str]], size: int = STEP_PX) -> str:
    """Images side by side, each with its caption (plain text; <b> for emphasis is kept), as
    one HTML block with the images inline."""
    cells = []
    for img, caption in figures:
        plain = caption.replace("<b>", "").replace("</b>", "")
        text = html.escape(caption).replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")
        cells.append(
            f'<figure style="margin:0;width:{size}px;text-align:center">'
            f'<img src="{data_url(img)}" width="{size}" height="{size}" alt="{html.escape(plain)}" '
            f'style="border-radius:4px;image-rendering:pixelated">'
            f'<figcaption style="font-size:0.8rem;opacity:0.7;line-height:1.3;margin-top:4px">'
            f"{text}</figcaption></figure>")
    return f'<div style="display:flex;flex-wrap:wrap;gap:16px 28px">{"".join(cells)}</div>'
