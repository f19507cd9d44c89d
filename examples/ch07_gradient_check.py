"""§7.5 (gradient_check.py): SimpleConvNet's backprop against numerical gradients, on one
random 10×10 image, as the book checks it.

Run: python examples/ch07_gradient_check.py
"""

import numpy as np

from kobai.gradcheck import check_gradients
from kobai.nets import SimpleConvNet

network = SimpleConvNet(input_dim=(1, 10, 10),
                        conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
                        hidden_size=10, output_size=10, weight_init_std=0.01, rng=0)

X = np.random.default_rng(0).random(100).reshape((1, 1, 10, 10))
T = np.array([1])

grad_num = network.numerical_gradient(X, T)
grad = network.gradient(X, T)

# The book's printout: the mean |numerical - backprop| per parameter.
for key in grad_num:
    print(key, np.abs(grad_num[key] - grad[key]).mean())

# kobai's checker says which element is worst and whether it is within tolerance.
print(check_gradients(network, X, T))
