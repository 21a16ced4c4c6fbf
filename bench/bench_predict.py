"""How fast and how right is the Draw page's answer? (server side; bench/bench_draw.py measures
the whole round trip in Chromium)

    python -m bench.bench_predict [--repeats 300] [--per-source 500] [--per-kind 200] [--training]

1. Speed, on the CPU, per drawing:
   - preprocess + predict: canvas_to_mnist on a 280x280 canvas, then the default model;
   - the page's whole answer to one canvas message: decode the strokes (core.drawing.strokes), draw
     them, the MNIST recipe with its steps, predict, the digitness check (core.drawing.digitness), and
     the HTML of the bars and of the four step images (core.charts.draw).
   Median and p95 over `repeats` drawings. With --training, measured again while a run trains
   in a background thread of the same process (as on a classroom server).
2. Accuracy of the default model on the synthetic drawing set (tests/unit/drawings.py: MNIST
   test digits pasted at random sizes and places, font digits, pen strokes), through
   canvas_to_mnist (the MNIST recipe) against a naive resize of the whole canvas to 28x28.
3. "That doesn't look like a digit": the share rejected of the MNIST test digits, of the drawing
   set, and of each kind of tests/unit/nondigits.py (targets <= 1 %, <= 3 %, >= 80 % overall).
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from core.charts import draw as charts
from core.drawing import digitness, predict, preprocess
from core.drawing import strokes as drawing_lib
from core.nn import data
from tests.unit.drawings import _templates, drawings, evaluate
from tests.unit.nondigits import KINDS, nondigits


def canvas_like(grey: np.ndarray) -> np.ndarray:
    """A white-on-black drawing as an RGBA canvas image (opaque black background)."""
    rgba = np.empty(grey.shape + (4,), np.uint8)
    rgba[..., :3] = grey[..., None]
    rgba[..., 3] = 255
    return rgba


def message_of(strokes, height: float, pen: int, origin: tuple[float, float]) -> dict:
    """A canvas message for unit-box strokes, with a point every ~2 px as the canvas keeps them."""
    out = []
    for s in strokes:
        pts = np.asarray(s, float) * height + origin
        dense = [pts[0]]
        for a, b in zip(pts[:-1], pts[1:]):
            n = max(1, math.ceil(np.hypot(*(b - a)) / 2))
            dense.extend(a + (b - a) * t for t in np.linspace(0, 1, n + 1)[1:])
        out.append(drawing_lib.Stroke(pen, tuple((round(x), round(y)) for x, y in dense)))
    return drawing_lib.encode(drawing_lib.Drawing((280, 280), tuple(out)))


def messages(n: int, seed: int = 123) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        height = rng.uniform(120, 240)
        origin = rng.uniform(0, 280 - height, size=2)
        out.append(message_of(_templates(rng)[i % 10], height, int(rng.integers(10, 35)), origin))
    return out


def answer(model, message: dict) -> None:
    """What the Draw page does with one message (without Streamlit)."""
    steps = preprocess.canvas_to_mnist_steps(drawing_lib.render(drawing_lib.decode(message)))
    probs = predict.predict(model, steps.mnist)
    digitness.judge(steps.mnist)
    charts.bars_html(probs)
    charts.figure_row([(charts.drawing_with_box(steps.ink, steps.box), "1"),
                       (charts.fitted_in(steps.cropped), "2"),
                       (charts.pixelated(steps.fitted, frame=preprocess.BOX), "3"),
                       (charts.pixelated(steps.mnist), "4")])


def timed(fn, items) -> tuple[float, float]:
    for item in items[:20]:  # warm-up (first torch calls, PIL plugins)
        fn(item)
    ms = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        ms.append((time.perf_counter() - t) * 1e3)
    ms.sort()
    return statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]


def speed(model, canvases, msgs) -> dict[str, tuple[float, float]]:
    return {"preprocess + predict (280x280 canvas)":
            timed(lambda c: predict.predict(model, preprocess.canvas_to_mnist(c)), canvases),
            "the page's answer to a canvas message": timed(lambda m: answer(model, m), msgs)}


def print_speed(title: str, figures: dict[str, tuple[float, float]]) -> None:
    print(title)
    for name, (med, p95) in figures.items():
        print(f"  {name:<40} median {med:6.2f} ms   p95 {p95:6.2f} ms")


def digitness_figures(per_source: int, per_kind: int, seed: int) -> None:
    t = digitness.threshold()
    print(f"\n\"That doesn't look like a digit\" (core.drawing.digitness, threshold {t:.2f}; seed {seed}):")
    mnist = (digitness.scores(data.load("mnist").test_x) <= t).mean()
    print(f"  MNIST test digits rejected:   {mnist:6.2%}   (target <= 1 %)")
    sources, images = zip(*((s, img) for s, _, img in drawings(per_source, seed)))
    rej = digitness.scores(np.stack([preprocess.canvas_to_mnist(i) for i in images])) <= t
    sources = np.array(sources)
    parts = ", ".join(f"{s} {rej[sources == s].mean():.1%}" for s in dict.fromkeys(sources))
    print(f"  drawing set rejected:         {rej.mean():6.2%}   (target <= 3 %; {parts})")
    kinds, images = zip(*nondigits(per_kind, seed))
    rej = digitness.scores(np.stack([preprocess.canvas_to_mnist(i) for i in images])) <= t
    kinds = np.array(kinds)
    parts = ", ".join(f"{k} {rej[kinds == k].mean():.0%}" for k in KINDS)
    print(f"  non-digits rejected:          {rej.mean():6.2%}   (target >= 80 %; {parts})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=300, help="drawings timed")
    ap.add_argument("--per-source", type=int, default=500, help="drawings per source for accuracy")
    ap.add_argument("--per-kind", type=int, default=200, help="non-digits per kind")
    ap.add_argument("--seed", type=int, default=7, help="seed of the digitness sets")
    ap.add_argument("--training", action="store_true", help="also time it while a run trains")
    args = ap.parse_args()

    model = predict.default_model()
    greys = [img for _, _, img in drawings(args.repeats // 3 + 1, seed=123)][: args.repeats]
    canvases = [canvas_like(g) for g in greys]
    msgs = messages(args.repeats)
    print_speed(f"Speed, one 280x280 drawing, {len(canvases)} drawings:",
                speed(model, canvases, msgs))

    if args.training:
        from core.nn.config import HyperParams
        from core.nn.trainer import Trainer

        trainer = Trainer(HyperParams.validate(epochs=50), device="cpu")
        trainer.start()
        time.sleep(2.0)
        try:
            before = trainer.snapshot().step
            figures = speed(model, canvases, msgs)
            trained = trainer.snapshot().step - before
            print_speed(f"Same, while a run ({trainer.hp.describe()}) trains in the process "
                        f"({trained} training steps meanwhile):", figures)
        finally:
            trainer.stop()
            trainer.wait(10)

    meta = predict.default_meta()
    print(f"\nDefault model: MNIST test accuracy {meta['test_accuracy']:.2%} "
          f"({meta['command']})")
    print(f"Accuracy on the drawing set ({args.per_source} per source, seed 0):")
    results = {name: evaluate(model, fn, args.per_source) for name, fn in
               (("canvas_to_mnist (MNIST recipe)", preprocess.canvas_to_mnist),
                ("naive resize of the canvas", preprocess.naive_resize))}
    sources = list(next(iter(results.values())))
    print(f"  {'':<32}" + "".join(f"{s:>10}" for s in sources))
    for name, acc in results.items():
        print(f"  {name:<32}" + "".join(f"{acc[s]:>10.1%}" for s in sources))
    digitness_figures(args.per_source, args.per_kind, args.seed)


if __name__ == "__main__":
    main()
