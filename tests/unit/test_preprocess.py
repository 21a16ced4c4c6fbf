"""canvas_to_mnist: the MNIST recipe (crop, fit 20x20, centre of mass to the centre) applied to
drawings as the canvas sends them."""
import numpy as np
import pytest
from PIL import Image

from core.drawing import preprocess
from core.drawing.preprocess import canvas_to_mnist
from core.nn import data
from tests.unit.drawings import draw_strokes, drawings

TWO = [[(0.2, 0.25), (0.35, 0.05), (0.65, 0.05), (0.8, 0.25), (0.75, 0.45), (0.2, 0.95),
        (0.85, 0.95)]]
FOUR = [[(0.6, 0.0), (0.1, 0.65), (0.9, 0.65)], [(0.65, 0.3), (0.65, 1.0)]]


def rgba(grey: np.ndarray, transparent: bool = False) -> np.ndarray:
    """What the canvas returns: white ink, black background (opaque or transparent)."""
    out = np.empty(grey.shape + (4,), np.uint8)
    out[..., :3] = grey[..., None]
    out[..., 3] = grey if transparent else 255
    return out


def com(a: np.ndarray) -> np.ndarray:
    return np.array(preprocess.centre_of_mass(a))


def test_output_is_a_28x28_float32_image_in_0_1():
    x = canvas_to_mnist(rgba(draw_strokes(TWO, 200, 20, (40, 40))))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert x.max() > 0.9            # solid strokes stay solid: no normalization, no dimming
    # The digit fills the 20-pixel box in its longer direction (height here), not more.
    rows = np.flatnonzero((x > 0.05).any(axis=1))
    assert 19 <= rows[-1] - rows[0] + 1 <= 22


@pytest.mark.parametrize("blank", [
    np.zeros((280, 280, 4), np.uint8),                     # transparent, no drawing
    rgba(np.zeros((280, 280), np.uint8)),                  # opaque black
    np.zeros((280, 280), np.uint8),                        # grayscale
    np.full((280, 280), 12, np.uint8),                     # faint noise, below the ink threshold
])
def test_a_blank_canvas_gives_none(blank):
    assert canvas_to_mnist(blank) is None
    assert preprocess.canvas_to_mnist_steps(blank) is None


def test_small_in_a_corner_is_the_same_as_large_in_the_centre():
    large = canvas_to_mnist(draw_strokes(TWO, 220, 22, (30, 30)))
    small = canvas_to_mnist(draw_strokes(TWO, 60, 6, (3, 5)))         # top-left corner
    other = canvas_to_mnist(draw_strokes(FOUR, 220, 22, (30, 30)))
    assert np.abs(large - small).mean() < 0.03
    assert np.corrcoef(large.ravel(), small.ravel())[0, 1] > 0.95
    # ... while a different digit is clearly different (so the comparison means something).
    assert np.abs(large - other).mean() > 3 * np.abs(large - small).mean()


def test_centre_of_mass_is_within_half_a_pixel_of_the_centre():
    for _, _, image in drawings(40, seed=7):
        assert np.abs(com(canvas_to_mnist(image)) - preprocess.CENTRE).max() < 0.5


def test_the_centre_is_where_mnist_puts_it():
    """MNIST's own digits have their centre of mass at (14, 14) in pixel-index coordinates."""
    x = data.load("mnist").test_x.numpy().reshape(-1, 28, 28)
    mass = x.sum(axis=(1, 2))
    rows = (x.sum(axis=2) * np.arange(28)).sum(axis=1) / mass
    cols = (x.sum(axis=1) * np.arange(28)).sum(axis=1) / mass
    assert abs(rows.mean() - preprocess.CENTRE) < 0.05
    assert abs(cols.mean() - preprocess.CENTRE) < 0.05


def test_an_mnist_digit_blown_up_to_the_canvas_comes_back_as_itself():
    x = data.load("mnist").test_x[:50].numpy().reshape(-1, 28, 28)
    for digit in x:
        small = Image.fromarray((digit * 255).astype(np.uint8))
        big = np.asarray(small.resize((280, 280), Image.BICUBIC))
        assert np.abs(canvas_to_mnist(big) - digit).mean() < 0.06


def test_rgba_and_grayscale_give_the_same_result():
    grey = draw_strokes(FOUR, 180, 18, (60, 50))
    expected = canvas_to_mnist(grey)
    np.testing.assert_allclose(canvas_to_mnist(rgba(grey)), expected, atol=1e-6)
    np.testing.assert_allclose(canvas_to_mnist(rgba(grey, transparent=True)), expected, atol=0.02)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    np.testing.assert_allclose(canvas_to_mnist(rgb), expected, atol=1e-6)
    np.testing.assert_allclose(canvas_to_mnist(grey.astype(np.float32) / 255), expected, atol=1e-6)


def test_any_canvas_size_gives_the_same_digit():
    a = canvas_to_mnist(draw_strokes(TWO, 200, 20, (40, 40), size=280))
    b = canvas_to_mnist(draw_strokes(TWO, 400, 40, (100, 60), size=600))
    assert np.abs(a - b).mean() < 0.02


def test_the_aspect_ratio_is_kept():
    assert preprocess.fit_box(np.ones((200, 50), np.float32)).shape == (20, 5)
    assert preprocess.fit_box(np.ones((36, 240), np.float32)).shape == (3, 20)


# -- corner cases -------------------------------------------------------------------------------

def test_a_single_dot():
    for dot in (draw_strokes([[(0.5, 0.5), (0.5, 0.5)]], 1, 20, (200, 30)),   # a pen dot
                np.pad(np.full((1, 1), 255, np.uint8), ((5, 274), (7, 272)))):  # one pixel
        x = canvas_to_mnist(dot)
        assert x.shape == (28, 28) and np.isfinite(x).all() and x.max() > 0.5
        assert np.abs(com(x) - 14).max() < 0.5


def test_a_thin_vertical_line_keeps_some_width():
    line = np.zeros((280, 280), np.uint8)
    line[30:250, 100] = 255                      # one pixel wide, 220 tall
    x = canvas_to_mnist(line)
    cols = np.flatnonzero((x > 0.05).any(axis=0))
    assert 1 <= len(cols) <= 3 and x.max() > 0.05
    assert np.abs(com(x) - 14).max() < 0.5


def test_a_very_wide_stroke():
    x = canvas_to_mnist(draw_strokes(TWO, 200, 90, (40, 40)))
    assert x.shape == (28, 28) and 0 <= x.min() and x.max() <= 1
    assert np.abs(com(x) - 14).max() < 0.5


def test_ink_touching_the_edges():
    frame = np.zeros((280, 280), np.uint8)
    frame[:, :15] = 255                          # along the left edge, top to bottom
    frame[:15, :] = 255                          # along the top edge
    x = canvas_to_mnist(frame)
    assert np.abs(com(x) - 14).max() < 0.5
    full = canvas_to_mnist(np.full((280, 280), 255, np.uint8))   # everything is ink
    assert full.shape == (28, 28) and np.abs(com(full) - 14).max() < 0.5


def test_steps_are_consistent():
    image = draw_strokes(FOUR, 150, 15, (20, 100))
    s = preprocess.canvas_to_mnist_steps(image)
    top, bottom, left, right = s.box
    assert s.cropped.shape == (bottom - top, right - left)
    assert max(s.fitted.shape) == preprocess.BOX
    outside = np.ones(s.ink.shape, bool)
    outside[top:bottom, left:right] = False
    assert (s.ink[outside] <= preprocess.INK_THRESHOLD).all()
    np.testing.assert_array_equal(s.mnist, canvas_to_mnist(image))


@pytest.mark.parametrize("bad", [np.zeros((280, 280, 2), np.uint8), np.zeros((0, 5), np.uint8),
                                 np.zeros((4, 4, 4, 4), np.uint8), np.zeros((9, 9), np.int64)])
def test_bad_input_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="expected"):
        canvas_to_mnist(bad)


def test_naive_resize_does_not_centre():
    """The baseline keeps the drawing where it was: a digit in a corner stays in the corner."""
    image = draw_strokes(TWO, 60, 6, (3, 5))
    assert com(preprocess.naive_resize(image)).max() < 5
    assert preprocess.naive_resize(np.zeros((280, 280), np.uint8)) is None
