"""The book's scripts that ``kobai book run`` has been tested with (``kobai book list``).

Every script of the book's chapters 3-8 that imports ``common`` or ``dataset`` (book
repository at commit 07b11618), with its expected status, a note on its output and its wall
time on the bundled data with one BLAS thread (``benchmarks/bench_book_scripts.py``); "as the
book's" means ``--book-common`` printed the same accuracies.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATUSES", "SCRIPTS", "Script", "script"]

#: what each status means
STATUSES = {
    "book's numbers": "runs, and with --seed N prints the accuracies and hyperparameters the "
                      "book's own common prints with that seed on the same data, to every "
                      "digit, and its losses to rounding (tested)",
    "close to the book's": "runs, and with --seed N prints the book's numbers except where the "
                           "note says, by at most what it says (tested)",
    "book's figures": "runs, prints nothing, and with --seed N draws the book's figures pixel "
                      "for pixel (tested: the same PNG files)",
    "runs": "runs (tested: exit status 0); its output is not compared with the book's "
            "(the note says why)",
}


@dataclass(frozen=True)
class Script:
    """One of the book's scripts, as ``kobai book run`` runs it.

    Attributes
    ----------
    path : str
        Relative to the root of the book's repository, e.g. ``"ch05/train_neuralnet.py"``.
    status : str
        A key of :data:`STATUSES`.
    seconds : float
        Wall time of ``kobai book run --seed 0`` on the bundled data with one BLAS thread,
        Python's start included (``benchmarks/bench_book_scripts.py``; best of 3 under a
        minute, else one run on a shared machine).
    note : str
        What the script does, and anything a user should know to run it.
    """

    path: str
    status: str
    seconds: float
    note: str = ""

    @property
    def time(self) -> str:
        """``seconds`` for people: ``"0.8 s"``, ``"42 s"``, ``"6 min"``."""
        if self.seconds < 10:
            return f"{self.seconds:.1f} s"
        if self.seconds < 120:
            return f"{self.seconds:.0f} s"
        return f"{self.seconds / 60:.0f} min"


_NUMBERS, _CLOSE, _FIGURES, _RUNS = STATUSES

#: every script of chapters 3-8 that imports common or dataset, in the book's order
SCRIPTS: tuple[Script, ...] = (
    Script("ch03/mnist_show.py", _RUNS, 0.64,
           "no common: only kobai's data; shows a digit with Pillow (kobai[images]); "
           "full MNIST: label 5, 1 s"),
    Script("ch03/neuralnet_mnist.py", _NUMBERS, 0.7,
           "reads sample_weight.pkl; full MNIST: Accuracy:0.9352 as the book's, 2 s"),
    Script("ch03/neuralnet_mnist_batch.py", _NUMBERS, 0.48,
           "reads sample_weight.pkl; full MNIST: Accuracy:0.9352 as the book's, 2 s"),
    Script("ch04/gradient_simplenet.py", _NUMBERS, 0.41,
           "no data; full MNIST: the same gradient as the book's, 1 s"),
    Script("ch04/train_neuralnet.py", _NUMBERS, 34,
           "full MNIST: train acc 0.9481, test acc 0.9468 as the book's, 26 s"),
    Script("ch04/two_layer_net.py", _RUNS, 0.41,
           "a module: defines TwoLayerNet, prints nothing; full MNIST: runs, 1 s"),
    Script("ch05/gradient_check.py", _NUMBERS, 3.7,
           "full MNIST: differences 4.6e-10 (W1) to 1.4e-7 (b2) as the book's, 7 s"),
    Script("ch05/train_neuralnet.py", _NUMBERS, 104,
           "full MNIST: train acc 0.9786, test acc 0.9699 as the book's, 37 s"),
    Script("ch05/two_layer_net.py", _RUNS, 0.46,
           "a module: defines TwoLayerNet, prints nothing; full MNIST: runs, 1 s"),
    Script("ch06/batch_norm_gradient_check.py", _NUMBERS, 30,
           "full MNIST: differences 0 but beta2 0.049 (a batch of 1 image) as the book's, 23 s"),
    Script("ch06/batch_norm_test.py", _CLOSE, 83,
           "the book's numbers but in the last panel (weights 1e-4) from epoch 11, by 0.003: "
           "backprop rounds differently in the last bit, and batch norm of ~0 amplifies it; "
           "full MNIST: the book's numbers at every digit, 39 s"),
    Script("ch06/hyperparameter_optimization.py", _NUMBERS, 165,
           "full MNIST: best val acc 0.87 (lr 0.0088, weight decay 7.4e-06) as the book's, "
           "134 s"),
    Script("ch06/optimizer_compare_mnist.py", _NUMBERS, 31,
           "full MNIST: last losses SGD 0.16, Momentum 0.092, AdaGrad 0.013, Adam 0.027 as "
           "the book's, 41 s"),
    Script("ch06/optimizer_compare_naive.py", _FIGURES, 1.5,
           "no data; full MNIST: the book's figure, 2 s"),
    Script("ch06/overfit_dropout.py", _NUMBERS, 156,
           "full MNIST: train acc 0.6167, test acc 0.4875 as the book's, 54 s"),
    Script("ch06/overfit_weight_decay.py", _NUMBERS, 84,
           "full MNIST: train acc 0.92, test acc 0.7331 as the book's, 40 s"),
    Script("ch06/weight_init_compare.py", _NUMBERS, 66,
           "full MNIST: last losses std=0.01 2.30, Xavier 0.23, He 0.15 as the book's, 24 s"),
    Script("ch07/apply_filter.py", _FIGURES, 1.9,
           "reads params.pkl (also train_convnet.py's); no data; full MNIST: the book's "
           "figures, 2 s"),
    Script("ch07/simple_convnet.py", _RUNS, 0.44,
           "a module: defines SimpleConvNet, prints nothing; full MNIST: runs, 1 s"),
    Script("ch07/train_convnet.py", _NUMBERS, 174,
           "writes params.pkl; full MNIST: test acc 0.9908, 15 min (the book's own code "
           "printed the same for the first 616 lines; stopped there, all would take ~30 min)"),
    Script("ch08/deep_convnet.py", _RUNS, 0.74,
           "a module: defines DeepConvNet, prints nothing; full MNIST: runs, 1 s"),
    Script("ch08/half_float_network.py", _NUMBERS, 30,
           "reads deep_convnet_params.pkl; full MNIST: 0.9797 (float64), 0.9798 (float16) as "
           "the book's, 14 s; 0.9939 and 0.9939 with train_deepnet.py's file"),
    Script("ch08/misclassified_mnist.py", _NUMBERS, 15,
           "reads deep_convnet_params.pkl; full MNIST: test accuracy:0.9797 as the book's, 10 s; "
           "0.9939 with train_deepnet.py's file"),
    Script("ch08/train_deepnet.py", _RUNS, 516,
           "writes deep_convnet_params.pkl (test acc 0.9794; full MNIST: 0.9939, 63 min, the "
           "book's text gives 0.9935); not compared: the book's own code would add ~35 min "
           "(1.9 s per step, kobai.book 0.5 s)"),
)


def script(path: str) -> Script:
    """The entry of :data:`SCRIPTS` for ``path`` (e.g. ``"ch05/train_neuralnet.py"``)."""
    for entry in SCRIPTS:
        if entry.path == path:
            return entry
    raise KeyError(f"{path!r} is not one of the book's scripts kobai book run was tested with; "
                   f"see 'kobai book list'")
