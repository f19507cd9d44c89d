"""``kobai predict``: classify digit images with a trained model (default: the pretrained one)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ._common import CliError, activation_note, add_params_arguments, open_model, user_errors

#: what kobai.images.load_digit makes of every image: 28×28 pixels, MNIST's layout
INPUT_SIZE = 28 * 28
#: the bundled test images a --params network is scored on under each activation
CHECK_IMAGES = 500


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict the digit in PNG/JPEG images",
        usage="kobai predict [-h] [--model MODEL | --params FILE [--net NET ...]] "
              "[--save-input DIR] [MODEL] IMAGE [IMAGE ...]",
        description="Predict the digit in each image, with the pretrained DeepConvNet that "
                    "ships with kobai (the book's, 99.35% on MNIST's test set) unless "
                    "--model or --params names another. The model may also come first among "
                    "the arguments, as in earlier versions (kobai predict MODEL IMAGE...): a "
                    "first argument that is a kobai model file (a zip archive, whatever its "
                    "name) or a folder is the model, never an image. "
                    "Images of any size are converted as MNIST was made: grayscale, the "
                    "background separated from the ink by a threshold (Otsu's, beyond the "
                    "paper's noise) and made black, white strokes on black (dark-on-light "
                    "images are inverted), cropped to the strokes, scaled into a 20x20 box and "
                    "centred in 28x28. Uneven lighting of the page is taken out first, a "
                    "transparent background counts as background (light strokes on it are "
                    "put on black), a box drawn round the digit is left out, and an image "
                    "of several separate marks (digits side by side) is read mark by mark, "
                    "left to right: 2 separate marks (columns ...) give two digits. "
                    "A blank image gives 'no digit found'. A file that "
                    "cannot be read is reported and the others are still predicted; the exit "
                    "status is then 2. Needs Pillow: pip install 'kobai[images]'.")
    p.add_argument("inputs", type=Path, nargs="+", metavar="IMAGE",
                   help="PNG or JPEG files (a first argument that is a model file or a "
                        "folder is MODEL)")
    p.add_argument("--model", type=Path, metavar="MODEL",
                   help="a model.npz from kobai train, or the run folder holding it (default: "
                        "the pretrained DeepConvNet, kobai.pretrained)")
    add_params_arguments(p)
    p.add_argument("--save-input", type=Path, metavar="DIR",
                   help="write the 28x28 image the model saw for each IMAGE into DIR, as "
                        "NAME.28x28.png")
    p.set_defaults(run=run)


def _is_model(path: Path) -> bool:
    """A positional argument that names a model (a checkpoint or a run folder), not an image:
    a folder, a ``.npz`` name, or a file of any other name that is a zip archive (a checkpoint
    may be called anything; no PNG or JPEG is a zip)."""
    if path.is_dir() or path.suffix.lower() == ".npz":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def split_inputs(args: argparse.Namespace) -> tuple[Path | None, list[Path]]:
    """The model given (``--model`` or a first positional MODEL) and the images."""
    first, images = args.inputs[0], list(args.inputs)
    if not _is_model(first):
        return args.model, images
    if args.model is not None or args.params is not None:
        given = "--model" if args.model is not None else "--params"
        raise CliError(f"{first} names a model (a model file or a folder), and so does {given}; "
                       "give one model")
    if len(images) == 1:
        raise CliError(f"{first} names a model (a model file or a folder); give the images to "
                       "predict after it")
    return first, images[1:]


def run(args: argparse.Namespace) -> int:
    from ..images import NoDigitError, describe_marks, load_digits, save_digit

    model, images = split_inputs(args)
    found = open_model(args, model, pretrained=False,
                       model_flag="--model" if args.model is not None else "MODEL")
    net = found.net
    if net.input_size != INPUT_SIZE:
        raise CliError(f"{found.name} takes {net.input_size} inputs per sample, but kobai "
                       f"predict gives it 28x28 = {INPUT_SIZE} pixels: use a model trained on "
                       "MNIST-like images")
    if args.params is not None:
        _check_activation(args, net)
    if args.save_input is not None:
        with user_errors(f"cannot create {args.save_input}"):
            args.save_input.mkdir(parents=True, exist_ok=True)
    failed = 0
    names: set[Path] = set()  # the --save-input files written so far
    for path in images:
        try:
            inputs, marks = load_digits(path)
        except NoDigitError as exc:
            print(f"{path}: {exc}")  # an answer, not an error: "no digit found: ..."
            continue
        except ImportError as exc:  # no Pillow: the same for every image
            raise CliError(str(exc)) from None
        except (ValueError, OSError) as exc:
            print(f"kobai: error: cannot read {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        # one sample in the network's own layout: 784 pixels, or an image of (1, 28, 28)
        probas = [net.predict_proba(x.reshape(net.input_shape).astype(net.dtype))
                  for x in inputs]
        tops = [np.argsort(proba)[::-1][:3] for proba in probas]
        ranked = [", ".join(f"{int(c)}: {proba[c]:.3f}" for c in top)
                  for proba, top in zip(probas, tops, strict=True)]
        digits = "".join(str(int(top[0])) for top in tops)
        if len(inputs) == 1:
            print(f"{path}: {digits}  (top 3: {ranked[0]})")
        else:
            print(f"{path}: {digits}  ({describe_marks(marks)}, read one by one, left to "
                  f"right; top 3 of each: {' | '.join(ranked)})")
        if args.save_input is not None:
            for k, x in enumerate(inputs, 1):
                name = path if len(inputs) == 1 else path.with_name(f"{path.stem}-mark{k}")
                target = _input_name(args.save_input, name, names)
                try:
                    save_digit(x, target)
                except OSError as exc:
                    print(f"kobai: error: cannot write {target}: {exc}", file=sys.stderr)
                    failed += 1
    return 2 if failed else 0


def _check_activation(args: argparse.Namespace, net) -> None:
    """For --params: note on stderr when another activation scores clearly better on the
    first bundled test images (:func:`kobai.cli._common.activation_note`)."""
    from ..datasets import load_mnist_test

    x, t = load_mnist_test(dtype=net.dtype)
    note = activation_note(args, net, x[:CHECK_IMAGES], t[:CHECK_IMAGES],
                           images="MNIST test images")
    if note:
        print(note, file=sys.stderr)


def _input_name(folder: Path, image: Path, taken: set[Path]) -> Path:
    """``folder/NAME.28x28.png``, or ``NAME-2.28x28.png``, ... for a name met before."""
    for n in range(1, len(taken) + 2):
        target = folder / f"{image.stem}{'' if n == 1 else f'-{n}'}.28x28.png"
        if target not in taken:
            taken.add(target)
            return target
    raise AssertionError("unreachable")  # pragma: no cover
