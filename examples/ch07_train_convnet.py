"""§7.5 (train_convnet.py): the book's SimpleConvNet trained with Adam, and its first layer's
filters before and after training (§7.6.1, visualize_filter.py, Figure 7-24).

Run: python examples/ch07_train_convnet.py           (the bundled sample, 20 epochs, ~30 s)
     python examples/ch07_train_convnet.py --quick   (2 epochs on 1,000 images, seconds)

Writes params.pkl (kobai's safe .npz under the book's name: ``load_params`` reads it back),
filters-before.png, filters-after.png and learning_curve.png into the current folder.
"""

import argparse

import numpy as np

from kobai.datasets import load_mnist
from kobai.nets import SimpleConvNet
from kobai.plot import plot_filters, plot_learning_curve
from kobai.trainer import Trainer

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true",
                    help="2 epochs on the first 1,000 training and test images")
args = parser.parse_args()

(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)

max_epochs = 20
if args.quick:  # the book's own advice when it takes too long: less data
    x_train, t_train = x_train[:1000], t_train[:1000]
    x_test, t_test = x_test[:1000], t_test[:1000]
    max_epochs = 2

# float32: twice the speed of the book's float64, the same accuracy
network = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01, rng=0,
                        dtype=np.float32)
plot_filters(network.params["W1"], "filters-before.png", title="random initial filters")

trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=max_epochs, mini_batch_size=100,
                  optimizer="Adam", optimizer_param={"lr": 0.001},
                  evaluate_sample_num_per_epoch=1000, rng=0)
history = trainer.train()

# パラメータの保存
network.save_params("params.pkl")
print("Saved Network Parameters!")

plot_filters(network.params["W1"], "filters-after.png", title="filters after training")
plot_learning_curve(history, "learning_curve.png", title=repr(network))
print(f"test acc {network.accuracy(x_test, t_test):.4f} on {len(x_test)} test images")
print("wrote filters-before.png, filters-after.png, learning_curve.png")
