"""A network added through one entry of the table (``kobai.nets.options``) is a ``kobai train
--net`` choice, a ``kobai tune`` search value and a checkpoint that loads."""

import json
import math

import numpy as np
import pytest
from conftest import one_line, run

from kobai.io import CheckpointError, load, save
from kobai.layers import Affine
from kobai.nets import NETWORKS, Network
from kobai.nets.options import NETS, NetKind, NetOptionsError, net_options, register_net
from kobai.tune.space import SearchSpace, SpaceError, parse_option
from kobai.tune.trial import EpochReport, TrialData, build_trial_net, run_trial


class ToyNet(Network):
    """Softmax regression: one Affine layer, the whole of a network kind's own file."""

    def __init__(self, input_size=784, output_size=10, *, rng=None, dtype=np.float64):
        rng = np.random.default_rng(rng)
        W = (0.01 * rng.standard_normal((input_size, output_size))).astype(dtype)
        super().__init__({"Affine1": Affine(W, np.zeros(output_size, dtype))},
                         input_shape=input_size, output_size=output_size)

    def get_config(self):
        return {"input_size": self.input_size, "output_size": self.output_size,
                "dtype": self.dtype.name}

    @classmethod
    def state_shapes(cls, config):
        args = cls._arguments(config)
        return {"W1": (args["input_size"], args["output_size"]), "b1": (args["output_size"],)}


def build_toy(args, hidden, *, input_shape, output_size, dtype, rng, conv_param):
    given = [flag for flag, on in (("--hidden", args.hidden), ("--activation", args.activation),
                                   ("--dropout", args.dropout is not None),
                                   ("--batchnorm", args.batchnorm)) if on]
    if given:
        raise NetOptionsError(f"{', '.join(given)} do not apply to --net toy: it has no "
                              "hidden layer")
    return ToyNet(math.prod(input_shape), output_size, rng=rng, dtype=dtype)


TOY = NetKind("toy", ToyNet, "ToyNet (softmax regression)", build_toy, ())


@pytest.fixture
def toy():
    """The toy network's one entry, registered for the test and removed after it."""
    register_net(TOY)
    try:
        yield TOY
    finally:
        NETS.pop("toy")
        NETWORKS.pop("ToyNet")


def test_the_toy_is_a_net_choice_of_kobai_train(toy, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "train", "--help")
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "toy: ToyNet (softmax regression)" in " ".join(out.split())
    assert "{two-layer,mlp,cnn,deepcnn,toy}" in out


def test_kobai_train_trains_the_toy_and_resumes_it(toy, capsys, tmp_path):
    out = tmp_path / "run"
    status, stdout, err = run(capsys, "train", "--net", "toy", "--epochs", 1, "--train-size",
                              200, "--test-size", 100, "--lr", 0.5, "--no-progress",
                              "--out", out)
    assert status == 0, err
    assert "training ToyNet(Affine1, float32)" in stdout
    checkpoint = load(out / "model.npz")
    assert type(checkpoint.net) is ToyNet
    assert net_options(checkpoint.net)["net"] == "toy"
    status, stdout, err = run(capsys, "train", "--resume", out, "--out", out, "--net", "toy",
                              "--epochs", 2, "--no-progress")
    assert status == 0, err
    assert load(out / "model.npz").history.epoch == 2


def test_kobai_train_refuses_options_the_toy_does_not_take(toy, capsys, tmp_path):
    status, _, err = run(capsys, "train", "--net", "toy", "--hidden", 5, "--out", tmp_path / "x")
    assert status == 2
    assert one_line(err) == ("kobai: error: --hidden do not apply to --net toy: it has no "
                             "hidden layer")


def test_kobai_tune_searches_the_toy(toy, capsys):
    assert parse_option("net", "toy,mlp").values == ("toy", "mlp")
    space = SearchSpace.from_options({"net": "toy", "lr": "0.01:0.5:log"})
    assert space.describe()[0] == "--net toy"
    with pytest.raises(SpaceError, match="^--net toy with --hidden 5: --hidden do not apply to "
                                         "--net toy"):
        SearchSpace.from_options({"net": "toy", "hidden": ["5"]})
    status, _, err = run(capsys, "tune", "--net", "toy", "--hidden", "5")
    assert status == 2
    assert "--hidden do not apply to --net toy" in one_line(err)


def test_a_trial_of_the_toy_trains_it(toy):
    assert type(build_trial_net({"net": "toy", "seed": 3})) is ToyNet
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 784)).astype(np.float32)
    t = (x[:, 0] > 0).astype(np.int64)
    reports = []
    trainer = run_trial({"net": "toy", "lr": 0.5, "batch_size": 20, "seed": 0},
                        TrialData(x[:40], t[:40], x[40:], t[40:]), epochs=2,
                        report=reports.append)
    assert [r.epoch for r in reports] == [1, 2]
    assert all(isinstance(r, EpochReport) and r.diverged is None for r in reports)
    assert type(trainer.network) is ToyNet


def test_a_checkpoint_of_the_toy_round_trips(toy, tmp_path):
    net = ToyNet(12, 3, rng=1)
    path = save(net, tmp_path / "toy.npz")
    again = load(path).net
    assert type(again) is ToyNet
    for key, arr in net.params.items():
        np.testing.assert_array_equal(again.params[key], arr)


def test_a_checkpoint_of_the_toy_is_checked_before_it_is_built(toy, tmp_path):
    path = save(ToyNet(12, 3, rng=1), tmp_path / "toy.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["config"]["output_size"] = 12
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=r"'param/W1' has shape \(12, 3\) but the network "
                                              r"described in the metadata needs \(12, 12\)"):
        load(path)


def test_the_table_is_back_as_it_was_after_the_toy(toy):
    assert "toy" in NETS
    # the fixture's clean-up is what the other tests rely on; here, that a second entry of
    # the same name is refused
    other = NetKind("toy", ToyNet, "another", build_toy, ())
    with pytest.raises(ValueError, match="--net toy is already ToyNet"):
        register_net(other)
