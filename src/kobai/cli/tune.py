"""``kobai tune``: hyperparameter search on Ray Tune (the book's ch. 6.5, scaled out)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..datasets.mnist import SOURCES
from ..nets.options import OPTIONS
from ._common import CliError, non_negative_int, positive_int, user_errors

#: the settings a --preset may set, and their defaults otherwise
_SETTINGS = {"trials": 100, "epochs": 20, "train_size": None, "val_fraction": 0.2}


def add_parser(sub) -> None:
    from ..tune.search import PRESETS
    from ..tune.space import SYNTAX_HELP

    p = sub.add_parser(
        "tune", help="hyperparameter search on Ray Tune (local cores or a cluster)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Search hyperparameters as the book's ch06/hyperparameter_optimization.py "
                    "does, on Ray Tune: each trial trains a configuration on the training part "
                    "of a validation split (20% of the training data by default, stratified "
                    "and seeded) and is scored on the validation part; the best one is then "
                    "trained on all the training data and tested once on the test set. Needs "
                    "ray[tune]: pip install \"kobai[tune]\".\n\n" + SYNTAX_HELP,
        epilog="examples:\n"
               "  kobai tune --trials 20 --epochs 10\n"
               "  kobai tune --preset book                   # the book's own experiment\n"
               "  kobai tune --optimizer sgd,adam --lr 1e-4:1e-1:log --scheduler asha\n"
               "  kobai tune --address 10.0.0.5:6379         # on a Ray cluster\n"
               "  kobai tune --resume runs/tune-20261128-101500")
    s = p.add_argument_group("search space (any kobai train option: a value, a range or a "
                             "choice; see above)")
    for option in OPTIONS.values():  # each takes the syntax of kobai.tune.syntax
        if option.kind == "hidden":
            s.add_argument(option.flag, nargs="+", metavar=option.search_metavar)
        elif option.kind == "flag":
            s.add_argument(option.flag, nargs="?", const=True, metavar=option.search_metavar)
        else:
            s.add_argument(option.flag, metavar=option.search_metavar)
    g = p.add_argument_group("search")
    g.add_argument("--trials", type=positive_int, help="number of trials (default: 100)")
    g.add_argument("--epochs", type=positive_int,
                   help="epochs per trial, and of the retraining (default: 20)")
    g.add_argument("--scheduler", choices=["random", "asha"],
                   help="random: every trial runs every epoch (the book's random search); "
                        "asha: Ray Tune's ASHA stops trials that trail (default: random)")
    g.add_argument("--grace-period", type=positive_int, metavar="E",
                   help="asha: epochs before a trial can be stopped (default: epochs / 10)")
    g.add_argument("--seed", type=non_negative_int,
                   help="seeds the split, the configurations drawn and each trial's weights "
                        "(default 0)")
    g.add_argument("--preset", choices=list(PRESETS),
                   help="book: the book's experiment, the first 500 training images, 20%% of "
                        "them for validation, 100 trials of 50 epochs (options given "
                        "explicitly win)")
    g.add_argument("--no-retrain", action="store_true",
                   help="do not retrain and test the best configuration")
    r = p.add_argument_group("where trials run")
    r.add_argument("--cpus", type=positive_int,
                   help="start a local Ray instance with N CPUs, one trial on each (default: "
                        "all of this machine's)")
    r.add_argument("--address", metavar="HOST:PORT",
                   help="join a running Ray cluster (`ray start --head` prints its address), "
                        "or auto")
    d = p.add_argument_group("data and output")
    d.add_argument("--dataset", choices=list(SOURCES),
                   help="as kobai train (default: sample, bundled)")
    d.add_argument("--data-dir", type=Path, help="as kobai train")
    d.add_argument("--train-size", type=positive_int, metavar="N",
                   help="search on the first N training images only (default: all)")
    d.add_argument("--val-fraction", type=float, metavar="F",
                   help="share of the training images held out for validation (default 0.2)")
    d.add_argument("--dtype", choices=["float32", "float64"], help="default: float32")
    d.add_argument("--out", type=Path,
                   help="the search's folder (default: a new runs/tune-<timestamp>/)")
    d.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue an interrupted search in DIR with its own settings")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..tune.search import PRESETS, RetrainError, SearchSettings, search
    from ..tune.space import SearchSpace

    given = {dest: getattr(args, dest) for dest in OPTIONS}
    if args.resume is not None:
        extra = [OPTIONS[dest].flag for dest, value in given.items() if value is not None]
        extra += [f"--{name.replace('_', '-')}" for name in
                  ("trials", "epochs", "scheduler", "grace_period", "seed", "preset",
                   "dataset", "data_dir", "train_size", "val_fraction", "dtype", "out")
                  if getattr(args, name) is not None]
        extra += ["--no-retrain"] if args.no_retrain else []
        if extra:
            raise CliError(f"--resume continues the search with its own settings; leave out "
                           f"{', '.join(extra)}")
        space = settings = None
    else:
        with user_errors():
            space = SearchSpace.from_options(given)
        preset = PRESETS.get(args.preset or "", {})
        values: dict[str, Any] = {
            name: (getattr(args, name) if getattr(args, name) is not None
                   else preset.get(name, default)) for name, default in _SETTINGS.items()}
        settings = SearchSettings(
            **values, scheduler=args.scheduler or "random", grace_period=args.grace_period,
            dataset=args.dataset or "sample",
            data_dir=None if args.data_dir is None else str(args.data_dir),
            seed=args.seed or 0, dtype=args.dtype or "float32", retrain=not args.no_retrain)
        with user_errors():
            settings.check()
    with user_errors():  # Ray is imported once the options are known to be good
        from ..tune.engine import import_ray

        import_ray(local=args.address is None)
    with user_errors():
        try:
            result = search(space, settings, out=args.out, cpus=args.cpus,
                            address=args.address, resume=args.resume,
                            progress=not args.no_progress)
        except RetrainError as exc:  # the search ran; its choice is in best.json
            raise CliError(str(exc), status=1) from None
    if result.interrupted:
        return 130
    return 0 if result.best is not None else 1  # no trial ran every epoch: nothing found
