"""Golden values printed by the seed notebook (chapter 4, simpleNet)."""

import numpy as np
import pytest
from conftest import SEED_DW, SEED_LOSS, SEED_P, SEED_T, SEED_W, SEED_X

from kobai.functions import cross_entropy_error, softmax, softmax_cross_entropy
from kobai.gradient import numerical_gradient
from kobai.nets import SimpleNet, simpleNet


@pytest.fixture
def net():
    return SimpleNet(W=SEED_W)


def test_predict_matches_seed(net):
    np.testing.assert_allclose(net.predict(SEED_X), SEED_P, atol=1e-7)
    assert np.argmax(net.predict(SEED_X)) == 2


def test_loss_matches_seed_with_the_books_guard(net):
    loss = net.loss(SEED_X, SEED_T)
    assert abs(loss - SEED_LOSS) < 5e-8
    # The exact (unguarded) loss is 0.81648691: the seed's number is the guarded one.
    exact = softmax_cross_entropy(net.predict(SEED_X), SEED_T)
    assert abs(exact - 0.81648691) < 5e-9
    assert abs(exact - SEED_LOSS) > 1e-7


def test_numerical_gradient_matches_seed_through_the_seeds_closure(net):
    def f(W):  # the seed's pattern: ignores W, works because net.W is perturbed in place
        return net.loss(SEED_X, SEED_T)

    dW = numerical_gradient(f, net.W)
    np.testing.assert_allclose(dW, SEED_DW, atol=1e-6)
    np.testing.assert_array_equal(net.W, SEED_W)


def test_numerical_gradient_matches_seed_with_a_lambda(net):
    dW = numerical_gradient(lambda W: net.loss(SEED_X, SEED_T), net.W)
    np.testing.assert_allclose(dW, SEED_DW, atol=1e-6)


def test_label_target_gives_the_same_loss_as_one_hot(net):
    assert net.loss(SEED_X, 2) == net.loss(SEED_X, SEED_T)
    assert net.loss(SEED_X, np.array([2])) == net.loss(SEED_X, SEED_T)


def test_simplenet_alias_and_seeded_weights():
    assert simpleNet is SimpleNet
    np.testing.assert_array_equal(SimpleNet(rng=3).W, SimpleNet(rng=3).W)
    np.testing.assert_array_equal(SimpleNet(rng=3).W,
                                  np.random.default_rng(3).standard_normal((2, 3)))
    assert not np.array_equal(SimpleNet(rng=3).W, SimpleNet(rng=4).W)


def test_simplenet_batch_equals_rows():
    net = SimpleNet(W=SEED_W)
    xb = np.stack([SEED_X, SEED_X[::-1]])
    np.testing.assert_allclose(net.predict(xb)[1], net.predict(SEED_X[::-1]))
    y = softmax(net.predict(xb))
    assert net.loss(xb, [2, 0]) == pytest.approx(cross_entropy_error(y, [2, 0]))


def test_simplenet_rejects_wrong_weight_shape():
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*\(2, 3\)"):
        SimpleNet(W=np.zeros((3, 2)))
