"""``kobai.tune.space``: the search-space syntax of ``kobai tune``, its refusals, the book's
defaults, and the Ray Tune param_space it turns into (sampled here without a Ray cluster)."""

import json
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import DLFS, require_shared
from hypothesis import given, settings
from hypothesis import strategies as st

from kobai.tune.space import (
    BOOK_DEFAULTS,
    OPTIONS,
    SYNTAX_HELP,
    Choice,
    Fixed,
    Range,
    SearchSpace,
    SpaceError,
    parse_option,
)


def draws(domain, n=4000, seed=0):
    """``n`` samples of a Ray Tune domain, drawn with a seeded generator."""
    return domain.sample(size=n, random_state=np.random.default_rng(seed))


# -- the syntax -------------------------------------------------------------------------------

@pytest.mark.parametrize("dest, tokens, expected", [
    ("lr", "0.01", Fixed(0.01)),
    ("lr", "1e-3", Fixed(0.001)),
    ("optimizer", "adam", Fixed("adam")),
    ("optimizer", "Adam", Fixed("adam")),  # lower-cased, as kobai train's --optimizer
    ("net", "cnn", Fixed("cnn")),
    ("activation", "tanh", Fixed("tanh")),
    ("weight_decay", "0", Fixed(0.0)),
    ("dropout", "0.2", Fixed(0.2)),
    ("dropout", "none", Fixed(None)),
    ("batch_size", "100", Fixed(100)),
    ("batchnorm", True, Fixed(True)),
    ("batchnorm", "on", Fixed(True)),
    ("batchnorm", "off", Fixed(False)),
    ("hidden", ["100", "100"], Fixed([100, 100])),
    ("hidden", ["100"], Fixed([100])),
    ("hidden", "100x6", Fixed([100] * 6)),
    ("hidden", ["100-50"], Fixed([100, 50])),
    ("hidden", ["100x2-50"], Fixed([100, 100, 50])),
    ("hidden", ["100x2", "50"], Fixed([100, 100, 50])),
])
def test_a_fixed_value_is_written_as_in_kobai_train(dest, tokens, expected):
    assert parse_option(dest, tokens) == expected


@pytest.mark.parametrize("dest, tokens, expected", [
    ("lr", "1e-6:1e-2:log", Range(1e-6, 1e-2, log=True)),
    ("lr", "0.001:0.1", Range(0.001, 0.1)),
    ("weight_decay", "0:1e-3", Range(0.0, 1e-3)),
    ("dropout", "0.1:0.5", Range(0.1, 0.5)),
    ("batch_size", "32:256:log", Range(32, 256, log=True, integer=True)),
    ("batch_size", "50:60", Range(50, 60, integer=True)),
    ("hidden", ["50:200x6"], Range(50, 200, integer=True, depth=6)),
    ("hidden", ["50:400:logx3"], Range(50, 400, log=True, integer=True, depth=3)),
    ("hidden", ["50:200"], Range(50, 200, integer=True, depth=1)),
])
def test_a_range_is_low_colon_high_with_log_for_log_uniform(dest, tokens, expected):
    assert parse_option(dest, tokens) == expected


@pytest.mark.parametrize("dest, tokens, expected", [
    ("optimizer", "sgd,adam", Choice(("sgd", "adam"))),
    ("net", "mlp,cnn", Choice(("mlp", "cnn"))),
    ("batch_size", "50,100,200", Choice((50, 100, 200))),
    ("activation", "relu,sigmoid", Choice(("relu", "sigmoid"))),
    ("batchnorm", "on,off", Choice((True, False))),
    ("dropout", "none,0.2,0.5", Choice((None, 0.2, 0.5))),
    ("lr", "0.1,0.01", Choice((0.1, 0.01))),
    ("hidden", ["100x6,50x2,200"], Choice(([100] * 6, [50, 50], [200]))),
    ("hidden", "100-50,100", Choice(([100, 50], [100]))),
])
def test_a_choice_is_comma_separated(dest, tokens, expected):
    assert parse_option(dest, tokens) == expected


@pytest.mark.parametrize("dest, tokens, message", [
    ("lr", "1e-2:1e-6:log", "--lr 1e-2:1e-6:log: the range is reversed (LOW must be < HIGH)"),
    ("lr", "0:1:log", "--lr 0:1:log: a log range needs LOW > 0"),
    ("weight_decay", "0:1e-3:log", "--weight-decay 0:1e-3:log: a log range needs LOW > 0"),
    ("lr", "0.1:0.1", "--lr 0.1:0.1: the range is empty"),
    ("lr", "0", "--lr 0: expected a learning rate > 0"),
    ("lr", "-0.1:0.1", "--lr -0.1:0.1: expected a learning rate > 0, got -0.1"),
    ("lr", "nan", "--lr nan: expected a learning rate > 0"),
    ("lr", "inf", "--lr inf: expected a learning rate > 0"),
    ("lr", "fast", "--lr fast: expected a learning rate > 0"),
    ("lr", "1e-6:1e-2:ln", "--lr 1e-6:1e-2:ln: expected LOW:HIGH or LOW:HIGH:log"),
    ("lr", "1:2:3:log", "--lr 1:2:3:log: expected LOW:HIGH or LOW:HIGH:log"),
    ("lr", "0.1,1e-3:1e-2", "--lr 0.1,1e-3:1e-2: a choice lists fixed values, not ranges"),
    ("batch_size", "1.5", "--batch-size 1.5: expected a positive integer"),
    ("batch_size", "0", "--batch-size 0: expected a positive integer"),
    ("batch_size", "-5", "--batch-size -5: expected a positive integer"),
    ("batch_size", "32:256.5", "--batch-size 32:256.5: expected a positive integer, got 256.5"),
    ("weight_decay", "-1e-3", "--weight-decay -1e-3: expected a weight decay >= 0"),
    ("dropout", "1.0", "--dropout 1.0: expected a dropout ratio in [0, 1)"),
    ("dropout", "0.1:1", "--dropout 0.1:1: expected a dropout ratio in [0, 1), got 1"),
    ("dropout", "none:0.5", "--dropout none:0.5: expected a dropout ratio in [0, 1)"),
    ("optimizer", "sgdd", "--optimizer sgdd: expected one of sgd, momentum, "),
    ("net", "resnet", "--net resnet: expected one of two-layer, mlp, cnn, deepcnn"),
    ("activation", "relu,gelu", "--activation relu,gelu: expected one of "),
    ("optimizer", "sgd,,adam", "--optimizer sgd,,adam: a choice has an empty item"),
    ("optimizer", "sgd,", "--optimizer sgd,: a choice has an empty item"),
    ("optimizer", "sgd,adam,sgd", "--optimizer sgd,adam,sgd: sgd is listed twice"),
    ("lr", "0.1,1e-1", "--lr 0.1,1e-1: 1e-1 is listed twice"),
    ("hidden", "100x2,100-100", "--hidden 100x2,100-100: 100-100 is listed twice"),
    ("net", "mlp:cnn", "--net mlp:cnn: --net takes a value or a choice (a,b), not a range"),
    ("optimizer", "sgd:adam", "--optimizer sgd:adam: --optimizer takes a value or a choice"),
    ("activation", "a:b", "--activation a:b: --activation takes a value or a choice"),
    ("batchnorm", "on:off", "--batchnorm on:off: --batchnorm takes a value or a choice"),
    ("batchnorm", "yes", "--batchnorm yes: expected on or off"),
    ("dropout", "none,none", "--dropout none,none: none is listed twice"),
    ("lr", ["0.1", "0.2"], "--lr 0.1 0.2: expected one value, range or choice"),
    ("lr", "", "--lr: expected a value, a range or a choice"),
    ("hidden", [], "--hidden: expected a value, a range or a choice"),
    ("lr", True, "--lr needs a value"),
    ("lr", {"low": 1}, "--lr: expected the option's words"),
    ("hidden", ["0"], "--hidden 0: expected layer widths, positive integers"),
    ("hidden", ["0x3"], "--hidden 0x3: expected layer widths, positive integers"),
    ("hidden", ["100x0"], "--hidden 100x0: expected a layer count after x"),
    ("hidden", ["100-"], "--hidden 100-: expected layer widths"),
    ("hidden", ["1.5"], "--hidden 1.5: expected layer widths"),
    ("hidden", ["50:200x0"], "--hidden 50:200x0: expected a layer count after x"),
    ("hidden", ["50x6:200"], "--hidden 50x6:200: expected a layer count after x"),
    ("hidden", ["200:50x6"], "--hidden 200:50x6: the range is reversed"),
    ("hidden", ["0:50:logx2"], "--hidden 0:50:logx2: a log range needs LOW > 0"),
    ("hidden", ["100", "50:200"], "--hidden 100 50:200: several sizes make one list"),
    ("hidden", ["100", "50,200"], "--hidden 100 50,200: several sizes make one list"),
    ("epochs", "3", "--epochs is not a search option; the options are --net, --hidden"),
])
def test_anything_else_is_refused_naming_the_option(dest, tokens, message):
    with pytest.raises(SpaceError) as caught:
        parse_option(dest, tokens)
    assert str(caught.value).startswith(message)


def test_a_space_error_is_a_value_error():
    assert issubclass(SpaceError, ValueError)


# -- the book's search by default ------------------------------------------------------------

def test_the_defaults_are_the_books_search():
    space = SearchSpace.from_options({})
    assert space.dims == {"net": Fixed("mlp"), "hidden": Fixed([100] * 6),
                          "activation": Fixed("relu"),
                          "weight_decay": Range(1e-8, 1e-4, log=True),
                          "optimizer": Fixed("sgd"), "lr": Range(1e-6, 1e-2, log=True),
                          "batch_size": Fixed(100)}
    assert list(space.dims) == [dest for dest in OPTIONS if dest in space.dims]
    assert space.searched() == ["weight_decay", "lr"]
    assert space.fixed() == {"net": "mlp", "hidden": [100] * 6, "activation": "relu",
                             "optimizer": "sgd", "batch_size": 100}
    assert space.describe() == ["--net mlp", "--hidden 100x6", "--activation relu",
                                "--weight-decay 1e-08:0.0001:log", "--optimizer sgd",
                                "--lr 1e-06:0.01:log", "--batch-size 100"]
    assert SearchSpace.BOOK_DEFAULTS is BOOK_DEFAULTS


def test_the_default_ranges_are_those_of_the_books_script():
    script = DLFS / "ch06" / "hyperparameter_optimization.py"
    require_shared(script)
    text = script.read_text(encoding="utf-8")
    found = re.findall(r"(\w+) = 10 \*\* np\.random\.uniform\((-?\d+), (-?\d+)\)", text)
    ranges = {name: (10.0 ** int(low), 10.0 ** int(high)) for name, low, high in found}
    assert set(ranges) == {"weight_decay", "lr"}
    for dest, (low, high) in ranges.items():
        default = BOOK_DEFAULTS[dest]
        assert isinstance(default, Range) and default.log
        np.testing.assert_allclose([default.low, default.high], [low, high], rtol=1e-12)
    assert "hidden_size_list=[100, 100, 100, 100, 100, 100]" in text
    assert "mini_batch_size=100" in text and "optimizer='sgd'" in text


def test_given_options_replace_the_defaults():
    space = SearchSpace.from_options({"lr": "0.01", "optimizer": "sgd,adam", "hidden": None,
                                      "dropout": None, "batchnorm": None})
    assert space.dims["lr"] == Fixed(0.01)
    assert space.dims["optimizer"] == Choice(("sgd", "adam"))
    assert space.dims["hidden"] == Fixed([100] * 6)  # None: not given
    assert "dropout" not in space.dims and "batchnorm" not in space.dims
    assert space.searched() == ["weight_decay", "optimizer"]


def test_dropout_and_batchnorm_are_set_only_when_given():
    space = SearchSpace.from_options({"dropout": "none,0.2,0.5", "batchnorm": True})
    assert space.dims["dropout"] == Choice((None, 0.2, 0.5))
    assert space.dims["batchnorm"] == Fixed(True)
    assert "--batchnorm" in space.describe()
    assert list(space.dims) == [dest for dest in OPTIONS if dest in space.dims]


# -- mixed nets -------------------------------------------------------------------------------

def test_other_nets_keep_their_own_network_defaults():
    for net in ("cnn", "mlp,cnn", "two-layer,mlp", "deepcnn"):
        space = SearchSpace.from_options({"net": net})
        assert set(space.dims) == {"net", "optimizer", "lr", "batch_size"}, net
    space = SearchSpace.from_options({"net": "mlp,cnn"})
    assert space.dims["net"] == Choice(("mlp", "cnn"))
    assert space.searched() == ["net", "lr"]


@pytest.mark.parametrize("options", [
    {"net": "cnn", "hidden": ["50:200"]},
    {"net": "mlp,cnn,deepcnn,two-layer", "hidden": ["30,100"]},
    {"net": "deepcnn", "dropout": "0.1:0.5", "hidden": ["20:100:log"]},
    {"net": "mlp,deepcnn", "dropout": "none,0.2,0.5"},
    {"net": "two-layer,mlp", "activation": "sigmoid,relu", "hidden": ["50"]},
    {"net": "mlp", "hidden": ["100x6,50x2,200"], "batchnorm": "on,off",
     "dropout": "0:0.5", "weight_decay": "0,1e-4", "activation": "relu,tanh,sigmoid"},
])
def test_options_that_every_net_takes_are_accepted(options):
    space = SearchSpace.from_options(options)
    assert all(space.dims[dest] == parse_option(dest, tokens) for dest, tokens in options.items())


@pytest.mark.parametrize("options, message", [
    ({"net": "cnn", "hidden": ["100x6"]},
     "--net cnn with --hidden 100x6: --net cnn has one hidden layer"),
    ({"net": "mlp,cnn", "hidden": ["100", "100"]},
     "--net cnn with --hidden 100x2: --net cnn has one hidden layer"),
    ({"net": "cnn", "hidden": ["100,50x2"]}, "--net cnn with --hidden 50x2:"),
    ({"net": "cnn", "hidden": ["50:100x3"]}, "--net cnn with --hidden 50:100x3:"),
    ({"net": "mlp,cnn", "weight_decay": "0:1e-3"},
     "--net cnn with --weight-decay 0.0:0.001: --weight-decay does not apply to --net cnn"),
    ({"net": "mlp,cnn", "weight_decay": "0,1e-4"}, "--net cnn with --weight-decay 0.0001:"),
    ({"net": "cnn,deepcnn", "dropout": "0.1:0.5"},
     "--net cnn with --dropout 0.1:0.5: --dropout does not apply to --net cnn"),
    ({"net": "mlp,deepcnn", "batchnorm": True},
     "--net deepcnn with --batchnorm on: --batchnorm does not apply to --net deepcnn"),
    ({"net": "deepcnn", "batchnorm": "on,off"}, "--net deepcnn with --batchnorm on:"),
    ({"net": "deepcnn", "activation": "relu,tanh"}, "--net deepcnn with --activation relu:"),
    ({"net": "two-layer", "dropout": "0.2"}, "--net two-layer with --dropout 0.2: --dropout"),
    ({"net": "two-layer", "hidden": ["100x6"]},
     "--net two-layer with --hidden 100x6: --net two-layer has one hidden layer"),
])
def test_options_that_a_net_cannot_take_are_refused_naming_both(options, message):
    with pytest.raises(SpaceError) as caught:
        SearchSpace.from_options(options)
    assert str(caught.value).startswith(message)


def test_an_unknown_option_is_refused():
    with pytest.raises(SpaceError, match=r"^--epochs is not a search option"):
        SearchSpace.from_options({"epochs": "3"})
    with pytest.raises(SpaceError, match=r"^--seed is not a search option"):
        SearchSpace({"seed": Fixed(0)})


# -- the space as data ------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {},
    {"net": "mlp,cnn", "optimizer": "sgd,adam", "batch_size": "32:256:log"},
    {"hidden": ["50:400:logx3"], "dropout": "none,0.2,0.5", "batchnorm": "on,off",
     "activation": "relu,tanh", "lr": "0.001:0.1", "weight_decay": "0:1e-3"},
    {"hidden": ["100x2-50,200"], "batchnorm": True, "lr": "0.1,0.01", "batch_size": "50,100"},
    {"net": "deepcnn", "hidden": ["20:60"], "dropout": "0.1:0.5"},
    {"batchnorm": "off", "dropout": "none", "lr": "0.1"},
])
def test_to_dict_and_from_dict_round_trip_through_json(options):
    space = SearchSpace.from_options(options)
    data = json.loads(json.dumps(space.to_dict()))
    again = SearchSpace.from_dict(data)
    assert again == space and again.dims == space.dims
    assert list(again.dims) == list(space.dims)
    assert again.describe() == space.describe()


def test_from_dict_adds_no_defaults_and_checks_like_from_options():
    assert SearchSpace.from_dict({"lr": "0.1"}).dims == {"lr": Fixed(0.1)}
    with pytest.raises(SpaceError, match=r"^--lr 1e-2:1e-6: the range is reversed"):
        SearchSpace.from_dict({"lr": "1e-2:1e-6"})
    with pytest.raises(SpaceError, match=r"^--net cnn with --hidden 100x6: "):
        SearchSpace.from_dict({"net": "cnn", "hidden": "100x6"})
    with pytest.raises(SpaceError, match=r"^--epochs is not a search option"):
        SearchSpace.from_dict({"epochs": "3"})
    with pytest.raises(SpaceError, match=r"^expected a search space as to_dict\(\) writes it"):
        SearchSpace.from_dict(["--lr", "0.1"])  # type: ignore[arg-type]


def test_each_line_of_describe_reads_back_to_its_dimension():
    space = SearchSpace.from_options({"net": "mlp", "hidden": ["50:200x6"], "batchnorm": True,
                                      "dropout": "none,0.3", "batch_size": "32:256:log"})
    for line, (dest, dim) in zip(space.describe(), space.dims.items(), strict=True):
        flag, _, text = line.partition(" ")
        assert flag == "--" + dest.replace("_", "-")
        assert parse_option(dest, text or True) == dim


def test_a_space_built_from_dimensions_is_checked_and_canonical():
    space = SearchSpace({"batch_size": Range(32, 256), "optimizer": Choice(("adam",)),
                         "hidden": Range(50, 100, integer=True)})
    assert space.dims == {"hidden": Range(50, 100, integer=True, depth=1),
                          "optimizer": Fixed("adam"),
                          "batch_size": Range(32, 256, integer=True)}
    with pytest.raises(SpaceError, match=r"^--lr 0.1:0.01: the range is reversed"):
        SearchSpace({"lr": Range(0.1, 0.01)})
    with pytest.raises(SpaceError, match=r"^--batch-size 1.5:3: expected a positive integer"):
        SearchSpace({"batch_size": Range(1.5, 3)})
    with pytest.raises(SpaceError, match=r"^--lr: expected a Fixed, Range or Choice"):
        SearchSpace({"lr": 0.1})  # type: ignore[dict-item]


def test_fixed_returns_copies():
    space = SearchSpace.from_options({})
    space.fixed()["hidden"].append(7)
    assert space.fixed()["hidden"] == [100] * 6


@st.composite
def option_texts(draw):
    """A valid written form of a numeric option: a value, a range or a choice."""
    dest = draw(st.sampled_from(["lr", "weight_decay", "dropout", "batch_size", "hidden"]))
    if dest in ("batch_size", "hidden"):
        number = st.integers(1, 100_000)
    elif dest == "dropout":
        number = st.floats(0, 1, exclude_max=True)
    else:
        number = st.floats(1e-12, 1e3)
    kind = draw(st.sampled_from(["fixed", "range", "log range", "choice"]))
    if kind == "choice":
        values = draw(st.lists(number, min_size=2, max_size=4, unique=True))
        text = ",".join(map(str, values))
    elif kind == "fixed":
        text = str(draw(number))
    else:
        low, high = sorted(draw(st.lists(number, min_size=2, max_size=2, unique=True)))
        if kind == "log range" and low == 0:
            low = high / 2
        text = f"{low}:{high}" + (":log" if kind == "log range" else "")
    if dest == "hidden" and kind != "choice":
        text += f"x{draw(st.integers(1, 4))}" if kind != "fixed" else ""
    return dest, text


@given(option_texts())
@settings(max_examples=150, deadline=None)
def test_any_valid_option_round_trips_through_its_written_form(option):
    dest, text = option
    dim = parse_option(dest, text)
    space = SearchSpace({"net": Fixed("mlp"), dest: dim})
    assert space.dims[dest] == dim
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space


# -- Ray Tune ---------------------------------------------------------------------------------

def test_importing_the_space_does_not_import_ray():
    code = ("import sys, kobai.tune.space as s; s.SearchSpace.from_options({}); "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_to_ray_keeps_fixed_values_and_maps_ranges_and_choices_to_ray_domains():
    sample = pytest.importorskip("ray.tune.search.sample")
    space = SearchSpace.from_options({"optimizer": "sgd,adam", "hidden": ["100x2,50"],
                                      "dropout": "0:0.5", "batch_size": "32:64"})
    ray_space = space.to_ray()
    assert list(ray_space) == list(space.dims)
    assert ray_space["net"] == "mlp" and ray_space["activation"] == "relu"
    assert isinstance(ray_space["optimizer"], sample.Categorical)
    assert ray_space["optimizer"].categories == ["sgd", "adam"]
    assert ray_space["hidden"].categories == [[100, 100], [50]]
    lr, weight_decay = ray_space["lr"], ray_space["weight_decay"]
    for domain, (low, high) in ((lr, (1e-6, 1e-2)), (weight_decay, (1e-8, 1e-4))):
        assert isinstance(domain, sample.Float)
        assert isinstance(domain.get_sampler(), sample.LogUniform)
        assert (domain.lower, domain.upper) == (low, high)
    dropout = ray_space["dropout"]
    assert isinstance(dropout.get_sampler(), sample.Uniform)
    values = draws(dropout)
    assert values.min() >= 0 and values.max() < 0.5
    assert isinstance(ray_space["batch_size"], sample.Integer)


@pytest.mark.parametrize("text, low, high", [("1:3", 1, 3), ("1:3:log", 1, 3),
                                             ("32:40:log", 32, 40), ("100:105", 100, 105)])
def test_integer_ranges_include_high(text, low, high):
    pytest.importorskip("ray.tune")
    space = SearchSpace.from_options({"batch_size": text, "hidden": [f"{text}x2"]})
    ray_space = space.to_ray()
    sizes = draws(ray_space["batch_size"], n=2000)
    assert set(int(size) for size in sizes) == set(range(low, high + 1))
    hidden = draws(ray_space["hidden"], n=2000)
    assert {width for width, again in hidden if width == again} == set(range(low, high + 1))


def test_log_ranges_sample_log_uniformly():
    pytest.importorskip("ray.tune")
    ray_space = SearchSpace.from_options({"batch_size": "1:10000:log",
                                          "hidden": ["1:10000:logx2"]}).to_ray()
    lr = draws(ray_space["lr"])
    assert lr.min() >= 1e-6 and lr.max() <= 1e-2
    # the median of a log-uniform draw is the geometric mean; a quarter lies below 10^-5
    np.testing.assert_allclose(np.log10(np.median(lr)), -4, atol=0.15)
    np.testing.assert_allclose(np.mean(lr < 1e-5), 0.25, atol=0.03)
    sizes = draws(ray_space["batch_size"])
    np.testing.assert_allclose(np.log10(np.median(sizes)), 2, atol=0.15)
    widths = np.array([layers[0] for layers in draws(ray_space["hidden"])])
    np.testing.assert_allclose(np.log10(np.median(widths)), 2, atol=0.15)


def test_a_hidden_range_gives_each_trial_a_list_of_equal_widths():
    variant_generator = pytest.importorskip("ray.tune.search.variant_generator")
    space = SearchSpace.from_options({"hidden": ["50:400:logx3"], "batch_size": "32:256"})
    ray_space = space.to_ray()
    rng = np.random.default_rng(0)
    for _ in range(50):
        _, config = next(variant_generator.generate_variants(ray_space, random_state=rng))
        hidden = config["hidden"]
        assert type(hidden) is list and len(hidden) == 3
        assert all(type(width) is int for width in hidden) and len(set(hidden)) == 1
        assert 50 <= hidden[0] <= 400
        assert type(config["batch_size"]) is int and 32 <= config["batch_size"] <= 256
        assert config["net"] == "mlp" and config["optimizer"] == "sgd"
    widths = draws(ray_space["hidden"], n=20)
    assert widths == draws(ray_space["hidden"], n=20)  # seeded: the same draws again


def test_the_books_search_gives_trials_its_network_and_log_uniform_draws():
    variant_generator = pytest.importorskip("ray.tune.search.variant_generator")
    ray_space = SearchSpace.from_options({}).to_ray()
    rng = np.random.default_rng(0)
    configs = [next(variant_generator.generate_variants(ray_space, random_state=rng))[1]
               for _ in range(20)]
    for config in configs:
        assert config["hidden"] == [100] * 6 and config["batch_size"] == 100
        assert (config["net"], config["activation"], config["optimizer"]) == ("mlp", "relu", "sgd")
        assert 1e-6 <= config["lr"] <= 1e-2 and 1e-8 <= config["weight_decay"] <= 1e-4
    assert len({config["lr"] for config in configs}) == 20


def test_ray_domains_survive_pickling():
    pytest.importorskip("ray.tune")
    ray_space = SearchSpace.from_options({"hidden": ["50:200x4"]}).to_ray()
    again = pickle.loads(pickle.dumps(ray_space))
    assert draws(again["hidden"], n=10) == draws(ray_space["hidden"], n=10)
    assert again["hidden"].is_valid([60] * 4) and not again["hidden"].is_valid([60] * 3)


def test_the_syntax_help_is_short():
    lines = SYNTAX_HELP.splitlines()
    assert len(lines) <= 12 and max(map(len, lines)) <= 80


def test_the_syntax_helps_examples_read_and_its_defaults_are_the_defaults():
    lines = SYNTAX_HELP.splitlines()
    examples = re.findall(r"(--[a-z-]+) ([^\s(]+?)[,;]?(?=\s|$)", "\n".join(lines[1:6]))
    assert len(examples) >= 10
    for flag, text in examples:
        parse_option(flag[2:].replace("-", "_"), text)
    defaults = re.search(r"the book's search, (.*?)\s+and no dropout", SYNTAX_HELP, re.S)
    assert defaults is not None
    words = defaults.group(1).split()
    given = {flag[2:].replace("-", "_"): [text] for flag, text in zip(words[::2], words[1::2],
                                                                       strict=True)}
    assert SearchSpace.from_options(given) == SearchSpace.from_options({})
