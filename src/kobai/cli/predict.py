"""``kobai predict``: classify digit images with a trained model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ._common import CliError, model_file, user_errors

#: what kobai.images.load_digit makes of every image: 28×28 pixels, MNIST's layout
INPUT_SIZE = 28 * 28


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict the digit in PNG/JPEG images",
        description="Predict the digit in each image with a model.npz from kobai train. Images "
                    "of any size are converted as MNIST was made: grayscale, the background "
                    "separated from the ink by a threshold (Otsu's, beyond the paper's noise) "
                    "and made black, white strokes on black (dark-on-light images are "
                    "inverted), cropped to the strokes, scaled into a 20x20 box and centred in "
                    "28x28. A blank image gives 'no digit found'. A file that cannot be read is "
                    "reported and the others are still predicted; the exit status is then 2. "
                    "Needs Pillow: pip install 'kobai[images]'.")
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="a model.npz from kobai train, or the run folder holding it")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="PNG or JPEG files")
    p.add_argument("--save-input", type=Path, metavar="DIR",
                   help="write the 28x28 image the model saw for each IMAGE into DIR, as "
                        "NAME.28x28.png")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..images import NoDigitError, load_digit, save_digit
    from ..io import load_net

    model = model_file(args.model)
    with user_errors(f"cannot load {model}"):
        net = load_net(model)
    if net.input_size != INPUT_SIZE:
        raise CliError(f"{model} takes {net.input_size} inputs per sample, but kobai predict "
                       f"gives it 28x28 = {INPUT_SIZE} pixels: use a model trained on MNIST-like "
                       "images")
    if args.save_input is not None:
        with user_errors(f"cannot create {args.save_input}"):
            args.save_input.mkdir(parents=True, exist_ok=True)
    failed = 0
    names: set[Path] = set()  # the --save-input files written so far
    for path in args.images:
        try:
            x = load_digit(path)
        except NoDigitError as exc:
            print(f"{path}: {exc}")  # an answer, not an error: "no digit found: ..."
            continue
        except ImportError as exc:  # no Pillow: the same for every image
            raise CliError(str(exc)) from None
        except (ValueError, OSError) as exc:
            print(f"kobai: error: cannot read {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        proba = net.predict_proba(x.reshape(net.input_shape).astype(net.dtype))
        top = np.argsort(proba)[::-1][:3]
        ranked = ", ".join(f"{int(c)}: {proba[c]:.3f}" for c in top)
        print(f"{path}: {int(top[0])}  (top 3: {ranked})")
        if args.save_input is not None:
            target = _input_name(args.save_input, path, names)
            try:
                save_digit(x, target)
            except OSError as exc:
                print(f"kobai: error: cannot write {target}: {exc}", file=sys.stderr)
                failed += 1
    return 2 if failed else 0


def _input_name(folder: Path, image: Path, taken: set[Path]) -> Path:
    """``folder/NAME.28x28.png``, or ``NAME-2.28x28.png``, ... for a name met before."""
    for n in range(1, len(taken) + 2):
        target = folder / f"{image.stem}{'' if n == 1 else f'-{n}'}.28x28.png"
        if target not in taken:
            taken.add(target)
            return target
    raise AssertionError("unreachable")  # pragma: no cover
