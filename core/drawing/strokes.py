"""A drawing as the Draw page's canvas sends it (strokes), and the same drawing as pixels.

The canvas (components/canvas/) sends its strokes, not an image: a few hundred numbers instead
of a 280x280 PNG, so it can send them many times a second while the pen moves. Python draws
them again exactly as the browser did (round caps and joins), and core.drawing.preprocess turns the
pixels into what the network sees, as for any other image.

The message, version 1 (JSON; what canvas.js's `message()` builds):

    {"v": 1,
     "size": [280, 280],             canvas width and height, in canvas pixels
     "seq": 1732537520123,           increases with every message of a canvas (flow control)
     "down": false,                  true while the pen is still on the canvas
     "pen": 20,                      the pen width chosen now (for the next stroke)
     "strokes": [                    oldest first; undone strokes are not sent
        {"w": 20, "p": [x0, y0, x1, y1, ...]},   pen width, points (integers, canvas pixels)
        ...]}

A stroke with one point is a dot. Anything else (a wrong version, odd-length point lists,
numbers out of range, too many points) is refused with a ValueError that says what is wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

VERSION = 1
MAX_SIZE = 2000          # canvas pixels per side
MAX_POINTS = 20_000      # points in a whole drawing (a busy scribble has ~1,000)
MAX_PEN = 200            # canvas pixels


@dataclass(frozen=True)
class Stroke:
    width: float
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Drawing:
    size: tuple[int, int]            # (width, height)
    strokes: tuple[Stroke, ...]
    seq: int = 0
    pen_down: bool = False
    pen: float = 20

    @property
    def blank(self) -> bool:
        return not self.strokes


def _number(v, what: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{what} must be a number, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{what} must be in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def decode(message) -> Drawing | None:
    """The Drawing in a canvas message (a dict, as Streamlit hands it over); None for no
    message yet. Raises ValueError for anything that is not a version-1 message."""
    if message is None:
        return None
    if not isinstance(message, dict):
        raise ValueError(f"a canvas message is a JSON object, got {type(message).__name__}")
    if message.get("v") != VERSION:
        raise ValueError(f"unknown canvas message version {message.get('v')!r} (expected {VERSION})")
    size = message.get("size")
    if not (isinstance(size, list) and len(size) == 2):
        raise ValueError(f"size must be [width, height], got {size!r}")
    w, h = (int(_number(s, "size", 1, MAX_SIZE)) for s in size)
    strokes_in = message.get("strokes")
    if not isinstance(strokes_in, list):
        raise ValueError(f"strokes must be a list, got {strokes_in!r}")
    strokes, total = [], 0
    for i, s in enumerate(strokes_in):
        if not isinstance(s, dict) or not isinstance(s.get("p"), list):
            raise ValueError(f"stroke {i} must be {{'w': width, 'p': [x0, y0, ...]}}")
        p = s["p"]
        if len(p) < 2 or len(p) % 2:
            raise ValueError(f"stroke {i} must have an even, non-zero number of coordinates, "
                             f"got {len(p)}")
        total += len(p) // 2
        if total > MAX_POINTS:
            raise ValueError(f"too many points (more than {MAX_POINTS:,})")
        xs = [_number(x, f"stroke {i}'s x", -w, 2 * w) for x in p[0::2]]
        ys = [_number(y, f"stroke {i}'s y", -h, 2 * h) for y in p[1::2]]
        width = _number(s.get("w"), f"stroke {i}'s width", 1, MAX_PEN)
        strokes.append(Stroke(width, tuple(zip(xs, ys))))
    seq = message.get("seq", 0)
    return Drawing((w, h), tuple(strokes),
                   seq=int(_number(seq, "seq", 0, 2 ** 53)),
                   pen_down=bool(message.get("down", False)),
                   pen=_number(message.get("pen", 20), "pen", 1, MAX_PEN))


def _compact(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


def encode(drawing: Drawing) -> dict:
    """The message for a Drawing (decode(encode(d)) == d): what the canvas sends, and what the
    page hands back to a freshly opened canvas to restore a drawing."""
    return {"v": VERSION, "size": list(drawing.size), "seq": drawing.seq,
            "down": drawing.pen_down, "pen": _compact(drawing.pen),
            "strokes": [{"w": _compact(s.width), "p": [_compact(c) for xy in s.points for c in xy]}
                        for s in drawing.strokes]}


def render(drawing: Drawing) -> np.ndarray:
    """The drawing as the canvas shows it: white ink on black, uint8 (height, width). Each
    stroke is drawn like the browser's round-capped, round-joined line: a disc of the pen's
    width at every point and a band of that width along every segment."""
    w, h = drawing.size
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    for s in drawing.strokes:
        r = s.width / 2
        if len(s.points) > 1:
            draw.line(s.points, fill=255, width=max(1, round(s.width)))
        for x, y in s.points:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img)
