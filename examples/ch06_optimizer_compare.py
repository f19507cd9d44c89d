"""§6.1.8 (optimizer_compare_mnist.py): SGD, Momentum, AdaGrad and Adam on MNIST.

Five-layer ReLU nets (100 units each), the same initial weights and batches for every
optimizer. Writes optimizer_compare.png. Run: python examples/ch06_optimizer_compare.py
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kobai import auto_blas_threads, blas_threads
from kobai.datasets import load_mnist
from kobai.nets import MultiLayerNet
from kobai.optimizers import get_optimizer

(x_train, t_train), _ = load_mnist(normalize=True)
train_size, batch_size, max_iterations = x_train.shape[0], 128, 500

optimizers = {"SGD": get_optimizer("sgd", lr=0.01), "Momentum": get_optimizer("momentum"),
              "AdaGrad": get_optimizer("adagrad"), "Adam": get_optimizer("adam")}
networks = {key: MultiLayerNet(784, [100, 100, 100, 100], 10, rng=0) for key in optimizers}
train_loss = {key: [] for key in optimizers}

rng = np.random.default_rng(0)
# The Trainer's BLAS thread policy (kobai._threads): one thread for small products; these
# 784x100 products at batch 128 are large enough for the BLAS default (None).
with blas_threads(auto_blas_threads(networks["SGD"].params.values(), batch_size)):
    for i in range(max_iterations):
        batch_mask = rng.choice(train_size, batch_size)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        for key, optimizer in optimizers.items():
            grads = networks[key].gradient(x_batch, t_batch)
            optimizer.update(networks[key].params, grads)
            train_loss[key].append(networks[key].loss(x_batch, t_batch))
        if i % 100 == 0:
            print(f"iteration {i}: "
                  + ", ".join(f"{k} {train_loss[k][-1]:.4f}" for k in optimizers))

fig = Figure(figsize=(6, 4))
ax = fig.add_subplot()
for key, losses in train_loss.items():
    ax.plot(np.convolve(losses, np.ones(10) / 10, mode="valid"), label=key)
ax.set_xlabel("iterations")
ax.set_ylabel("loss")
ax.set_ylim(0, 1)
ax.legend()
FigureCanvasAgg(fig).print_png("optimizer_compare.png")
print("wrote optimizer_compare.png")
