"""``kobai train``: the main job — train a network on MNIST, leave a checkpoint and plots."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..datasets.mnist import SOURCES
from ..optimizers import OPTIMIZERS
from ._common import (
    CliError,
    add_net_arguments,
    build_net,
    non_negative_int,
    positive_float,
    positive_int,
    user_errors,
)

# Default learning rate per optimizer: SGD as in the book's train_neuralnet.py, the others
# their usual defaults (the book's ch. 6 optimizer_compare_mnist.py).
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.001, "adam": 0.001}
DEFAULT_EPOCHS = 50


def default_lr(name: str) -> float:
    """``DEFAULT_LR[name]``, or for an optimizer added to the registry since, its own default."""
    if name in DEFAULT_LR:
        return DEFAULT_LR[name]
    import inspect

    default = inspect.signature(OPTIMIZERS[name]).parameters["lr"].default
    return float(default)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network on MNIST (default: the bundled sample)",
        description="Train a network on MNIST. With no options: the book's TwoLayerNet(784, 50, "
                    "10), sigmoid, SGD lr 0.1, batch 100, on the 4,000/1,000-image sample that "
                    "ships with kobai. Writes model.npz, history.csv, history.json and "
                    "learning_curve.png into --out.")
    add_net_arguments(p, hidden_default="50 for two-layer, 100 100 for mlp")
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", type=str.lower, default="sgd", choices=list(OPTIMIZERS),
                   help="default: sgd")
    g.add_argument("--lr", type=positive_float,
                   help="learning rate (default: 0.1 for sgd, 0.01 for momentum, nesterov and "
                        "adagrad, 0.001 for rmsprop and adam)")
    g.add_argument("--batch-size", type=positive_int, default=100, help="default: 100")
    g.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS,
                   help=f"total number of epochs (default: {DEFAULT_EPOCHS}); with --resume, "
                        "training continues until this epoch")
    g.add_argument("--seed", type=non_negative_int,
                   help="seed for the weights, the batch order and dropout (default 0; with "
                        "--resume, the resumed run's own seed)")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="default: float32")
    g.add_argument("--resume", metavar="MODEL", type=Path,
                   help="continue training from a model.npz written by kobai train")
    d = p.add_argument_group("data and output")
    d.add_argument("--dataset", choices=list(SOURCES), default="sample",
                   help="sample: bundled with kobai; mnist / fashion-mnist: the full sets, "
                        "downloaded into --data-dir when missing (default: sample)")
    d.add_argument("--data-dir", type=Path,
                   help="folder of the four IDX .gz files (default: $KOBAI_HOME/datasets/NAME)")
    d.add_argument("--out", type=Path,
                   help="output folder (default: runs/<timestamp>/)")
    d.add_argument("--no-progress", action="store_true",
                   help="no progress bar (the per-epoch table is still printed)")
    p.set_defaults(run=run)


def _net_and_optimizer(args: argparse.Namespace):
    if args.resume is None:
        net = build_net(args, rng=0 if args.seed is None else args.seed,
                        dtype=np.dtype(args.dtype))
        lr = args.lr if args.lr is not None else default_lr(args.optimizer)
        from ..optimizers import get_optimizer

        return net, get_optimizer(args.optimizer, lr=lr), None
    from ..io import load
    from ..trainer import History

    with user_errors(f"cannot resume from {args.resume}"):
        checkpoint = load(args.resume)
        history = History.from_dict(checkpoint.history) if checkpoint.history else None
    if checkpoint.optimizer is None:
        raise CliError(f"{args.resume} holds no optimizer state, so training cannot resume "
                       "exactly; start a new run instead")
    return checkpoint.net, checkpoint.optimizer, history


def run(args: argparse.Namespace) -> int:
    from .. import io, plot
    from ..datasets import load_mnist
    from ..trainer import Trainer, TrainingDivergedError

    net, optimizer, history = _net_and_optimizer(args)
    out = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    with user_errors("cannot load the data"):
        (x_train, t_train), (x_test, t_test) = load_mnist(source=args.dataset,
                                                          data_dir=args.data_dir,
                                                          dtype=net.dtype)
    with user_errors(f"cannot write into {out}"):
        out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.npz"
    print(f"training {net!r} with {type(optimizer).__name__}(lr={optimizer.lr:g}) on "
          f"{args.dataset}: {len(x_train)} training and {len(x_test)} test images, "
          f"batch {args.batch_size}, {args.epochs} epochs -> {out}/")
    with user_errors():
        trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs,
                          mini_batch_size=args.batch_size, optimizer=optimizer,
                          verbose=True, progress=not args.no_progress,
                          rng=args.seed if args.seed is not None or history else 0,
                          callbacks=[io.SaveCheckpoint(model_path)], history=history)
    try:
        history = trainer.train()
    except TrainingDivergedError as exc:
        kept = f"; {model_path} holds the last good epoch" if model_path.exists() else ""
        raise CliError(f"{exc}{kept}", status=1) from None
    history.to_csv(out / "history.csv")
    history.to_json(out / "history.json")
    plot.plot_learning_curve(history, out / "learning_curve.png")
    last = history.epochs[-1]
    print(f"test accuracy {last.test_acc:.4f} (train {last.train_acc:.4f}) after epoch "
          f"{last.epoch}")
    print(f"wrote {model_path}, {out / 'history.csv'}, {out / 'history.json'}, "
          f"{out / 'learning_curve.png'}")
    return 0
