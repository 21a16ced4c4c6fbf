"""core.nn.checkpoint: CPU copies of nested states, and which checkpoints a run accepts."""
import io

import pytest
import torch

from core.nn import checkpoint as ckpt
from core.nn.config import HyperParams


def test_cpu_copies_every_tensor_at_every_depth_and_keeps_the_rest():
    w = torch.arange(4.0, requires_grad=True)
    state = {"w": w, "n": 3, "name": "x", "none": None,
             "opt": {"state": {0: {"exp_avg": torch.ones(2)}},
                     "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
             "order": [torch.zeros(1), 5]}
    out = ckpt.cpu(state)
    assert set(out) == set(state)
    assert torch.equal(out["w"], torch.arange(4.0)) and not out["w"].requires_grad
    assert out["w"].device.type == "cpu"
    assert (out["n"], out["name"], out["none"]) == (3, "x", None)
    assert out["opt"]["param_groups"] == [{"lr": 0.1, "params": [0, 1]}]
    assert out["opt"]["param_groups"] is not state["opt"]["param_groups"]      # copied, not shared
    assert out["opt"]["param_groups"][0] is not state["opt"]["param_groups"][0]
    with torch.no_grad():                         # later training must not change the copy
        w.add_(10)
        state["opt"]["state"][0]["exp_avg"].add_(10)
    state["opt"]["param_groups"][0]["lr"] = 9.0
    assert torch.equal(out["w"], torch.arange(4.0))
    assert torch.equal(out["opt"]["state"][0]["exp_avg"], torch.ones(2))
    assert out["opt"]["param_groups"][0]["lr"] == 0.1
    assert out["order"][1] == 5 and out["order"][0] is state["order"][0]   # only dicts in lists are copied


def test_a_copied_state_saves_and_loads_with_weights_only():
    state = ckpt.cpu({"format": ckpt.FORMAT, "model": {"w": torch.ones(2)}, "epoch": 1})
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    assert back["epoch"] == 1 and torch.equal(back["model"]["w"], torch.ones(2))


def config(**kw):
    return HyperParams.validate(**kw).to_dict()


def test_a_checkpoint_of_the_same_settings_is_accepted():
    assert ckpt.FORMAT == 1 and (ckpt.CHECKPOINT, ckpt.BEST) == ("checkpoint", "best")
    ckpt.check({"format": 1, "config": config()}, config())


@pytest.mark.parametrize("state", [None, [], "checkpoint", {}, {"format": 2, "config": {}},
                                   {"format": "1", "config": {}}])
def test_another_format_is_refused(state):
    with pytest.raises(ckpt.CheckpointError, match="another version of the playground"):
        ckpt.check(state, config())


@pytest.mark.parametrize("change", [
    {"dataset": "fashion"}, {"depth": 3}, {"width": "128"}, {"batch_norm": True},
    {"batch_size": 64}, {"subset": 5000}, {"val_fraction": 0.2}, {"seed": 1},
    {"optimizer": "sgd"}, {"loss": "mse"}])
def test_each_setting_the_weights_or_the_data_order_depend_on_is_named(change):
    name = next(iter(change))
    with pytest.raises(ckpt.CheckpointError, match=rf"other settings \({name}\)"):
        ckpt.check({"format": 1, "config": config(**change)}, config())


def test_several_differences_are_named_together():
    with pytest.raises(ckpt.CheckpointError, match=r"\(depth, seed\)"):
        ckpt.check({"format": 1, "config": config(depth=1, seed=3)}, config())


def test_a_checkpoint_without_a_config_is_refused():
    with pytest.raises(ckpt.CheckpointError, match="other settings"):
        ckpt.check({"format": 1}, config())


@pytest.mark.parametrize("change", [{"lr": 0.5}, {"momentum": 0.5}, {"weight_decay": 0.01},
                                    {"epochs": 20}, {"early_stopping": True}, {"patience": 7}])
def test_settings_that_may_change_between_sessions_are_accepted(change):
    ckpt.check({"format": 1, "config": config(**change)}, config())
