"""From a drawing on the canvas to what the network sees: the MNIST recipe.

MNIST digits were made like this (LeCun et al., 1998): the ink's bounding box was scaled, keeping
its aspect ratio and anti-aliased, to fit a 20x20 box, then pasted into a 28x28 image so that the
centre of mass of its pixels sits at the centre. A network trained on MNIST has only ever seen
digits laid out that way, so a drawing must be laid out the same way before it is shown one:

    canvas (H, W) ─► ink ─► crop to the ink's bounding box ─► fit in 20x20
                  ─► paste in 28x28 with the centre of mass at (14, 14)

The centre: on the MNIST test set the mean centre of mass is (13.99, 14.01) in (row, column)
pixel-index coordinates (rows and columns numbered 0..27), so we put it at exactly (14, 14).

There is no normalization here: every model normalizes its own input (core.nn.model.Normalize holds
the training set's mean and std), so this returns plain [0, 1] pixels, exactly like
core.nn.data's images, and whoever uses a model just feeds them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

SIZE = 28              # MNIST images are 28x28 ...
BOX = 20               # ... with the digit scaled to fit 20x20 inside them
CENTRE = 14.0          # where the centre of mass goes, in pixel-index coordinates (see above)
INK_THRESHOLD = 0.1    # a pixel brighter than this is ink (for the bounding box and blank test)


@dataclass(frozen=True)
class Steps:
    """Every intermediate image of the recipe (all float32 in [0, 1]), for the Draw page."""
    ink: np.ndarray        # (H, W): the drawing as grey levels
    box: tuple[int, int, int, int]  # the ink's bounding box in `ink`: top, bottom, left, right
    cropped: np.ndarray    # ink[top:bottom, left:right], at full resolution
    fitted: np.ndarray     # `cropped` scaled to fit BOX x BOX (its longer side is BOX)
    mnist: np.ndarray      # (SIZE, SIZE): `fitted` pasted so its centre of mass is at CENTRE


def to_ink(image: np.ndarray) -> np.ndarray:
    """Grey levels in [0, 1] (float32, (H, W)) of a uint8 or [0, 1] float image that is
    grayscale (H, W), RGB (H, W, 3) or RGBA (H, W, 4). RGBA is composited onto black, so a
    transparent background (alpha 0) and an opaque black one both give 0."""
    a = np.asarray(image)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape:
        raise ValueError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        a = np.clip(a.astype(np.float32), 0.0, 1.0)
    else:
        raise ValueError(f"expected uint8 or float pixels, got {a.dtype}")
    if a.ndim == 2:
        return a
    grey = a[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma, like PIL "L"
    if a.shape[2] == 4:
        grey = grey * a[..., 3]
    return grey


def ink_box(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), bottom/right exclusive, of the pixels above `threshold`;
    None when there are none (a blank canvas)."""
    mask = ink > threshold
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def fit_box(cropped: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so that the longer side is `box` pixels, keeping the aspect ratio. Lanczos is
    anti-aliased when shrinking (each output pixel averages the input under it), so strokes get
    the soft grey edges that MNIST digits have; nothing is thresholded afterwards. A thin line
    keeps at least one pixel of width, a single dot grows into a disc."""
    h, w = cropped.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL wants (width, height)
    out = Image.fromarray(cropped, mode="F").resize(size, Image.LANCZOS)
    return np.clip(np.asarray(out), 0.0, 1.0)  # Lanczos overshoots a little at sharp edges


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    """(row, column) of the intensity-weighted mean pixel position."""
    total = a.sum()
    rows = (a.sum(axis=1) * np.arange(a.shape[0])).sum() / total
    cols = (a.sum(axis=0) * np.arange(a.shape[1])).sum() / total
    return float(rows), float(cols)


def centre(fitted: np.ndarray, size: int = SIZE, target: float = CENTRE) -> np.ndarray:
    """Paste `fitted` into a size x size image so that its centre of mass lands on (target,
    target), to a fraction of a pixel: a bilinear shift moves the centre of mass by exactly the
    shift (it splits each pixel's mass between two neighbours), and keeps the total ink."""
    com_r, com_c = centre_of_mass(fitted)
    # Two zero pixels around the patch so that bilinear sampling near its border mixes with
    # black instead of being cut off (PIL gives 0 to samples outside the source image).
    pad = 2
    src = Image.fromarray(np.pad(fitted, pad), mode="F")
    # An affine transform maps each output pixel to the source pixel it samples:
    # source = output + (com - target) + pad, so the centre of mass moves to `target`.
    dc, dr = com_c - target + pad, com_r - target + pad
    out = src.transform((size, size), Image.AFFINE, (1, 0, dc, 0, 1, dr), resample=Image.BILINEAR)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def canvas_to_mnist_steps(image: np.ndarray) -> Steps | None:
    """The whole recipe with its intermediate images; None when there is no ink."""
    ink = to_ink(image)
    box = ink_box(ink)
    if box is None:
        return None
    top, bottom, left, right = box
    cropped = np.ascontiguousarray(ink[top:bottom, left:right])
    fitted = fit_box(cropped)
    return Steps(ink, box, cropped, fitted, centre(fitted))


def canvas_to_mnist(image: np.ndarray) -> np.ndarray | None:
    """The canvas as an MNIST digit: float32 (28, 28) in [0, 1], or None when there is no ink.

    `image` is the canvas as it comes: uint8, RGBA (H, W, 4) or grayscale (H, W) (RGB and
    [0, 1] floats work too), any size, bright ink on a dark background. The digit is cropped to
    its ink, scaled to fit 20x20 keeping its aspect ratio (anti-aliased, not thresholded), and
    shifted so that its centre of mass is at (14, 14), as MNIST was made. No normalization:
    models normalize their own input (core.nn.model.Normalize), so feed the result as it is.

    Corner cases: a single dot grows into a disc filling the 20x20 box (what the recipe does
    with it); a thin line ("1") keeps at least one pixel of width; ink touching the canvas edges
    is simply inside the bounding box. Only ink whose centre of mass lies over ~4 pixels away
    from the middle of its 20x20 box can lose a sliver at the 28x28 border, as in MNIST.
    """
    steps = canvas_to_mnist_steps(image)
    return None if steps is None else steps.mnist


def naive_resize(image: np.ndarray) -> np.ndarray | None:
    """The whole canvas squashed to 28x28 without cropping or centring: what a naive app does,
    kept only to show (bench/, tests) how much the MNIST recipe matters."""
    ink = to_ink(image)
    if ink_box(ink) is None:
        return None
    out = Image.fromarray(ink, mode="F").resize((SIZE, SIZE), Image.LANCZOS)
    return np.clip(np.asarray(out), 0.0, 1.0)
