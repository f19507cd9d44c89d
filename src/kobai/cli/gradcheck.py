"""``kobai gradcheck``: backprop against numerical gradients (the book's §5.7.3)."""

from __future__ import annotations

import argparse

import numpy as np

from ._common import CliError, add_net_arguments, build_net, non_negative_int, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("gradcheck", help="check backprop against numerical gradients",
                       description="Build a network (default: TwoLayerNet(784, 50, 10) as in "
                                   "the book's gradient_check.py), compare its backprop "
                                   "gradients with central differences on three inputs, and "
                                   "print per parameter the mean and max absolute difference "
                                   "and the checker's report. Exit status 1 when it fails.")
    add_net_arguments(p, hidden_default="50 for two-layer, 100 100 for mlp")
    p.add_argument("--mode", choices=["full", "fast"], default="full",
                   help="full: every element by central differences; fast: one random "
                        "direction per parameter array (default: full)")
    p.add_argument("--data", choices=["sample", "random"], default="sample",
                   help="the first images of the bundled MNIST sample, as the book does, or "
                        "random inputs in [0, 1) (default: sample)")
    p.add_argument("--batch", type=positive_int, default=3, metavar="N",
                   help="number of inputs (default 3)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.set_defaults(run=run)


def _inputs(args: argparse.Namespace, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if args.data == "random":
        return rng.random((args.batch, 784)), rng.integers(0, 10, args.batch)
    from ..datasets import load_mnist

    (x_train, t_train), _ = load_mnist(dtype=np.float64)
    if args.batch > len(x_train):
        raise CliError(f"--batch {args.batch} is more than the sample's {len(x_train)} images")
    return x_train[:args.batch], t_train[:args.batch]


def run(args: argparse.Namespace) -> int:
    from ..gradcheck import check_gradients

    rng = np.random.default_rng(args.seed)
    net = build_net(args, rng=rng, dtype=np.float64)
    x, t = _inputs(args, rng)
    report = check_gradients(net, x, t, mode=args.mode, rng=rng)
    print(f"{net!r} on {len(x)} {'random inputs' if args.data == 'random' else 'MNIST images'}")
    if args.mode == "full":
        # The book's printout: the mean |backprop - numerical| per parameter.
        for name, result in report.results.items():
            print(f"{name}: mean |diff| {result.mean_abs_error:.3e}, "
                  f"max |diff| {result.max_abs_error:.3e}")
        print()
    print(report)
    return 0 if report.passed else 1
