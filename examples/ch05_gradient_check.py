"""§5.7.3 (gradient_check.py): backprop against numerical gradients on three MNIST images.

Run: python examples/ch05_gradient_check.py
"""

import numpy as np

from kobai import auto_blas_threads, blas_threads
from kobai.datasets import load_mnist
from kobai.gradcheck import check_gradients
from kobai.nets import TwoLayerNet

(x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True, dtype=np.float64)
network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, rng=0)

x_batch, t_batch = x_train[:3], t_train[:3]
# The Trainer's BLAS thread policy (kobai._threads): one thread for products this small.
with blas_threads(auto_blas_threads(network.params.values(), len(x_batch))):
    grad_numerical = network.numerical_gradient(x_batch, t_batch)
    grad_backprop = network.gradient(x_batch, t_batch)

# The book's printout: the mean absolute difference per parameter.
for key in grad_numerical:
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    print(key + ":" + str(diff))

# kobai's checker says which element is worst and whether it is within tolerance.
print(check_gradients(network, x_batch, t_batch))
