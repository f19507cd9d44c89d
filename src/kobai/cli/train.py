"""``kobai train``: the main job — train a network on MNIST, leave a checkpoint and plots."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.mnist import SOURCES
from ..i18n import translate
from ..nets.options import NETWORK_OPTIONS, OPTIONS, net_options, takes_images
from ..optimizers import OPTIMIZERS
from ..runs import RUNS_ROOT, check_out, run_folder
from . import _fit
from ._common import (
    CliError,
    add_net_arguments,
    add_option,
    build_net,
    first_filters,
    model_file,
    non_negative_int,
    positive_int,
    use_recorded_data_dir,
    user_errors,
)
from ._signals import sigint_held
from ._train_end import chance_warning, curve_title, write_stopped

# Default learning rate per optimizer: SGD as in the book's train_neuralnet.py, the others
# their usual defaults (the book's ch. 6 optimizer_compare_mnist.py).
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.001, "adam": 0.001}
DEFAULT_EPOCHS = 50
# The convolutional nets' defaults: the book's ch07/train_convnet.py (and ch08/train_deepnet.py).
CONV_OPTIMIZER, CONV_EPOCHS = "adam", 20


def default_lr(name: str) -> float:
    """``DEFAULT_LR[name]``, or for an optimizer added to the registry since, its own default."""
    if name in DEFAULT_LR:
        return DEFAULT_LR[name]
    import inspect

    default = inspect.signature(OPTIMIZERS[name]).parameters["lr"].default
    return float(default)


def default_epochs(net: str | None) -> int:
    """The --epochs of a new run of ``--net net``."""
    return CONV_EPOCHS if takes_images(net) else DEFAULT_EPOCHS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network on MNIST (default: the bundled sample)",
        description="Train a network on MNIST. With no options: the book's TwoLayerNet(784, 50, "
                    "10), sigmoid, SGD lr 0.1, batch 100, 50 epochs, on the MNIST sample that "
                    "ships with kobai (5,000 training images, MNIST's 10,000 test images). "
                    "--net cnn and --net deepcnn train the book's SimpleConvNet (ch. 7) and "
                    "DeepConvNet (ch. 8) with the settings of the book's train_convnet.py: "
                    "Adam, lr 0.001, batch 100, 20 epochs. Writes model.npz, history.csv and "
                    "history.json (after every epoch) and learning_curve.png (at the end, or "
                    "when stopped by Ctrl-C) into --out, and for the "
                    "convolutional nets the first layer's filters before and after training, "
                    "filters-before.png and filters-after.png; a new folder for each run unless "
                    "told otherwise: an earlier run is never overwritten without --force. A run "
                    "that ends at chance accuracy (it learned nothing) gets a warning naming "
                    "the likely cause.")
    add_net_arguments(p)
    g = p.add_argument_group("training")
    for option in OPTIONS.values():  # the searchable options that are not the network's
        if not option.network:
            add_option(g, option)
    g.add_argument("--epochs", type=positive_int, default=None,
                   help=f"total number of epochs (default: {DEFAULT_EPOCHS}; {CONV_EPOCHS} for cnn "
                        "and deepcnn); with --resume, training continues until this epoch")
    g.add_argument("--seed", type=non_negative_int,
                   help="seed for the weights, the batch order and dropout (default 0; with "
                        "--resume, the resumed run's own seed)")
    g.add_argument("--dtype", choices=["float32", "float64"], help="default: float32")
    g.add_argument("--resume", metavar="MODEL", type=Path,
                   help="continue training from a model.npz written by kobai train (or its run "
                        "folder), with its network, optimizer and seed: options that "
                        "conflict with those are refused")
    d = p.add_argument_group("data and output")
    d.add_argument("--dataset", choices=list(SOURCES), default=None,
                   help="sample: bundled with kobai; mnist / fashion-mnist: the full sets, "
                        "downloaded into --data-dir when missing (default: sample; with "
                        "--resume, the data set the checkpoint was trained on)")
    d.add_argument("--data-dir", type=Path,
                   help="folder of the four IDX .gz files (default: $KOBAI_HOME/datasets/NAME)")
    d.add_argument("--train-size", type=positive_int, metavar="N",
                   help="train on the first N training images only (default: all; with "
                        "--resume, the checkpoint's)")
    d.add_argument("--test-size", type=positive_int, metavar="N",
                   help="measure test accuracy on the first N test images only (default: all; "
                        "with --resume, the checkpoint's)")
    d.add_argument("--out", type=Path,
                   help="output folder (default: a new runs/<timestamp>/, with -2, -3, ... "
                        "when two runs start in the same second)")
    d.add_argument("--force", action="store_true",
                   help="replace the run already in --out (its model.npz, history and plots)")
    d.add_argument("--no-progress", action="store_true",
                   help="no progress bar (the per-epoch table is still printed)")
    _fit.add_arguments(p)
    p.set_defaults(run=run)


def _net_and_optimizer(args: argparse.Namespace):
    if args.resume is None:
        net = build_net(args, rng=0 if args.seed is None else args.seed,
                        dtype=np.dtype(args.dtype or "float32"))
        if args.epochs is None:
            args.epochs = default_epochs(args.net)
        name = args.optimizer or (CONV_OPTIMIZER if takes_images(args.net) else "sgd")
        lr = args.lr if args.lr is not None else default_lr(name)
        from ..optimizers import get_optimizer

        return net, get_optimizer(name, lr=lr), None, None
    from ..io import load

    with user_errors(f"cannot resume from {args.resume}"):
        checkpoint = load(args.resume)
        history = checkpoint.history
    if checkpoint.optimizer is None:
        raise CliError(f"{args.resume} holds no optimizer state, so training cannot resume "
                       "exactly; start a new run instead")
    conflicts = _resume_conflicts(args, checkpoint, history)
    if conflicts:
        raise CliError(f"--resume continues {args.resume} with the network, optimizer and seed "
                       f"it was trained with, and these options conflict with them: "
                       f"{'; '.join(conflicts)}. Leave them out, or start a new run without "
                       "--resume")
    done = history.epoch if history else 0
    if args.epochs is None:
        args.epochs = default_epochs((net_options(checkpoint.net) or {}).get("net"))
    if args.epochs <= done:
        raise CliError(f"{args.resume} has trained {done} epochs already; --epochs is the total "
                       f"to reach, so give more than {done} (e.g. --epochs {done + 10})")
    recorded = checkpoint.data
    source = recorded.get("source") if recorded else None
    if args.dataset is None:
        args.dataset = source if source in SOURCES else "sample"
        if source is None:
            print(f"{args.resume} does not record what it was trained on (written by kobai "
                  "0.1.0?); resuming on --dataset sample", file=sys.stderr)
    elif source is not None and args.dataset != source:
        raise CliError(f"{args.resume} was trained on --dataset {source}; --resume with "
                       f"--dataset {args.dataset} would continue it on other data. Leave "
                       "--dataset out, or start a new run without --resume")
    for dest in ("batch_size", "train_size", "test_size"):
        if getattr(args, dest) is None and recorded and dest in recorded:
            setattr(args, dest, recorded[dest])
    use_recorded_data_dir(args, recorded)
    return checkpoint.net, checkpoint.optimizer, history, recorded


def _resume_conflicts(args: argparse.Namespace, checkpoint: Any, history: Any) -> list[str]:
    """The options given with --resume that disagree with the checkpoint, each with its value."""
    net, optimizer = checkpoint.net, checkpoint.optimizer
    described = net_options(net)
    have: dict[str, Any] = dict(described or {})
    have["dtype"] = net.dtype.name
    have["optimizer"] = next((name for name, cls in OPTIMIZERS.items()
                              if type(optimizer) is cls), type(optimizer).__name__)
    have["lr"] = _fit.base_lr(checkpoint.data) or getattr(optimizer, "lr", None)
    have["seed"] = history.seed if history else None
    recorded = checkpoint.data or {}
    if "batch_size" in recorded:
        have["batch_size"] = recorded["batch_size"]
    have["train_size"] = recorded.get("train_size")  # None: all of them
    have["test_size"] = recorded.get("test_size")
    found = []
    for dest in (*NETWORK_OPTIONS, "dtype", "optimizer", "lr", "seed", "batch_size",
                 "train_size", "test_size"):  # what ``have`` holds, in its order
        flag = OPTIONS[dest].flag if dest in OPTIONS else f"--{dest.replace('_', '-')}"
        given = getattr(args, dest)
        if given is None:
            continue
        if dest == "batch_size" and dest not in have:  # not recorded (kobai 0.1.0)
            continue
        if dest not in have:  # a network the network options do not describe
            found.append(f"{_option(flag, given)} (the checkpoint holds {net!r})")
        elif not _same(given, have[dest]) and not (dest == "seed" and have[dest] is None):
            found.append(f"{_option(flag, given)} (the checkpoint has "
                         f"{_option(flag, have[dest])})")
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b)


def _option(flag: str, value: Any) -> str:
    """``value`` as the option that gives it, e.g. ``--hidden 100 100`` or ``no --dropout``."""
    if value is None or value is False:
        return f"no {flag}"
    if value is True:
        return flag
    if isinstance(value, list):
        return f"{flag} {' '.join(map(str, value))}"
    return f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}"


@contextmanager
def _run_folder(out: Path | None, *, replace: bool) -> Iterator[Path]:
    """:func:`kobai.runs.run_folder`, a folder it cannot create a one-line error (what the
    block raises is passed on as it is)."""
    with ExitStack() as stack:
        with user_errors(f"cannot create the run folder {out or RUNS_ROOT}"):
            folder = stack.enter_context(run_folder(out, replace=replace))
        yield folder


def run(args: argparse.Namespace) -> int:
    from .. import io, plot
    from ..datasets import describe, load_mnist
    from ..run_history import SaveHistory
    from ..trainer import Trainer, TrainingDivergedError

    if args.resume is not None:
        args.resume = model_file(args.resume)
    net, optimizer, history, recorded = _net_and_optimizer(args)
    if args.dataset is None:
        args.dataset = "sample"
    if args.batch_size is None:
        args.batch_size = 100
    with user_errors():
        replace = args.out is not None and check_out(args.out, force=args.force,
                                                     resuming=args.resume)
    with user_errors("cannot load the data"):
        (x_train, t_train), (x_test, t_test) = load_mnist(source=args.dataset,
                                                          data_dir=args.data_dir,
                                                          dtype=net.dtype)
    x_train, t_train = _first(x_train, t_train, args.train_size, "--train-size", "training",
                              args.dataset)
    x_test, t_test = _first(x_test, t_test, args.test_size, "--test-size", "test", args.dataset)
    data = describe(args.dataset, x_train, t_train, data_dir=args.data_dir)
    data["batch_size"] = args.batch_size  # what --resume continues with
    for dest in ("train_size", "test_size"):
        if getattr(args, dest) is not None:
            data[dest] = getattr(args, dest)
    if recorded and recorded.get("fingerprint") not in (None, data["fingerprint"]):
        raise CliError(f"the {args.dataset} training data differs from the data {args.resume} "
                       f"was trained on (fingerprint {data['fingerprint']}, recorded "
                       f"{recorded['fingerprint']}, {recorded.get('n_train', '?')} images): "
                       "are other files in --data-dir? Resume on the same data, or start a new "
                       "run")
    fit = _fit.settings(args, optimizer.lr, recorded)
    if fit is not None:
        data["fit"] = fit  # what --resume continues with
    start = history.epoch if history else 0
    optimizer_text = f"{type(optimizer).__name__}(lr={optimizer.lr:g})"
    filters = first_filters(net)
    filters_before = None if filters is None else filters.copy()
    with _run_folder(args.out, replace=replace) as out:
        model_path = out / "model.npz"
        in_place = args.resume is not None and args.resume.resolve() == model_path.resolve()
        saved = [start] if in_place else []  # the epochs model.npz holds, last one last

        checkpoint, history_files = io.SaveCheckpoint(model_path, data=data), SaveHistory(out)

        def save_epoch(trainer: Any, record: Any) -> None:  # Ctrl-C waits until all are written
            with sigint_held():
                checkpoint.on_epoch_end(trainer, record)
                saved.append(record.epoch)
                history_files.on_epoch_end(trainer, record)

        fitting = _fit.trainer_arguments(fit, out, data, args.resume)
        with user_errors():
            trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs,
                              mini_batch_size=args.batch_size, optimizer=optimizer,
                              verbose=True, progress=not args.no_progress,
                              rng=args.seed if args.seed is not None or history else 0,
                              callbacks=[*fitting.pop("callbacks"), save_epoch],
                              history=history, **fitting)
        if replace:
            print(f"replaced the earlier run in {out}/ (--force)")
        held = ("" if trainer.x_val is None else
                f" ({len(trainer.x_val)} of them held out for validation)")
        print(f"training {net!r} with {optimizer_text} on {args.dataset}: {len(x_train)} "
              f"training{held} and {len(x_test)} test images, batch {args.batch_size}, "
              f"{args.epochs} epochs -> {out}/")
        title = curve_title(net, optimizer, args.dataset)
        n_classes = getattr(net, "output_size", None)
        try:
            history = trainer.train()
        except TrainingDivergedError as exc:
            kept = f"; {model_path} holds the last good epoch ({saved[-1]})" if saved else ""
            note = write_stopped(trainer.history, saved, out, title, n_classes)
            raise CliError(f"{exc}{kept}{note}", status=1) from None
        except KeyboardInterrupt:
            stopped_in = (saved[-1] if saved else start) + 1
            before_save = trainer.history.epoch >= stopped_in  # Ctrl-C before save_epoch
            where = (f"after epoch {stopped_in}, before it was saved" if before_save
                     else f"in epoch {stopped_in}")
            kept = _kept(args, model_path, saved, start)
            if before_save and not saved and args.resume is None:
                kept = "nothing was saved"
            note = write_stopped(trainer.history, saved, out, title, n_classes)
            print(f"kobai: {translate(f'interrupted {where} of {args.epochs}; {kept}{note}')}",
                  file=sys.stderr)
            return 130
        except BrokenPipeError:
            raise
        except OSError as exc:  # the callbacks' saving is the only I/O of trainer.train()
            done = trainer.history.epoch
            unsaved = (f"epoch {done} completed but could not be saved; "
                       if done > (saved[-1] if saved else start) else "")
            kept = _kept(args, model_path, saved, start)
            if unsaved and not saved and args.resume is None:
                kept = "nothing was saved"
            raise CliError(f"cannot save {model_path}: {exc.strerror or exc}; {unsaved}{kept}",
                           status=1) from None
        with user_errors(f"cannot write into {out}"):
            history.to_csv(out / "history.csv")
            history.to_json(out / "history.json")
            plot.plot_learning_curve(history, out / "learning_curve.png", title=title,
                                     n_classes=n_classes)
            written = [model_path, out / "history.csv", out / "history.json",
                       out / "learning_curve.png"]
            if filters_before is not None:
                written += _draw_filters(net, filters_before, out, start,
                                          history.epoch, in_place)
    last = history.epochs[-1]
    if history.test is not None:
        print(_fit.summary(history, out))
    else:
        print(f"test accuracy {last.test_acc:.4f} (train {last.train_acc:.4f}) after epoch "
              f"{last.epoch}")
    if (out / "best.npz").is_file() and history.test is not None:
        written.insert(1, out / "best.npz")
    print(f"wrote {', '.join(map(str, written))}")
    name = next((name for name, cls in OPTIMIZERS.items() if type(optimizer) is cls), None)
    warning = chance_warning(history, n_classes, getattr(optimizer, "lr", None),
                             default_lr(name) if name else None)
    if warning:
        print(f"kobai: {translate('warning')}: {warning}", file=sys.stderr)
    return 0


def _first(x: np.ndarray, t: np.ndarray, n: int | None, flag: str, what: str,
           dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` samples (all for None), refusing more than there are."""
    if n is None:
        return x, t
    if n > len(x):
        raise CliError(f"{flag} {n} is more than the {len(x)} {what} images of --dataset "
                       f"{dataset}")
    return x[:n], t[:n]


def _draw_filters(net: Any, before: np.ndarray, out: Path, start: int, end: int,
                  in_place: bool) -> list[Path]:
    """filters-before.png (the first layer's filters when this run started) and
    filters-after.png (now), as the book's visualize_filter.py; a run continued in its own
    folder keeps the filters-before.png of its start."""
    from ..plot import plot_filters

    written = []
    target = out / "filters-before.png"
    if not (in_place and target.exists()):
        when = "before training" if start == 0 else f"at epoch {start}, where this run resumed"
        plot_filters(before, target, title=f"{net!r}: first-layer filters {when}")
        written.append(target)
    after = first_filters(net)
    if after is not None:
        target = out / "filters-after.png"
        plot_filters(after, target, title=f"{net!r}: first-layer filters after epoch {end}")
        written.append(target)
    return written


def _kept(args: argparse.Namespace, model_path: Path, saved: list[int], start: int) -> str:
    """What a stopped run leaves, and how to continue it."""
    if saved:
        folder = model_path.parent
        return (f"{model_path} holds epoch {saved[-1]}, the last completed one (continue with "
                f"kobai train --resume {folder} --out {folder} --epochs {args.epochs})")
    if args.resume is not None:
        return f"nothing was saved; {args.resume} still holds epoch {start}"
    return "no epoch was completed, so nothing was saved"
