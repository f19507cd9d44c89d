"""``kobai evaluate``: accuracy, per-class precision/recall and a confusion matrix."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..datasets.mnist import SOURCES
from ._common import CliError, model_file, use_recorded_data_dir, user_errors


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained model on a test set",
                       description="Evaluate a model.npz written by kobai train: accuracy, "
                                   "per-class precision and recall, a text confusion matrix, "
                                   "and confusion.png.")
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="a model.npz from kobai train, or the run folder holding it")
    p.add_argument("--dataset", choices=list(SOURCES), default=None,
                   help="default: the data set the model was trained on (recorded in its "
                        "checkpoint), else sample")
    p.add_argument("--data-dir", type=Path, help="folder of the four IDX .gz files")
    p.add_argument("--out", type=Path,
                   help="where to write confusion.png (default: the model's folder)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..datasets import load_mnist
    from ..io import load
    from ..metrics import classification_report, confusion_matrix, format_confusion_matrix
    from ..plot import plot_confusion

    model = model_file(args.model)
    with user_errors(f"cannot load {model}"):
        checkpoint = load(model)
    net, recorded = checkpoint.net, checkpoint.data
    trained_on = recorded.get("source") if recorded else None
    if args.dataset is None:
        args.dataset = trained_on if trained_on in SOURCES else "sample"
    elif trained_on is not None and args.dataset != trained_on:
        print(f"note: {model} was trained on --dataset {trained_on}; evaluating it on the "
              f"{args.dataset} test set, as asked")
    use_recorded_data_dir(args, recorded)
    with user_errors("cannot load the data"):
        _, (x_test, t_test) = load_mnist(source=args.dataset, data_dir=args.data_dir,
                                         dtype=net.dtype)
    if net.input_size != x_test.shape[1]:
        raise CliError(f"{model} takes {net.input_size} inputs per sample, but the "
                       f"{args.dataset} images have {x_test.shape[1]} pixels")
    n_classes = int(t_test.max()) + 1
    if net.output_size < n_classes:
        raise CliError(f"{model} scores {net.output_size} classes, but the {args.dataset} test "
                       f"set has {n_classes} (labels 0-{n_classes - 1}); evaluate it on a data "
                       "set of its own classes")
    with user_errors():
        scores = np.concatenate([net.predict(x_test[i:i + 1000])
                                 for i in range(0, len(x_test), 1000)])
    pred = scores.argmax(axis=1)
    cm = confusion_matrix(t_test, pred, net.output_size)
    print(f"{net!r} on the {args.dataset} test set ({len(t_test)} images)")
    print(classification_report(cm))
    print()
    print(format_confusion_matrix(cm))
    out_dir = args.out or model.parent
    with user_errors(f"cannot write into {out_dir}"):
        out_dir.mkdir(parents=True, exist_ok=True)
        plot_confusion(cm, out_dir / "confusion.png")
    print(f"\nwrote {out_dir / 'confusion.png'}")
    return 0
