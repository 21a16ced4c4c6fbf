"""The hyper-parameter schema: one definition drives validation, widgets, URL and CLI."""
import pytest

from core.cli.train import build_parser
from core.nn.config import PARAM, PARAMS, ConfigError, HyperParams, log_grid, parse_widths, structural_changes


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


# -- values written back as text (URL, CLI, tables) -----------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st

from core.nn.config import GROUPS, cli_flags, float_text, format_value, parse_value  # noqa: E402


def values_of(p):
    """Every kind of value a parameter can hold: its range's ends, its grid, awkward floats."""
    if p.kind is bool:
        return st.booleans()
    if p.choices:
        return st.sampled_from(p.choices)
    if p.name == "width":
        widths = st.integers(1, 4096)
        return st.one_of(widths.map(str), st.lists(widths, min_size=2, max_size=12).map(
            lambda ws: ",".join(map(str, ws))))
    if p.kind is int:
        return st.integers(int(p.low), int(p.high))
    return st.floats(p.low, p.high, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("p", PARAMS, ids=lambda p: p.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_value_reads_back_exactly_from_its_text(p, data):
    value = data.draw(values_of(p))
    text = p.to_text(value)
    assert isinstance(text, str) and text == text.strip() and "&" not in text and " " not in text
    back = parse_value(p, text)
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize("p", PARAMS, ids=lambda p: p.name)
def test_grid_range_ends_and_defaults_read_back_exactly(p):
    values = [p.default, *(p.grid or ()), *(p.choices or ())]
    if p.low is not None:
        values += [p.kind(p.low), p.kind(p.high)]
    if p.kind is float:   # every 3-digit mantissa over the range's decades
        lo = max(p.low, 1e-6)
        values += [m / 100 * 10.0 ** e for m in range(100, 1000) for e in range(-6, 2)
                   if lo <= m / 100 * 10.0 ** e <= p.high]
    for v in values:
        assert parse_value(p, p.to_text(v)) == v, (p.name, v, p.to_text(v))


@pytest.mark.parametrize("value,text", [
    (0.0004, "0.0004"), (0.001, "0.001"), (1e-5, "1e-5"), (5e-5, "5e-5"), (10.0, "10"),
    (0.1 + 0.2, "0.30000000000000004"), (0.00012345678, "0.00012345678"), (0.0, "0")])
def test_floats_are_written_short_and_exact(value, text):
    assert float_text(value) == text
    assert PARAM["lr"].to_text(0.0004) == "0.0004"   # the link: lr=0.0004 became 0.0005


def test_bools_ints_and_strings_as_text():
    assert PARAM["batch_norm"].to_text(True) == "true" and PARAM["batch_norm"].to_text(False) == "false"
    assert PARAM["batch_size"].to_text(256) == "256"
    assert PARAM["width"].to_text("1000,100") == "1000,100"


def test_values_for_people_say_what_zero_means_and_name_choices():
    assert format_value(PARAM["subset"], 0) == "all"
    assert format_value(PARAM["subset"], 4000) == "4000"
    assert format_value(PARAM["activation"], "leaky_relu") == "Leaky ReLU (0.01)"
    assert format_value(PARAM["lr"], 0.0004) == "0.0004"


def test_cli_flags_are_the_non_defaults_and_reproduce_the_settings():
    assert cli_flags(HyperParams.validate()) == []
    hp = HyperParams.validate(depth=3, width="300,100,30", lr=0.0004, batch_norm=True,
                              optimizer="nesterov", momentum=0.95, subset=4000, init="normal",
                              init_sigma=0.0123456)
    flags = cli_flags(hp)
    assert flags == ["--depth", "3", "--width", "300,100,30", "--init", "normal",
                     "--init-sigma", "0.0123456", "--optimizer", "nesterov", "--lr", "0.0004",
                     "--momentum", "0.95", "--batch-norm", "--subset", "4000"]
    args = vars(build_parser().parse_args(flags))
    assert HyperParams.validate({p.name: args[p.name] for p in PARAMS}) == hp
    # a default that is true is switched off with --no-...
    on = HyperParams.validate(early_stopping=True)
    assert cli_flags(on) == ["--early-stopping"]


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_cli_flags_round_trip_through_the_cli_parser(data):
    raw = {p.name: data.draw(values_of(p)) for p in PARAMS if p.name not in ("width", "subset")}
    raw["width"] = str(data.draw(st.integers(1, 64)))
    if raw["optimizer"] == "nesterov" and raw["momentum"] == 0:
        raw["momentum"] = 0.5
    hp = HyperParams.validate(raw)
    args = vars(build_parser().parse_args(cli_flags(hp)))
    assert HyperParams.validate({p.name: args[p.name] for p in PARAMS}) == hp


# -- the sidebar's order ----------------------------------------------------------------------------

def test_sidebar_leads_with_the_network_its_init_and_the_optimizer_and_ends_with_data():
    assert GROUPS[:3] == ("Network", "Initialization", "Optimizer")
    assert GROUPS[-1] == "Data"
    first = [p.name for p in PARAMS if p.group in GROUPS[:3]]
    assert first[:2] == ["depth", "width"] and "lr" in first and "init" in first
    assert {"dataset", "val_fraction", "subset"} == {p.name for p in PARAMS if p.group == "Data"}
    assert {"seed", "patience", "early_stopping"} <= {p.name for p in PARAMS if p.group == "More"}
    # PARAMS is ordered by group, so the sidebar (group by group) shows the schema's order
    assert [p.group for p in PARAMS] == sorted((p.group for p in PARAMS), key=GROUPS.index)


def test_a_controls_visibility_depends_only_on_controls_above_it():
    """The sidebar decides each control's visibility from the values chosen above it: a `shown`
    rule that read a later parameter would see its default, not the user's choice."""
    for i, p in enumerate(PARAMS):
        if p.shown is None:
            continue
        above = {q.name: q.default for q in PARAMS[:i]}

        class Spy(dict):
            def get(self, key, default=None):
                assert key in above, f"{p.name} is shown depending on {key}, which comes later"
                return super().get(key, default)
        p.shown(Spy(above))


def test_the_subset_control_says_all_for_its_default():
    p = PARAM["subset"]
    assert p.default == 0 and p.zero_means == "all" and format_value(p, p.default) == "all"
