"""core.analysis.diagnostics on tiny networks whose weights we set by hand, so every number is checkable."""
import math

import numpy as np
import pytest
import torch

from core.analysis import diagnostics as D
from core.nn.config import HyperParams
from core.nn.model import MLP, Arch


def tiny(widths=(2,), activation="relu", batch_norm=False) -> MLP:
    """784 → widths → 10 with all weights zero and no input normalization (mean 0, std 1)."""
    m = MLP(Arch(tuple(widths), activation, 0.0, batch_norm), mean=0.0, std=1.0)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
    return m.eval()


def pixel0_batch(values=(0.25, 0.5, 0.75, 1.0)):
    """Images that are black except pixel 0; all labelled 0."""
    x = torch.zeros(len(values), 784)
    x[:, 0] = torch.tensor(values)
    return x, torch.zeros(len(values), dtype=torch.long)


# -- where it fails -----------------------------------------------------------------------------

def test_confusion_matrix_counts_rows_true_columns_predicted():
    cm = D.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 0, 2, 2]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.dtype.kind == "i" and cm.sum() == 6


def test_confusion_matrix_of_a_real_model_sums_to_the_number_of_examples():
    torch.manual_seed(0)
    m = MLP(Arch((16,))).eval()
    x, y = torch.rand(300, 784), torch.randint(0, 10, (300,))
    p = D.predict(m, x, y, batch_size=64)
    cm = D.confusion_matrix(p.y_true, p.y_pred)
    assert cm.shape == (10, 10) and cm.sum() == 300
    assert cm.sum(axis=1).tolist() == np.bincount(y.numpy(), minlength=10).tolist()
    assert np.trace(cm) == (p.y_true == p.y_pred).sum()


def test_class_metrics_by_hand_and_zero_division():
    # true:      0 0 1 2     class 3: no examples, never predicted
    # predicted: 0 1 1 0     class 2: never predicted
    cm = D.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), 4)
    m = D.class_metrics(cm)
    assert m.support.tolist() == [2, 1, 1, 0]
    assert m.predicted.tolist() == [2, 2, 0, 0]
    assert m.recall[:3].tolist() == [0.5, 1.0, 0.0]
    assert m.accuracy[:3].tolist() == [0.5, 1.0, 0.0]          # accuracy on a class = recall
    assert m.precision[:2].tolist() == [0.5, 0.5]
    assert math.isnan(m.precision[2]) and math.isnan(m.precision[3])   # never predicted
    assert math.isnan(m.recall[3])                                     # no examples
    assert m.f1[0] == pytest.approx(0.5) and m.f1[1] == pytest.approx(2 / 3)


def test_predict_known_weights_gives_known_classes_and_confidences():
    m = tiny(widths=())                      # softmax regression: logits = W x
    with torch.no_grad():
        m.out.weight[3, 0] = 10.0            # pixel 0 votes for 3
        m.out.weight[7, 1] = 1.0             # pixel 1 votes (weakly) for 7
    x = torch.zeros(3, 784)
    x[0, 0] = 1.0
    x[1, 1] = 1.0                            # third image: all black -> uniform, arg-max 0
    p = D.predict(m, x, torch.tensor([3, 1, 0]), batch_size=2)   # two batches
    assert p.y_pred.tolist() == [3, 7, 0]
    e10, e1 = math.exp(10), math.e
    assert p.confidence[0] == pytest.approx(e10 / (e10 + 9), rel=1e-5)
    assert p.confidence[1] == pytest.approx(e1 / (e1 + 9), rel=1e-5)
    assert p.confidence[2] == pytest.approx(0.1, rel=1e-5)
    assert p.accuracy == pytest.approx(2 / 3)


def test_predict_refuses_a_model_in_training_mode():
    with pytest.raises(ValueError, match="eval mode"):
        D.predict(tiny().train(), torch.zeros(2, 784), torch.zeros(2, dtype=torch.long))


def test_mistakes_most_confident_first_and_cells():
    p = D.Predictions(np.array([1, 1, 2, 4, 4, 4]), np.array([1, 9, 3, 9, 9, 4]),
                      np.array([0.9, 0.6, 0.99, 0.7, np.nan, 0.5], dtype=np.float32))
    assert D.mistakes(p).tolist() == [2, 3, 1, 4]            # NaN confidence goes last
    assert D.mistakes(p, true=4, pred=9).tolist() == [3, 4]
    assert D.mistakes(p, true=1, pred=1).tolist() == [0]     # a diagonal cell: right answers
    assert D.mistakes(p, true=0, pred=0).tolist() == []
    assert D.mistakes(p, true=4).tolist() == [3, 4]            # only the 4s that were missed
    assert D.mistakes(p, pred=9).tolist() == [3, 1, 4]         # wrong answers "9"


# -- signal propagation -------------------------------------------------------------------------

def test_signal_stats_relu_by_hand():
    m = tiny((2,), "relu")
    with torch.no_grad():
        m.hidden[0].linear.weight[0, 0] = 1.0    # unit 1 = pixel 0
        m.hidden[0].linear.weight[1, 0] = -1.0   # unit 2 = -pixel 0: never > 0 -> dead
    x, y = pixel0_batch()
    s = D.signal_stats(m, x, y)
    (l,) = s.layers
    v = np.var([0.25, 0.5, 0.75, 1.0])           # 0.078125, the variance over the images
    assert l.pre_mean == pytest.approx(0.0)
    assert l.pre_std == pytest.approx(math.sqrt(v))                # both units vary by ±x
    assert l.act_mean == pytest.approx(0.625 / 2)
    assert l.act_std == pytest.approx(math.sqrt((v + 0) / 2))      # RMS over units of the std
    assert l.dead == 0.5 and l.saturated is None
    # Output weights 0 -> uniform softmax: ∂L/∂W_out[c] = mean_n (0.1 - [y=c]) h_n, h = (x0, 0)
    mean_x0 = 0.625
    expect_out = math.sqrt((0.9 * mean_x0) ** 2 + 9 * (0.1 * mean_x0) ** 2)
    assert s.grad_norms[1] == pytest.approx(expect_out, rel=1e-5)
    assert s.grad_norms[0] == 0.0                # W_out = 0: nothing flows back to layer 1
    assert s.loss == pytest.approx(math.log(10), rel=1e-5)
    assert s.fan_ins == (784, 2) and s.finite


def test_leaky_relu_uses_the_same_dead_definition():
    m = tiny((2,), "leaky_relu")
    with torch.no_grad():
        m.hidden[0].linear.weight[0, 0] = 1.0
        m.hidden[0].linear.weight[1, 0] = -1.0
    assert D.signal_stats(m, *pixel0_batch()).layers[0].dead == 0.5


@pytest.mark.parametrize("activation,expected", [("tanh", 3 / 8), ("sigmoid", 7 / 8)])
def test_saturated_fraction_by_hand(activation, expected):
    m = tiny((2,), activation)
    with torch.no_grad():
        m.hidden[0].linear.weight[0, 0] = 10.0    # pre = 2.5, 5, 7.5, 10
        m.hidden[0].linear.weight[1, 0] = -20.0 if activation == "sigmoid" else 0.1
    # tanh:    tanh(2.5) = 0.987 (not flat), tanh(5..10) > 0.99: 3 of 4; unit 2 (±0.1): none
    # sigmoid: σ(2.5) = 0.92, σ(5..10) > 0.99: 3 of 4; unit 2: σ(-5..-20) < 0.01: 4 of 4
    l = D.signal_stats(m, *pixel0_batch()).layers[0]
    assert l.saturated == pytest.approx(expected) and l.dead is None


def test_signal_stats_do_not_touch_the_model():
    torch.manual_seed(0)
    m = MLP(Arch((8, 8), "relu", 0.5, True)).eval()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    s = D.signal_stats(m, torch.rand(32, 784), torch.randint(0, 10, (32,)))
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)     # BN running stats too
    assert all(p.grad is None for p in m.parameters())
    assert not m.training
    # batch norm normalizes the pre-activations with the batch's own statistics
    assert all(l.pre_std == pytest.approx(1.0, abs=0.01) for l in s.layers)


def test_exploding_network_stays_reportable():
    m = tiny((4, 4, 4), "identity")
    with torch.no_grad():
        for lin in m.linears():
            lin.weight.fill_(1e15)
    s = D.signal_stats(m, torch.rand(8, 784), torch.zeros(8, dtype=torch.long))
    assert not s.finite
    assert not math.isfinite(s.layers[-1].act_std)
    text = " ".join(f.text for f in D.read_signal(s, HyperParams.validate(depth=3, width="4")))
    assert "Overflow" in text


# -- reading the picture ------------------------------------------------------------------------

def fake_stats(act_std, activation="relu", dead=None, saturated=None, grads=None, widths=128):
    n = len(act_std)
    layers = tuple(D.LayerSignal(i + 1, widths, 0.0, s, 0.0, s,
                                 dead[i] if dead else (0.0 if activation == "relu" else None),
                                 saturated[i] if saturated else None)
                   for i, s in enumerate(act_std))
    return D.SignalStats(activation, False, 512, 1.0, layers, 1.0,
                         tuple(grads or [1.0] * (n + 1)), (0.1,) * (n + 1),
                         (784, *[widths] * n), 2.3)


def test_read_signal_vanishing_suggests_he_sigma():
    hp = HyperParams.validate(depth=4, init="normal", init_sigma=0.01)
    text = D.read_signal(fake_stats([1, 0.1, 0.01, 0.001]), hp)[0].text
    assert "shrink by ~10× per layer" in text
    assert "σ = 0.01 is too small" in text
    assert "He init would use σ = 0.051 for layer 1" in text   # √(2/784)
    assert "σ = 0.12 for layer 2" in text                       # √(2/128)


def test_read_signal_exploding_and_sigmoid_suggests_xavier():
    hp = HyperParams.validate(depth=3, init="normal", init_sigma=5, activation="sigmoid")
    text = D.read_signal(fake_stats([1, 30, 900], "sigmoid"), hp)[0].text
    assert "grow by ~30× per layer" in text and "too large" in text and "Xavier" in text


def test_read_signal_dead_and_saturated_and_vanishing_gradient():
    hp = HyperParams.validate(depth=3)
    found = D.read_signal(fake_stats([1, 1, 1], dead=[0.0, 0.2, 0.7]), hp)
    assert found[0].level == "bad" and "70% of layer 3's units" in found[0].text
    hp = HyperParams.validate(depth=2, activation="tanh", init="normal", init_sigma=2)
    found = D.read_signal(fake_stats([1, 1], "tanh", saturated=[0.9, 0.4],
                                     grads=[2e-7, 1e-3, 1.0]), hp)
    assert "90% of layer 1's outputs" in found[0].text and "beyond ±0.99" in found[0].text
    assert any("Vanishing gradient" in f.text and "10⁷×" in f.text for f in found)


def test_read_signal_healthy_and_softmax_regression():
    hp = HyperParams.validate(depth=3)
    (f,) = D.read_signal(fake_stats([0.8, 0.7, 0.75]), hp)
    assert f.level == "ok" and "Healthy" in f.text
    (f,) = D.read_signal(fake_stats([]), HyperParams.validate(depth=0))
    assert "no hidden layers" in f.text


def test_read_signal_on_real_init_tells_small_sigma_from_he():
    """End to end on MNIST-sized inputs: σ = 0.01 in a 6-layer ReLU net vanishes, He does not."""
    torch.manual_seed(0)
    x, y = torch.rand(256, 784), torch.randint(0, 10, (256,))
    from core.nn.model import build
    for sigma_hp, vanishing in ((dict(init="normal", init_sigma=0.01), True), (dict(init="he"), False)):
        hp = HyperParams.validate(depth=6, **sigma_hp)
        m = build(hp, 0.13, 0.31, torch.Generator().manual_seed(0)).eval()
        texts = " ".join(f.text for f in D.read_signal(D.signal_stats(m, x, y), hp))
        assert ("Vanishing signal" in texts) == vanishing, texts


# -- weights ------------------------------------------------------------------------------------

def test_weight_histograms_now_vs_init():
    m = tiny((3,))
    init = {k: v.clone() for k, v in m.state_dict().items()}       # all zeros
    with torch.no_grad():
        m.hidden[0].linear.weight.fill_(1.0)
        m.out.weight[0, 0] = float("inf")
    h1, h2 = D.weight_histograms(m, init, bins=10)
    assert h1.name == "layer 1 (784→3)" and h2.name == "output (3→10)"
    assert h1.now.sum() == h1.init.sum() == 784 * 3
    assert h1.edges[0] <= 0 and h1.edges[-1] >= 1
    assert h1.now[-1] == 784 * 3 and h1.init[0] == 784 * 3      # ones in the last bin, zeros first
    assert h1.now_std == 0 and h1.init_std == 0
    assert h2.nonfinite == 1 and h2.now.sum() == 29             # the inf is counted apart


def test_first_layer_images_are_the_weight_rows():
    m = tiny((5,))
    with torch.no_grad():
        m.hidden[0].linear.weight.copy_(torch.arange(5 * 784, dtype=torch.float32).reshape(5, 784))
    img = D.first_layer_images(m, n=3)
    assert img.shape == (3, 28, 28)
    assert img[2, 1, 3] == 2 * 784 + 1 * 28 + 3               # unit 3, row 1, column 3
    assert D.first_layer_images(tiny(()), n=32).shape == (10, 28, 28)   # softmax regression
    init = {k: torch.full_like(v, 100.0) for k, v in m.state_dict().items()}
    delta = D.first_layer_images(m, n=3, initial_state=init)          # change since init
    assert delta[2, 1, 3] == 2 * 784 + 1 * 28 + 3 - 100


# -- readings against the run's own initialization (issue 14) -----------------------------------

def texts(findings):
    return " ".join(f.text for f in findings)


def test_saturation_that_grew_during_training_does_not_blame_sigma():
    """The issue's run: tanh, N(0, 0.05²), 784-128-128-10, trained fine. At initialization 5 %
    of layer 1's outputs were saturated, now 81 %: training did that, not σ (and Xavier's
    √(2/(784+128)) = 0.047 is within 20 % of 0.05 anyway)."""
    hp = HyperParams.validate(depth=2, width="128", activation="tanh", init="normal", init_sigma=0.05)
    at_init = fake_stats([0.6, 0.5], "tanh", saturated=[0.05, 0.01])
    now = fake_stats([0.9, 0.8], "tanh", saturated=[0.81, 0.3])
    found = D.read_signal(now, hp, initial=at_init)
    (sat,) = [f for f in found if "Saturated" in f.text]
    assert sat.level == "warn"
    assert "81% of layer 1's outputs" in sat.text and "At initialization: 5%" in sat.text
    assert "grew during training" in sat.text and "not the cause" in sat.text
    assert "σ =" not in texts(found) and "Xavier" not in texts(found)


def test_the_same_picture_read_as_an_initialization_never_advises_a_sigma_change_under_20_percent():
    hp = HyperParams.validate(depth=2, width="128", activation="tanh", init="normal", init_sigma=0.05)
    found = D.read_signal(fake_stats([0.9, 0.8], "tanh", saturated=[0.81, 0.3]), hp)
    assert "81% of layer 1's outputs" in found[0].text
    assert "0.047" not in texts(found) and "too large" not in found[0].text.split("tails")[1]
    assert "close to what Xavier init would use" in found[0].text


@pytest.mark.parametrize("sigma,direction,advised", [
    (0.0505 * 1.19, "large", False), (0.0505 * 1.25, "large", True), (1.0, "large", True),
    (0.125 / 1.19, "small", False), (0.125 / 1.25, "small", True), (0.001, "small", True)])
def test_sigma_advice_only_beyond_20_percent(sigma, direction, advised):
    """He for 784 → 128 → 128 → 10: σ = √(2/784) = 0.0505 for layer 1 and √(2/128) = 0.125 for
    layer 2. One σ for all layers is 'too large' only when it exceeds 1.2 × 0.0505 (the smallest
    layer's need) and 'too small' only below 0.125 / 1.2 (the largest one's)."""
    hp = HyperParams.validate(depth=2, width="128", init="normal", init_sigma=round(sigma, 6))
    stats = fake_stats([1.0, 1.0])
    advice = D.sigma_advice(stats, hp, direction)
    assert (advice is not None) == advised
    if advice:
        assert advice == (f"σ = {round(sigma, 6):g} is too {direction} for this depth; He init would "
                          "use σ = 0.051 for layer 1 and σ = 0.12 for layer 2 (σ = √(2/fan_in)).")
    assert D.sigma_advice(stats, HyperParams.validate(depth=2, width="128"), direction) is None  # He


def test_vanishing_since_initialization_blames_sigma_and_vanishing_from_training_does_not():
    hp = HyperParams.validate(depth=4, width="128", init="normal", init_sigma=0.01)
    vanishing = fake_stats([1, 0.1, 0.01, 0.001])
    healthy = fake_stats([1, 0.9, 0.95, 0.9])
    both = D.read_signal(vanishing, hp, initial=vanishing)[0].text
    assert "σ = 0.01 is too small" in both and "He init would use σ = 0.051" in both
    later = D.read_signal(vanishing, hp, initial=healthy)[0].text
    assert "Vanishing signal" in later and "appeared during training" in later
    assert "σ = 0.01" not in later and "0.97× per layer" in later   # init: (0.9)^(1/3)


def test_dead_units_that_died_during_training_name_the_learning_rate():
    hp = HyperParams.validate(depth=3, width="128")
    found = D.read_signal(fake_stats([1, 1, 1], dead=[0.0, 0.2, 0.7]), hp,
                          initial=fake_stats([1, 1, 1], dead=[0.0, 0.0, 0.02]))
    assert found[0].text.startswith("**Dead units (more since initialization):** 70% of layer 3's")
    assert "At initialization: 2%" in found[0].text and "learning rate kills" in found[0].text


def test_problems_of_the_initialization_that_training_removed_are_said():
    hp = HyperParams.validate(depth=4, width="128", init="normal", init_sigma=0.01)
    found = D.read_signal(fake_stats([1, 0.9, 0.95, 0.9]), hp, initial=fake_stats([1, 0.1, 0.01, 0.001]))
    assert [f.level for f in found] == ["ok", "ok"]
    assert found[0].text.startswith("**Healthy:**")
    assert "Better than at initialization" in found[1].text and "the signal vanished" in found[1].text


def test_real_tanh_network_whose_weights_grew_reads_as_training_not_sigma():
    """A real 784-128-128-10 tanh network at N(0, 0.05²) on real MNIST images, then the same
    network with every weight ×4 (what a long run with a large learning rate does): real
    statistics, not hand-made ones."""
    from core.nn import data
    from core.nn.model import build
    hp = HyperParams.validate(depth=2, width="128", activation="tanh", init="normal", init_sigma=0.05)
    ds = data.load("mnist")
    x, y = ds.train_x[:256], ds.train_y[:256]
    m = build(hp, ds.mean, ds.std, torch.Generator().manual_seed(0)).eval()
    at_init = D.signal_stats(m, x, y)
    with torch.no_grad():
        for lin in m.linears():
            lin.weight.mul_(4)
    now = D.signal_stats(m, x, y)
    assert at_init.layers[0].saturated < 0.2 <= now.layers[0].saturated     # it really grew
    found = D.read_signal(now, hp, initial=at_init)
    assert any("grew during training" in f.text for f in found)
    assert "σ = 0.05" not in texts(found) and "Xavier" not in texts(found)
    # Read as an initialization, the same picture does blame σ = 0.2 (4 × 0.05).
    as_init = D.read_signal(now, hp.replace(init_sigma=0.2))
    assert "σ = 0.2 is too large for this depth; Xavier init would use σ = 0.047" in texts(as_init)
