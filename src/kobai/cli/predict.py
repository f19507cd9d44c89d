"""``kobai predict``: classify digit images with a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ._common import user_errors


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict the digit in PNG/JPEG images",
        description="Predict the digit in each image with a model.npz from kobai train. Images "
                    "of any size are converted as MNIST was made: grayscale, white strokes on "
                    "black (dark-on-light images are inverted), cropped to the strokes, scaled "
                    "into a 20x20 box and centred in 28x28. Needs Pillow: "
                    "pip install 'kobai[images]'.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a model.npz from kobai train")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="PNG or JPEG files")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..images import load_digit
    from ..io import load_net

    with user_errors(f"cannot load {args.model}"):
        net = load_net(args.model)
    for path in args.images:
        with user_errors(f"cannot read {path}"):
            x = load_digit(path)
        proba = net.predict_proba(x.astype(net.dtype))
        top = np.argsort(proba)[::-1][:3]
        ranked = ", ".join(f"{int(c)}: {proba[c]:.3f}" for c in top)
        print(f"{path}: {int(top[0])}  (top 3: {ranked})")
    return 0
