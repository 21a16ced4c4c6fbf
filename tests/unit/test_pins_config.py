"""core.nn.config: the schema's rules pinned value by value, with every message a user can see
written out (the sidebar, the URL and the CLI all show them)."""
import pytest

from core.nn.config import (
    ACTIVATIONS,
    CHOICE_LABELS,
    DATASETS,
    INITS,
    LIVE_PARAMS,
    LOSSES,
    MAX_DEPTH,
    MAX_WIDTH,
    OPTIMIZERS,
    PARAM,
    PARAMS,
    ConfigError,
    HyperParams,
    cli_flags,
    float_text,
    format_value,
    log_grid,
    parse_value,
    parse_widths,
    structural_changes,
)


def errors(**raw):
    with pytest.raises(ConfigError) as e:
        HyperParams.validate(raw)
    return e.value.errors


def test_the_schema_ranges_and_defaults():
    table = {p.name: (p.kind, p.default, p.low, p.high) for p in PARAMS}
    assert table == {
        "depth": (int, 2, 0, MAX_DEPTH), "width": (str, "256", None, None),
        "activation": (str, "relu", None, None), "dropout": (float, 0.2, 0.0, 0.9),
        "init": (str, "he", None, None), "init_sigma": (float, 0.1, 1e-3, 10.0),
        "optimizer": (str, "adam", None, None), "lr": (float, 1e-3, 1e-5, 10.0),
        "momentum": (float, 0.9, 0.0, 0.999), "batch_size": (int, 128, 1, 8192),
        "epochs": (int, 8, 1, 200), "weight_decay": (float, 0.0, 0.0, 0.1),
        "batch_norm": (bool, False, None, None), "loss": (str, "cross_entropy", None, None),
        "early_stopping": (bool, False, None, None), "patience": (int, 3, 1, 50),
        "seed": (int, 0, 0, 2**31 - 1), "dataset": (str, "mnist", None, None),
        "val_fraction": (float, 0.1, 0.01, 0.5), "subset": (int, 0, 0, 60000)}
    assert (MAX_DEPTH, MAX_WIDTH) == (12, 4096)
    assert LIVE_PARAMS == ("lr", "momentum", "weight_decay")
    assert PARAM["activation"].choices == ACTIVATIONS and PARAM["init"].choices == INITS
    assert PARAM["optimizer"].choices == OPTIMIZERS and PARAM["loss"].choices == LOSSES
    assert PARAM["dataset"].choices == DATASETS
    assert {p.name for p in PARAMS if p.log} == {"init_sigma", "lr"}
    assert PARAM["subset"].zero_means == "all"
    assert PARAM["batch_size"].grid == tuple(2 ** i for i in range(14))
    assert PARAM["dropout"].grid[:3] == (0.0, 0.05, 0.1) and PARAM["dropout"].grid[-1] == 0.9
    assert all(c in CHOICE_LABELS for p in PARAMS for c in (p.choices or ()))


def test_flags_are_the_names_with_dashes():
    assert PARAM["batch_size"].flag == "--batch-size" and PARAM["lr"].flag == "--lr"
    assert PARAM["init_sigma"].flag == "--init-sigma"


def test_log_grid_steps_1_2_3_5_per_decade():
    assert log_grid(1e-5, 10.0)[:5] == (1e-5, 2e-5, 3e-5, 5e-5, 1e-4)
    assert log_grid(1e-5, 10.0)[-4:] == (2.0, 3.0, 5.0, 10.0)
    assert len(log_grid(1e-5, 10.0)) == 6 * 4 + 1
    assert log_grid(0.002, 0.03) == (0.002, 0.003, 0.005, 0.01, 0.02, 0.03)
    assert PARAM["lr"].grid == log_grid(1e-5, 10.0) and PARAM["init_sigma"].grid == log_grid(1e-3, 10.0)


@pytest.mark.parametrize("raw,value", [
    (True, True), (False, False), ("1", True), ("true", True), (" Yes ", True), ("ON", True),
    ("0", False), ("false", False), ("no", False), ("off", False)])
def test_bools_from_text(raw, value):
    assert parse_value(PARAM["batch_norm"], raw) is value


def test_a_bad_bool_is_named():
    with pytest.raises(ValueError) as e:
        parse_value(PARAM["batch_norm"], "maybe")
    assert str(e.value) == "expected true or false, got 'maybe'"


@pytest.mark.parametrize("raw,value", [("3", 3), (" 12 ", 12), ("1_0", 10), (4.0, 4), (7, 7)])
def test_ints_from_text_and_numbers(raw, value):
    got = parse_value(PARAM["epochs"], raw)
    assert got == value and type(got) is int


@pytest.mark.parametrize("raw", ["2.5", 2.5, "two", None, ""])
def test_a_non_integer_is_refused_with_its_kind(raw):
    with pytest.raises(ValueError) as e:
        parse_value(PARAM["epochs"], raw)
    assert str(e.value) == f"expected an integer, got {raw!r}"


@pytest.mark.parametrize("raw", ["abc", None, "nan", "inf", float("-inf")])
def test_a_non_number_or_a_non_finite_one_is_refused(raw):
    with pytest.raises(ValueError) as e:
        parse_value(PARAM["lr"], raw)
    kind = "a number" if raw in ("abc", None) else "a finite number"
    assert str(e.value) == f"expected {kind}, got {raw!r}"


def test_range_ends_are_inside_and_the_message_names_the_range():
    p = PARAM["lr"]
    assert parse_value(p, "1e-5") == 1e-5 and parse_value(p, 10) == 10.0
    with pytest.raises(ValueError) as e:
        parse_value(p, "10.5")
    assert str(e.value) == "10.5 is outside the range 1e-5 to 10"
    with pytest.raises(ValueError) as e:
        parse_value(PARAM["depth"], -1)
    assert str(e.value) == "-1 is outside the range 0 to 12"


def test_choices_are_stripped_and_checked():
    assert parse_value(PARAM["activation"], " tanh ") == "tanh"
    with pytest.raises(ValueError) as e:
        parse_value(PARAM["init"], "lecun")
    assert str(e.value) == "'lecun' is not one of he, xavier, normal, pytorch"
    assert parse_value(PARAM["width"], " 10,20 ") == "10,20"       # free text: no choices


@pytest.mark.parametrize("text,depth,widths", [
    ("7;8", 2, (7, 8)), ("1,,2", 2, (1, 2)), ("4096", 1, (4096,)), ("1", 3, (1, 1, 1)), ("junk", 0, ())])
def test_widths_separators_and_ends(text, depth, widths):
    assert parse_widths(text, depth) == widths


@pytest.mark.parametrize("text,message", [
    ("4097", "each width must be between 1 and 4096"),
    ("5,0", "each width must be between 1 and 4096"),
    ("a,b", "'a,b' is not a number or a comma-separated list of numbers"),
    (" , ", "give the number of units, e.g. 128 or 1000,100"),
    ("1,2,3", "3 widths given for 2 hidden layers: give one number, or exactly 2")])
def test_width_messages(text, message):
    with pytest.raises(ValueError) as e:
        parse_widths(text, 2)
    assert str(e.value) == message


def test_widths_are_written_back_in_their_shortest_form():
    assert HyperParams.validate(depth=2, width="64,64").width == "64"
    assert HyperParams.validate(depth=2, width=" 64 ; 32 ").width == "64,32"
    assert HyperParams.validate(depth=0, width="whatever").width == "whatever"   # unused at depth 0
    assert HyperParams.validate(depth=3, width="5").widths == (5, 5, 5)


def test_every_error_is_reported_under_its_name_with_its_message():
    e = errors(depth="x", width="1,2", lr=0, bogus=1, batch_norm="perhaps")
    assert e == {"bogus": "unknown hyper-parameter", "depth": "expected an integer, got 'x'",
                 "lr": "0 is outside the range 1e-5 to 10",
                 "batch_norm": "expected true or false, got 'perhaps'"}
    with pytest.raises(ConfigError) as exc:
        HyperParams.validate(depth=3, width="1,2")
    assert str(exc.value) == "width: 2 widths given for 3 hidden layers: give one number, or exactly 3"


def test_the_subset_must_fit_the_training_split():
    assert errors(subset=9) == {"subset": "use at least 10 images (or 0 for all)"}
    assert HyperParams.validate(subset=10).subset == 10
    assert HyperParams.validate(subset=30000, val_fraction=0.5).subset == 30000
    assert errors(subset=30001, val_fraction=0.5) == {
        "subset": "only 30,000 training images are left after holding out 50% for validation (0 = all)"}


def test_nesterov_needs_momentum_but_plain_momentum_may_be_zero():
    assert errors(optimizer="nesterov", momentum=0) == {"momentum": "Nesterov momentum needs a momentum above 0"}
    assert HyperParams.validate(optimizer="momentum", momentum=0).momentum == 0
    assert HyperParams.validate(optimizer="nesterov", momentum=0.001).momentum == 0.001


def test_to_dict_replace_and_non_defaults():
    hp = HyperParams.validate(lr="0.01", depth=1)
    d = hp.to_dict()
    assert d["lr"] == 0.01 and d["depth"] == 1 and list(d) == [p.name for p in PARAMS]
    assert hp.non_defaults() == {"depth": 1, "lr": 0.01}
    again = hp.replace(lr=0.5)
    assert again.lr == 0.5 and again.depth == 1 and hp.lr == 0.01
    with pytest.raises(ConfigError):
        hp.replace(lr=50)


@pytest.mark.parametrize("raw,text", [
    ({}, "784-256-256-10 relu, he init, adam lr 0.001, batch 128"),
    ({"depth": 0}, "784-10 (softmax regression), he init, adam lr 0.001, batch 128"),
    ({"depth": 2, "width": "1000,100", "activation": "tanh", "init": "normal", "init_sigma": 0.05,
      "optimizer": "sgd", "lr": 0.1, "batch_size": 32},
     "784-1000-100-10 tanh, N(0,0.05²) init, sgd lr 0.1, batch 32")])
def test_describe(raw, text):
    assert HyperParams.validate(raw).describe() == text


def test_values_for_people():
    assert format_value(PARAM["subset"], 0) == "all" and format_value(PARAM["seed"], 0) == "0"
    assert format_value(PARAM["optimizer"], "nesterov") == "SGD + Nesterov momentum"
    assert format_value(PARAM["batch_norm"], True) == "true"
    assert format_value(PARAM["lr"], 1e-5) == "1e-5" and float_text(2.5e10) == "2.5e10"
    assert float_text(-0.5) == "-0.5" and float_text(1e-7) == "1e-7"


def test_cli_flags_write_a_bool_off_as_no_flag():
    hp = HyperParams.validate(batch_norm=True, early_stopping=True, patience=5)
    assert cli_flags(hp) == ["--batch-norm", "--early-stopping", "--patience", "5"]


def test_structural_changes_name_every_non_live_difference_in_schema_order():
    a = HyperParams.validate()
    b = a.replace(seed=2, dataset="fashion", lr=0.5, weight_decay=0.01, width="128", batch_norm=True)
    assert structural_changes(a, b) == ["width", "batch_norm", "seed", "dataset"]
    assert structural_changes(b, b) == []


@pytest.mark.parametrize("name,shown_for,hidden_for", [
    ("width", {"depth": 1}, {"depth": 0}),
    ("width", {}, {"depth": None}),
    ("activation", {"depth": "3"}, {"depth": 0}),
    ("dropout", {"depth": 12}, {"depth": 0}),
    ("batch_norm", {"depth": 1}, {"depth": 0}),
    ("init_sigma", {"init": "normal"}, {"init": "xavier"}),
    ("momentum", {"optimizer": "nesterov"}, {"optimizer": "rmsprop"}),
    ("momentum", {"optimizer": "momentum"}, {"optimizer": "sgd"}),
    ("patience", {"early_stopping": True}, {"early_stopping": False}),
])
def test_controls_are_shown_only_where_they_matter(name, shown_for, hidden_for):
    assert PARAM[name].is_shown(shown_for) and not PARAM[name].is_shown(hidden_for)
    assert PARAM["lr"].is_shown({}) and PARAM["seed"].is_shown({"depth": 0})


def test_a_switch_that_defaults_to_on_is_written_as_no_flag(monkeypatch):
    """No switch defaults to on today; one that did would be turned off with --no-..."""
    import dataclasses

    from core.nn import config
    params = tuple(dataclasses.replace(p, default=True) if p.name == "batch_norm" else p for p in PARAMS)
    monkeypatch.setattr(config, "PARAMS", params)
    monkeypatch.setattr(config, "PARAM", {p.name: p for p in params})
    hp = HyperParams.validate(batch_norm=False, depth=3)
    assert cli_flags(hp) == ["--depth", "3", "--no-batch-norm"]


def test_a_value_outside_the_choices_is_shown_as_it_is():
    assert format_value(PARAM["activation"], "swish") == "swish"


def test_the_error_message_lists_every_problem():
    assert str(ConfigError({"lr": "too big", "depth": "not a number"})) == "lr: too big; depth: not a number"


def test_underscores_typed_anywhere_in_a_whole_number_are_ignored():
    """A URL or CLI value like '60_000' is a number; so are sloppier groupings ('10__000',
    '1000_'), which Python's int() alone would refuse."""
    assert parse_value(PARAM["subset"], " 10__000 ") == 10000
    assert parse_value(PARAM["subset"], "1000_") == 1000
    assert parse_value(PARAM["batch_size"], "_64") == 64
    with pytest.raises(ValueError, match="expected an integer, got '6 4'"):
        parse_value(PARAM["batch_size"], "6 4")
