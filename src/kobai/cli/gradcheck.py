"""``kobai gradcheck``: backprop against numerical gradients (the book's §5.7.3 and §7's
``gradient_check.py``)."""

from __future__ import annotations

import argparse

import numpy as np

from ..nets.options import CONV_NETS, IMAGE_SHAPE
from ._common import CliError, add_net_arguments, build_net, non_negative_int, positive_int

# The book's ch07/gradient_check.py: SimpleConvNet(input_dim=(1, 10, 10), conv_param=...,
# hidden_size=10) on one random image.
BOOK_CHECK_SHAPE = (1, 10, 10)
BOOK_CHECK_CONV = {"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1}
BOOK_CHECK_HIDDEN = 10


def add_parser(sub) -> None:
    p = sub.add_parser("gradcheck", help="check backprop against numerical gradients",
                       description="Build a network, compare its backprop gradients with "
                                   "central differences, and print per parameter the mean and "
                                   "max absolute difference and the checker's report. Exit "
                                   "status 1 when it fails. Default: TwoLayerNet(784, 50, 10) "
                                   "on three MNIST images, as the book's ch05/"
                                   "gradient_check.py; --net cnn: the book's ch07/"
                                   "gradient_check.py, SimpleConvNet with 10 filters 3x3 and "
                                   "10 hidden units on one random 10x10 image (28x28 MNIST "
                                   "images with --data sample); --net deepcnn: DeepConvNet on "
                                   "one 28x28 image, in fast mode unless --mode full (each "
                                   "of its 123,552 parameters in turn takes minutes).")
    add_net_arguments(p, hidden_default="50 for two-layer, 100 100 for mlp, 10 for cnn, 50 "
                                        "for deepcnn")
    p.add_argument("--mode", choices=["full", "fast"], default=None,
                   help="full: every element by central differences; fast: three random "
                        "directions per parameter array, then its elements if one disagrees "
                        "(default: full; fast for deepcnn)")
    p.add_argument("--locate", action="store_true",
                   help="also check every layer on its own, at the input and upstream "
                        "gradient it receives in the network, and name the wrong ones")
    p.add_argument("--eps-sweep", metavar="PNG", default=None,
                   help="also measure each parameter's worst element at steps 1e-1 ... 1e-10 "
                        "and draw the error against the step into this PNG file")
    p.add_argument("--data", choices=["sample", "random"], default=None,
                   help="the first images of the bundled MNIST sample, as the book does, or "
                        "random inputs in [0, 1) (default: sample; random for cnn and "
                        "deepcnn, as the book's ch07/gradient_check.py)")
    p.add_argument("--batch", type=positive_int, default=None, metavar="N",
                   help="number of inputs (default 3; 1 for cnn and deepcnn)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.set_defaults(run=run)


def _inputs(args: argparse.Namespace, shape: tuple[int, ...],
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if args.data == "random":
        return rng.random((args.batch, *shape)), rng.integers(0, 10, args.batch)
    from ..datasets import load_mnist

    (x_train, t_train), _ = load_mnist(dtype=np.float64)
    if args.batch > len(x_train):
        raise CliError(f"--batch {args.batch} is more than the sample's {len(x_train)} images")
    return x_train[:args.batch], t_train[:args.batch]


def run(args: argparse.Namespace) -> int:
    from ..gradcheck import check_gradients

    conv = args.net in CONV_NETS
    args.data = args.data or ("random" if conv else "sample")
    args.batch = args.batch or (1 if conv else 3)
    args.mode = args.mode or ("fast" if args.net == "deepcnn" else "full")
    shape: tuple[int, ...] = IMAGE_SHAPE
    conv_param = None
    if args.net == "cnn":  # the book's configuration; its 10x10 images when they are random
        conv_param = BOOK_CHECK_CONV
        args.hidden = args.hidden or [BOOK_CHECK_HIDDEN]
        if args.data == "random":
            shape = BOOK_CHECK_SHAPE
    rng = np.random.default_rng(args.seed)
    net = build_net(args, input_shape=shape, rng=rng, dtype=np.float64, conv_param=conv_param)
    x, t = _inputs(args, shape if conv else (int(np.prod(shape)),), rng)
    report = check_gradients(net, x, t, mode=args.mode, rng=rng, locate=args.locate,
                             eps_sweep=args.eps_sweep is not None)
    what = "random inputs" if args.data == "random" else "MNIST images"
    print(f"{net!r} on {len(x)} {what}" if len(x) > 1 else f"{net!r} on one {what[:-1]}")
    if args.mode == "full":
        # The book's printout: the mean |backprop - numerical| per parameter.
        for name, result in report.results.items():
            print(f"{name}: mean |diff| {result.mean_abs_error:.3e}, "
                  f"max |diff| {result.max_abs_error:.3e}")
        print()
    print(report)
    if args.eps_sweep is not None:
        from ..plot import plot_eps_sweep

        plot_eps_sweep(report, args.eps_sweep)
        print(f"wrote {args.eps_sweep}")
    return 0 if report.passed else 1
