"""Train core.drawing.digitness's network: does a drawing look like a digit at all?

    python -m scripts.train_digitness                 # writes assets/models/digitness.pt
    python -m scripts.train_digitness --negatives 3000 --out /tmp/d.pt   # a quick try

A classifier trained on the ten digits answers every drawing with a digit, often a confident one:
it has never seen anything else. This one has: a small MLP (784-64-1, ReLU, normalizing its own
input like every model here) learns "digit" from 55,000 MNIST training digits (augmented like the
default model's, half of them re-inked like a pen of random boldness), typed digits (Pillow's
font) and MNIST digits drawn through the canvas's path, against drawings that are not digits,
generated here; everything made on a canvas goes through the same MNIST recipe
(core.drawing.preprocess.canvas_to_mnist) as a drawing on the page. Non-digits:

- letters and symbols from Pillow's built-in font and as pen strokes: TRAIN_GLYPHS only. The
  test set (tests/unit/nondigits.py) draws other letters (A E F H K M N R W X m w), so its
  letter figure measures how this generalizes to letters it never saw;
- dense scribbles (random polylines), dots, lines far from vertical (a near-vertical line is a
  one), crosses, outlines (triangles, stars, hearts, spirals; no circles: a circle is a 0) and
  filled shapes.

The decision threshold is calibrated, not chosen: it is the score that rejects REJECT_DIGITS of
5,000 MNIST training digits held out from training. Reproducible: seeded generators for the
data, the initialization and the batch order; ~6 minutes on one core (2 of them drawing).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter, ImageFont

if __package__ in (None, ""):  # run as a file: make `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.drawing import digitness, preprocess  # noqa: E402
from core.nn import data
from scripts.train_default_model import augment  # noqa: E402

DEFAULT_OUT = digitness.DEFAULT_PATH
CANVAS = 280
# Letters and symbols that are no digit and none of the test set's letters (nor their other
# case): the test set's letters stay unseen.
TRAIN_GLYPHS = "CDJLPTUVYcdptuvy#%*+=@&"
HOLDOUT = 5000            # MNIST training digits kept out of training, to calibrate the threshold
REJECT_DIGITS = 0.01      # the share of those digits the threshold rejects
TYPED_SHARE = 4           # one digit in 4 of a batch is a typed or drawn one


# -- drawings that are not digits ---------------------------------------------------------------

def _pen(strokes, width: float, size: int = CANVAS) -> Image.Image:
    """Strokes (lists of (x, y) canvas pixels) drawn like the canvas's pen: round caps, joins."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    r = width / 2
    for pts in strokes:
        pts = [tuple(map(float, p)) for p in pts]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=max(1, round(width)), joint="curve")
        for x, y in pts:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return img


def _transformed(strokes, rng: np.random.Generator, height: float, pen: float) -> np.ndarray:
    """Unit-box strokes, randomly rotated, sheared, stretched and wobbled, drawn `height` px tall
    at a random place on the canvas."""
    a = math.radians(rng.uniform(-20, 20))
    shear, aspect = rng.uniform(-0.3, 0.2), rng.uniform(0.7, 1.3)
    m = (np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
         @ np.array([[aspect, shear], [0, 1]]))
    freq, phase = rng.uniform(0.5, 1.5, size=2), rng.uniform(0, 1, size=2)
    out = []
    for s in strokes:
        p = np.asarray(s, float) - 0.5
        p = p + 0.03 * np.sin(2 * np.pi * (p[:, ::-1] * freq + phase))
        out.append((p @ m.T) * height)
    allp = np.vstack(out)
    lo, hi = allp.min(0) - pen, allp.max(0) + pen
    span = np.maximum(hi - lo, 1)
    scale = min(1.0, (CANVAS - 2) / span.max())
    offset = rng.uniform(0, np.maximum(CANVAS - span * scale, 0)) - lo * scale
    return np.asarray(_pen([p * scale + offset for p in out], pen * scale))


def _arc(cx, cy, rx, ry, t0, t1, n=20):
    t = np.radians(np.linspace(t0, t1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


def _templates() -> dict[str, list]:
    """Pen-stroke shapes in a unit box (x right, y down)."""
    star = [(0.5 + 0.5 * math.sin(math.radians(144 * i)), 0.5 - 0.5 * math.cos(math.radians(144 * i)))
            for i in range(6)]
    spiral = [(0.5 + 0.5 * t / 12 * math.cos(t), 0.5 + 0.5 * t / 12 * math.sin(t))
              for t in np.linspace(0, 12, 60)]
    heart = ([(0.5, 0.3)] + _arc(0.28, 0.28, 0.22, 0.2, 0, -180) + [(0.5, 1.0)]
             + _arc(0.72, 0.28, 0.22, 0.2, 0, 180)[::-1] + [(0.5, 0.3)])
    return {
        "C": [_arc(0.55, 0.5, 0.45, 0.5, -50, -310)],
        "L": [[(0.2, 0.0), (0.2, 1.0), (0.85, 1.0)]],
        "P": [[(0.2, 1.0), (0.2, 0.0)] + _arc(0.45, 0.26, 0.35, 0.25, -90, 90) + [(0.2, 0.52)]],
        "T": [[(0.05, 0.0), (0.95, 0.0)], [(0.5, 0.0), (0.5, 1.0)]],
        "U": [[(0.1, 0.0), (0.1, 0.6)] + _arc(0.5, 0.6, 0.4, 0.4, 180, 0)[1:] + [(0.9, 0.0)]],
        "V": [[(0.05, 0.0), (0.5, 1.0), (0.95, 0.0)]],
        "Y": [[(0.05, 0.0), (0.5, 0.5), (0.95, 0.0)], [(0.5, 0.5), (0.5, 1.0)]],
        "+": [[(0.5, 0.05), (0.5, 0.95)], [(0.05, 0.5), (0.95, 0.5)]],
        "#": [[(0.35, 0.0), (0.3, 1.0)], [(0.7, 0.0), (0.65, 1.0)], [(0.05, 0.33), (0.95, 0.33)],
              [(0.05, 0.67), (0.95, 0.67)]],
        "triangle": [[(0.5, 0.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.0)]],
        "star": [star],
        "spiral": [spiral],
        "heart": [heart],
        "arrow": [[(0.0, 0.5), (1.0, 0.5)], [(0.7, 0.2), (1.0, 0.5), (0.7, 0.8)]],
    }


def glyph_from_font(ch: str, rng: np.random.Generator) -> np.ndarray:
    """A character from Pillow's built-in font: random size, place, slant, rotation, boldness."""
    font = ImageFont.load_default(size=200)
    img = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(img).text((200, 200), ch, fill=255, font=font, anchor="mm",
                             stroke_width=int(rng.integers(0, 12)), stroke_fill=255)
    shear = rng.uniform(-0.3, 0.15)
    img = img.transform(img.size, Image.AFFINE, (1, shear, -shear * 200, 0, 1, 0), Image.BILINEAR)
    img = img.rotate(rng.uniform(-15, 15), Image.BILINEAR)
    img = img.crop(img.getbbox())
    h = int(rng.integers(50, 261))
    w = max(4, min(CANVAS, round(h * img.width / img.height * rng.uniform(0.8, 1.25))))
    out = Image.new("L", (CANVAS, CANVAS), 0)
    out.paste(img.resize((w, h), Image.BILINEAR),
              (int(rng.integers(0, CANVAS - w + 1)), int(rng.integers(0, CANVAS - h + 1))))
    return np.asarray(out)


def _chaikin(pts: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Round a polyline's corners (Chaikin's corner cutting)."""
    for _ in range(rounds):
        q, r = 0.75 * pts[:-1] + 0.25 * pts[1:], 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.stack([q, r], 1).reshape(-1, 2), pts[-1:]])
    return pts


def scribble(rng: np.random.Generator) -> np.ndarray:
    """A random polyline through 7-24 points, straight or rounded."""
    pts = rng.uniform(0, 1, size=(int(rng.integers(7, 25)), 2))
    if rng.random() < 0.5:
        pts = _chaikin(pts)
    return _transformed([pts], rng, rng.uniform(60, 250), float(rng.integers(5, 35)))


def dots(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.integers(1, 5))
    pts = rng.uniform(20, CANVAS - 20, size=(n, 2))
    return np.asarray(_pen([[p] for p in pts], float(rng.integers(6, 50))))


def lines(rng: np.random.Generator) -> np.ndarray:
    """One to three straight strokes, each at least 40 degrees away from vertical."""
    strokes = []
    for _ in range(int(rng.choice([1, 1, 2, 3]))):
        away = math.radians(rng.uniform(40, 90)) * rng.choice([-1, 1])
        length = rng.uniform(0.3, 1.0)
        c = rng.uniform(0.2, 0.8, size=2)
        d = 0.5 * length * np.array([math.sin(away), math.cos(away)])
        strokes.append([c - d, c + d])
    return np.asarray(_pen([np.asarray(s) * rng.uniform(100, 270) + 5 for s in strokes],
                           float(rng.integers(5, 40))))


def filled(rng: np.random.Generator) -> np.ndarray:
    img = Image.new("L", (CANVAS, CANVAS), 0)
    w = rng.uniform(30, 260)
    h = min(260.0, w * rng.uniform(0.5, 2.0))
    cx, cy = rng.uniform(w / 2, CANVAS - w / 2), rng.uniform(h / 2, CANVAS - h / 2)
    kind = rng.integers(3)
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    if kind == 0:
        ImageDraw.Draw(img).ellipse(box, fill=255)
    elif kind == 1:
        ImageDraw.Draw(img).rectangle(box, fill=255)
    else:
        k = int(rng.integers(3, 10))
        a = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(0.3, 1.0, k)
        ImageDraw.Draw(img).polygon([(cx + w / 2 * ri * math.cos(t), cy + h / 2 * ri * math.sin(t))
                                     for t, ri in zip(a, r)], fill=255)
    return np.asarray(img)


def shape(rng: np.random.Generator) -> np.ndarray:
    t = _templates()
    name = list(t)[int(rng.integers(len(t)))]
    height = rng.uniform(60, 250)
    return _transformed(t[name], rng, height, min(float(rng.integers(6, 36)), height / 6))


def glyph(rng: np.random.Generator) -> np.ndarray:
    return glyph_from_font(TRAIN_GLYPHS[int(rng.integers(len(TRAIN_GLYPHS)))], rng)


MAKERS = {"glyph": (glyph, 3), "shape": (shape, 3), "scribble": (scribble, 3), "dots": (dots, 2),
          "lines": (lines, 2), "filled": (filled, 1)}   # (maker, weight)


def negatives(n: int, seed: int) -> np.ndarray:
    """n non-digits as (n, 784) float32 MNIST-recipe images."""
    rng = np.random.default_rng([seed, 7])
    names = list(MAKERS)
    p = np.array([MAKERS[k][1] for k in names], float)
    out = np.empty((n, 784), np.float32)
    for i in range(n):
        maker = MAKERS[names[rng.choice(len(names), p=p / p.sum())]][0]
        out[i] = preprocess.canvas_to_mnist(maker(rng)).ravel()
    return out


# -- digits as a pen draws them, and typed -------------------------------------------------------

def reinked(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """MNIST digits redrawn with a solid pen: thresholded at 4x the resolution and shrunk back,
    so strokes are solid with anti-aliased edges, like a drawing after canvas_to_mnist. A random
    threshold per digit makes the pen bolder (low) or thinner (high)."""
    big = F.interpolate(x.view(-1, 1, 28, 28), scale_factor=4, mode="bicubic", align_corners=False)
    level = torch.empty(len(x), 1, 1, 1).uniform_(0.15, 0.6, generator=g)
    return F.avg_pool2d((big > level).float(), 4).view(-1, 784)


def drawn_digits(x: torch.Tensor, seed: int) -> np.ndarray:
    """MNIST training digits as if drawn on the canvas: blown up to 280 px, re-inked with a
    solid pen of random boldness, resized to a random height and aspect ratio, and brought back
    through the MNIST recipe (canvas_to_mnist) like a drawing."""
    rng = np.random.default_rng([seed, 9])
    out = np.empty((len(x), 784), np.float32)
    for i, digit in enumerate((x.numpy().reshape(-1, 28, 28) * 255).astype(np.uint8)):
        big = Image.fromarray(digit).resize((CANVAS, CANVAS), Image.BICUBIC)
        level = int(rng.integers(40, 160))
        big = big.point(lambda v: 255 if v > level else 0).filter(ImageFilter.GaussianBlur(1.5))
        big = big.crop(big.getbbox())
        h = int(rng.integers(50, 261))
        w = max(4, min(CANVAS, round(h * big.width / big.height * rng.uniform(0.8, 1.25))))
        canvas = Image.new("L", (CANVAS, CANVAS), 0)
        canvas.paste(big.resize((w, h), Image.BILINEAR), (0, 0))
        out[i] = preprocess.canvas_to_mnist(np.asarray(canvas)).ravel()
    return out


def typed_digits(n: int, seed: int) -> np.ndarray:
    """n digits from Pillow's built-in font (typed, not written: they are digits too)."""
    rng = np.random.default_rng([seed, 8])
    return np.stack([preprocess.canvas_to_mnist(glyph_from_font(str(i % 10), rng)).ravel()
                     for i in range(n)]).astype(np.float32)


# -- training -----------------------------------------------------------------------------------

def train(n_negatives: int = 20000, epochs: int = 12, seed: int = 0, log=print):
    """The network and its metadata (threshold included). Each batch: 256 digits (augmented
    MNIST, half of it re-inked; one in TYPED_SHARE typed) and 128 non-digits."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    ds = data.load("mnist")
    perm = torch.randperm(len(ds.train_y), generator=g)
    hold, fit = perm[:HOLDOUT], perm[HOLDOUT:]
    t = time.time()
    neg = torch.from_numpy(negatives(n_negatives, seed))
    typed = torch.from_numpy(typed_digits(n_negatives // 4, seed))
    drawn = torch.from_numpy(drawn_digits(ds.train_x[fit[:n_negatives // 2]], seed))
    typed = torch.cat([typed, drawn])
    log(f"{n_negatives} non-digits, {len(typed)} typed or drawn digits made in "
        f"{time.time() - t:.0f} s")
    pos = ds.train_x[fit]
    net = digitness.build()
    both = torch.cat([pos, neg])
    net[0].mean.fill_(float(both.mean()))
    net[0].std.fill_(float(both.std()))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = 256
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(pos), generator=g)
        nperm = torch.randperm(len(neg), generator=g)
        steps = len(pos) // batch
        for s in range(steps):
            xp = pos[order[s * batch:(s + 1) * batch]]
            xp = augment(xp, g)
            half = len(xp) // 2
            n_typed = batch // TYPED_SHARE
            typed_idx = torch.randint(len(typed), (n_typed,), generator=g)
            xp = torch.cat([xp[:half], reinked(xp[half:], g), typed[typed_idx]])
            idx = nperm[(torch.arange(batch // 2) + s * (batch // 2)) % len(neg)]
            x = torch.cat([xp, neg[idx]])
            y = torch.cat([torch.ones(len(xp)), torch.zeros(len(idx))])
            # (each batch holds 2 digits per non-digit; weigh the classes evenly)
            loss = F.binary_cross_entropy_with_logits(
                net(x)[:, 0], y, pos_weight=torch.tensor(len(idx) / len(xp)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    net.eval()
    with torch.inference_mode():
        held = net(ds.train_x[hold])[:, 0]
        threshold = float(torch.quantile(held, REJECT_DIGITS))
        test_rejected = float((net(ds.test_x)[:, 0] < threshold).float().mean())
    meta = dict(threshold=threshold, reject_digits=REJECT_DIGITS, seed=seed, epochs=epochs,
                negatives=n_negatives, train_glyphs=TRAIN_GLYPHS,
                test_digits_rejected=test_rejected,
                command=f"python -m scripts.train_digitness --negatives {n_negatives} "
                        f"--epochs {epochs} --seed {seed}")
    log(f"threshold {threshold:.3f}: rejects {test_rejected:.2%} of the MNIST test digits")
    return net, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--negatives", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net, meta = train(args.negatives, args.epochs, args.seed)
    digitness.save(net, meta, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
