"""How fast and how right is the Draw page's prediction?

    python -m bench.bench_predict [--repeats 300] [--per-source 500] [--training]

1. Speed: server-side preprocessing + prediction for one drawing, on the CPU, as the page does
   it after every stroke: canvas_to_mnist on the 280x280 RGBA canvas, then predict with the
   default model. Median and p95 over `repeats` different drawings, with and without decoding
   the canvas's PNG (which streamlit-drawable-canvas sends). The target is <= 10 ms.
   With --training, measured again while a run trains in a background thread of the same
   process (as on a classroom server).
2. Accuracy of the default model on the synthetic drawing set (tests/unit/drawings.py: MNIST
   test digits pasted at random sizes and places, font digits, pen strokes), through
   canvas_to_mnist (the MNIST recipe) against a naive resize of the whole canvas to 28x28.
"""
from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from core import predict, preprocess
from tests.unit.drawings import drawings, evaluate


def canvas_like(grey: np.ndarray) -> np.ndarray:
    """A white-on-black drawing as the canvas returns it: RGBA, opaque black background."""
    rgba = np.empty(grey.shape + (4,), np.uint8)
    rgba[..., :3] = grey[..., None]
    rgba[..., 3] = 255
    return rgba


def png_bytes(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return buf.getvalue()


def time_once(model, rgba: np.ndarray | None = None, png: bytes | None = None) -> float:
    t = time.perf_counter()
    if png is not None:
        rgba = np.asarray(Image.open(io.BytesIO(png)))
    x = preprocess.canvas_to_mnist(rgba)
    predict.predict(model, x)
    return (time.perf_counter() - t) * 1e3


def speed(model, canvases: list[np.ndarray], pngs: list[bytes]) -> dict[str, tuple[float, float]]:
    for c in canvases[:20]:  # warm-up (first torch calls, PIL plugins)
        time_once(model, c)
    out = {}
    for name, kwargs in (("preprocess + predict", [dict(rgba=c) for c in canvases]),
                         ("PNG decode + preprocess + predict", [dict(png=p) for p in pngs])):
        ms = sorted(time_once(model, **kw) for kw in kwargs)
        out[name] = (statistics.median(ms), ms[int(0.95 * (len(ms) - 1))])
    return out


def print_speed(title: str, figures: dict[str, tuple[float, float]]) -> None:
    print(title)
    for name, (med, p95) in figures.items():
        print(f"  {name:<36} median {med:6.2f} ms   p95 {p95:6.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=300, help="drawings timed")
    ap.add_argument("--per-source", type=int, default=500, help="drawings per source for accuracy")
    ap.add_argument("--training", action="store_true", help="also time it while a run trains")
    args = ap.parse_args()

    model = predict.default_model()
    greys = [img for _, _, img in drawings(args.repeats // 3 + 1, seed=123)][: args.repeats]
    canvases = [canvas_like(g) for g in greys]
    pngs = [png_bytes(c) for c in canvases]
    print_speed(f"Speed, one 280x280 drawing, {len(canvases)} drawings:",
                speed(model, canvases, pngs))

    if args.training:
        from core.config import HyperParams
        from core.trainer import Trainer

        trainer = Trainer(HyperParams.validate(epochs=50), device="cpu")
        trainer.start()
        time.sleep(2.0)
        try:
            before = trainer.snapshot().step
            figures = speed(model, canvases, pngs)
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


if __name__ == "__main__":
    main()
