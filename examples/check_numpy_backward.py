"""Check a hand-written NumPy backward pass: a softmax cross-entropy whose gradient forgot the
mean over the batch, found and named by kobai.gradcheck.check_function.

Run: python examples/check_numpy_backward.py
"""

import numpy as np

from kobai.gradcheck import check_function


def softmax_cross_entropy(x, t):
    """Mean cross-entropy of the softmax of scores x (N, C) against labels t (N,)."""
    z = x - x.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(t)), t].mean()


def softmax_cross_entropy_vjp(inputs, v):
    """dL/dx = (softmax(x) - onehot(t)) / N, times the cotangent v (a scalar here)."""
    x, t = inputs["x"], inputs["t"]
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(t)), t] -= 1
    return {"x": v * p}  # the planted bug: "/ len(t)" is missing


rng = np.random.default_rng(0)
inputs = {"x": rng.standard_normal((32, 10)), "t": rng.integers(0, 10, 32)}
print(check_function(softmax_cross_entropy, inputs, softmax_cross_entropy_vjp))
