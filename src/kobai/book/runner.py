"""Run the book's own chapter scripts, unmodified, on :mod:`kobai.book`: ``kobai book run``.

The book's scripts (``ch05/train_neuralnet.py`` and the others) do ``sys.path.append(os.pardir)``
and import ``common.*`` and ``dataset.mnist`` from the clone of the book's repository. A run of
:func:`run` gives them ``kobai.book.common`` and ``kobai.book.dataset`` under those names
instead, kobai's data (the bundled MNIST sample, or the full set), pickles read and written
without unpickling, and figures that never block. Each script runs in a new Python process
(:mod:`kobai.book._child`), so nothing is installed anywhere.
"""

from __future__ import annotations

import numbers
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# the dataset= choices, and the environment variables that tell the script's load_mnist
from .dataset.mnist import DATA_DIR_ENV, DATASET_ENV, DATASETS

__all__ = ["DATASETS", "run"]


def run(script: str | os.PathLike[str], args: Sequence[str] = (), *, dataset: str = "sample",
        data_dir: str | os.PathLike[str] | None = None,
        save_figures: str | os.PathLike[str] | None = None, seed: int | None = None,
        book_common: bool = False) -> int:
    """Run one of the book's scripts, unmodified, on :mod:`kobai.book`; its exit status.

    As ``cd <its folder> && python script args`` in a new process (the book's instructions:
    its scripts open ``sample_weight.pkl`` and ``sys.path.append(os.pardir)`` from their
    chapter folder; one line on stderr says so when that is not the current directory), with
    ``common`` and ``dataset`` resolved to ``kobai.book.common`` and ``kobai.book.dataset``.
    ``pickle.load``/``pickle.dump`` read and write only dicts of arrays (kobai's ``.npz``,
    :func:`kobai.arrays_file.read_arrays_from`), refusing anything else.

    Parameters
    ----------
    script : str or path-like
        The script, e.g. ``"train_neuralnet.py"`` or ``"ch03/neuralnet_mnist.py"``; it need
        not be inside a clone of the book.
    args : sequence of str
        The script's own arguments (its ``sys.argv[1:]``), passed unchanged (a relative path
        among them is relative to the script's folder).
    dataset : {"sample", "mnist"}
        What ``load_mnist`` serves: the bundled sample, or the full MNIST (``data_dir`` or
        kobai's cache, downloaded when missing).
    data_dir : str or path-like, optional
        The folder of the full MNIST's four IDX files; only with ``dataset="mnist"``.
    save_figures : str or path-like, optional
        A folder (created if needed) where every ``plt.show()`` saves the open figures as
        ``<script>-01.png``, ``-02.png``, ... (Agg backend). Without it and without a display,
        ``plt.show()`` drops them, with one note on stderr.
    seed : int, optional
        Call ``np.random.seed(seed)`` before the script starts, for a reproducible run (the
        same numbers as the book's own code with that seed).
    book_common : bool
        Use the clone's own ``common/`` (the book's code) with kobai's ``dataset``.

    Returns
    -------
    int
        The exit status: 0, 1 after an exception (traceback printed), ``n`` after
        ``sys.exit(n)``, 128 + the signal number if it was killed.

    Raises
    ------
    FileNotFoundError
        If ``script`` is not a file.
    ValueError
        If ``dataset``, ``data_dir``, ``save_figures`` or ``seed`` is not usable; nothing ran.
    """
    # A new process per script: a script changes sys.modules, sys.path, pickle, matplotlib and
    # np.random's global state, and may call os._exit; a process boundary contains all of it.
    command = [sys.executable, "-m", "kobai.book._child"]
    if not Path(script).is_file():
        what = "a folder" if Path(script).is_dir() else "no such file"
        raise FileNotFoundError(f"{os.fspath(script)}: {what}; expected one of the book's "
                                "scripts, e.g. train_neuralnet.py run from its chapter folder")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    env = dict(os.environ)
    env[DATASET_ENV] = dataset
    env.pop(DATA_DIR_ENV, None)
    if data_dir is not None:
        if dataset != "mnist":
            raise ValueError(f"a data folder ({os.fspath(data_dir)}) is for the full MNIST "
                             f"(dataset 'mnist'); the {dataset} data are bundled with kobai")
        if Path(data_dir).exists() and not Path(data_dir).is_dir():
            raise ValueError(f"the data folder {os.fspath(data_dir)} is a file, not a folder "
                             "of MNIST's IDX files")
        env[DATA_DIR_ENV] = os.path.abspath(data_dir)
    if seed is not None:
        if not (isinstance(seed, numbers.Integral) and 0 <= seed < 2**32):
            raise ValueError(f"seed must be an integer in [0, 2**32) (np.random.seed's range), "
                             f"got {seed!r}")
        command += ["--seed", str(int(seed))]
    if save_figures is not None:
        folder = Path(save_figures)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ValueError(f"cannot save figures into {folder}: it is a file, not a "
                             "folder") from None
        command += ["--save-figures", os.path.abspath(folder)]
    if book_common:
        command.append("--book-common")
    home = os.path.dirname(os.path.abspath(script))
    name, cwd = os.fspath(script), None
    if not os.path.samefile(home, os.curdir):
        print(f"kobai book run: running {name} in its folder {home}, as the book's scripts "
              f"expect", file=sys.stderr, flush=True)
        name, cwd = os.path.basename(name), home
    command += ["--", name, *map(str, args)]
    with subprocess.Popen(command, env=env, cwd=cwd) as process:
        while True:
            try:
                status = process.wait()
                break
            except KeyboardInterrupt:  # the script got the same Ctrl-C: it decides
                continue
    return 128 - status if status < 0 else status  # -N: killed by signal N
