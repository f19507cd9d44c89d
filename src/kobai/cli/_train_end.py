"""How a run of ``kobai train`` ends: the title of its learning curve, the history files and
curve of a run stopped early, and the warning for a run that learned nothing."""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any


def curve_title(net: Any, optimizer: Any, dataset: str | None) -> str:
    """The title of a run's learning curve: the network, the optimizer and the data set."""
    parts = [repr(net), f"{type(optimizer).__name__}(lr={optimizer.lr:g})", dataset]
    return ", ".join(part for part in parts if part)


def write_stopped(history: Any, saved: list[int], out: Path, title: str,
                   n_classes: int | None) -> str:
    """For a run stopped early (Ctrl-C, divergence): history.csv, history.json and
    learning_curve.png of the epochs model.npz holds, with a line on stdout naming them;
    nothing when it holds none. What to add to the stop message: "" or why they could not be
    written."""
    from ..plot import plot_learning_curve
    from ..run_history import write_history

    if not saved:
        return ""
    kept = history.until(saved[-1])  # not an epoch whose save Ctrl-C cut short
    try:
        written = write_history(kept, out)
        written.append(plot_learning_curve(kept, out / "learning_curve.png", title=title,
                                           n_classes=n_classes))
    except (OSError, ValueError) as exc:
        return f"; its history could not be written into {out}: {exc}"
    print(f"wrote {', '.join(map(str, written))} (epochs 1-{kept.epoch})")
    return ""


def chance_warning(history: Any, n_classes: int | None, lr: Any,
                   default: float | None) -> str | None:
    """A one-line warning when the run ends at chance accuracy (it learned nothing), naming
    the likely cause and an --lr to try (``default``, the optimizer's default learning rate,
    when it lies the right way); None otherwise."""
    from ..metrics import CHANCE_FACTOR, at_chance

    last = history.epochs[-1]
    # with a validation set the test set is scored once, at the end (history.test)
    test = getattr(history, "test", None)
    acc, epoch = (test["acc"], test["epoch"]) if test else (last.test_acc, last.epoch)
    if not n_classes or acc is None or not at_chance(acc, n_classes):
        return None
    guess = math.log(n_classes)  # the cross-entropy of a uniform guess
    head = (f"test accuracy {acc:.4f} after epoch {epoch} is at chance (a guess "
            f"scores 1/{n_classes} = {1 / n_classes:.2g}; below {CHANCE_FACTOR / n_classes:.2g} "
            "counts as chance): the network learned nothing")
    if not isinstance(lr, numbers.Real):
        return f"{head}; check the learning rate"
    lr = float(lr)
    if last.train_loss > 1.5 * guess:
        to_try = default if default is not None and default < lr else lr / 10
        return (f"{head}; its training loss {last.train_loss:.3g} is far above the "
                f"{guess:.2f} of guessing, so the learning rate {lr:g} is likely too high: "
                f"try --lr {to_try:g}")
    to_try = default if default is not None and default > lr else lr * 10
    return (f"{head}; its training loss {last.train_loss:.3g} stays near the {guess:.2f} of "
            f"guessing, so the learning rate {lr:g} may be too low (try --lr {to_try:g}) or "
            "the run too short (more --epochs)")
