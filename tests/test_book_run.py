"""``kobai book run``: the book's own scripts, unmodified, on ``kobai.book``.

Two parts. The runner's mechanics (argv, ``sys.path``, import redirection beside the clone's own
``common/``, pickles, figures, exit statuses, the CLI) on tiny scripts written into tmp_path.
Then every script of the book's chapters 3-8 that imports ``common`` or ``dataset``, run from a
writable copy of the book's repository in ``../shared/dlfs`` (skipped without it, failed without
it with CI=true) on the bundled data with ``--seed 0``; where ``kobai.book.scripts`` says a
script gives the book's numbers, it is run a second time with the book's own ``common``
(``book_common=True``: the same data, the same seed) and the two printouts are compared. The
slow scripts are marked ``slow``.
"""

import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DLFS, MNIST, needs_shared

import kobai.book
from kobai.arrays_file import read_arrays
from kobai.book.scripts import SCRIPTS, STATUSES, script
from kobai.cli import main

needs_dlfs = needs_shared(DLFS)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def book_run(capfd, monkeypatch, folder: Path, name: str, *args: str, **options):
    """kobai.book.run(name, args, **options) from ``folder``: (status, stdout, stderr)."""
    monkeypatch.chdir(folder)
    status = kobai.book.run(name, args, **options)
    out, err = capfd.readouterr()
    return status, out, err


# -- the runner --------------------------------------------------------------------------------
SHOW_RUN = """\
import json, os, sys
print(json.dumps({"name": __name__, "argv": sys.argv, "path0": sys.path[0], "file": __file__,
                  "cwd": os.getcwd()}))
"""


def test_script_runs_as_main_with_its_argv_in_its_own_folder(
        tmp_path, capfd, monkeypatch):
    write(tmp_path / "ch05" / "show.py", SHOW_RUN)
    status, out, _ = book_run(capfd, monkeypatch, tmp_path, "ch05/show.py", "--epochs", "3",
                              "a b")
    assert status == 0
    assert out.strip() == (
        f'{{"name": "__main__", "argv": ["show.py", "--epochs", "3", "a b"], '
        f'"path0": "{tmp_path / "ch05"}", "file": "{tmp_path / "ch05" / "show.py"}", '
        f'"cwd": "{tmp_path / "ch05"}"}}')


def test_a_script_run_from_another_folder_runs_in_its_own_saying_so_in_one_line(
        tmp_path, capfd, monkeypatch):
    """The book's scripts open their files and ``os.pardir`` from their chapter folder."""
    write(tmp_path / "ch03" / "weights.txt", "0.5\n")
    write(tmp_path / "mine.py", "WHERE = 'the book root'\n")
    write(tmp_path / "ch03" / "reads.py", "import os, sys\nsys.path.append(os.pardir)\n"
                                          "import mine\n"
                                          "print(open('weights.txt').read().strip(), mine.WHERE)\n")
    status, out, err = book_run(capfd, monkeypatch, tmp_path, "ch03/reads.py")
    assert (status, out) == (0, "0.5 the book root\n"), err
    assert err == (f"kobai book run: running ch03/reads.py in its folder {tmp_path / 'ch03'}, "
                   f"as the book's scripts expect\n")
    assert os.getcwd() == str(tmp_path)  # this process stays where it was
    status, out, err = book_run(capfd, monkeypatch, tmp_path / "ch03", "reads.py")
    assert (status, out, err) == (0, "0.5 the book root\n", "")  # already there: no note


@needs_dlfs
def test_the_books_chapter_script_runs_from_the_books_root(capfd, monkeypatch):
    status, out, err = book_run(capfd, monkeypatch, DLFS, "ch03/neuralnet_mnist.py")
    assert status == 0, err
    assert out.startswith("Accuracy:") and "FileNotFoundError" not in err
    assert err.splitlines()[0].startswith("kobai book run: running ch03/neuralnet_mnist.py "
                                          "in its folder ")


IMPORTS = """\
import os, sys
sys.path.append(os.pardir)
import common, dataset
from common.functions import softmax
from dataset.mnist import load_mnist
import common.layers
print(common.__name__, dataset.__name__, sys.modules["common.functions"].__name__,
      sys.modules["dataset.mnist"].__name__, common.layers.__name__)
try:
    import common.no_such_module
except ModuleNotFoundError as exc:
    print(exc)
"""


@pytest.mark.parametrize("book_common", [False, True])
def test_common_and_dataset_are_kobai_book_for_that_run_only_even_beside_the_clones_own(
        book_common, tmp_path, capfd, monkeypatch):
    # a clone of the book whose common/ and dataset/ must not be imported, except common with
    # book_common=True
    write(tmp_path / "common" / "__init__.py", "print('the clone\\'s common')\n")
    write(tmp_path / "common" / "functions.py", "def softmax(x):\n    return x\n")
    write(tmp_path / "common" / "layers.py", "")
    write(tmp_path / "dataset" / "__init__.py", "raise ImportError('the clone\\'s dataset')\n")
    write(tmp_path / "ch03" / "imports.py", IMPORTS)
    path, argv, load = list(sys.path), list(sys.argv), pickle.load

    status, out, err = book_run(capfd, monkeypatch, tmp_path / "ch03", "imports.py",
                                book_common=book_common)

    assert status == 0, err
    first, last = out.splitlines()[-2:]
    if book_common:
        assert out.splitlines()[0] == "the clone's common"
        assert first == ("common kobai.book.dataset common.functions "
                         "kobai.book.dataset.mnist common.layers")
    else:
        assert first == ("kobai.book.common kobai.book.dataset kobai.book.common.functions "
                         "kobai.book.dataset.mnist kobai.book.common.layers")
        assert "kobai.book.common" in last and "'common.no_such_module'" in last
    # nothing of that run is left in this process
    assert [m for m in sys.modules if m.partition(".")[0] in ("common", "dataset")] == []
    assert (sys.path, sys.argv, pickle.load) == (path, argv, load)


def _pickle(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def test_pickle_load_reads_the_books_pickled_arrays_without_unpickling(
        tmp_path, capfd, monkeypatch):
    W = np.arange(6.0).reshape(2, 3)
    _pickle(tmp_path / "sample_weight.pkl", {"W1": W, "b1": np.ones(3, np.float32)})
    write(tmp_path / "load.py", "import pickle\n"
                                "with open('sample_weight.pkl', 'rb') as f:\n"
                                "    net = pickle.load(f)\n"
                                "print({k: (v.dtype.name, v.shape, float(v.sum())) for k, v in "
                                "net.items()})\n")
    status, out, err = book_run(capfd, monkeypatch, tmp_path, "load.py")
    assert status == 0, err
    assert out == "{'W1': ('float64', (2, 3), 15.0), 'b1': ('float32', (3,), 3.0)}\n"


class _RunsCode:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


def test_pickle_load_refuses_a_pickle_that_would_run_code(tmp_path, capfd, monkeypatch):
    marker = tmp_path / "the pickle ran code"
    _pickle(tmp_path / "params.pkl", {"W1": np.zeros(2), "b1": _RunsCode(marker)})
    write(tmp_path / "load.py", "import pickle\n"
                                "with open('params.pkl', 'rb') as f:\n"
                                "    params = pickle.load(f)\n"
                                "print('loaded')\n")
    status, out, err = book_run(capfd, monkeypatch, tmp_path, "load.py")
    assert status == 1
    assert out == ""
    assert "UnsafePickleError: params.pkl:" in err and "kobai will not load it" in err
    assert not marker.exists()


def test_pickle_dump_writes_kobais_npz_under_the_scripts_file_name(tmp_path, capfd, monkeypatch):
    write(tmp_path / "save.py", "import pickle\nimport numpy as np\n"
                                "params = {'W1': np.arange(6.0).reshape(2, 3), "
                                "'b1': np.zeros(3, np.float32)}\n"
                                "with open('params.pkl', 'wb') as f:\n"
                                "    pickle.dump(params, f)\n"
                                "with open('params.pkl', 'rb') as f:\n"
                                "    print(sorted(pickle.load(f)))\n")
    status, out, err = book_run(capfd, monkeypatch, tmp_path, "save.py")
    assert status == 0, err
    assert out == "['W1', 'b1']\n"
    assert (tmp_path / "params.pkl").read_bytes()[:2] == b"PK"  # a zip: .npz, not a pickle
    arrays = read_arrays(tmp_path / "params.pkl")
    np.testing.assert_array_equal(arrays["W1"], np.arange(6.0).reshape(2, 3))
    assert arrays["b1"].dtype == np.float32


@pytest.mark.parametrize("obj", ["[1, 2]", "{'W': np.array([None])}"])
def test_pickle_dump_refuses_anything_but_a_dict_of_arrays(obj, tmp_path, capfd, monkeypatch):
    write(tmp_path / "save.py", "import pickle\nimport numpy as np\n"
                                "with open('x.pkl', 'wb') as f:\n"
                                f"    pickle.dump({obj}, f)\n")
    status, _, err = book_run(capfd, monkeypatch, tmp_path, "save.py")
    assert status == 1
    assert "PicklingError: kobai book run: pickle.dump writes only a dict of NumPy arrays" in err
    assert (tmp_path / "x.pkl").read_bytes() == b""


FIGURES = """\
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
plt.plot([1, 2, 3])
plt.show()
plt.figure()
plt.plot([3, 2, 1])
plt.figure()
plt.imshow(np.eye(4))
plt.show()
Image.fromarray(np.eye(28, dtype=np.uint8) * 255).show()
print(matplotlib.get_backend().lower(), plt.get_fignums())
"""


def test_save_figures_saves_each_shown_figure_and_never_blocks(tmp_path, capfd, monkeypatch):
    pytest.importorskip("PIL")
    monkeypatch.setenv("DISPLAY", ":99")  # a display that isn't there: never opened
    write(tmp_path / "plots.py", FIGURES)
    status, out, err = book_run(capfd, monkeypatch, tmp_path, "plots.py",
                                save_figures=tmp_path / "figures" / "new")
    assert status == 0, err
    assert out == "agg []\n"
    names = sorted(p.name for p in (tmp_path / "figures" / "new").iterdir())
    assert names == ["plots-01.png", "plots-02.png", "plots-03.png", "plots-04.png"]
    for name in names:
        assert (tmp_path / "figures" / "new" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_a_display_figures_use_agg_with_one_note(tmp_path, capfd, monkeypatch):
    pytest.importorskip("PIL")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND"):
        monkeypatch.delenv(name, raising=False)
    write(tmp_path / "plots.py", FIGURES)
    status, out, err = book_run(capfd, monkeypatch, tmp_path, "plots.py")
    assert status == 0, err
    assert out == "agg []\n"  # PIL's show printed nothing either
    assert err.count("no display (DISPLAY is not set)") == 1
    assert "non-interactive" not in err
    assert list(tmp_path.glob("*.png")) == []


def test_a_script_that_raises_gets_pythons_own_traceback_and_status_1(
        tmp_path, capfd, monkeypatch):
    write(tmp_path / "ch04" / "fails.py", "import numpy as np\n\n\ndef f(x):\n"
                                          "    return np.dot(x, np.ones((3, 2)))\n\n\n"
                                          "f(np.ones((2, 2)))\n")
    status, out, err = book_run(capfd, monkeypatch, tmp_path / "ch04", "fails.py")
    python = subprocess.run([sys.executable, "fails.py"], capture_output=True, text=True)
    assert (status, out) == (python.returncode, python.stdout) == (1, "")
    assert err == python.stderr
    assert err.startswith('Traceback (most recent call last):\n  File "')


@pytest.mark.parametrize("code, status, message", [("sys.exit(3)", 3, ""),
                                                   ("sys.exit('gave up')", 1, "gave up\n")])
def test_sys_exit_reaches_the_caller(code, status, message, tmp_path, capfd, monkeypatch):
    write(tmp_path / "exits.py", f"import sys\n{code}\n")
    assert book_run(capfd, monkeypatch, tmp_path, "exits.py") == (status, "", message)


def test_cli_gives_options_before_the_script_to_kobai_and_the_rest_to_the_script(
        tmp_path, capfd, monkeypatch):
    write(tmp_path / "draw.py", "import sys\nimport numpy as np\n"
                                "print(sys.argv[1:], np.random.rand())\n")
    monkeypatch.chdir(tmp_path)
    assert main(["book", "run", "--seed", "7", "draw.py", "--seed", "8", "-h"]) == 0
    out, _ = capfd.readouterr()
    assert out == f"['--seed', '8', '-h'] {np.random.RandomState(7).rand()}\n"


def test_python_m_kobai_book_runs_a_script(tmp_path):
    write(tmp_path / "ch05" / "show.py", SHOW_RUN)
    done = subprocess.run([sys.executable, "-m", "kobai.book", "run", "show.py", "x"],
                          cwd=tmp_path / "ch05", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"argv": ["show.py", "x"]' in done.stdout


@pytest.mark.parametrize("argv, message", [
    (["missing.py"], "missing.py: no such file"),
    (["."], ".: a folder"),
    (["--dataset", "fashion", "s.py"], "invalid choice: 'fashion'"),
    (["--data-dir", ".", "s.py"], "is for the full MNIST"),
    (["--seed", "-1", "s.py"], "expected an integer >= 0"),
    (["--seed", str(2**32), "s.py"], "seed must be an integer in [0, 2**32)"),
    (["--save-figures", "s.py", "s.py"], "it is a file, not a folder"),
    ([], "the following arguments are required: SCRIPT"),
])
def test_cli_errors_are_one_line_with_status_2(argv, message, tmp_path, capsys, monkeypatch):
    write(tmp_path / "s.py", "print('ran')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["book", "run", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("kobai: error: ") and err.count("\n") == 1 and message in err


@needs_shared(MNIST / "train-images-idx3-ubyte.gz")
def test_dataset_mnist_serves_the_full_mnist_from_data_dir(tmp_path, capfd, monkeypatch):
    write(tmp_path / "ch03" / "first.py", "import os, sys\nsys.path.append(os.pardir)\n"
                                          "from dataset.mnist import load_mnist\n"
                                          "(x, t), (x_test, t_test) = load_mnist(normalize=False)\n"
                                          "print(t[0], x.shape, x_test.shape)\n")
    status, out, err = book_run(capfd, monkeypatch, tmp_path / "ch03", "first.py",
                                dataset="mnist", data_dir=MNIST)
    assert status == 0, err
    assert out == "5 (60000, 784) (10000, 784)\n"  # ch03/mnist_show.py: print(label)  # 5


def test_book_list_prints_every_tested_script_with_its_status(capsys):
    assert main(["book", "list"]) == 0
    out = capsys.readouterr().out
    for entry in SCRIPTS:
        line = next(line for line in out.splitlines() if line.startswith(entry.path + " "))
        assert entry.status in line and entry.time in line
    for meaning in STATUSES.values():
        assert meaning in out


def test_book_without_a_subcommand_prints_its_help_with_status_2(capsys):
    assert main(["book"]) == 2
    assert "{run,list}" in capsys.readouterr().out


# -- the book's scripts ------------------------------------------------------------------------
IMPORTS_BOOK = re.compile(r"^\s*(from|import)\s+(common|dataset)\b", re.MULTILINE)
#: scripts that write their trained parameters: the file must be kobai's .npz
WRITES = {"ch07/train_convnet.py": "params.pkl", "ch08/train_deepnet.py": "deep_convnet_params.pkl"}
#: scripts whose every line is "key:difference" of a gradient check
GRADIENT_CHECKS = ("ch05/gradient_check.py", "ch06/batch_norm_gradient_check.py")
#: printed losses: may differ by the book's 1e-7 in cross_entropy_error, nothing else
LOSS_LINE = re.compile(r"^(train loss|SGD|Momentum|AdaGrad|Adam|std=0\.01|Xavier|He):(\S+)$")
#: for the scripts "close to the book's": the largest difference of a printed accuracy
CLOSE = {"ch06/batch_norm_test.py": 0.005}
NUMBER = re.compile(r"\d+\.\d+(?:e-?\d+)?")
SLOW_SECONDS = 3.0


@needs_dlfs
def test_the_table_lists_every_book_script_that_imports_common_or_dataset():
    found = {p.relative_to(DLFS).as_posix()
             for chapter in ("ch03", "ch04", "ch05", "ch06", "ch07", "ch08")
             for p in sorted((DLFS / chapter).glob("*.py"))
             if IMPORTS_BOOK.search(p.read_text(encoding="utf-8"))}
    assert len(found) == 24
    assert [s.path for s in SCRIPTS] == sorted(found)


def _clone(tmp_path: Path, chapter: str) -> Path:
    """A writable copy of the book's ``chapter``, ``common/`` and ``dataset/`` under tmp_path."""
    root = tmp_path / "dlfs"
    for name in (chapter, "common", "dataset"):
        shutil.copytree(DLFS / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return root / chapter


def _compare(path: str, ours: str, book: str) -> None:
    """kobai.book's printout against the book's own, line by line (see the module docstring)."""
    ours_lines, book_lines = ours.splitlines(), book.splitlines()
    assert len(ours_lines) == len(book_lines), (ours, book)
    for mine, theirs in zip(ours_lines, book_lines, strict=True):
        if path in GRADIENT_CHECKS:
            key, _, value = mine.partition(":")
            assert key == theirs.partition(":")[0]
            # the mean |backprop - numerical gradient|: at least as small as the book's. Both
            # losses have the book's 1e-7 inside the log, so the differences are the book's up
            # to the rounding of the central differences (measured: 4e-5 relative at most)
            assert float(value) <= float(theirs.partition(":")[2]) * (1 + 1e-3), (mine, theirs)
            continue
        loss, book_loss = LOSS_LINE.match(mine), LOSS_LINE.match(theirs)
        if loss and book_loss:
            assert loss[1] == book_loss[1]
            # the book's -log(y + 1e-7) is below the exact -log(y) by less than 1e-7 / y
            np.testing.assert_allclose(float(loss[2]), float(book_loss[2]), rtol=1e-6,
                                       err_msg=f"{path}: {mine!r} vs the book's {theirs!r}")
            continue
        if path in CLOSE:
            assert NUMBER.split(mine) == NUMBER.split(theirs), (mine, theirs)
            np.testing.assert_allclose([float(v) for v in NUMBER.findall(mine)],
                                       [float(v) for v in NUMBER.findall(theirs)],
                                       rtol=0, atol=CLOSE[path], err_msg=f"{path}: {mine!r}")
            continue
        assert mine == theirs, f"{path}: {mine!r}, the book's code prints {theirs!r}"


@needs_dlfs
@pytest.mark.parametrize("path", [
    pytest.param(s.path, marks=[pytest.mark.slow] if s.seconds > SLOW_SECONDS else [])
    for s in SCRIPTS])
def test_book_script_runs_on_kobai_book(path, tmp_path, capfd, monkeypatch):
    entry = script(path)
    if path == "ch03/mnist_show.py":
        pytest.importorskip("PIL")
    folder = _clone(tmp_path, Path(path).parent.name)
    name = Path(path).name
    figures, book_figures = tmp_path / "figures", tmp_path / "book_figures"

    status, out, err = book_run(capfd, monkeypatch, folder, name, seed=0, save_figures=figures)

    assert status == 0, err
    pngs = sorted(p.name for p in figures.iterdir())
    if "plt.show()" in (folder / name).read_text(encoding="utf-8"):
        assert pngs, err
    if path in WRITES:
        written = read_arrays(folder / WRITES[path])
        assert (folder / WRITES[path]).read_bytes()[:2] == b"PK" and "W1" in written
    if entry.status in ("book's numbers", "close to the book's", "book's figures"):
        status, book_out, book_err = book_run(capfd, monkeypatch, folder, name, seed=0,
                                              book_common=True, save_figures=book_figures)
        assert status == 0, book_err
        _compare(path, out, book_out)
        assert pngs == sorted(p.name for p in book_figures.iterdir())
    if entry.status == "book's figures":  # pixel for pixel: the same PNG files
        for png in pngs:
            assert (figures / png).read_bytes() == (book_figures / png).read_bytes(), png
