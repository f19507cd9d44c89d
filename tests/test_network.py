"""A network built by a user from layers: trained, checked, saved and loaded like the book's."""

import numpy as np
import pytest

from kobai import io
from kobai.gradcheck import check_gradients, check_layer
from kobai.layers import ACTIVATIONS, LAYERS, Activation, Affine, Flatten, Layer, Relu, register
from kobai.nets import MultiLayerNet, Network
from kobai.trainer import Trainer


class Square(Layer):
    """A user's layer following the protocol, without the structured-gradient hooks."""

    def forward(self, x, *, train=True):
        self.x = x
        return x * x

    def backward(self, dout):
        return 2 * self.x * dout


def user_net(seed=0, middle=Square):
    rng = np.random.default_rng(seed)
    return Network([Affine(0.5 * rng.standard_normal((6, 5)), rng.standard_normal(5)),
                    middle(), Affine(0.5 * rng.standard_normal((5, 3)), np.zeros(3))],
                   weight_decay_lambda=0.01)


def blob_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, n)
    return rng.standard_normal((n, 6)) + 2.0 * np.eye(3, 6)[t], t


def test_params_take_the_books_names_in_layer_order():
    net = user_net()
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert net.layers["Affine1"].W is net.params["W1"]
    assert list(net.layers) == ["Affine1", "Square1", "Affine2"]


def test_user_layer_is_checked_on_the_generic_path_and_says_so():
    net = user_net()
    x, t = blob_data(8)
    report = check_gradients(net, x, t)
    assert report.passed
    assert any("generic path" in note and "Square1" in note for note in report.notes)
    relu_report = check_gradients(user_net(middle=Relu), x, t)
    assert any("structured central differences" in note for note in relu_report.notes)


def test_user_network_trains_with_the_trainer():
    x, t = blob_data(120)
    net = user_net()
    before = net.accuracy(x, t)
    Trainer(net, x[:90], t[:90], x[90:], t[90:], epochs=15, mini_batch_size=10,
            optimizer="Adam", optimizer_param={"lr": 0.01}, rng=0, verbose=False).train()
    assert before < 0.5 and net.accuracy(x, t) > 0.8


def test_registered_user_layer_round_trips_through_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setitem(LAYERS, "Square", Square)  # register(Square), undone after the test
    net = user_net()
    x, t = blob_data(10)
    with pytest.raises(ValueError, match="already registered"):
        register(type("Square", (Layer,), {}))
    io.save(net, tmp_path / "model.npz")
    loaded = io.load(tmp_path / "model.npz").net
    assert type(loaded) is Network and list(loaded.layers) == list(net.layers)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert loaded.loss(x, t) == net.loss(x, t)


def test_state_and_config_of_a_generic_network_rebuild_it():
    net = Network(MultiLayerNet(6, [5], 3, use_batchnorm=True, use_dropout=True, rng=0).layers)
    x, t = blob_data(10)
    net.loss(x, t)  # updates the running statistics
    clone = Network.from_config(net.get_config())
    clone.load_state_dict(net.state_dict())
    assert list(clone.state_dict()) == ["W1", "b1", "gamma1", "beta1", "W2", "b2",
                                        "running_mean1", "running_var1"]
    np.testing.assert_array_equal(clone.predict(x), net.predict(x))
    f32 = net.astype(np.float32)
    assert f32.dtype == np.float32 and f32.layers["BatchNorm1"].running_mean.dtype == np.float32
    assert net.params["W1"].dtype == np.float64


def test_bad_layers_are_named():
    with pytest.raises(TypeError, match="'Affine1'.*no forward"):
        Network([("Affine1", object())])
    with pytest.raises(ValueError, match="give input_shape"):
        Network([Square()])
    with pytest.raises(ValueError, match="two layers are named 'a'"):
        Network([("a", Square()), ("a", Square())], input_shape=3, output_size=3)


class LeakyRelu(Activation):
    """A new activation, written as docs/ARCHITECTURE.md says: one class (and a registry line)."""

    kinks = True
    init_gain = 2.0
    derivative_bounds = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def apply(self, x, out=None):
        return np.multiply(x, np.where(x > 0, 1.0, 0.01), out=out)

    def backward(self, dout):
        return dout * np.where(self.out > 0, 1.0, 0.01)

    def derivatives(self, x, y, order):
        slope = np.where(x > 0, 1.0, 0.01)
        return [slope] + [np.zeros_like(slope) for _ in range(order - 1)]

    def kink_state(self):
        return self.out > 0


def test_a_new_activation_is_one_class_and_a_registry_line(monkeypatch, capsys):
    from kobai.cli import main

    monkeypatch.setitem(LAYERS, "LeakyRelu", LeakyRelu)  # = register(LeakyRelu, ...), undone
    monkeypatch.setitem(ACTIVATIONS, "leaky", LeakyRelu)
    net = MultiLayerNet(6, [5, 4], 3, activation="leaky", weight_init_std="leaky", rng=0)
    x, t = blob_data(12)
    report = check_gradients(net, x, t)
    assert report.passed and any("structured" in note for note in report.notes)
    loop = check_gradients(net, x, t, structured=False)
    for key, result in report.results.items():
        np.testing.assert_allclose(result.numerical_grad, loop.results[key].numerical_grad,
                                   rtol=1e-7, atol=1e-10)
    assert main(["gradcheck", "--net", "mlp", "--activation", "leaky", "--hidden", "4",
                 "--data", "random", "--batch", "2"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_flatten_feeds_image_batches_to_an_affine_layer():
    rng = np.random.default_rng(0)
    net = Network([Flatten(), Affine(0.3 * rng.standard_normal((16, 3)), np.zeros(3))],
                  input_shape=(1, 4, 4))
    x, t = rng.standard_normal((5, 1, 4, 4)), np.array([0, 1, 2, 1, 0])
    assert net.predict(x).shape == (5, 3) and net.predict(x[0]).shape == (3,)
    np.testing.assert_array_equal(net.predict(x.reshape(5, 16)), net.predict(x))
    assert check_gradients(net, x, t).passed
    assert check_layer(Flatten(), x).passed
    two_channels = Network([Flatten(), Affine(np.ones((32, 3)), np.zeros(3))],
                           input_shape=(2, 4, 4))
    sample = rng.standard_normal((2, 4, 4))  # one sample with two channels, no batch axis
    np.testing.assert_allclose(two_channels.predict(sample), np.full(3, sample.sum()))


@pytest.mark.parametrize("method", ["forward", "apply"])
def test_patching_a_layer_class_reaches_the_numerical_gradient_too(monkeypatch, method):
    from kobai.layers import Sigmoid

    real = getattr(Sigmoid, method)
    monkeypatch.setattr(Sigmoid, method, lambda self, *a, **k: 2.0 * real(self, *a, **k))
    net = MultiLayerNet(6, [5, 4], 3, activation="sigmoid", rng=0)
    x, t = blob_data(7)
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    for key in loop:
        np.testing.assert_array_equal(fast[key], loop[key])  # the loop: hooks not trusted
    report = check_gradients(net, x, t)
    assert any("generic path" in note and "changed after its class" in note
               for note in report.notes)


@pytest.mark.parametrize("where", ["class", "instance"])
def test_a_patched_apply_and_derivatives_change_the_structured_gradient_as_the_loss(
        monkeypatch, where):
    # The structured numerical gradient computes with the layers' own hooks: apply (which
    # Sigmoid's forward calls) and the derivatives its series follow. Patched together to
    # y = σ(z)/2, they change the loss and the structured numerical gradient alike.
    from kobai.layers import Sigmoid

    net = MultiLayerNet(6, [5, 4], 3, activation="sigmoid", rng=0)
    x, t = blob_data(7)
    before = net.numerical_gradient(x, t)
    apply, derivatives = Sigmoid.apply, Sigmoid.derivatives

    def half(self, z, out=None):
        return 0.5 * apply(self, z, out)

    def half_derivatives(self, z, y, order):  # (σ/2)^(k) = σ^(k)/2, with σ = 2y
        return [0.5 * d for d in derivatives(self, z, 2 * y, order)]

    if where == "class":
        monkeypatch.setattr(Sigmoid, "apply", half)
        monkeypatch.setattr(Sigmoid, "derivatives", half_derivatives)
    else:
        layer = net.layers["Sigmoid2"]
        layer.apply = half.__get__(layer)
        layer.derivatives = half_derivatives.__get__(layer)
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    with net.frozen():
        floor = 8 * np.finfo(np.float64).eps * abs(net.loss(x, t)) / 1e-4
    for key in loop:
        np.testing.assert_allclose(fast[key], loop[key], rtol=1e-10, atol=floor, err_msg=key)
    assert not np.allclose(fast["W3"], before["W3"], rtol=1e-3)
    assert any("structured" in note for note in check_gradients(net, x, t).notes)


def test_a_weight_assigned_on_the_layer_is_used_and_becomes_the_param():
    net = MultiLayerNet(6, [5], 3, rng=0)
    x, _ = blob_data(4)
    layer = net.layers["Affine1"]
    layer.W = np.zeros_like(layer.W)  # the book's interface
    layer.b = np.ones_like(layer.b)
    np.testing.assert_allclose(net.predict(x), net.predict(np.zeros_like(x)))
    assert net.params["W1"] is layer.W and not net.params["W1"].any()
    net.params["W1"] = np.ones_like(layer.W)  # and the other way round
    net.predict(x)
    assert layer.W is net.params["W1"]
    with pytest.raises(ValueError, match=r"layer.W\) was replaced by an array of dtype "
                                         r"float32.*dtype float64"):
        layer.W = np.ones(layer.W.shape, np.float32)
        net.predict(x)


def test_one_layer_object_in_two_places_is_refused():
    act = Relu()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="'Relu1' and 'Relu2' are the same object"):
        Network([Affine(rng.standard_normal((6, 5)), np.zeros(5)), act,
                 Affine(rng.standard_normal((5, 5)), np.zeros(5)), act,
                 Affine(rng.standard_normal((5, 3)), np.zeros(3))])


def test_a_layer_taken_from_a_network_works_on_its_own():
    from kobai.gradcheck import check_layer as check

    net = MultiLayerNet(6, [5], 3, activation="sigmoid", rng=0)
    x, t = blob_data(4)
    net.train_step(x, t, Capture())
    layer = net.layers["Sigmoid1"]
    z, dout = np.random.default_rng(1).standard_normal((2, 4, 5))
    before_z, before_dout = z.copy(), dout.copy()
    layer.forward(z)
    layer.backward(dout)
    np.testing.assert_array_equal(z, before_z)  # not written in place outside the network
    np.testing.assert_array_equal(dout, before_dout)
    assert check(layer, z).passed


class Capture:
    def update(self, params, grads):
        self.grads = dict(grads)


def test_patching_the_loss_layer_reaches_every_path(monkeypatch):
    from kobai.layers import SoftmaxWithLoss

    real = SoftmaxWithLoss.forward_labels
    monkeypatch.setattr(SoftmaxWithLoss, "forward_labels",
                        lambda self, x, labels: 2.0 * real(self, x, labels))
    net = MultiLayerNet(6, [5], 3, rng=0)
    x, t = blob_data(5)
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    for key in loop:
        np.testing.assert_array_equal(fast[key], loop[key])
    monkeypatch.undo()

    class Doubled(SoftmaxWithLoss):  # a loss layer that overrides the protocol's forward
        def forward(self, x, t, *, train=True):
            return 2.0 * super().forward(x, t)

    doubled = Network(MultiLayerNet(6, [5], 3, rng=0).layers, Doubled())
    assert doubled.loss(x, t) == pytest.approx(2.0 * MultiLayerNet(6, [5], 3, rng=0).loss(x, t))


def test_a_two_dimensional_input_shape_takes_batches_and_single_samples():
    rng = np.random.default_rng(0)
    net = Network([Flatten(), Affine(rng.standard_normal((12, 3)), np.zeros(3))],
                  input_shape=(3, 4))
    batch = rng.standard_normal((3, 12))  # three flat samples: not one (3, 4) sample
    assert net.predict(batch).shape == (3, 3)
    assert net.predict(batch[0].reshape(3, 4)).shape == (3,)
    with pytest.raises(ValueError, match=r"input_shape \(3, 5\) has 15 features but the "
                                         r"first layer \(Affine\) takes 12"):
        Network([Affine(np.ones((12, 3)), np.zeros(3))], input_shape=(3, 5))


def test_an_activation_without_derivative_hooks_is_recomputed_not_guessed(monkeypatch):
    class HardKink(Activation):  # piecewise linear, but no derivatives hook
        kinks = True

        def apply(self, x, out=None):
            return np.maximum(x, 0.5 * x, out=out)

        def backward(self, dout):
            return dout * np.where(self.out > 0, 1.0, 0.5)

    monkeypatch.setitem(LAYERS, "HardKink", HardKink)
    monkeypatch.setitem(ACTIVATIONS, "hardkink", HardKink)
    net = MultiLayerNet(6, [5, 4, 3], 3, activation="hardkink", weight_init_std="he", rng=0)
    x, t = blob_data(7)
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    for key in loop:
        np.testing.assert_allclose(fast[key], loop[key], rtol=1e-9, atol=1e-10)
    with pytest.raises(NotImplementedError, match="must define apply"):
        Activation().forward(np.ones(2))
