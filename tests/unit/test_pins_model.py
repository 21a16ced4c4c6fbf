"""core.nn.model: what the other model tests leave open, each pinned against numbers worked out
here: the PyTorch default init's uniform bounds, seeded biases and dropout inside a network, layer
names (saved models depend on them), the summary's rows, and where `load` puts the tensors."""
import io
import math

import pytest
import torch

from core.nn import model
from core.nn.config import HyperParams


def build(seed=0, **kw):
    return model.build(HyperParams.validate(**kw), 0.1307, 0.3081, torch.Generator().manual_seed(seed))


def test_the_pytorch_default_draws_weights_and_biases_uniformly_within_one_over_root_fan_in():
    m = build(depth=2, width="300,100", init="pytorch")
    for layer, fan_in in zip(m.linears(), (784, 300, 100)):
        bound = 1 / math.sqrt(fan_in)
        for t in (layer.weight, layer.bias):
            assert t.abs().max().item() <= bound
            # uniform: a tenth of the values within a tenth of the bound of either end (4 σ of
            # the binomial count allowed; a normal of the same std would put 12 % there)
            near_ends = (t.abs() > 0.9 * bound).float().mean().item()
            assert near_ends == pytest.approx(0.1, abs=4 * math.sqrt(0.09 / t.numel()))
        assert layer.bias.abs().sum() > 0


@pytest.mark.parametrize("init", ["he", "xavier", "normal", "pytorch"])
def test_the_same_seed_draws_the_same_weights_and_biases(init):
    a = build(seed=4, depth=1, width="8", init=init).state_dict()
    torch.manual_seed(123)                           # the global generator must not matter
    b = build(seed=4, depth=1, width="8", init=init).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = build(seed=5, depth=1, width="8", init=init).state_dict()
    assert not torch.equal(a["out.weight"], c["out.weight"])


def test_the_default_sigma_of_the_normal_init_is_0_1():
    assert model.layer_sigmas("normal", [(784, 10), (10, 10)]) == [0.1, 0.1]
    m = model.MLP(model.Arch((500,)))
    assert model.initialize(m, "normal", generator=torch.Generator().manual_seed(0)) == [0.1, 0.1]
    with pytest.raises(ValueError, match="unknown init 'lecun'"):
        model.layer_sigmas("lecun", [(784, 10)])


def test_dropout_inside_a_network_is_seeded_by_the_runs_generator():
    outs = []
    for _ in range(2):
        m = build(seed=9, depth=2, width="32", dropout=0.5).train()
        torch.manual_seed(len(outs))                 # a different global state each time
        outs.append(m(torch.rand(16, 784, generator=torch.Generator().manual_seed(1))))
    assert torch.equal(outs[0], outs[1])


def test_layer_names_are_the_ones_saved_models_use():
    m = build(depth=1, width="8", batch_norm=True, dropout=0.2)
    assert list(m.state_dict()) == [
        "normalize.mean", "normalize.std", "hidden.0.linear.weight", "hidden.0.linear.bias",
        "hidden.0.bn.weight", "hidden.0.bn.bias", "hidden.0.bn.running_mean", "hidden.0.bn.running_var",
        "hidden.0.bn.num_batches_tracked", "out.weight", "out.bias"]
    assert [type(x).__name__ for x in build(depth=1, width="8", dropout=0).hidden[0]] == ["Linear", "ReLU"]


def test_the_taps_see_batch_norm_and_dropout_where_the_network_does():
    m = build(depth=2, width="16", batch_norm=True, dropout=0.5).eval()
    x = torch.rand(8, 784)
    logits, taps = m.forward_with_taps(x)
    block = m.hidden[0]
    pre = block.bn(block.linear(m.normalize(x)))
    assert torch.allclose(taps[0]["pre"], pre) and torch.allclose(taps[0]["act"], torch.relu(pre))
    assert torch.allclose(logits, m(x))


def test_the_summary_has_one_row_per_layer_with_its_parameters():
    m = build(depth=2, width="20,10", batch_norm=True, dropout=0.1)
    assert model.summary(m) == [
        {"layer": "hidden 1 · Linear", "output shape": "(N, 20)", "parameters": 784 * 20 + 20},
        {"layer": "hidden 1 · BatchNorm1d", "output shape": "(N, 20)", "parameters": 2 * 20},
        {"layer": "hidden 1 · ReLU", "output shape": "(N, 20)", "parameters": 0},
        {"layer": "hidden 1 · Dropout", "output shape": "(N, 20)", "parameters": 0},
        {"layer": "hidden 2 · Linear", "output shape": "(N, 10)", "parameters": 20 * 10 + 10},
        {"layer": "hidden 2 · BatchNorm1d", "output shape": "(N, 10)", "parameters": 2 * 10},
        {"layer": "hidden 2 · ReLU", "output shape": "(N, 10)", "parameters": 0},
        {"layer": "hidden 2 · Dropout", "output shape": "(N, 10)", "parameters": 0},
        {"layer": "output · Linear", "output shape": "(N, 10)", "parameters": 10 * 10 + 10},
    ]


def test_load_maps_every_tensor_where_it_is_told():
    m = build(depth=1, width="4")
    buf = io.BytesIO()
    model.save(m, buf, note="x")
    seen = []

    def to_cpu(storage, location):
        seen.append(location)
        return storage
    buf.seek(0)
    loaded, meta = model.load(buf, map_location=to_cpu)
    assert seen and set(seen) == {"cpu"} and meta == {"note": "x"}
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in m.state_dict().items())
    assert not loaded.training


def test_arch_round_trips_through_a_plain_dict():
    arch = model.Arch((30, 20), "tanh", 0.25, True)
    d = arch.to_dict()
    assert d == {"widths": [30, 20], "activation": "tanh", "dropout": 0.25, "batch_norm": True}
    assert model.Arch.from_dict({"widths": ["30", 20.0], "activation": "tanh", "dropout": "0.25",
                                 "batch_norm": 1}) == arch
    assert model.Arch.of(HyperParams.validate(depth=2, width="30,20", activation="tanh",
                                              dropout=0.25, batch_norm=True)) == arch


def test_dropout_scales_kept_units_and_describes_itself():
    d = model.Dropout(0.2, torch.Generator().manual_seed(0)).train()
    y = d(torch.ones(10000))
    assert y.unique().tolist() == [0.0, pytest.approx(1.25)]
    assert (y == 0).float().mean().item() == pytest.approx(0.2, abs=0.02)
    assert repr(d) == "Dropout(p=0.2)"
    assert torch.equal(model.Dropout(0.0).train()(torch.ones(5)), torch.ones(5))


def test_on_a_gpu_the_dropout_mask_comes_from_the_runs_generator(monkeypatch):
    """Off the CPU, keep_mask draws Bernoulli numbers with the run's seeded generator (so a
    seeded GPU run repeats). This machine has no GPU: torch.empty is made to put the 'cuda'
    tensor on the CPU, where the same bernoulli_ call runs."""
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, device=None, **kw: real_empty(*a, **kw))
    torch.manual_seed(123)             # the global generator is not the one to use
    masks = [model.keep_mask(torch.Size([40, 50]), 0.3, "cuda", torch.Generator().manual_seed(5))
             for _ in range(2)]
    expected = real_empty(40, 50).bernoulli_(0.3, generator=torch.Generator().manual_seed(5)).bool()
    assert masks[0].dtype == torch.bool and masks[0].shape == (40, 50)
    assert torch.equal(masks[0], expected) and torch.equal(masks[1], expected)
    assert masks[0].float().mean().item() == pytest.approx(0.3, abs=4 * math.sqrt(0.21 / 2000))
