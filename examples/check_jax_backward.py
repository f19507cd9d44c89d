"""Check a hand-written JAX backward pass: a jax.custom_vjp for a tanh layer whose rule
returns the transpose of the weight gradient.

Run: python examples/check_jax_backward.py   (needs JAX: pip install -e ".[jax]")
"""

import jax
import jax.numpy as jnp
import numpy as np

from kobai.gradcheck import check_jax


@jax.custom_vjp
def tanh_layer(x, W):
    return jnp.tanh(x @ W)


def tanh_layer_fwd(x, W):
    y = jnp.tanh(x @ W)
    return y, (x, W, y)


def tanh_layer_bwd(saved, v):
    x, W, y = saved
    dz = v * (1 - y ** 2)
    return dz @ W.T, (x.T @ dz).T  # the planted bug: dW is transposed


tanh_layer.defvjp(tanh_layer_fwd, tanh_layer_bwd)

rng = np.random.default_rng(0)
x = rng.standard_normal((32, 16)).astype(np.float32)
W = rng.standard_normal((16, 16)).astype(np.float32) / 4
print(check_jax(tanh_layer, x, W))
