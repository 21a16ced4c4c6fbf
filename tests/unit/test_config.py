"""The hyper-parameter schema: one definition drives validation, widgets, URL and CLI."""
import pytest

from core.config import PARAM, PARAMS, ConfigError, HyperParams, log_grid, parse_widths, structural_changes
from core.train import build_parser


def test_defaults_are_valid_and_in_range():
    hp = HyperParams.validate()
    for p in PARAMS:
        assert getattr(hp, p.name) == p.default
        assert p.help and p.label, p.name
        if p.grid:
            assert p.default in p.grid, p.name
            assert all(p.low <= v <= p.high for v in p.grid), p.name


def test_strings_from_a_url_or_cli_are_parsed():
    hp = HyperParams.validate({"depth": "3", "lr": "0.01", "batch_norm": "true", "width": "64"})
    assert (hp.depth, hp.lr, hp.batch_norm, hp.widths) == (3, 0.01, True, (64, 64, 64))


def test_all_errors_are_reported_together_with_readable_messages():
    with pytest.raises(ConfigError) as e:
        HyperParams.validate(depth="two", lr=100, activation="swish", bogus=1)
    errors = e.value.errors
    assert set(errors) == {"depth", "lr", "activation", "bogus"}
    assert "outside the range" in errors["lr"]
    assert "relu" in errors["activation"]


@pytest.mark.parametrize("text,depth,expected", [
    ("128", 2, (128, 128)), ("1000,100", 2, (1000, 100)), (" 5 , 6 , 7 ", 3, (5, 6, 7)), ("9", 0, ())])
def test_widths(text, depth, expected):
    assert parse_widths(text, depth) == expected


@pytest.mark.parametrize("text,depth,fragment", [
    ("1000,100", 3, "2 widths given for 3"), ("abc", 1, "not a number"), ("0", 1, "between 1"),
    ("", 1, "give the number")])
def test_bad_widths(text, depth, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_widths(text, depth)


def test_subset_larger_than_the_training_split_is_explained():
    with pytest.raises(ConfigError) as e:
        HyperParams.validate(subset=60000, val_fraction=0.1)
    assert "54,000" in e.value.errors["subset"]
    assert HyperParams.validate(subset=54000).subset == 54000


def test_nesterov_needs_momentum():
    with pytest.raises(ConfigError, match="Nesterov"):
        HyperParams.validate(optimizer="nesterov", momentum=0)


def test_hidden_controls_depend_on_other_values():
    assert not PARAM["init_sigma"].is_shown({"init": "he"})
    assert PARAM["init_sigma"].is_shown({"init": "normal"})
    assert not PARAM["momentum"].is_shown({"optimizer": "adam"})
    assert not PARAM["width"].is_shown({"depth": 0})


def test_structural_vs_live_changes():
    a = HyperParams.validate()
    assert structural_changes(a, a.replace(lr=0.1, momentum=0.5)) == []
    assert structural_changes(a, a.replace(depth=3, seed=1)) == ["depth", "seed"]


def test_cli_has_one_flag_per_parameter():
    flags = {a.dest for a in build_parser()._actions}
    assert {p.name for p in PARAMS} <= flags


def test_log_grid():
    assert log_grid(1e-3, 1e-2) == (0.001, 0.002, 0.003, 0.005, 0.01)
