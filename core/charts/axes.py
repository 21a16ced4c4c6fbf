"""What every chart of the app shares so that it reads on a projector and on a phone: one text
size and colour (14 px, near-black), light grids, and log axes labelled at powers of ten."""
from __future__ import annotations

import math

FONT = 14               # px: ticks, legends and titles (a projector needs >= 14)
INK, GRID = "#1a1a1a", "#d0d0d0"
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(k: int) -> str:
    """10**k as text: 10⁻³, 10⁻², 10⁻¹, 1, 10, 10², ..."""
    return "1" if k == 0 else "10" if k == 1 else "10" + str(k).translate(SUPERSCRIPT)


def log_axis(lo: float, hi: float, max_labels: int = 8) -> dict:
    """A plotly log axis from lo to hi (> 0) that ends on whole decades and is labelled at
    powers of ten only (left alone, plotly labels short log ranges "2 5 10 2 5", or
    "10 9 8 … 1 9 8"); every k-th decade when the range is wide."""
    a = math.floor(math.log10(lo)) if lo > 0 and math.isfinite(lo) else -2
    b = math.ceil(math.log10(hi)) if hi > 0 and math.isfinite(hi) else a + 1
    b = max(b, a + 1)
    step = max(1, math.ceil((b - a) / max_labels))
    ks = list(range(a, b + 1, step))
    return {"type": "log", "range": [a, b], "tickmode": "array",
            "tickvals": [10.0 ** k for k in ks], "ticktext": [power_label(k) for k in ks]}


def log_axis_of(values, max_labels: int = 8) -> dict:
    """log_axis over the positive, finite values given (a default decade range if none)."""
    pos = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    return log_axis(min(pos), max(pos), max_labels) if pos else log_axis(0.1, 1.0)


def base_layout() -> dict:
    """The text and background every figure starts from."""
    return {"font": {"size": FONT, "color": INK}, "plot_bgcolor": "white", "paper_bgcolor": "white"}


def axis(title: str = "", **more) -> dict:
    """An axis in the figure's font, with a light grid and a dark axis line."""
    return {"title": {"text": title}, "gridcolor": GRID, "linecolor": "#555", "showline": True,
            "zeroline": False, "automargin": True, **more}
