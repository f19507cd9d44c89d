"""One self-contained web page to draw a digit on, and the network's answer.

:func:`to_html` writes a single HTML file that needs nothing else, not even a network
connection: the weights of :func:`~kobai.export.graph.inference_graph` (float32, base64 of
their little-endian bytes), a JavaScript forward pass of every op of the graph followed by
softmax (computed in float64, JavaScript's numbers), and a 280×280 canvas to draw on. A
drawing is prepared as ``kobai predict`` prepares an image (:mod:`kobai.images`: threshold,
crop to the ink, the longer side scaled to 20 pixels with a Lanczos filter, centred in 28×28
by the centre of mass); the page shows those 28×28 inputs and a bar chart of the class
probabilities.

The page is ``page/page.html`` beside this module (package data), with the model and three
scripts inlined at export: ``network.js`` (the forward pass), ``prepare.js`` (the drawing as
28×28 inputs) and ``page.js`` (the pad, the chart). In the browser, ``window.kobai`` offers
``predict(pixels)`` (784 numbers in [0, 1], MNIST's layout, to the probabilities),
``preprocess()`` (the canvas as those 784 inputs, or ``null`` when nothing is drawn),
``classify()``, ``clear()``, ``labels`` and ``model`` (the network's name and shapes).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write
from ..datasets.sources import CLASS_NAMES
from .graph import ExportError, Graph, inference_graph

__all__ = ["to_html", "labels_for"]

#: the inputs the page can draw: one 28×28 grey image, flat or as one channel
_INPUT_SHAPES = ((784,), (1, 28, 28))
#: the arrays each op's JavaScript reads (batch norm's ``var`` is left out: ``std`` is enough)
_ARRAYS = {"linear": ("W", "b"), "conv": ("W", "b"), "batchnorm": ("mean", "std", "gamma",
                                                                   "beta")}
#: the page's scripts, in order: the forward pass, the preprocessing, the page itself
_SCRIPTS = ("network", "prepare", "page")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def labels_for(data: dict[str, Any] | None) -> list[str]:
    """The class names of the data a network was trained on, for :func:`to_html`.

    Parameters
    ----------
    data : dict or None
        A checkpoint's record of its training data (``{"source": "fashion-mnist", ...}``, see
        :func:`kobai.datasets.describe`), or None when there is none.

    Returns
    -------
    list of str
        Fashion-MNIST's ten class names for ``"fashion-mnist"``; else the digits ``"0"`` to
        ``"9"``.
    """
    source = data.get("source") if isinstance(data, dict) else None
    return list(CLASS_NAMES.get(str(source), CLASS_NAMES["mnist"]))


def to_html(net: Any, path: str | os.PathLike[str], *, labels: Sequence[str] | None = None,
            title: str | None = None) -> Path:
    """Write ``net`` as one self-contained HTML page to draw a digit on.

    Parameters
    ----------
    net : Network
        A kobai network taking one 28×28 grey image: input of shape (784,) or (1, 28, 28).
    path : str or path-like
        The ``.html`` file to write (replaced atomically); its folder must exist.
    labels : sequence of str, optional
        One name per class (``net.output_size`` of them), e.g. :func:`labels_for`'s; default
        the digits ``"0"``, ``"1"``, ... for a network of up to 10 classes.
    title : str, optional
        The page's title and heading; default ``"kobai: <network class>"``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ExportError
        ``net`` takes other inputs than 28×28 images, its labels do not fit (not one per
        class, or none given for more than 10 classes), or :func:`inference_graph` refuses
        it; nothing is written.
    FileNotFoundError
        The folder of ``path`` does not exist.
    """
    graph = inference_graph(net, np.float32)
    if graph.input_shape not in _INPUT_SHAPES:
        raise ExportError(f"the web page draws 28x28 grey images, inputs of shape (784,) or "
                          f"(1, 28, 28); {graph.network} takes samples of shape "
                          f"{graph.input_shape}")
    names = _labels(labels, graph)
    model, weights = _model(graph, names)
    page = _fill(_template("page.html"), {
        "title": html.escape(title if title is not None else f"kobai: {graph.network}"),
        "model": _script_json(model),
        "weights": base64.b64encode(weights).decode("ascii"),
        **{f"{name}_js": _template(f"{name}.js") for name in _SCRIPTS},
    })
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write(page.encode("utf-8"))
    return path


def _labels(labels: Sequence[str] | None, graph: Graph) -> list[str]:
    n = graph.output_size
    if labels is None:
        if n > 10:
            raise ExportError(f"{graph.network} has {n} classes; the default labels are the "
                              "digits 0-9: pass labels=, one name per class")
        return [str(k) for k in range(n)]
    if isinstance(labels, str) or not all(isinstance(name, str) for name in labels):
        raise ExportError("labels must be a sequence of str, one name per class")
    names = list(labels)
    if len(names) != n:
        raise ExportError(f"{len(names)} labels for the {n} classes of {graph.network}; "
                          "expected one name per class")
    return names


def _model(graph: Graph, labels: list[str]) -> tuple[dict[str, Any], bytes]:
    """The page's description of ``graph`` and the bytes of its arrays: each array is
    ``{"offset", "shape"}``, offset counted in float32s into the bytes."""
    chunks: list[bytes] = []
    offset = 0
    steps = []
    for step in graph.steps:
        arrays = {}
        for key in _ARRAYS.get(step.op, ()):
            a = np.ascontiguousarray(step.arrays[key], dtype="<f4")
            arrays[key] = {"offset": offset, "shape": list(a.shape)}
            chunks.append(a.tobytes())
            offset += a.size
        steps.append({"op": step.op, "name": step.name, "in_shape": list(step.in_shape),
                      "out_shape": list(step.out_shape), "attrs": dict(step.attrs),
                      "arrays": arrays})
    model = {"network": graph.network, "input_shape": list(graph.input_shape),
             "output_size": graph.output_size, "labels": labels, "steps": steps,
             "n_weights": offset}
    return model, b"".join(chunks)


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _template(name: str) -> str:
    return (resources.files("kobai.export") / "page" / name).read_text(encoding="utf-8")


def _fill(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{{key}}`` replaced, in one pass (a value is never scanned)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)

