"""core.drawing.digitness: "that doesn't look like a digit", measured on sets the tests generate.

Targets (issue 10): rejects >= 80 % of dots, lines, scribbles, letters and filled blobs
(tests/unit/nondigits.py), <= 1 % of the 10,000 MNIST test digits, <= 3 % of the project's
drawing set (tests/unit/drawings.py). The sets here use seed 7, which played no part in
building the network. Measured with the shipped network: non-digits 90 %, MNIST test 0.67 %,
drawings ~1.3 % (`python -m bench.bench_predict` prints the same figures per kind).
"""
import numpy as np
import pytest
import torch

from core.drawing import digitness, preprocess
from core.nn import data
from tests.unit.drawings import drawings
from tests.unit.nondigits import KINDS, LETTERS, nondigits

SEED = 7


def rejected(images) -> np.ndarray:
    x = np.stack([preprocess.canvas_to_mnist(img) for img in images])
    return digitness.scores(x) <= digitness.threshold()


@pytest.fixture(scope="module")
def non():
    kinds, images = zip(*nondigits(60, seed=SEED))
    return np.array(kinds), rejected(images)


def test_non_digits_are_rejected(non):
    kinds, rej = non
    per_kind = {k: rej[kinds == k].mean() for k in KINDS}
    assert rej.mean() >= 0.80, per_kind
    # No kind gets through wholesale; the simple shapes almost never do.
    assert all(v >= 0.5 for v in per_kind.values()), per_kind
    assert min(per_kind["dot"], per_kind["line"], per_kind["blob"]) >= 0.9, per_kind


def test_mnist_test_digits_are_accepted():
    x = data.load("mnist").test_x
    assert (digitness.scores(x) <= digitness.threshold()).mean() <= 0.01


def test_drawn_and_typed_digits_are_accepted():
    sources, images = zip(*((s, img) for s, _, img in drawings(150, seed=SEED)))
    rej = rejected(images)
    assert rej.mean() <= 0.03, {s: rej[np.array(sources) == s].mean() for s in set(sources)}


def test_the_threshold_is_calibrated_on_digits_it_never_trained_on():
    """The threshold rejects REJECT_DIGITS of the MNIST training digits the script held out
    (the same seeded permutation), not a number picked by looking at the test sets."""
    from scripts.train_digitness import HOLDOUT, REJECT_DIGITS

    _, meta = digitness.load()
    perm = torch.randperm(60000, generator=torch.Generator().manual_seed(meta["seed"]))
    held = digitness.scores(data.load("mnist").train_x[perm[:HOLDOUT]])
    assert (held < meta["threshold"]).mean() == pytest.approx(REJECT_DIGITS, abs=0.001)
    assert meta["reject_digits"] == REJECT_DIGITS
    # The letters of the test set were never shown to it.
    assert not set(LETTERS.lower()) & set(meta["train_glyphs"].lower())


def test_a_verdict_for_one_drawing():
    line = np.zeros((280, 280), np.uint8)
    line[40:240, 130:150] = 255                  # a vertical bar: a one
    dot = np.zeros((280, 280), np.uint8)
    dot[130:150, 130:150] = 255                  # a blob
    one, blob = (digitness.judge(preprocess.canvas_to_mnist(i)) for i in (line, dot))
    assert one.is_digit and one.score > one.threshold
    assert not blob.is_digit and blob.score <= blob.threshold
    assert one.threshold == digitness.threshold()


def test_the_network_is_small_and_safe_to_load():
    assert digitness.DEFAULT_PATH.stat().st_size < 500_000
    ckpt = torch.load(digitness.DEFAULT_PATH, weights_only=True)
    assert set(ckpt) == {"hidden", "state_dict", "meta"}
    assert digitness.load()[0] is digitness.load()[0]             # loaded once
    assert not any(p.requires_grad for p in digitness.load()[0].parameters())


def test_a_missing_network_is_explained(tmp_path):
    with pytest.raises(digitness.Unavailable, match="python -m scripts.train_digitness"):
        digitness.load(tmp_path / "missing.pt")
    digitness.load(digitness.DEFAULT_PATH)                       # the real one back


def test_the_generator_is_seeded_and_makes_every_kind():
    a = list(nondigits(3, seed=1))
    b = list(nondigits(3, seed=1))
    assert [k for k, _ in a] == [k for k in KINDS for _ in range(3)]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))
    assert all(img.shape == (280, 280) and img.dtype == np.uint8 and img.max() == 255
               for _, img in a)
