"""A seeded test set of "real drawings": digits as they arrive from the 280x280 Draw canvas,
never centred or sized like MNIST. Three sources, white ink on black, uint8 (280, 280):

- "mnist":   MNIST *test* digits (never trained on) scaled to a random height (50-260 px), with
             a random aspect ratio, pasted at a random place (possibly touching the edges), and
             re-inked: thresholded and softened, so strokes look like the canvas's solid pen.
- "font":    digits rendered from Pillow's built-in font (ImageFont.load_default(size=...),
             needs no font file), random size, position, slant, rotation and boldness.
- "strokes": pen strokes like a mouse drawing: a hand-made template per digit (polylines and
             arcs), randomly rotated, sheared, stretched and jittered, drawn with round caps and
             joins at a random stroke width (8-40 px), size and position.

Used by tests/unit/test_predict.py (an accuracy threshold) and bench/bench_predict.py (the
accuracy of canvas_to_mnist against a naive resize). `evaluate` runs any preprocessing function
over the whole set without keeping the 280x280 images in memory.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CANVAS = 280
SOURCES = ("mnist", "font", "strokes")


# -- placing a digit on the canvas --------------------------------------------------------------

def _place(digit: Image.Image, rng: np.random.Generator, min_h: int = 50,
           max_h: int = 260) -> np.ndarray:
    """Resize a white-on-black digit (cropped to its ink) to a random height and aspect ratio
    and paste it at a random position on a black canvas; it may touch the edges."""
    h = int(rng.integers(min_h, max_h + 1))
    w = max(4, min(CANVAS, round(h * digit.width / digit.height * rng.uniform(0.8, 1.25))))
    digit = digit.resize((w, h), Image.BILINEAR)
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    left, top = int(rng.integers(0, CANVAS - w + 1)), int(rng.integers(0, CANVAS - h + 1))
    canvas.paste(digit, (left, top))
    return np.asarray(canvas)


def _crop_ink(img: Image.Image) -> Image.Image:
    return img.crop(img.getbbox())


# -- source 1: MNIST test digits, re-inked ------------------------------------------------------

def mnist_drawings(n: int, rng: np.random.Generator) -> Iterator[tuple[int, np.ndarray]]:
    from core.nn import data
    ds = data.load("mnist")
    idx = rng.choice(len(ds.test_y), size=n, replace=False)
    images = (ds.test_x[idx].numpy().reshape(-1, 28, 28) * 255).astype(np.uint8)
    for img, label in zip(images, ds.test_y[idx].tolist()):
        big = Image.fromarray(img).resize((280, 280), Image.BICUBIC)
        # Re-ink: a solid pen (threshold) with slightly soft edges, like the canvas's strokes.
        big = big.point(lambda v: 255 if v > 110 else 0).filter(ImageFilter.GaussianBlur(1.5))
        yield label, _place(_crop_ink(big), rng)


# -- source 2: the built-in font ----------------------------------------------------------------

def font_available() -> bool:
    """Pillow's default font is scalable only when Pillow has FreeType (every wheel does)."""
    return isinstance(ImageFont.load_default(size=20), ImageFont.FreeTypeFont)


def font_drawings(n: int, rng: np.random.Generator) -> Iterator[tuple[int, np.ndarray]]:
    font = ImageFont.load_default(size=200)
    for i in range(n):
        label = i % 10
        img = Image.new("L", (400, 400), 0)
        ImageDraw.Draw(img).text((200, 200), str(label), fill=255, font=font, anchor="mm",
                                 stroke_width=int(rng.integers(0, 12)), stroke_fill=255)
        shear = rng.uniform(-0.25, 0.1)  # mostly slanted to the right, like handwriting
        img = img.transform(img.size, Image.AFFINE, (1, shear, -shear * 200, 0, 1, 0),
                            Image.BILINEAR)
        img = img.rotate(rng.uniform(-12, 12), Image.BILINEAR)
        yield label, _place(_crop_ink(img), rng)


# -- source 3: pen strokes ----------------------------------------------------------------------

def _arc(cx, cy, rx, ry, t0, t1, n=24):
    """Points of an elliptic arc from angle t0 to t1 (degrees; 0 = right, 90 = down)."""
    t = np.radians(np.linspace(t0, t1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


def _bezier(p0, p1, p2, n=16):
    t = np.linspace(0, 1, n)[:, None]
    p = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t ** 2 * np.array(p2)
    return [tuple(q) for q in p]


def _templates(rng: np.random.Generator) -> dict[int, list[list[tuple[float, float]]]]:
    """Each digit as a list of strokes, each a list of (x, y) in a unit box (y down). Some
    digits have two common ways of writing them; one is picked at random."""
    one = ([[(0.55, 0.02), (0.45, 0.98)]] if rng.random() < 0.6
           else [[(0.35, 0.18), (0.55, 0.02), (0.5, 0.98)]])
    four = ([[(0.6, 0.02), (0.1, 0.65), (0.9, 0.65)], [(0.65, 0.3), (0.65, 0.98)]]
            if rng.random() < 0.5 else
            [[(0.2, 0.02), (0.15, 0.55), (0.85, 0.55)], [(0.7, 0.05), (0.65, 0.98)]])
    seven = [[(0.1, 0.05), (0.9, 0.05), (0.4, 0.98)]]
    if rng.random() < 0.3:  # the continental bar
        seven.append([(0.35, 0.5), (0.8, 0.5)])
    return {
        0: [_arc(0.5, 0.5, 0.38, 0.48, -100, 275, 40)],
        1: one,
        2: [_arc(0.5, 0.3, 0.3, 0.27, 200, 380) + _bezier((0.8, 0.38), (0.5, 0.7), (0.12, 0.95))
            + [(0.9, 0.95)]],
        3: [_arc(0.5, 0.27, 0.3, 0.24, -160, 90) + _arc(0.5, 0.73, 0.34, 0.24, -90, 160)],
        4: four,
        5: [[(0.85, 0.04), (0.25, 0.04), (0.2, 0.45)] + _arc(0.5, 0.68, 0.35, 0.28, -125, 150)],
        6: [_bezier((0.75, 0.02), (0.2, 0.2), (0.18, 0.7)) + _arc(0.5, 0.72, 0.32, 0.26, 180, 540)],
        7: seven,
        8: [_arc(0.5, 0.26, 0.28, 0.23, 90, 450), _arc(0.5, 0.73, 0.34, 0.25, -90, 270)],
        9: [_arc(0.5, 0.3, 0.32, 0.27, 10, 370) + _bezier((0.82, 0.32), (0.8, 0.7), (0.7, 0.98))],
    }


def draw_strokes(strokes, height: float, pen: float, origin: tuple[float, float] = (0, 0),
                 size: int = CANVAS) -> np.ndarray:
    """White strokes with round caps and joins (as the canvas's pen draws) on a black size x size
    canvas: each stroke is a list of (x, y) in a unit box, scaled by `height` and shifted by
    `origin` (the box's top-left corner, in pixels)."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    r = pen / 2
    for stroke in strokes:
        pts = [(origin[0] + x * height, origin[1] + y * height) for x, y in stroke]
        draw.line(pts, fill=255, width=max(1, round(pen)), joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img)


def stroke_drawings(n: int, rng: np.random.Generator) -> Iterator[tuple[int, np.ndarray]]:
    for i in range(n):
        label = i % 10
        # A random linear map (rotation, shear, aspect) and a smooth wobble (a hand is no robot).
        a = math.radians(rng.uniform(-15, 15))
        shear, aspect = rng.uniform(-0.3, 0.15), rng.uniform(0.7, 1.3)
        m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ \
            np.array([[aspect, shear], [0, 1]])
        freq, phase = rng.uniform(0.5, 1.5, size=2), rng.uniform(0, 1, size=2)
        height = rng.uniform(50, 250)
        pen = min(float(rng.integers(8, 41)), height / 6)  # no 40 px pen for a 50 px digit
        strokes = []
        for stroke in _templates(rng)[label]:
            p = np.array(stroke) - 0.5
            p = p + 0.03 * np.sin(2 * np.pi * (p[:, ::-1] * freq + phase))
            strokes.append([tuple(q) for q in p @ m.T])
        img = Image.fromarray(draw_strokes(strokes, height, pen, origin=(300, 300), size=600))
        yield label, _place(_crop_ink(img), rng, min_h=int(height * 0.9), max_h=int(height * 1.1))


# -- the whole set ------------------------------------------------------------------------------

def drawings(n_per_source: int = 500, seed: int = 0,
             sources: tuple[str, ...] = SOURCES) -> Iterator[tuple[str, int, np.ndarray]]:
    """(source, label, uint8 (280, 280) white-on-black image), the same ones for the same seed."""
    makers = {"mnist": mnist_drawings, "font": font_drawings, "strokes": stroke_drawings}
    for k, source in enumerate(sources):
        if source == "font" and not font_available():
            continue
        rng = np.random.default_rng([seed, k])
        for label, image in makers[source](n_per_source, rng):
            yield source, label, image


def evaluate(model: torch.nn.Module, preprocess: Callable[[np.ndarray], np.ndarray | None],
             n_per_source: int = 500, seed: int = 0) -> dict[str, float]:
    """Accuracy of `model` on the drawings after `preprocess` (canvas -> (28, 28) in [0, 1]),
    per source and overall ("all")."""
    xs, ys, srcs = [], [], []
    for source, label, image in drawings(n_per_source, seed):
        xs.append(preprocess(image))
        ys.append(label)
        srcs.append(source)
    with torch.inference_mode():
        pred = model(torch.from_numpy(np.stack(xs)).reshape(len(xs), 784)).argmax(1).numpy()
    correct, srcs = pred == np.array(ys), np.array(srcs)
    acc = {str(s): float(correct[srcs == s].mean()) for s in dict.fromkeys(srcs)}
    acc["all"] = float(correct.mean())
    return acc
