"""What a training run records: one :class:`EpochRecord` per epoch and the mini-batch losses,
in a :class:`History` that round-trips through JSON (checkpoints keep it) and writes CSV.

Examples
--------
>>> h = History(train_loss_list=[2.3, 1.9], seed=0)
>>> h.epochs.append(EpochRecord(epoch=1, iteration=2, train_loss=1.8, train_acc=0.4,
...                             test_loss=1.9, test_acc=0.38, seconds=0.1, lr=0.1))
>>> History.from_dict(h.to_dict()) == h
True
>>> h.test_acc_list
[0.38]
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ._files import atomic_write
from ._validate import is_number

__all__ = ["EpochRecord", "History"]

_HISTORY_FORMAT = 1
#: the CSV columns written only when some epoch has them
_SPARSE = ("test_loss", "test_acc", "val_loss", "val_acc")


@dataclass(frozen=True)
class EpochRecord:
    """Measurements after one epoch (losses include weight decay, as ``net.loss`` does).

    Attributes
    ----------
    epoch : int
        1-based.
    iteration : int
        Mini-batches trained so far, this epoch included.
    train_loss, train_acc, test_loss, test_acc : float
        In evaluation mode, on the (first ``evaluate_sample_num_per_epoch`` samples of the)
        training and test sets; ``test_loss`` and ``test_acc`` are None in a run with a
        validation set, which scores the test set once at the end (:attr:`History.test`).
    seconds : float
        Wall time of the epoch: training and evaluation, not callbacks.
    lr : float or None
        The optimizer's learning rate (``optimizer.lr``), if it has one.
    val_loss, val_acc : float or None
        On the validation set, if the run has one.
    """

    epoch: int
    iteration: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    seconds: float
    lr: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None


@dataclass
class History:
    """What :meth:`Trainer.train` returns; ``to_dict``/``from_dict`` round-trip through JSON.

    Attributes
    ----------
    train_loss_list : list of float
        Loss of every mini-batch, in order (the book's name), before that batch's update.
    epochs : list of EpochRecord
        One per completed epoch.
    seed : int or None
        The trainer's seed: give ``Trainer(..., history=h)`` this history to resume with it.
    test : dict or None
        A run with a validation set scores the test set once, at the end:
        ``{"epoch": k, "loss": ..., "acc": ...}``, ``k`` the epoch whose weights were tested
        (the best one when they were restored).
    """

    train_loss_list: list[float] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)
    seed: int | None = None
    test: dict | None = None

    @property
    def epoch(self) -> int:
        """Number of completed epochs."""
        return len(self.epochs)

    @property
    def train_acc_list(self) -> list[float]:
        """Training accuracy after each epoch (the book's name)."""
        return [r.train_acc for r in self.epochs]

    @property
    def test_acc_list(self) -> list[float | None]:
        """Test accuracy after each epoch (the book's name; None in a run with a validation
        set, which scores the test set once, :attr:`test`)."""
        return [r.test_acc for r in self.epochs]

    @property
    def val_acc_list(self) -> list[float | None]:
        """Validation accuracy after each epoch (None without a validation set)."""
        return [r.val_acc for r in self.epochs]

    @property
    def val_loss_list(self) -> list[float | None]:
        """Validation loss after each epoch (None without a validation set)."""
        return [r.val_loss for r in self.epochs]

    def until(self, epoch: int) -> History:
        """The history of epochs ``1 .. epoch`` only (this one if it has no more), e.g. what a
        checkpoint saved after that epoch holds."""
        if not 0 <= epoch <= self.epoch:
            raise ValueError(f"epoch must be in [0, {self.epoch}] (the completed epochs), got "
                             f"{epoch!r}")
        if epoch == self.epoch:
            return self
        iterations = self.epochs[epoch - 1].iteration if epoch else 0
        return History(train_loss_list=self.train_loss_list[:iterations],
                       epochs=self.epochs[:epoch], seed=self.seed)

    def to_dict(self) -> dict:
        """A JSON-able dict (``json.dumps(h.to_dict())`` works)."""
        d: dict[str, Any] = {"format_version": _HISTORY_FORMAT, "seed": self.seed,
                             "train_loss_list": [float(v) for v in self.train_loss_list],
                             "epochs": [asdict(r) for r in self.epochs]}
        if self.test is not None:
            d["test"] = dict(self.test)
        return d

    @classmethod
    def from_dict(cls, d: Mapping | History) -> History:
        """Rebuild a History from :meth:`to_dict` output, checking its contents.

        A History is taken too (and copied), so ``History.from_dict(checkpoint.history)``
        works on the History that :func:`kobai.io.load` gives as on the dict it gave before.
        """
        if isinstance(d, History):
            d = d.to_dict()
        if not isinstance(d, Mapping):
            raise ValueError(f"history must be a dict, got {type(d).__name__}")
        seed = d.get("seed")
        if seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool)
                                     and seed >= 0):
            raise ValueError(f"history seed must be an integer >= 0 or null, got {seed!r}")
        losses = d.get("train_loss_list")
        if not isinstance(losses, list) or not all(is_number(v) for v in losses):
            raise ValueError("history train_loss_list must be a list of numbers")
        records = d.get("epochs")
        if not isinstance(records, list):
            raise ValueError("history epochs must be a list of per-epoch records")
        names = {f.name for f in fields(EpochRecord)}
        optional = {"lr", "val_loss", "val_acc"}  # may be missing or None
        required = names - optional
        parsed = []
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping) or not required <= set(rec) <= names:
                got = sorted(rec) if isinstance(rec, Mapping) else type(rec).__name__
                raise ValueError(f"history epochs[{i}] has {got}; expected the keys "
                                 f"{sorted(names)}")
            if rec["epoch"] != i + 1:
                raise ValueError(f"history epochs[{i}] is epoch {rec['epoch']!r}; expected "
                                 f"{i + 1} (epochs are numbered from 1, in order)")
            nullable = optional | {"test_loss", "test_acc"}
            if not all(is_number(rec[k]) for k in required - nullable) or not all(
                    rec.get(k) is None or is_number(rec[k]) for k in nullable):
                raise ValueError(f"history epochs[{i}] holds a non-number: {dict(rec)}")
            parsed.append(EpochRecord(**rec))
        test = d.get("test")
        if test is not None and not (isinstance(test, Mapping) and set(test) == {
                "epoch", "loss", "acc"} and all(is_number(v) for v in test.values())):
            raise ValueError(f"history test must be null or {{'epoch', 'loss', 'acc'}} "
                             f"numbers, got {test!r}")
        return cls(train_loss_list=[float(v) for v in losses], epochs=parsed, seed=seed,
                   test=None if test is None else dict(test))

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as JSON to ``path``, atomically."""
        with atomic_write(path) as fh:
            fh.write(json.dumps(self.to_dict(), indent=1).encode("utf-8"))

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write one row per epoch (the :class:`EpochRecord` fields) to ``path``, atomically.

        The test and validation columns are left out when no epoch has them."""
        rows = [asdict(r) for r in self.epochs]
        names = [f.name for f in fields(EpochRecord)
                 if f.name not in _SPARSE or any(row[f.name] is not None for row in rows)]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if row[k] is None else row[k] for k in names])
        with atomic_write(path) as fh:
            fh.write(buf.getvalue().encode("utf-8"))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> History:
        """Read a History written by :meth:`to_json`.

        Raises
        ------
        OSError
            The file cannot be read.
        ValueError
            It is not JSON, or not a history; the message names the file.
        """
        try:
            d = json.loads(Path(path).read_bytes())
        except UnicodeDecodeError as exc:
            raise ValueError(f"{os.fspath(path)} is not a history written by kobai ({exc})") \
                from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{os.fspath(path)} is not JSON ({exc}); expected a history "
                             "written by kobai") from None
        try:
            return cls.from_dict(d)
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)}: {exc}") from None

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> History:
        """Read the epochs of a CSV written by :meth:`to_csv`.

        The CSV holds one row per epoch only, so the History has no mini-batch losses
        (``train_loss_list`` is empty) and no seed.

        Raises
        ------
        OSError
            The file cannot be read.
        ValueError
            Its header is not :class:`EpochRecord`'s fields, or a row holds a non-number; the
            message names the file and the line.
        """
        where = os.fspath(path)
        every = [f.name for f in fields(EpochRecord)]
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{where} is not a history written by kobai ({exc})") from None
        rows = list(csv.reader(io.StringIO(text)))
        # to_csv leaves out the test and validation columns no epoch has
        names = [name for name in every if name not in _SPARSE or (rows and name in rows[0])]
        if not rows or rows[0] != names:
            got = ",".join(rows[0]) if rows else "an empty file"
            raise ValueError(f"{where} starts with {got!r}; expected the header "
                             f"{','.join(every)!r} (without the columns of "
                             f"{', '.join(_SPARSE)} no epoch has) of a history.csv written by "
                             "kobai")
        records = []
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(names):
                raise ValueError(f"{where}, line {line}: {len(row)} values; expected "
                                 f"{len(names)} ({','.join(names)})")
            try:
                rec: dict[str, float | int | None] = {
                    name: (None if value == "" and (name == "lr" or name in _SPARSE) else
                           int(value) if name in ("epoch", "iteration") else float(value))
                    for name, value in zip(names, row, strict=True)}
            except ValueError:
                raise ValueError(f"{where}, line {line}: {','.join(row)!r} holds a "
                                 "non-number") from None
            records.append(rec)
        try:
            return cls.from_dict({"seed": None, "train_loss_list": [], "epochs": records})
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
