"""The training step of a plain MultiLayerNet with preallocated buffers (issue "fast").

For nets without dropout or batch normalization, :class:`FastStep` runs the same maths as the
layers (``kobai.layers``), in the same order except that sums over a batch or a row are dot
products with a vector of ones (the same numbers up to rounding), into buffers allocated once
per batch size, with in-place ufuncs: no temporary arrays in the hot loop, the
softmax-cross-entropy backward fused into the forward's buffer, and no gradient for the data
(the first layer's input). ``tests/test_fast_step.py`` pins the equality with the
layer-by-layer path (1e-12 relative in float64).
"""

from __future__ import annotations

import numpy as np

from ..layers import Affine, Relu, Sigmoid, Tanh

__all__ = ["FastStep", "supports"]

_KNOWN = (Affine, Relu, Sigmoid, Tanh)


def supports(net) -> bool:
    """Whether ``net`` can use the buffered step: no dropout, no batch normalization, and its
    layers still the library's own (a layer a user replaced or patched is run as it is, by
    the layer-by-layer path)."""
    if net.use_dropout or net.use_batchnorm:
        return False
    return all(type(layer) in _KNOWN and "forward" not in vars(layer)
               and "backward" not in vars(layer) for layer in net.layers.values())


class FastStep:
    """Forward, backward and the optimizer update of ``net`` for batches of ``batch_size``.

    The returned gradients are buffers reused by the next call: the optimizer consumes them
    within the step. The network's ``params`` are read on every call, so replacing an array in
    the dict is seen.
    """

    def __init__(self, net, batch_size: int):
        self.net = net
        self.n = net.n_affine
        self.act = net.activation
        dt = net.dtype
        sizes = [net.input_size, *net.hidden_size_list, net.output_size]
        self.z = [np.empty((batch_size, s), dt) for s in sizes[1:]]       # layer outputs
        self.g = [np.empty((batch_size, s), dt) for s in sizes[1:-1]]     # d loss / d output
        self.tmp = [np.empty((batch_size, s), dt) for s in sizes[1:-1]]   # activation'
        self.mask = [np.empty((batch_size, s), bool) for s in sizes[1:-1]]
        self.grads = {}
        for i in range(1, self.n + 1):
            self.grads[f"W{i}"] = np.empty((sizes[i - 1], sizes[i]), dt)
            self.grads[f"b{i}"] = np.empty(sizes[i], dt)
        self.decay_tmp = [np.empty((sizes[i - 1], sizes[i]), dt) for i in range(1, self.n + 1)]
        # Small reductions as BLAS dot products with ones, and flat indices into the logits:
        # at the book's sizes these small operations cost as much as the matrix products.
        self.ones_batch = np.ones(batch_size, dt)
        self.ones_classes = np.ones(net.output_size, dt)
        self.row_start = np.arange(batch_size) * net.output_size
        self.flat = np.empty(batch_size, np.int64)
        self.argmax = np.empty(batch_size, np.int64)
        self.row_max = np.empty(batch_size, dt)
        self.row_sum = np.empty(batch_size, dt)
        self.picked = np.empty(batch_size, dt)
        # Views made once: indexing and reshaping cost microseconds per call at these sizes.
        self.keys = [(f"W{i}", f"b{i}") for i in range(1, self.n + 1)]
        self.logits = self.z[-1]
        self.flat_logits = self.logits.reshape(-1)
        self.row_max_column = self.row_max[:, None]
        self.row_sum_column = self.row_sum[:, None]

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Compute the loss (returned) and the gradients (into ``self.grads``)."""
        self.net._bind()  # a replaced params array: checked (shape) and used, as by the layers
        p = self.net.params
        h = x
        for i, ((w_key, b_key), z) in enumerate(zip(self.keys, self.z, strict=True)):
            np.matmul(h, p[w_key], out=z)
            z += p[b_key]
            if i < self.n - 1:
                self._activate(i, z)
            h = z
        # Softmax with loss, in place in the logits' buffer (as SoftmaxWithLoss.forward):
        # -log softmax(z)[t] = log Σ exp(z - max) - (z[t] - max)
        z, flat_z = self.logits, self.flat_logits
        np.argmax(z, axis=1, out=self.argmax)
        self.argmax += self.row_start
        np.take(flat_z, self.argmax, out=self.row_max)
        z -= self.row_max_column
        np.add(self.row_start, labels, out=self.flat)
        np.take(flat_z, self.flat, out=self.picked)
        np.exp(z, out=z)
        np.dot(z, self.ones_classes, out=self.row_sum)
        z /= self.row_sum_column
        np.log(self.row_sum, out=self.row_sum)
        self.row_sum -= self.picked
        loss = float(np.dot(self.row_sum, self.ones_batch)) / z.shape[0]  # the batch mean
        # delta = (softmax(z) - onehot(t)) / batch_size
        flat_z[self.flat] -= 1.0
        z *= 1.0 / z.shape[0]
        self._backward(x, z)
        return loss + self.net._decay() if self.net.weight_decay_lambda else loss

    def _activate(self, i: int, z: np.ndarray) -> None:
        if self.act == "relu":
            np.maximum(z, 0, out=z)
            np.greater(z, 0, out=self.mask[i])
        elif self.act == "sigmoid":
            np.negative(z, out=z)
            with np.errstate(over="ignore"):
                np.exp(z, out=z)
            z += 1.0
            np.reciprocal(z, out=z)
        else:
            np.tanh(z, out=z)

    def _backward(self, x: np.ndarray, d: np.ndarray) -> None:
        p, grads, lam = self.net.params, self.grads, self.net.weight_decay_lambda
        for i in range(self.n, 0, -1):
            h = x if i == 1 else self.z[i - 2]
            w_key, b_key = self.keys[i - 1]
            W, dW = p[w_key], grads[w_key]
            np.matmul(h.T, d, out=dW)
            np.dot(self.ones_batch, d, out=grads[b_key])  # Σ over the batch
            if lam:
                dW += np.multiply(W, lam, out=self.decay_tmp[i - 1])
            if i == 1:
                break  # nothing needs the gradient with respect to the data
            g = self.g[i - 2]
            np.matmul(d, W.T, out=g)
            self._activation_backward(i - 2, g, h)
            d = g

    def _activation_backward(self, i: int, g: np.ndarray, out: np.ndarray) -> None:
        if self.act == "relu":
            np.multiply(g, self.mask[i], out=g)
        elif self.act == "sigmoid":  # dout · (1 - y) · y
            g *= np.subtract(1.0, out, out=self.tmp[i])
            g *= out
        else:  # dout · (1 - y²)
            t = np.multiply(out, out, out=self.tmp[i])
            g *= np.subtract(1.0, t, out=t)
