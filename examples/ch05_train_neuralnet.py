"""§5.7.4 (train_neuralnet.py): TwoLayerNet with backprop, here through kobai's Trainer.

Run: python examples/ch05_train_neuralnet.py   (the bundled sample, ~15 s)
"""

from kobai.datasets import load_mnist
from kobai.nets import TwoLayerNet
from kobai.trainer import Trainer

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, activation="relu", rng=0)

trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                  optimizer="SGD", optimizer_param={"lr": 0.1}, rng=0)
history = trainer.train()
print(f"train acc {history.train_acc_list[-1]:.4f}, test acc {history.test_acc_list[-1]:.4f}")
