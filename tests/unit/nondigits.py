"""A seeded test set of drawings that are NOT digits, as they arrive from the 280x280 canvas
(white ink on black, uint8 (280, 280)), for the "that doesn't look like a digit" rule
(core/digitness.py). Five kinds, the ones a student tries first:

- "dot":      one to three pen dots (a tap, or a few), pen 8-40 px.
- "line":     one straight, slightly wobbly stroke 60-260 px long whose direction is at least
              40 degrees away from vertical. Near-vertical lines are left out on purpose: they
              ARE ones (MNIST's ones lean up to ~30 degrees).
- "scribble": a smooth random curve through 8-16 random points of a box, pen 6-30 px.
- "letter":   capital letters that look like no digit (A E F H K M N R W X) and the small
              letters m and w, half as pen strokes (templates, randomly rotated, sheared and
              stretched like the digits of tests/unit/drawings.py), half from Pillow's built-in
              font. Letters that ARE digit-shaped (O, I, l, S, Z, B, G, b, g, q) are left out.
- "blob":     a roundish filled ellipse or polygon (height/width 0.6-1.6: a tall thin bar would be
              a bold one), or a scribble so dense with a wide pen that it fills its box.

`nondigits(n, seed)` yields (kind, image), n of each kind, the same ones for the same seed.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.unit.drawings import CANVAS, _crop_ink, _place, draw_strokes, font_available

KINDS = ("dot", "line", "scribble", "letter", "blob")
LETTERS = "AEFHKMNRWXmw"


def _canvas_strokes(strokes, pen: float) -> np.ndarray:
    """Strokes given in canvas pixels, drawn like the canvas's pen (round caps and joins)."""
    return draw_strokes(strokes, 1.0, pen)


def dots(rng: np.random.Generator) -> np.ndarray:
    pen = float(rng.integers(8, 41))
    n = int(rng.choice([1, 1, 2, 3]))
    pts = rng.uniform(30, CANVAS - 30, size=(n, 2))
    return _canvas_strokes([[tuple(p), tuple(p)] for p in pts], pen)


def line(rng: np.random.Generator) -> np.ndarray:
    pen = float(rng.integers(8, 41))
    length = rng.uniform(60, 260)
    away = math.radians(rng.uniform(40, 90)) * rng.choice([-1, 1])   # from vertical
    dx, dy = length * math.sin(away), length * math.cos(away)
    cx, cy = rng.uniform(CANVAS / 2 - 30, CANVAS / 2 + 30, size=2)
    t = np.linspace(-0.5, 0.5, 12)[:, None]
    pts = np.array([cx, cy]) + t * np.array([dx, dy])
    pts += rng.normal(0, 1.5, pts.shape)                               # a hand is no ruler
    pts = np.clip(pts, 0, CANVAS - 1)
    return _canvas_strokes([[tuple(p) for p in pts]], pen)


def _smooth_path(points: np.ndarray, per_segment: int = 8) -> list[tuple[float, float]]:
    """A Catmull-Rom curve through `points` (smooth, like a fast scribble)."""
    p = np.vstack([points[:1], points, points[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0, 1, per_segment, endpoint=False):
            out.append(tuple(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                                    + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3)))
    out.append(tuple(p[-2]))
    return out


def scribble(rng: np.random.Generator, pen: float | None = None, n: int | None = None) -> np.ndarray:
    size = rng.uniform(80, 250)
    left, top = rng.uniform(0, CANVAS - size, size=2)
    pts = np.array([left, top]) + rng.uniform(0, size, size=(n or int(rng.integers(8, 17)), 2))
    return _canvas_strokes([_smooth_path(pts)], pen or float(rng.integers(6, 31)))


def blob(rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 2:                                # a scribble dense enough to fill its box
        return scribble(rng, pen=float(rng.integers(35, 61)), n=int(rng.integers(20, 31)))
    img = Image.new("L", (CANVAS, CANVAS), 0)
    w = rng.uniform(40, 250)
    h = min(250.0, w * rng.uniform(0.6, 1.6))    # roundish: a tall thin bar would be a bold 1
    cx, cy = rng.uniform(w / 2, CANVAS - w / 2), rng.uniform(h / 2, CANVAS - h / 2)
    if kind == 0:
        ImageDraw.Draw(img).ellipse((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), fill=255)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 9))))
        r = rng.uniform(0.6, 1.0, len(angles))
        pts = [(cx + w / 2 * ri * math.cos(a), cy + h / 2 * ri * math.sin(a))
               for a, ri in zip(angles, r)]
        ImageDraw.Draw(img).polygon(pts, fill=255)
    return np.asarray(img)


# -- letters ------------------------------------------------------------------------------------

def _letter_templates() -> dict[str, list[list[tuple[float, float]]]]:
    """Each letter as pen strokes in a unit box (x right, y down), written the common way."""
    return {
        "A": [[(0.1, 1.0), (0.5, 0.0), (0.9, 1.0)], [(0.25, 0.62), (0.75, 0.62)]],
        "E": [[(0.85, 0.0), (0.15, 0.0), (0.15, 1.0), (0.85, 1.0)], [(0.15, 0.5), (0.7, 0.5)]],
        "F": [[(0.85, 0.0), (0.15, 0.0), (0.15, 1.0)], [(0.15, 0.48), (0.7, 0.48)]],
        "H": [[(0.15, 0.0), (0.15, 1.0)], [(0.85, 0.0), (0.85, 1.0)], [(0.15, 0.5), (0.85, 0.5)]],
        "K": [[(0.2, 0.0), (0.2, 1.0)], [(0.85, 0.0), (0.2, 0.55)], [(0.4, 0.4), (0.85, 1.0)]],
        "M": [[(0.05, 1.0), (0.15, 0.0), (0.5, 0.7), (0.85, 0.0), (0.95, 1.0)]],
        "N": [[(0.15, 1.0), (0.15, 0.0), (0.85, 1.0), (0.85, 0.0)]],
        "R": [[(0.2, 1.0), (0.2, 0.0), (0.6, 0.0), (0.8, 0.12), (0.8, 0.38), (0.6, 0.5),
               (0.2, 0.5)], [(0.5, 0.5), (0.85, 1.0)]],
        "W": [[(0.0, 0.0), (0.22, 1.0), (0.5, 0.3), (0.78, 1.0), (1.0, 0.0)]],
        "X": [[(0.1, 0.0), (0.9, 1.0)], [(0.9, 0.0), (0.1, 1.0)]],
        "m": [[(0.05, 0.35), (0.05, 1.0)],
              [(0.05, 0.5), (0.2, 0.35), (0.38, 0.38), (0.5, 0.55), (0.5, 1.0)],
              [(0.5, 0.55), (0.65, 0.37), (0.82, 0.38), (0.95, 0.55), (0.95, 1.0)]],
        "w": [[(0.0, 0.35), (0.22, 1.0), (0.5, 0.5), (0.78, 1.0), (1.0, 0.35)]],
    }


def letter_strokes(letter: str, rng: np.random.Generator) -> np.ndarray:
    """A letter as a student draws it: the same random rotation, shear, stretch and wobble as
    the pen-stroke digits of tests/unit/drawings.py."""
    a = math.radians(rng.uniform(-15, 15))
    shear, aspect = rng.uniform(-0.3, 0.15), rng.uniform(0.7, 1.3)
    m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ \
        np.array([[aspect, shear], [0, 1]])
    freq, phase = rng.uniform(0.5, 1.5, size=2), rng.uniform(0, 1, size=2)
    height = rng.uniform(50, 250)
    pen = min(float(rng.integers(8, 41)), height / 6)
    strokes = []
    for stroke in _letter_templates()[letter]:
        p = np.array(stroke) - 0.5
        p = p + 0.03 * np.sin(2 * np.pi * (p[:, ::-1] * freq + phase))
        strokes.append([tuple(q) for q in p @ m.T])
    img = Image.fromarray(draw_strokes(strokes, height, pen, origin=(300, 300), size=600))
    return _place(_crop_ink(img), rng, min_h=int(height * 0.9), max_h=int(height * 1.1))


def letter_font(letter: str, rng: np.random.Generator) -> np.ndarray:
    """A letter from Pillow's built-in font, like the font digits of tests/unit/drawings.py."""
    font = ImageFont.load_default(size=200)
    img = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(img).text((200, 200), letter, fill=255, font=font, anchor="mm",
                             stroke_width=int(rng.integers(0, 12)), stroke_fill=255)
    shear = rng.uniform(-0.25, 0.1)
    img = img.transform(img.size, Image.AFFINE, (1, shear, -shear * 200, 0, 1, 0), Image.BILINEAR)
    img = img.rotate(rng.uniform(-12, 12), Image.BILINEAR)
    return _place(_crop_ink(img), rng)


def letter(rng: np.random.Generator, i: int) -> np.ndarray:
    which = LETTERS[i % len(LETTERS)]
    if (i // len(LETTERS)) % 2 and font_available():
        return letter_font(which, rng)
    return letter_strokes(which, rng)


# -- the whole set ------------------------------------------------------------------------------

def nondigits(n_per_kind: int = 200, seed: int = 0,
              kinds: tuple[str, ...] = KINDS) -> Iterator[tuple[str, np.ndarray]]:
    """(kind, uint8 (280, 280) white-on-black image), the same ones for the same seed."""
    for k, kind in enumerate(KINDS):
        if kind not in kinds:
            continue
        rng = np.random.default_rng([seed, 100 + k])
        for i in range(n_per_kind):
            if kind == "letter":
                yield kind, letter(rng, i)
            else:
                yield kind, {"dot": dots, "line": line, "scribble": scribble,
                             "blob": blob}[kind](rng)
