"""Take a trained network anywhere: ONNX, safetensors, PyTorch and a page to draw a digit on.

Every exporter but safetensors writes down the same :func:`~kobai.export.graph.inference_graph`
(the one walk over a network's layers, which refuses what it does not know); safetensors holds
the parameters and state themselves, which :func:`kobai.io.load` reads back. The libraries an
exporter needs (``onnx``, ``torch``) are imported only when it is called: install them with
``pip install "kobai[onnx]"`` or ``"kobai[torch]"``.

=====================  ====================================================================
:func:`to_onnx`        an ONNX model: input ``x`` (dynamic batch), outputs ``probabilities``
                       and ``logits``
:func:`to_safetensors`  parameters, running statistics and the config in the header
:func:`to_torch`       a ``torch.nn.Sequential`` returning logits; :func:`save_torch` writes
                       its ``state_dict`` and the lines of Python that rebuild it
:func:`from_torch`     the way back: a ``Network`` from an ``nn.Sequential``
:func:`to_html`        one self-contained HTML page with the weights and a JavaScript forward
                       pass, to draw a digit on
=====================  ====================================================================

:data:`FORMATS` maps ``kobai export --to`` names to the writers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .graph import ExportError, Graph, Step, inference_graph

__all__ = ["ExportError", "Graph", "Step", "inference_graph", "to_onnx", "to_safetensors",
           "to_torch", "save_torch", "from_torch", "to_html", "FORMATS", "Format"]

PathLike = str | os.PathLike[str]


def to_onnx(net: Any, path: PathLike, *, dtype: Any = None) -> Path:
    """Write ``net`` as an ONNX model to ``path``; see :mod:`kobai.export.onnx_model`."""
    from .onnx_model import to_onnx as write

    return write(net, path, dtype=dtype)


def to_safetensors(net: Any, path: PathLike, *, data: dict[str, Any] | None = None) -> Path:
    """Write ``net``'s parameters and state to ``path`` as safetensors; see
    :mod:`kobai.export.safetensors_file`."""
    from .safetensors_file import to_safetensors as write

    return write(net, path, data=data)


def to_torch(net: Any, *, dtype: Any = None) -> Any:
    """``net`` as a ``torch.nn.Sequential`` returning logits; see
    :mod:`kobai.export.torch_module`."""
    from .torch_module import to_torch as build

    return build(net, dtype=dtype)


def save_torch(net: Any, path: PathLike, *, dtype: Any = None) -> tuple[Path, Path]:
    """Write ``net``'s ``state_dict`` to ``path`` and the Python that rebuilds the module
    beside it (``.py``); returns both paths."""
    from .torch_module import save_torch as write

    return write(net, path, dtype=dtype)


def from_torch(module: Any, *, input_shape: Any = None) -> Any:
    """A generic :class:`~kobai.nets.Network` of ``module`` (an ``nn.Sequential`` of layers
    kobai has); see :mod:`kobai.export.torch_module`."""
    from .torch_module import from_torch as build

    return build(module, input_shape=input_shape)


def to_html(net: Any, path: PathLike, *, labels: Any = None, title: str | None = None) -> Path:
    """Write one self-contained HTML page to draw a digit on; see
    :mod:`kobai.export.web_page`."""
    from .web_page import to_html as write

    return write(net, path, labels=labels, title=title)


@dataclass(frozen=True)
class Format:
    """A ``kobai export --to`` format: the file suffix and the writer
    ``write(net, path, dtype=..., data=...)`` returning the paths written."""

    suffix: str
    help: str
    write: Callable[..., list[Path]]


def _onnx(net: Any, path: Path, *, dtype: Any, data: Any) -> list[Path]:
    return [to_onnx(net, path, dtype=dtype)]


def _safetensors(net: Any, path: Path, *, dtype: Any, data: Any) -> list[Path]:
    if dtype is not None and dtype != net.dtype:
        net = net.astype(dtype)
    return [to_safetensors(net, path, data=data)]


def _torch(net: Any, path: Path, *, dtype: Any, data: Any) -> list[Path]:
    return list(save_torch(net, path, dtype=dtype))


def _html(net: Any, path: Path, *, dtype: Any, data: Any) -> list[Path]:
    from .web_page import labels_for

    # the class names of the data it was trained on, for the ten classes of MNIST's sets
    labels = labels_for(data) if net.output_size == 10 else None
    return [to_html(net, path, labels=labels)]


#: ``kobai export --to`` name -> Format
FORMATS: dict[str, Format] = {
    "onnx": Format(".onnx", "ONNX model (onnxruntime, Netron, ...)", _onnx),
    "safetensors": Format(".safetensors", "parameters and state, readable by kobai.io.load",
                          _safetensors),
    "torch": Format(".pt", "PyTorch state_dict and the Python that rebuilds the module",
                    _torch),
    "html": Format(".html", "one web page to draw a digit on", _html),
}
