"""§8.1.1 (misclassified_mnist.py): the book's trained DeepConvNet on MNIST's test set, and
the first digits it gets wrong (Figure 8-3).

The network is the one that ships with kobai (``kobai.pretrained``): the weights the book's
authors trained, converted from their pickle.

Run: python examples/ch08_misclassified_mnist.py           (all 10,000 test images, seconds)
     python examples/ch08_misclassified_mnist.py --quick   (the first 1,000)

Writes misclassified_mnist.png into the current folder.
"""

import argparse

import numpy as np

from kobai import pretrained
from kobai.datasets import load_mnist
from kobai.plot import plot_digits

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="the first 1,000 test images only")
args = parser.parse_args()

_, (x_test, t_test) = load_mnist(flatten=False)
if args.quick:
    x_test, t_test = x_test[:1000], t_test[:1000]

network = pretrained.load()

print("calculating test accuracy ... ")
batch_size = 100
classified_ids = np.concatenate([network.predict(x_test[i:i + batch_size]).argmax(axis=1)
                                 for i in range(0, len(x_test), batch_size)])
acc = np.mean(classified_ids == t_test)
print("test accuracy:" + str(acc))

max_view = 20
wrong = np.flatnonzero(classified_ids != t_test)[:max_view]
mis_pairs = {view: (int(t_test[i]), int(classified_ids[i])) for view, i in enumerate(wrong, 1)}
print("======= misclassified result =======")
print("{view index: (label, inference), ...}")
print(mis_pairs)

plot_digits(x_test[wrong], "misclassified_mnist.png", ncols=5,
            captions=[f"{label} → {inferred}" for label, inferred in mis_pairs.values()],
            title=f"misclassified (label → inference), {len(wrong)} of "
                  f"{np.count_nonzero(classified_ids != t_test)}")
print("wrote misclassified_mnist.png")
