"""§4.5.2 (train_neuralnet.py): mini-batch SGD with TwoLayerNet, written out as in the book.

The book samples batches with replacement and computes gradients numerically in its first
version; here, like its last line suggests, with backprop (``network.gradient``).
Run: python examples/ch04_train_neuralnet.py   (the bundled 5,000 training images, ~10 s)
"""

import numpy as np

from kobai import auto_blas_threads, blas_threads
from kobai.datasets import load_mnist
from kobai.nets import TwoLayerNet

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
rng = np.random.default_rng(0)
network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, rng=rng)

iters_num = 2000
train_size = x_train.shape[0]
batch_size = 100
learning_rate = 0.1
iter_per_epoch = max(train_size // batch_size, 1)
train_loss_list, train_acc_list, test_acc_list = [], [], []

# The Trainer's BLAS thread policy (kobai._threads): one thread for products this small, which
# a busy neighbour on the machine would otherwise slow down severalfold.
with blas_threads(auto_blas_threads(network.params.values(), batch_size)):
    for i in range(iters_num):
        batch_mask = rng.choice(train_size, batch_size)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]

        grad = network.gradient(x_batch, t_batch)  # the seed's 未実装 gradient, by backprop
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]

        train_loss_list.append(network.loss(x_batch, t_batch))
        if i % iter_per_epoch == 0:
            train_acc = network.accuracy(x_train, t_train)
            test_acc = network.accuracy(x_test, t_test)
            train_acc_list.append(train_acc)
            test_acc_list.append(test_acc)
            print(f"iteration {i:5d}: train acc {train_acc:.4f}, test acc {test_acc:.4f}")

print(f"final: train acc {network.accuracy(x_train, t_train):.4f}, "
      f"test acc {network.accuracy(x_test, t_test):.4f}")
