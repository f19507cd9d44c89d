"""What a search found, in words and files: the ranking, ``results.csv``, ``best.json`` and
the console table of the best trials.

Trials are ranked as the book's ``ch06/hyperparameter_optimization.py`` ranks them, by the
validation accuracy after the last epoch (§6.5.3). Everything here runs on the driver after
the search, from :class:`~kobai.tune.records.TrialResult` objects alone: no Ray.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .._files import atomic_write
from ..nets.options import OPTIONS, format_hidden, hidden_runs
from .records import COMPLETED, ERROR, STATUSES, TrialResult

__all__ = ["ranked", "write_results_csv", "read_results_csv", "best_json", "write_best_json",
           "top_table", "status_summary", "error_lines", "format_value", "CONFIG_KEYS",
           "CATEGORICAL_KEYS", "LOG_KEYS", "SHORT_NAMES", "FIXED_COLUMNS"]

#: the ``kobai train`` options a trial's config may hold (the option table's, and the
#: trial's seed), in results.csv's order, by type
CONFIG_KEYS = (*OPTIONS, "seed")
_STR_KEYS = tuple(dest for dest, o in OPTIONS.items() if o.kind == "name")
_FLOAT_KEYS = tuple(dest for dest, o in OPTIONS.items() if o.kind == "float")
_INT_KEYS = (*(dest for dest, o in OPTIONS.items() if o.kind == "int"), "seed")
_FLAG_KEYS = tuple(dest for dest, o in OPTIONS.items() if o.kind == "flag")
_HIDDEN_KEYS = tuple(dest for dest, o in OPTIONS.items() if o.kind == "hidden")
#: the options for which None is a value (no dropout), not the option's default
_NONE_KEYS = tuple(dest for dest, o in OPTIONS.items() if o.none)
#: values that are names, not quantities: a categorical axis in the figure
CATEGORICAL_KEYS = frozenset(dest for dest, o in OPTIONS.items()
                             if o.kind in ("name", "hidden", "flag"))
#: dimensions searched on a log scale, written as 3.2e-03 in tables and figures
LOG_KEYS = frozenset(dest for dest, o in OPTIONS.items() if o.log)
#: short names in the figure's panel annotations
SHORT_NAMES = {dest: o.short for dest, o in OPTIONS.items() if o.short}

#: results.csv's first columns; the config columns, ``val_acc_<epoch>`` and ``error`` follow
FIXED_COLUMNS = ("rank", "trial_id", "status", "final_val_acc", "best_val_acc",
                 "epochs_completed", "seconds")
_VAL_COLUMN = re.compile(r"val_acc_([1-9][0-9]*)")
#: a results.csv's hidden sizes hold at most this many layers
_MAX_LAYERS = 1000

#: error messages are cut to this many characters in the console
ERROR_WIDTH = 120
#: at most this many error trials are listed under the table (all are in results.csv)
MAX_ERRORS_LISTED = 10


# -- ranking ------------------------------------------------------------------------------------
def _rank_key(trial: TrialResult) -> tuple[bool, bool, float, float, str]:
    final, best = trial.final_acc, trial.best_acc
    return (trial.status != COMPLETED, math.isnan(final),
            -final if not math.isnan(final) else 0.0,
            -best if not math.isnan(best) else math.inf, trial.trial_id)


def ranked(trials: Iterable[TrialResult]) -> list[TrialResult]:
    """The trials, best first: those that ran every epoch (status completed), then the others,
    each group by final validation accuracy, the book's ``val_acc_list[-1]``. So rank 1 is
    the search's choice: a trial stopped early by ASHA or one that diverged after a good
    start is never ranked above one that finished.

    Ties are broken by the best validation accuracy over the epochs, then by trial id, so the
    order never depends on the order the trials finished in. Trials without an epoch (final
    accuracy NaN: errors, trials stopped before their first epoch) come last.

    Parameters
    ----------
    trials : iterable of TrialResult

    Returns
    -------
    list of TrialResult
        A new list; the trials themselves are not copied.
    """
    return sorted(trials, key=_rank_key)


# -- formatting one value -----------------------------------------------------------------------
def _hidden_text(hidden: Any) -> str:
    return format_hidden(hidden if isinstance(hidden, (list, tuple)) else [hidden])


def format_value(key: str, value: Any) -> str:
    """A config value for people: ``3.2e-03`` for lr and weight decay, ``100x6`` for six hidden
    layers of 100, ``on``/``off`` for batchnorm, ``none`` for no dropout and ``-`` for any
    other None (the option's default)."""
    if value is None:
        return "none" if key in _NONE_KEYS else "-"
    if key in _HIDDEN_KEYS:
        return _hidden_text(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) or (key in LOG_KEYS and isinstance(value, int)):
        return f"{float(value):.1e}" if key in LOG_KEYS else f"{float(value):.3g}"
    return str(value)


def _accuracy_text(acc: float) -> str:
    return "-" if math.isnan(acc) else f"{acc:.4f}"


# -- results.csv --------------------------------------------------------------------------------
def _config_columns(trials: Sequence[TrialResult], searched: Sequence[str]) -> list[str]:
    """The searched dimensions first (in their order), then the other known options, then any
    other keys in the order they first appear."""
    present = {key for t in trials for key in t.config}
    columns = list(dict.fromkeys(searched))
    columns += [k for k in CONFIG_KEYS if k in present and k not in columns]
    for trial in trials:
        columns += [k for k in trial.config if k not in columns]
    clash = [k for k in columns if k in FIXED_COLUMNS or k == "error" or _VAL_COLUMN.fullmatch(k)]
    if clash:
        raise ValueError(f"config keys {clash} would clash with results.csv's own columns")
    return columns


def _summary_cell(trial: TrialResult, value: float) -> str:
    """final_val_acc / best_val_acc: empty without an epoch, else exact (``nan`` included)."""
    return repr(float(value)) if trial.epochs else ""


def _config_cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key in _HIDDEN_KEYS:
        return _hidden_text(value)
    if key in _FLOAT_KEYS:
        return repr(float(value))
    if key in _FLAG_KEYS:
        return "true" if value else "false"
    if key in _STR_KEYS or key in _INT_KEYS:
        return str(value)
    return json.dumps(_plain(value), allow_nan=True)  # any other key: as JSON, read back exactly


def _parse_config(key: str, cell: str) -> Any:
    if cell == "":
        return None
    if key in _HIDDEN_KEYS:  # 100x6, 100-50, or 100x2-50
        try:
            runs = hidden_runs(cell)
        except ValueError:
            raise ValueError(f"hidden {cell!r} is not layer sizes such as 100x6 or "
                             "100-50") from None
        layers = sum(n for _, n in runs)
        if layers > _MAX_LAYERS:
            raise ValueError(f"hidden {cell!r} has {layers} layers (at most {_MAX_LAYERS})")
        return [width for width, n in runs for _ in range(n)]
    if key in _FLOAT_KEYS:
        return float(cell)
    if key in _INT_KEYS:
        return int(cell)
    if key in _FLAG_KEYS:
        if cell.lower() not in ("true", "false"):
            raise ValueError(f"{key} {cell!r} is neither true nor false")
        return cell.lower() == "true"
    if key in _STR_KEYS:
        return cell
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        raise ValueError(f"{key} {cell!r} is not a JSON value") from None


def write_results_csv(trials: Iterable[TrialResult], path: str | os.PathLike[str], *,
                      searched: Sequence[str], epochs: int) -> Path:
    """Write one row per trial, best first (:func:`ranked`), to a CSV file, atomically.

    Columns: ``rank, trial_id, status, final_val_acc, best_val_acc, epochs_completed,
    seconds``, one per config key (``searched`` first), ``val_acc_1`` ... ``val_acc_<epochs>``,
    ``error``. Floats are written with ``repr`` (exact round trip), hidden sizes as ``100x6``
    or ``100-50``; missing values are empty cells.

    Parameters
    ----------
    trials : iterable of TrialResult
    path : str or path-like
        The file to write (atomically).
    searched : sequence of str
        The search dimensions, by ``kobai train`` option name, e.g. ``["lr", "weight_decay"]``.
    epochs : int
        The epochs each trial was to run; a trial that ran more widens the file to its count.

    Returns
    -------
    pathlib.Path
    """
    order = ranked(trials)
    n_epochs = max([int(epochs), *(t.epochs for t in order)])
    config_columns = _config_columns(order, searched)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *config_columns,
                     *(f"val_acc_{e}" for e in range(1, n_epochs + 1)), "error"])
    for rank, t in enumerate(order, start=1):
        writer.writerow([
            rank, t.trial_id, t.status, _summary_cell(t, t.final_acc),
            _summary_cell(t, t.best_acc),
            t.epochs, f"{t.seconds:.2f}",
            *(_config_cell(key, t.config.get(key)) for key in config_columns),
            *(repr(float(acc)) for acc in t.val_acc), *([""] * (n_epochs - t.epochs)),
            t.error or ""])
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write(buffer.getvalue().encode("utf-8"))
    return path


def read_results_csv(path: str | os.PathLike[str]) -> list[TrialResult]:
    """Read back :func:`write_results_csv`'s file, in its (ranked) order.

    Accuracies and config values come back exactly as written; ``train_acc`` and
    ``train_loss`` are not in the file and come back empty. A config column's empty cell
    reads as None.

    Raises
    ------
    ValueError
        When the file is not such a file; the message names the file and the line.
    """
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)

        def error(line: int, what: str) -> ValueError:
            return ValueError(f"{path}, line {line}: {what} (expected a results.csv written "
                              "by kobai tune)")

        if header is None:
            raise error(1, "the file is empty")
        config_columns, n_epochs = _check_header(header, error)
        trials: list[TrialResult] = []
        seen: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if row == []:
                continue
            if len(row) != len(header):
                raise error(line, f"{len(row)} fields, but the header has {len(header)}")
            try:
                trial = _parse_row(row, config_columns, n_epochs)
            except ValueError as exc:
                raise error(line, str(exc)) from None
            if trial.trial_id in seen:
                raise error(line, f"trial {trial.trial_id!r} is also on line "
                                  f"{seen[trial.trial_id]}")
            seen[trial.trial_id] = line
            trials.append(trial)
    return trials


def _check_header(header: list[str], error: Callable[[int, str], ValueError]
                  ) -> tuple[list[str], int]:
    fixed = len(FIXED_COLUMNS)
    if tuple(header[:fixed]) != FIXED_COLUMNS or not header or header[-1] != "error":
        raise error(1, f"the header must start with {','.join(FIXED_COLUMNS)} and end with "
                       f"error; it is {','.join(header)[:200]}")
    middle = header[fixed:-1]
    first_val = next((i for i, name in enumerate(middle) if _VAL_COLUMN.fullmatch(name)),
                     len(middle))
    config_columns, val_columns = middle[:first_val], middle[first_val:]
    expected = [f"val_acc_{e}" for e in range(1, len(val_columns) + 1)]
    if val_columns != expected:
        raise error(1, f"the per-epoch columns must be val_acc_1 ... val_acc_"
                       f"{len(val_columns)} in order, got {','.join(val_columns)[:200]}")
    if len(set(config_columns)) != len(config_columns) or "" in config_columns:
        raise error(1, f"the config columns {config_columns} are empty or repeated")
    return config_columns, len(val_columns)


def _parse_row(row: list[str], config_columns: list[str], n_epochs: int) -> TrialResult:
    cells = dict(zip(FIXED_COLUMNS, row[:len(FIXED_COLUMNS)], strict=True))
    if not cells["rank"].isdigit():
        raise ValueError(f"rank {cells['rank']!r} is not a positive integer")
    if not cells["trial_id"]:
        raise ValueError("the trial_id is empty")
    if cells["status"] not in STATUSES:
        raise ValueError(f"status {cells['status']!r} is not one of {', '.join(STATUSES)}")
    start = len(FIXED_COLUMNS)
    config = {}
    for key, cell in zip(config_columns, row[start:start + len(config_columns)],
                         strict=True):
        config[key] = _parse_config(key, cell)
    epoch_cells = row[start + len(config_columns):start + len(config_columns) + n_epochs]
    ran = [c for c in epoch_cells if c != ""]
    if epoch_cells[:len(ran)] != ran:
        raise ValueError("the val_acc columns have a gap (an empty epoch before a filled one)")
    val_acc = [_number(c, "val_acc") for c in ran]
    if cells["epochs_completed"] != str(len(val_acc)):
        raise ValueError(f"epochs_completed is {cells['epochs_completed']!r} but "
                         f"{len(val_acc)} val_acc columns are filled")
    trial = TrialResult(trial_id=cells["trial_id"], config=config, status=cells["status"],
                        val_acc=val_acc, seconds=_number(cells["seconds"], "seconds"),
                        error=row[-1] or None)
    for name, value in (("final_val_acc", trial.final_acc), ("best_val_acc", trial.best_acc)):
        if cells[name] != _summary_cell(trial, value):
            raise ValueError(f"{name} is {cells[name]!r} but the val_acc columns give "
                             f"{_summary_cell(trial, value)!r}")
    return trial


def _number(cell: str, name: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise ValueError(f"{name} {cell!r} is not a number") from None


# -- best.json ----------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """``value`` as plain JSON types: NumPy scalars as Python numbers, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # a NumPy scalar
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def best_json(best: TrialResult, *, searched: Sequence[str], space_lines: Sequence[str],
              test_acc: float | None, retrain: dict[str, Any] | None,
              extra: dict[str, Any]) -> dict[str, Any]:
    """What ``best.json`` holds: the selected trial, how it was selected, and its test score.

    Keys: ``trial_id``, ``status``, ``config``, ``searched``, ``search_space``,
    ``selected_by``, ``final_val_acc``, ``best_val_acc``, ``best_val_acc_epoch`` (1-based),
    ``epochs_completed``, ``val_acc``; when given, ``test_acc_after_retraining``,
    ``test_acc_note`` and ``retraining``; then ``run`` (``extra``). NaN becomes null.

    Parameters
    ----------
    best : TrialResult
        The first of :func:`ranked`.
    searched : sequence of str
        The search dimensions, by option name.
    space_lines : sequence of str
        The search space, one dimension per line.
    test_acc : float or None
        Test accuracy of ``best``'s configuration retrained on the whole training set; None
        if not retrained.
    retrain : dict or None
        What the retraining was (epochs, samples, checkpoint file, ...).
    extra : dict
        The run's settings (trials, epochs, scheduler, data set, seed, ...).

    Returns
    -------
    dict
        Plain JSON values, for :func:`write_best_json`.
    """
    epoch_of_best = (max(range(best.epochs), key=lambda i: best.val_acc[i]) + 1
                     if best.epochs else None)
    data: dict[str, Any] = {
        "trial_id": best.trial_id,
        "status": best.status,
        "config": best.config,
        "searched": list(searched),
        "search_space": list(space_lines),
        "selected_by": "the highest validation accuracy after the last epoch, on the "
                       "validation split of the training data (the test set is not used)",
        "final_val_acc": best.final_acc,
        "best_val_acc": best.best_acc,
        "best_val_acc_epoch": epoch_of_best,
        "epochs_completed": best.epochs,
        "val_acc": list(best.val_acc),
    }
    if test_acc is not None:
        data["test_acc_after_retraining"] = float(test_acc)
        data["test_acc_note"] = ("the best configuration retrained on the whole training set, "
                                 "evaluated once on the test set after the selection; not "
                                 "used to select it")
    if retrain is not None:
        data["retraining"] = retrain
    data["run"] = extra
    cleaned: dict[str, Any] = _no_nan(_plain(data))
    return cleaned


def write_best_json(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write :func:`best_json`'s dict as indented JSON, atomically.

    Raises
    ------
    ValueError
        If ``data`` holds NaN or infinity (not JSON).
    """
    text = json.dumps(_plain(data), indent=2, allow_nan=False) + "\n"
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))
    return path


# -- the console --------------------------------------------------------------------------------
def status_summary(trials: Sequence[TrialResult]) -> str:
    """``"100 trials: 97 completed, 2 diverged, 1 error"``: the count of each status present."""
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    order = [s for s in STATUSES if s in counts] + [s for s in counts if s not in STATUSES]
    head = f"{len(trials)} trial{'' if len(trials) == 1 else 's'}"
    return head + (": " + ", ".join(f"{counts[s]} {s}" for s in order) if order else "")


def error_lines(trials: Sequence[TrialResult], *, limit: int | None = MAX_ERRORS_LISTED
                ) -> list[str]:
    """One line per trial with status ``error``: its id and message, cut to
    :data:`ERROR_WIDTH` characters; after ``limit`` of them, a line saying how many more."""
    failed = [t for t in trials if t.status == ERROR]
    shown = failed if limit is None else failed[:limit]
    lines = []
    for t in shown:
        message = " ".join((t.error or "no message").split())
        if len(message) > ERROR_WIDTH:
            message = message[:ERROR_WIDTH - 3] + "..."
        lines.append(f"{t.trial_id}: {message}")
    if len(failed) > len(shown):
        lines.append(f"... and {len(failed) - len(shown)} more (see the error column of "
                     "results.csv)")
    return lines


def top_table(trials: Iterable[TrialResult], *, searched: Sequence[str], n: int = 10) -> str:
    """The console report: the ``n`` best trials as a table, a count of each status, and the
    trials that failed with an error.

    Table columns: rank, trial id, final and best validation accuracy, epochs completed,
    status, then each searched dimension (lr and weight decay as ``3.2e-03``, hidden sizes as
    ``100x6``). Numbers are right-aligned, words left-aligned.

    Returns
    -------
    str
        Lines joined by newlines, no final newline.
    """
    order = ranked(trials)
    top = order[:max(int(n), 0)]
    header = ["rank", "trial", "final val acc", "best val acc", "epochs", "status",
              *(k.replace("_", " ") for k in searched)]
    left = [False, True, False, False, False, True, *(k in CATEGORICAL_KEYS for k in searched)]
    rows = [[str(rank), t.trial_id, _accuracy_text(t.final_acc), _accuracy_text(t.best_acc),
             str(t.epochs), t.status, *(format_value(k, t.config.get(k)) for k in searched)]
            for rank, t in enumerate(top, start=1)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if lt else c.rjust(w)
                         for c, w, lt in zip(cells, widths, left, strict=True)).rstrip()

    lines = [f"best {len(top)} of {len(order)} trials by final validation accuracy:"]
    if rows:
        lines += [line(header), *(line(r) for r in rows)]
    lines += ["", status_summary(order)]
    errors = error_lines(order)
    if errors:
        lines += ["errors:", *("  " + e for e in errors)]
    return "\n".join(lines)
