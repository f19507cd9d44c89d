"""``kobai simplenet``: replay the seed notebook's simpleNet (§4.4.2)."""

from __future__ import annotations

import argparse

import numpy as np

from ..gradient import numerical_gradient
from ..nets import SimpleNet
from ._common import CliError, non_negative_int

# The weights the seed notebook printed; with them every number it printed comes out again.
SEED_WEIGHTS = "-0.78425015,1.35311457,0.17493891;-0.44785118,-0.55581795,0.26695799"


def add_parser(sub) -> None:
    p = sub.add_parser("simplenet", help="replay the book's simpleNet: W, p, argmax, loss, dW",
                       description="Replay the seed notebook (§4.4.2): build simpleNet, predict "
                                   "for x = [0.6, 0.9], take the loss for t = [0, 0, 1] and its "
                                   "numerical gradient dW. Without options, uses the notebook's "
                                   "printed weights and so prints its numbers.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seed", type=non_negative_int,
                   help="draw W from a standard normal with this seed")
    g.add_argument("--weights", metavar='"a,b,c;d,e,f"',
                   help=f"the 2x3 weights, rows separated by ';' (default: the notebook's, "
                        f"{SEED_WEIGHTS})")
    p.set_defaults(run=run)


def parse_weights(text: str) -> np.ndarray:
    try:
        rows = [[float(v) for v in row.split(",")] for row in text.split(";")]
        W = np.array(rows, dtype=np.float64)
    except ValueError:
        raise CliError(f"--weights must be 6 numbers like \"a,b,c;d,e,f\", got {text!r}") from None
    if W.shape != (2, 3):
        raise CliError(f"--weights must be 2 rows of 3 numbers like \"a,b,c;d,e,f\", got "
                       f"{text!r}")
    if not np.all(np.isfinite(W)):
        raise CliError(f"--weights must be finite numbers, got {text!r}")
    return W


def run(args: argparse.Namespace) -> int:
    if args.seed is not None:
        net = SimpleNet(rng=args.seed)
    else:
        net = SimpleNet(W=parse_weights(SEED_WEIGHTS if args.weights is None else args.weights))
    x = np.array([0.6, 0.9])
    t = np.array([0, 0, 1])
    p = net.predict(x)
    dW = numerical_gradient(lambda W: net.loss(x, t), net.W)
    print(f"W =\n{net.W}")
    print(f"x = {x}, t = {t}")
    print(f"p = net.predict(x) =\n{p}")
    print(f"np.argmax(p) = {np.argmax(p)}")
    print(f"net.loss(x, t) = {net.loss(x, t)!r}")
    print(f"dW = numerical_gradient(f, net.W) =\n{dW}")
    return 0
