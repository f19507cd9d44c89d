"""``kobai evaluate``: accuracy, per-class precision/recall and a confusion matrix."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..datasets.mnist import SOURCES
from ._common import (
    CliError,
    activation_note,
    add_params_arguments,
    open_model,
    positive_int,
    use_recorded_data_dir,
    user_errors,
)

#: test images per forward pass: bounds the memory of a convolutional net's im2col
EVAL_BATCH = 500
#: the first test images a --params network is scored on under each activation
ACTIVATION_CHECK = 500


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained model on a test set",
                       usage="kobai evaluate [-h] (MODEL | --pretrained | --params FILE "
                             "[--net NET ...]) [--dataset NAME] [--test-size N] [--out DIR]",
                       description="Evaluate a model on a test set: accuracy, per-class "
                                   "precision and recall, a text confusion matrix, and "
                                   "confusion.png. The model is a model.npz written by kobai "
                                   "train (or its run folder), the pretrained DeepConvNet that "
                                   "ships with kobai (--pretrained: the book's, 99.35% on "
                                   "MNIST's test set), or a parameters file such as the book's "
                                   "trained-weight pickles (--params FILE --net NET: a file "
                                   "that does not fit NET is refused, naming the --net and "
                                   "--hidden it fits; weights that score clearly better under "
                                   "another --activation on 500 test images get a note "
                                   "saying so).")
    p.add_argument("model", type=Path, metavar="MODEL", nargs="?",
                   help="a model.npz from kobai train, or the run folder holding it")
    p.add_argument("--pretrained", action="store_true",
                   help="the pretrained DeepConvNet (kobai.pretrained), trained by the book's "
                        "authors on MNIST's 60,000 training images; evaluated on MNIST's test "
                        "set bundled with kobai unless --dataset says otherwise")
    add_params_arguments(p)
    d = p.add_argument_group("data and output")
    d.add_argument("--dataset", choices=list(SOURCES), default=None,
                   help="default: the data set the model was trained on (recorded in its "
                        "checkpoint), else sample (whose test set is MNIST's 10,000 test "
                        "images); mnist and fashion-mnist read (or download) their two test "
                        "files only")
    d.add_argument("--data-dir", type=Path, help="folder of the four IDX .gz files")
    d.add_argument("--test-size", type=positive_int, metavar="N",
                   help="evaluate on the first N test images only (default: all)")
    d.add_argument("--out", type=Path,
                   help="where to write confusion.png (default: MODEL's folder; with "
                        "--pretrained or --params, the current folder)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..datasets import load_mnist_test
    from ..metrics import classification_report, confusion_matrix, format_confusion_matrix
    from ..plot import plot_confusion

    if args.model is None and args.params is None and not args.pretrained:
        raise CliError("give the model to evaluate: MODEL (a model.npz or run folder), "
                       "--pretrained, or --params FILE --net NET")
    found = open_model(args, args.model, pretrained=args.pretrained)
    net, recorded, name = found.net, found.data, found.name
    trained_on = recorded.get("source") if recorded else None
    if args.dataset is None and args.pretrained:
        # MNIST's test set ships with kobai: no need to download the full set to read it
        args.dataset = "sample"
        print("the pretrained DeepConvNet was trained on MNIST's 60,000 training images by "
              "the book's authors; evaluating it on MNIST's test set as bundled with kobai")
    elif args.dataset is None:
        args.dataset = trained_on if trained_on in SOURCES else "sample"
    elif trained_on is not None and args.dataset != trained_on:
        print(f"note: {name} was trained on --dataset {trained_on}; evaluating it on the "
              f"{args.dataset} test set, as asked")
    use_recorded_data_dir(args, recorded)
    with user_errors("cannot load the data"):
        x_test, t_test = load_mnist_test(source=args.dataset, data_dir=args.data_dir,
                                         dtype=net.dtype)
    if args.test_size is not None:
        x_test, t_test = x_test[:args.test_size], t_test[:args.test_size]
    if net.input_size != x_test.shape[1]:
        raise CliError(f"{name} takes {net.input_size} inputs per sample, but the "
                       f"{args.dataset} images have {x_test.shape[1]} pixels")
    n_classes = int(t_test.max()) + 1
    if net.output_size < n_classes:
        raise CliError(f"{name} scores {net.output_size} classes, but the {args.dataset} test "
                       f"set has {n_classes} (labels 0-{n_classes - 1}); evaluate it on a data "
                       "set of its own classes")
    if args.params is not None:
        note = activation_note(args, net, x_test[:ACTIVATION_CHECK], t_test[:ACTIVATION_CHECK])
        if note:
            print(note, file=sys.stderr)
    with user_errors():
        scores = np.concatenate([net.predict(x_test[i:i + EVAL_BATCH])
                                 for i in range(0, len(x_test), EVAL_BATCH)])
    pred = scores.argmax(axis=1)
    cm = confusion_matrix(t_test, pred, net.output_size)
    print(f"{net!r} on the {args.dataset} test set ({len(t_test)} images)")
    print(classification_report(cm))
    print()
    print(format_confusion_matrix(cm))
    out_dir = args.out or found.folder or Path(".")
    with user_errors(f"cannot write into {out_dir}"):
        out_dir.mkdir(parents=True, exist_ok=True)
        plot_confusion(cm, out_dir / "confusion.png")
    print(f"\nwrote {out_dir / 'confusion.png'}")
    return 0
