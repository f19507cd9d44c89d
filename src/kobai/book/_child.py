"""The process that ``kobai book run`` starts: the book's world around one script, then the
script, as ``python SCRIPT ARGS`` would run it.

Started by :func:`kobai.book.runner.run` as ``python -m kobai.book._child [--seed N]
[--save-figures DIR] [--book-common] -- SCRIPT [ARGS...]`` (the data set comes in the
environment variables that :mod:`kobai.book.dataset.mnist` reads), in the caller's working
directory. Before the script runs, this process

* puts a finder first on ``sys.meta_path`` resolving ``common(.*)`` and ``dataset(.*)`` to
  ``kobai.book.common...`` and ``kobai.book.dataset...`` (only ``dataset`` with
  ``--book-common``), ahead of a ``common/`` the script's ``sys.path`` makes visible;
* replaces ``pickle.load``/``loads`` by :func:`kobai.arrays_file.read_arrays_from` and
  ``pickle.dump``/``dumps`` by :func:`kobai.arrays_file.write_arrays_to` (dicts of arrays
  only; ``Pickler``/``Unpickler`` are left alone: the book never uses them);
* with ``--save-figures DIR``, or without a display, selects Agg and makes
  ``pyplot.show`` (and Pillow's ``Image.show``) save figures as ``DIR/<script>-01.png``, ...
  or drop them (one note on stderr); ``show()`` never blocks;
* with ``--seed N``, calls ``np.random.seed(N)``.

The script then runs as ``__main__`` (``sys.argv = [SCRIPT, *ARGS]``, its folder first on
``sys.path``); an exception is printed without this module's frames and exits 1 (130 for
KeyboardInterrupt); ``sys.exit(n)`` exits with ``n``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import logging
import os
import pickle
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ..arrays_file import read_arrays_from, write_arrays_to

#: the book's top-level packages and the kobai packages they stand for during a run
ALIASES = {"common": "kobai.book.common", "dataset": "kobai.book.dataset"}
_PREFIX = "kobai book run"


# -- imports ------------------------------------------------------------------------------------
class _AliasLoader(importlib.abc.Loader):
    """Makes the import of an alias return the kobai module itself (one module, two names)."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder, replaced below

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system returns whatever sys.modules holds under the name once
        # exec_module is done, so the alias is the kobai module, with its own __spec__.
        sys.modules[module.__name__] = sys.modules[self.target]


class _HookedLoader(importlib.abc.Loader):
    """Runs a module's own loader, then ``hook(module)``: a post-import hook."""

    def __init__(self, inner: importlib.abc.Loader, hook: Callable[[types.ModuleType], None]):
        self.inner, self.hook = inner, hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self.inner  # the module keeps its real loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        self.hook(module)


class BookFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: the book's package names as aliases of kobai's, and
    post-import hooks for a few named modules.

    Parameters
    ----------
    aliases : mapping of str to str
        Top-level name -> the package it stands for, e.g. ``{"common": "kobai.book.common"}``;
        ``common.layers`` then is ``kobai.book.common.layers``.
    hooks : mapping of str to callable
        Module name -> a function called with the module right after it is first imported.
    """

    def __init__(self, aliases: Mapping[str, str],
                 hooks: Mapping[str, Callable[[types.ModuleType], None]]):
        self.aliases, self.hooks = dict(aliases), dict(hooks)

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top in self.aliases:
            return self._alias(fullname, self.aliases[top] + fullname[len(top):])
        hook = self.hooks.get(fullname)
        if hook is not None:
            return self._hooked(fullname, path, target, hook)
        return None

    def _alias(self, name: str, target: str) -> importlib.machinery.ModuleSpec:
        try:
            importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name != target:
                raise
            top = name.partition(".")[0]
            raise ModuleNotFoundError(f"No module named {name!r}: {_PREFIX} gives the script "
                                      f"{self.aliases[top]} as {top!r}, and it has no "
                                      f"{target.rpartition('.')[2]!r}", name=name) from None
        return importlib.machinery.ModuleSpec(name, _AliasLoader(target))

    def _hooked(self, name: str, path: Sequence[str] | None, target: types.ModuleType | None,
                hook: Callable[[types.ModuleType], None]) -> importlib.machinery.ModuleSpec | None:
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _HookedLoader(spec.loader, hook)
                return spec
        return None


# -- pickle -------------------------------------------------------------------------------------
def _load(file: BinaryIO, **_options: Any) -> dict:
    return read_arrays_from(file)


def _loads(data: bytes, /, **_options: Any) -> dict:
    return read_arrays_from(io.BytesIO(data))


def _dump(obj: Any, file: BinaryIO, protocol: int | None = None, **_options: Any) -> None:
    if not isinstance(obj, Mapping):
        raise pickle.PicklingError(f"{_PREFIX}: pickle.dump writes only a dict of NumPy arrays "
                                   f"(as kobai's .npz, never a pickle), not {type(obj).__name__}")
    try:
        write_arrays_to(file, obj)
    except (TypeError, ValueError) as exc:
        raise pickle.PicklingError(f"{_PREFIX}: pickle.dump writes only a dict of NumPy arrays "
                                   f"(as kobai's .npz, never a pickle): {exc}") from None


def _dumps(obj: Any, protocol: int | None = None, **_options: Any) -> bytes:
    buffer = io.BytesIO()
    _dump(obj, buffer)
    return buffer.getvalue()


def install_pickle() -> None:
    """Replace ``pickle.load``/``loads``/``dump``/``dumps`` for the rest of this process."""
    pickle.load, pickle.loads = _load, _loads  # type: ignore[assignment]
    pickle.dump, pickle.dumps = _dump, _dumps  # type: ignore[assignment]


# -- figures ------------------------------------------------------------------------------------
def has_display() -> bool:
    """Whether windows can open: always on macOS and Windows, else with an X or Wayland display."""
    return (sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY"))
            or bool(os.environ.get("WAYLAND_DISPLAY")))


class Figures:
    """What ``plt.show()`` and Pillow's ``Image.show()`` do during a run without windows.

    Parameters
    ----------
    folder : Path or None
        Save every figure shown as ``folder/<stem>-NN.png`` (numbered from 01 across the run);
        None: drop them, saying so once on stderr.
    stem : str
        The script's name without ``.py``.
    """

    _PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")

    def __init__(self, folder: Path | None, stem: str):
        self.folder, self.stem = folder, stem
        self.count = 0
        self.told = False

    def _path(self) -> Path:
        assert self.folder is not None
        self.count += 1
        return self.folder / f"{self.stem}-{self.count:02d}.png"

    def _tell(self, what: str) -> None:
        if not self.told:
            self.told = True
            print(f"{_PREFIX}: no display (DISPLAY is not set): {what} shows nothing, "
                  "matplotlib draws with its Agg backend; add --save-figures DIR to keep the "
                  "figures as PNG files", file=sys.stderr)

    def plt_show(self, *args: Any, **kwargs: Any) -> None:
        """``matplotlib.pyplot.show``: save (or drop) every open figure, then close them."""
        import matplotlib.pyplot as plt

        if self.folder is None:
            if plt.get_fignums():
                self._tell("plt.show()")
        else:
            for number in plt.get_fignums():
                path = self._path()
                plt.figure(number).savefig(path)
                print(f"{_PREFIX}: saved figure {path}", file=sys.stderr)
        plt.close("all")

    def image_show(self, image: Any, title: str | None = None) -> None:
        """Pillow's ``Image.show``: save (or drop) the image."""
        if self.folder is None:
            self._tell("Image.show()")
            return
        if image.mode not in self._PNG_MODES:
            image = image.convert("L" if image.mode == "F" else "RGB")
        path = self._path()
        image.save(path, format="PNG")
        print(f"{_PREFIX}: saved image {path}", file=sys.stderr)

    def hooks(self) -> dict[str, Callable[[types.ModuleType], None]]:
        """The post-import hooks that install :meth:`plt_show` and :meth:`image_show`."""
        def show(*args: Any, **kwargs: Any) -> None:  # a function: pyplot sets its signature
            self.plt_show(*args, **kwargs)

        def image_show(image: Any, title: str | None = None) -> None:
            self.image_show(image, title)

        def pyplot(module: types.ModuleType) -> None:
            module.show = show  # type: ignore[attr-defined]

        def pil_image(module: types.ModuleType) -> None:
            module.Image.show = image_show

        return {"matplotlib.pyplot": pyplot, "PIL.Image": pil_image}


# -- the script ---------------------------------------------------------------------------------
def _script_frames(tb: types.TracebackType | None, filename: str) -> types.TracebackType | None:
    """The traceback from the script's first frame on (None if the script has no frame)."""
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


def run_script(script: str, args: Sequence[str]) -> int:
    """Run ``script`` as ``python script args`` would, in this process; the exit status."""
    filename = os.path.abspath(script)
    sys.argv = [script, *args]
    folder = os.path.dirname(os.path.realpath(script))
    if getattr(sys.flags, "safe_path", False):  # python -P: -m put nothing first
        sys.path.insert(0, folder)
    else:
        sys.path[0] = folder  # where -m put the working directory
    main = types.ModuleType("__main__")
    main.__file__ = filename
    main.__builtins__ = __builtins__  # type: ignore[attr-defined]
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", filename)
    sys.modules["__main__"] = main
    try:
        with io.open_code(filename) as fh:
            code = compile(fh.read(), filename, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = _script_frames(exc.__traceback__, filename)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)  # it prints exc.__traceback__
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def main(argv: Sequence[str]) -> int:
    """Parse this module's arguments (see the module docstring), set up, run the script."""
    argv = list(argv)
    split = argv.index("--")
    options, (script, *args) = argv[:split], argv[split + 1:]
    seed, figures_dir, book_common = None, None, False
    while options:
        flag = options.pop(0)
        if flag == "--seed":
            seed = int(options.pop(0))
        elif flag == "--save-figures":
            figures_dir = Path(options.pop(0))
        elif flag == "--book-common":
            book_common = True
        else:
            raise SystemExit(f"{__name__}: unknown option {flag!r}")

    hooks: dict[str, Callable[[types.ModuleType], None]] = {}
    if figures_dir is not None or not has_display():
        if figures_dir is not None or "MPLBACKEND" not in os.environ:
            os.environ["MPLBACKEND"] = "Agg"
        hooks = Figures(figures_dir, Path(script).stem).hooks()
    aliases = {k: v for k, v in ALIASES.items() if not (book_common and k == "common")}
    sys.meta_path.insert(0, BookFinder(aliases, hooks))
    install_pickle()
    if seed is not None:
        import numpy as np

        np.random.seed(seed)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("kobai: %(message)s"))
    logging.getLogger("kobai").addHandler(handler)
    logging.getLogger("kobai").setLevel(logging.INFO)
    return run_script(script, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
