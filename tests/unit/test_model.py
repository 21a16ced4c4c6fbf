"""The MLP: shapes, parameter counts, activations, initialization, checkpoints."""
import io
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from core.nn import model
from core.nn.config import ACTIVATIONS, HyperParams


def build(**kw):
    return model.build(HyperParams.validate(**kw), 0.1307, 0.3081, torch.Generator().manual_seed(0))


def test_softmax_regression_has_7850_parameters():
    m = build(depth=0)
    assert model.count_parameters(m) == 7850
    assert m(torch.rand(5, 784)).shape == (5, 10)


def test_per_layer_widths_and_summary():
    m = build(depth=2, width="1000,100")
    assert model.count_parameters(m) == 784 * 1000 + 1000 + 1000 * 100 + 100 + 100 * 10 + 10
    rows = model.summary(m)
    assert sum(r["parameters"] for r in rows) == model.count_parameters(m)
    assert rows[0]["output shape"] == "(N, 1000)" and rows[-1]["output shape"] == "(N, 10)"


def test_batch_norm_and_dropout_layers_are_added():
    m = build(depth=1, width="32", batch_norm=True, dropout=0.5)
    names = [type(x).__name__ for x in m.hidden[0]]
    assert names == ["Linear", "BatchNorm1d", "ReLU", "Dropout"]


# Each init's σ per layer of 784-500-300-10, written out independently of core.nn.model:
# (fan_in, fan_out) = (784, 500), (500, 300), (300, 10).
LAYERS = [(784, 500), (500, 300), (300, 10)]
EXPECTED_SIGMA = {
    "he": [math.sqrt(2 / fi) for fi, _ in LAYERS],                 # He et al. 2015
    "xavier": [math.sqrt(2 / (fi + fo)) for fi, fo in LAYERS],     # Glorot & Bengio 2010
    "normal": [0.37] * 3,                                          # the user's σ
    "pytorch": [(1 / math.sqrt(fi)) / math.sqrt(3) for fi, _ in LAYERS],  # U(±1/√fan_in): b/√3
}


@pytest.mark.parametrize("init", ["he", "xavier", "normal", "pytorch"])
def test_each_init_has_the_requested_std(init):
    hp = HyperParams.validate(depth=2, width="500,300", init=init, init_sigma=0.37)
    m = model.build(hp, 0, 1, torch.Generator().manual_seed(1))
    expected = EXPECTED_SIGMA[init]
    assert model.sigmas_for(hp) == pytest.approx(expected, rel=1e-12)
    for layer, sigma in zip(m.linears(), expected):
        assert layer.weight.std().item() == pytest.approx(sigma, rel=0.03)
        assert layer.weight.mean().item() == pytest.approx(0, abs=sigma * 0.03)
        if init != "pytorch":
            assert torch.all(layer.bias == 0)
    if init == "xavier":   # the three layers' σ are 0.0395, 0.0500, 0.0803
        assert [round(s, 4) for s in expected] == [0.0395, 0.05, 0.0803]


REFERENCE = {"relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.01), "elu": F.elu,
             "gelu": F.gelu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda x: x}


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_each_activation(act):
    m = build(depth=1, width="16", activation=act)
    x = torch.rand(4, 784)
    _, taps = m.forward_with_taps(x)
    assert torch.allclose(taps[0]["act"], REFERENCE[act](taps[0]["pre"]))
    pre = m.hidden[0].linear(m.normalize(x))
    assert torch.allclose(taps[0]["pre"], pre)


def test_model_normalizes_its_input():
    m = build(depth=0)
    x = torch.rand(3, 784)
    assert torch.allclose(m(x), m.out((x - 0.1307) / 0.3081), atol=1e-6)


def test_same_seed_same_weights_and_seeded_dropout():
    a, b = build(depth=1, width="8", dropout=0.5), build(depth=1, width="8", dropout=0.5)
    assert torch.equal(a.out.weight, b.out.weight)
    d1 = model.Dropout(0.5, torch.Generator().manual_seed(7)).train()
    d2 = model.Dropout(0.5, torch.Generator().manual_seed(7)).train()
    x = torch.ones(1000)
    y = d1(x)
    assert torch.equal(y, d2(x))
    assert set(y.unique().tolist()) == {0.0, 2.0} and 0.4 < (y == 0).float().mean() < 0.6
    assert torch.equal(d1.eval()(x), x)


def test_checkpoint_roundtrip_with_weights_only():
    m = build(depth=2, width="20,10", batch_norm=True)
    buf = io.BytesIO()
    model.save(m, buf, test_accuracy=0.9)
    buf.seek(0)
    loaded, meta = model.load(buf)
    x = torch.rand(4, 784)
    assert torch.allclose(loaded(x), m.eval()(x)) and meta["test_accuracy"] == 0.9


class _Hostile:
    """What an attacker would put in a checkpoint: unpickling it calls open(path, "w")."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_hostile_checkpoint_is_refused_and_runs_no_code(tmp_path):
    """A weights file is user-supplied data (an upload, a copied ledger): loading it must never
    unpickle objects, which can run any code (torch.load with weights_only=False would)."""
    evidence = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    m = build(depth=1, width="4")
    torch.save({"arch": m.arch.to_dict(), "state_dict": m.state_dict(),
                "meta": {"note": _Hostile(evidence)}}, path)
    assert not evidence.exists()
    with pytest.raises(pickle.UnpicklingError, match="[Ww]eights only load failed"):
        model.load(path)
    assert not evidence.exists()
    # the file really is hostile: a plain unpickling runs its code
    torch.load(path, weights_only=False)
    assert evidence.exists()


@pytest.mark.parametrize("keep", [0.5, 0.8, 0.95])
def test_keep_mask_keeps_each_unit_independently_with_probability_keep(keep):
    g = torch.Generator().manual_seed(0)
    m = model.keep_mask((1000, 400), keep, "cpu", g)
    assert m.shape == (1000, 400) and m.dtype == torch.bool
    # every one of the four 16-bit lanes of a 64-bit draw, and every column, has the right rate
    lanes = m.reshape(-1, 4).float().mean(0)
    assert torch.allclose(lanes, torch.full((4,), keep), atol=0.005), lanes
    cols = m.float().mean(0)
    assert (cols - keep).abs().max() < 6 * (keep * (1 - keep) / 1000) ** 0.5
    # neighbours are independent: P(both kept) = keep²
    both = (m[:, :-1] & m[:, 1:]).float().mean()
    assert abs(both - keep ** 2) < 0.005


def test_dropout_gradient_passes_only_through_kept_units():
    d = model.Dropout(0.25, torch.Generator().manual_seed(1)).train()
    x = torch.ones(64, 100, requires_grad=True)
    y = d(x)
    y.sum().backward()
    kept = y != 0
    assert torch.allclose(y[kept], torch.tensor(4 / 3)) and torch.equal(x.grad, y.detach())
