"""The buffered training step computes exactly what the layer-by-layer path computes."""

import numpy as np
import pytest

from kobai.nets import MultiLayerNet, TwoLayerNet
from kobai.nets._fast_step import FastStep, supports
from kobai.optimizers import SGD, Adam


class Capture:
    """An 'optimizer' that records copies of the gradients it is given."""

    def update(self, params, grads):
        self.grads = {k: v.copy() for k, v in grads.items()}


NETS = [
    lambda dt: TwoLayerNet(30, 7, 5, weight_init_std=0.5, rng=0, dtype=dt),
    lambda dt: TwoLayerNet(30, 7, 5, activation="relu", weight_init_std=0.5, rng=1, dtype=dt),
    lambda dt: MultiLayerNet(30, [8, 6], 5, activation="tanh", rng=2, dtype=dt),
    lambda dt: MultiLayerNet(30, [8, 6, 4], 5, weight_decay_lambda=0.1, rng=3, dtype=dt),
    lambda dt: MultiLayerNet(30, [], 5, rng=4, dtype=dt),
]


@pytest.mark.parametrize("make", NETS)
@pytest.mark.parametrize("batch", [1, 13])
def test_fast_step_gradients_equal_the_layer_path(make, batch):
    net = make(np.float64)
    assert supports(net)
    rng = np.random.default_rng(batch)
    x, labels = rng.standard_normal((batch, 30)), rng.integers(0, 5, batch)
    captured = Capture()
    loss = net.train_step(x, labels, captured)
    assert loss == pytest.approx(net.loss(x, labels), rel=1e-14)
    plain = net.gradient(x, labels)
    assert list(captured.grads) == list(plain)
    for key in plain:
        np.testing.assert_allclose(captured.grads[key], plain[key], rtol=1e-12, atol=1e-300,
                                   err_msg=key)


@pytest.mark.parametrize("make", NETS)
def test_float32_fast_step_stays_float32_and_matches(make):
    net = make(np.float32)
    rng = np.random.default_rng(0)
    x, labels = rng.random((10, 30), dtype=np.float32), rng.integers(0, 5, 10)
    captured = Capture()
    net.train_step(x, labels, captured)
    plain = net.gradient(x, labels)
    for key in plain:
        assert captured.grads[key].dtype == np.float32
        np.testing.assert_allclose(captured.grads[key], plain[key], rtol=1e-5, atol=1e-7)


def test_train_step_updates_like_the_book_and_reuses_buffers():
    net = TwoLayerNet(30, 7, 5, rng=0)
    ref = TwoLayerNet(30, 7, 5, rng=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, labels = rng.standard_normal((8, 30)), rng.integers(0, 5, 8)
        grads = ref.gradient(x, labels)
        for key in ref.params:
            ref.params[key] -= 0.1 * grads[key]
        net.train_step(x, labels, SGD(lr=0.1))
    for key in net.params:
        np.testing.assert_allclose(net.params[key], ref.params[key], rtol=1e-12)
    assert len(net._fast_engines) == 1


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_non_finite_loss_skips_the_update():
    net = TwoLayerNet(4, 3, 2, rng=0)
    net.params["W2"][0, 0] = np.inf
    before = {k: v.copy() for k, v in net.params.items()}
    loss = net.train_step(np.ones((2, 4)), [0, 1], Adam())
    assert not np.isfinite(loss)
    for key in before:
        np.testing.assert_array_equal(net.params[key], before[key])


def test_dropout_and_batchnorm_use_the_layer_path():
    assert not supports(MultiLayerNet(4, [3], 2, use_dropout=True))
    assert not supports(MultiLayerNet(4, [3], 2, use_batchnorm=True))
    net = MultiLayerNet(4, [3], 2, use_batchnorm=True, rng=0)
    net.train_step(np.random.default_rng(0).random((5, 4)), [0, 1, 0, 1, 1], SGD())
    assert net._fast_engines == {}


def test_fast_step_sees_replaced_param_arrays():
    net = TwoLayerNet(4, 3, 2, rng=0)
    engine = FastStep(net, 2)
    net.params["W2"] = np.zeros((3, 2))
    loss = engine.loss_and_grads(np.ones((2, 4)), np.array([0, 1]))
    assert loss == pytest.approx(np.log(2))


def test_float32_training_reaches_the_float64_accuracy_on_the_sample():
    from kobai.datasets import load_mnist
    from kobai.trainer import Trainer

    accuracies = {}
    for dtype in (np.float32, np.float64):
        (x, t), (xt, tt) = load_mnist(dtype=dtype)
        net = TwoLayerNet(784, 50, 10, activation="relu", rng=0, dtype=dtype)
        history = Trainer(net, x, t, xt, tt, epochs=5, optimizer="SGD",
                          optimizer_param={"lr": 0.1}, rng=0, verbose=False).train()
        accuracies[dtype] = history.test_acc_list[-1]
    assert accuracies[np.float64] > 0.85
    assert abs(accuracies[np.float32] - accuracies[np.float64]) <= 0.005


def test_a_replaced_layer_is_trained_as_it_is():
    net = TwoLayerNet(4, 3, 2, rng=0)
    assert supports(net)
    net.layers["Sigmoid1"].forward = lambda x: x  # the user's change must be honoured
    assert not supports(net)


def test_a_replaced_param_of_the_wrong_shape_is_named():
    net = TwoLayerNet(4, 3, 2, rng=0)
    net.params["W1"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"params\['W1'\] was replaced.*\(4, 3\)"):
        net.train_step(np.ones((2, 4)), [0, 1], SGD())
