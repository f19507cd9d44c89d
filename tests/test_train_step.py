"""The training step (the layer loop on the layers' reused buffers) computes exactly what
``gradient`` computes, and honours every change a user makes to a layer."""

import numpy as np
import pytest

from kobai.nets import MultiLayerNet, TwoLayerNet
from kobai.optimizers import SGD, Adam


class Capture:
    """An 'optimizer' that records copies of the gradients it is given (and their arrays)."""

    def update(self, params, grads):
        self.grads = {k: v.copy() for k, v in grads.items()}
        self.arrays = dict(grads)


NETS = [
    lambda dt: TwoLayerNet(30, 7, 5, weight_init_std=0.5, rng=0, dtype=dt),
    lambda dt: TwoLayerNet(30, 7, 5, activation="relu", weight_init_std=0.5, rng=1, dtype=dt),
    lambda dt: MultiLayerNet(30, [8, 6], 5, activation="tanh", rng=2, dtype=dt),
    lambda dt: MultiLayerNet(30, [8, 6, 4], 5, weight_decay_lambda=0.1, rng=3, dtype=dt),
    lambda dt: MultiLayerNet(30, [], 5, rng=4, dtype=dt),
]


@pytest.mark.parametrize("make", NETS)
@pytest.mark.parametrize("batch", [1, 13])
def test_train_step_gradients_equal_gradient(make, batch):
    net = make(np.float64)
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
def test_float32_train_step_stays_float32_and_matches(make):
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


def test_train_step_reuses_its_gradient_arrays_for_a_batch_shape():
    net = TwoLayerNet(30, 7, 5, rng=0)
    rng = np.random.default_rng(0)
    first, second = Capture(), Capture()
    net.train_step(rng.standard_normal((8, 30)), rng.integers(0, 5, 8), first)
    net.train_step(rng.standard_normal((8, 30)), rng.integers(0, 5, 8), second)
    assert all(first.arrays[k] is second.arrays[k] for k in net.params)
    assert not np.array_equal(first.grads["W1"], second.grads["W1"])
    returned = net.gradient(rng.standard_normal((8, 30)), rng.integers(0, 5, 8))
    assert all(returned[k] is not second.arrays[k] for k in net.params)  # gradient(): copies


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_non_finite_loss_skips_the_update():
    net = TwoLayerNet(4, 3, 2, rng=0)
    net.params["W2"][0, 0] = np.inf
    before = {k: v.copy() for k, v in net.params.items()}
    loss = net.train_step(np.ones((2, 4)), [0, 1], Adam())
    assert not np.isfinite(loss)
    for key in before:
        np.testing.assert_array_equal(net.params[key], before[key])


@pytest.mark.parametrize("config", [{"use_dropout": True}, {"use_batchnorm": True}])
def test_dropout_and_batchnorm_train_step_equals_gradient(config):
    rng = np.random.default_rng(0)
    x, labels = rng.random((5, 4)), np.array([0, 1, 0, 1, 1])
    net = MultiLayerNet(4, [3], 2, rng=0, **config)
    twin = MultiLayerNet(4, [3], 2, rng=0, **config)
    captured = Capture()
    net.train_step(x, labels, captured)
    plain = twin.gradient(x, labels)
    for key in plain:
        np.testing.assert_allclose(captured.grads[key], plain[key], rtol=1e-12, atol=1e-300)


def test_train_step_sees_replaced_param_arrays():
    net = TwoLayerNet(4, 3, 2, rng=0)
    net.params["W2"] = np.zeros((3, 2))
    loss = net.train_step(np.ones((2, 4)), np.array([0, 1]), Capture())
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


def test_a_layer_replaced_on_the_instance_is_trained_as_it_is():
    net, ref = TwoLayerNet(4, 3, 2, rng=0), TwoLayerNet(4, 3, 2, rng=0)
    net.layers["Sigmoid1"].forward = lambda x: x  # the user's change must be honoured
    net.layers["Sigmoid1"].backward = lambda dout: dout
    ref.layers["Sigmoid1"] = Identity()
    x, labels = np.random.default_rng(0).random((5, 4)), np.array([0, 1, 0, 1, 1])
    a, b = Capture(), Capture()
    net.train_step(x, labels, a)
    ref.train_step(x, labels, b)
    assert not np.allclose(a.grads["W2"], TwoLayerNet(4, 3, 2, rng=0).gradient(x, labels)["W2"])
    for key in a.grads:
        np.testing.assert_array_equal(a.grads[key], b.grads[key])


class Identity:
    """A book-style layer (no train keyword): forward(x) and backward(dout)."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout


def test_patching_a_layer_class_changes_train_step_and_gradient_alike(monkeypatch):
    from kobai.layers import Affine

    real_backward = Affine.backward

    def halved(self, dout):
        dx = real_backward(self, dout)
        self.dW = 0.5 * self.dW
        return dx

    monkeypatch.setattr(Affine, "backward", halved)
    x, labels = np.random.default_rng(0).random((5, 4)), np.array([0, 1, 0, 1, 1])
    stepped, manual = TwoLayerNet(4, 3, 2, rng=0), TwoLayerNet(4, 3, 2, rng=0)
    stepped.train_step(x, labels, SGD(lr=0.1))
    grads = manual.gradient(x, labels)
    for key in manual.params:
        manual.params[key] -= 0.1 * grads[key]
    for key in manual.params:
        np.testing.assert_array_equal(stepped.params[key], manual.params[key])


def test_a_replaced_param_of_the_wrong_shape_is_named():
    net = TwoLayerNet(4, 3, 2, rng=0)
    net.params["W1"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"params\['W1'\] was replaced.*\(4, 3\)"):
        net.train_step(np.ones((2, 4)), [0, 1], SGD())
