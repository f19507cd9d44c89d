"""``kobai plot RUN``: draw a run's learning curve again from the files in its folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..runs import RUN_FILES
from ._common import CliError, user_errors

#: every --dataset of kobai train has ten classes: the chance level of a run without model.npz
DATASET_CLASSES = 10


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plot", help="draw a run's learning curve again from its files",
        description="Draw learning_curve.png of a run folder of kobai train again, from its "
                    "history: history.json (else history.csv, which has no mini-batch "
                    "losses), or model.npz's when that holds more epochs — e.g. for a run "
                    "an older kobai left with only model.npz. Only learning_curve.png is "
                    "written; the run's other files are left as they are (kobai evaluate "
                    "draws confusion.png).")
    p.add_argument("folder", type=Path, metavar="RUN",
                   help="a run folder of kobai train (its --out)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..io import load
    from ..plot import plot_learning_curve
    from ..run_history import read_history

    folder: Path = args.folder
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise CliError(f"{folder} {what}; kobai plot takes a run folder of kobai train (its "
                       "--out)")
    if not any((folder / name).is_file() for name in RUN_FILES):
        raise CliError(f"{folder} is not a run folder of kobai train: it holds none of "
                       f"{', '.join(RUN_FILES)}")
    checkpoint = None
    if (folder / "model.npz").is_file():
        with user_errors():
            checkpoint = load(folder / "model.npz")
    with user_errors():
        found = read_history(folder)
    saved = checkpoint.history if checkpoint is not None else None
    histories = [h for h in (found, saved) if h is not None]
    # the longest: a history.json an older kobai left behind a resumed model.npz is shorter
    history = max(histories, key=lambda h: h.epoch, default=None)
    if history is None or history.epoch == 0:
        raise CliError(f"{folder} holds no completed epoch to draw")
    title, n_classes = _title_and_classes(checkpoint)
    with user_errors(f"cannot write into {folder}"):
        path = plot_learning_curve(history, folder / "learning_curve.png", title=title,
                                   n_classes=n_classes)
    print(f"wrote {path} (epochs 1-{history.epoch})")
    return 0


def _title_and_classes(checkpoint: Any) -> tuple[str | None, int]:
    """The title kobai train gave the curve and the number of classes, from model.npz."""
    from .train import curve_title

    if checkpoint is None:
        return None, DATASET_CLASSES
    data = checkpoint.data or {}
    source = data.get("source") if isinstance(data.get("source"), str) else None
    title = (curve_title(checkpoint.net, checkpoint.optimizer, source)
             if checkpoint.optimizer is not None else repr(checkpoint.net))
    return title, int(getattr(checkpoint.net, "output_size", DATASET_CLASSES))
