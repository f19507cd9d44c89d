"""A network as a ``torch.nn.Sequential`` of standard modules, the file pair that rebuilds it,
and (:func:`from_torch`, from :mod:`kobai.export.torch_import`) the way back.

:func:`to_torch` writes down :func:`~kobai.export.graph.inference_graph` step by step:

=============  ========================================================================
``linear``     ``nn.Linear`` with ``weight = W.T`` (PyTorch keeps (out, in), the book
               (in, out))
``conv``       ``nn.Conv2d``: the same (FN, C, FH, FW) weights, ``stride``, ``padding``
``maxpool``    ``nn.MaxPool2d``; PyTorch allows a padding of half the window at most, so a
               wider ``pad`` becomes ``nn.ConstantPad2d(pad, -inf)`` before it (kobai's
               padding never wins a window either)
``relu`` ...   ``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``
``flatten``    ``nn.Flatten()``
``batchnorm``  ``nn.BatchNorm1d`` with the same ``eps`` and running statistics;
               ``momentum = 1 - kobai's`` (kobai: ``running = m·running + (1 - m)·batch``,
               PyTorch: ``running = (1 - m')·running + m'·batch``). The book normalizes
               images per element, not per channel: a sample (C, H, W) becomes
               ``nn.Flatten``, ``nn.BatchNorm1d(C·H·W)``, ``nn.Unflatten(1, (C, H, W))``
``dropout``    ``nn.Dropout(ratio)`` (inverted dropout, as kobai's default)
=============  ========================================================================

One difference remains in training mode: PyTorch's batch norm averages the *unbiased* batch
variance into ``running_var`` (kobai's, as the book's, the biased one, which both normalize
with), so training the module further moves its running variance by ``N / (N - 1)`` more.

The modules are named after kobai's layers (``Affine1``, ``Relu1``; a dot becomes ``_``), the
module returns the logits (``torch.nn.functional.cross_entropy`` of them is kobai's
``SoftmaxWithLoss``) and it comes in ``eval()`` mode, in the graph's dtype. ``torch`` is
imported only when a function is called.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._files import atomic_write
from .graph import ExportError, Graph, Step, inference_graph
from .torch_import import from_torch, import_torch

__all__ = ["to_torch", "save_torch", "rebuild_source", "from_torch", "build_module", "import_torch"]


def to_torch(net: Any, *, dtype: DTypeLike | None = None) -> Any:
    """``net``'s evaluation-mode computation as a ``torch.nn.Sequential`` returning logits.

    Parameters
    ----------
    net : Network
        Any network :func:`~kobai.export.graph.inference_graph` takes.
    dtype : float32 or float64, optional
        Of the module's parameters; default the network's own.

    Returns
    -------
    torch.nn.Sequential
        In ``eval()`` mode; maps a batch of shape (N, *net.input_shape) to (N, output_size)
        logits. ``.train()`` gives batch statistics and dropout as ``net.gradient`` uses.

    Raises
    ------
    ExportError
        What ``inference_graph`` refuses, and non-inverted dropout (no standard module).
    """
    return build_module(inference_graph(net, dtype))


def build_module(graph: Graph) -> Any:
    """The ``nn.Sequential`` of ``graph`` (see the module docstring), in ``eval()`` mode."""
    torch = import_torch()
    tdtype = torch.float32 if graph.dtype == np.float32 else torch.float64
    modules: OrderedDict[str, Any] = OrderedDict()
    probe = torch.nn.Sequential()
    with torch.no_grad():
        for step in graph.steps:
            for suffix, module in _modules(step, torch.nn, tdtype):
                modules[_module_name(step.name + suffix, modules, probe)] = module
    return torch.nn.Sequential(modules).eval()


def _module_name(name: str, taken: dict[str, Any], probe: Any) -> str:
    """``name`` as a module name: no dots, no clash with another or a Module attribute."""
    base = name.replace(".", "_") or "layer"
    if hasattr(probe, base):  # e.g. a layer named "forward"
        base += "_"
    candidate, k = base, 1
    while candidate in taken:
        k += 1
        candidate = f"{base}_{k}"
    return candidate


def _modules(step: Step, nn: Any, dtype: Any) -> list[tuple[str, Any]]:
    """(name suffix, module) for one step, holding copies of its arrays."""
    a, arr = step.attrs, step.arrays
    if step.op == "linear":
        n_in, n_out = arr["W"].shape
        return [("", _filled(nn.Linear(n_in, n_out, dtype=dtype),
                             weight=arr["W"].T, bias=arr["b"]))]
    if step.op == "conv":
        fn, c, fh, fw = arr["W"].shape
        conv = nn.Conv2d(c, fn, (fh, fw), stride=a["stride"], padding=a["pad"], dtype=dtype)
        return [("", _filled(conv, weight=arr["W"], bias=arr["b"]))]
    if step.op == "maxpool":
        window, pad = (a["pool_h"], a["pool_w"]), a["pad"]
        if 2 * pad <= min(window):  # PyTorch's limit: at most half the window
            return [("", nn.MaxPool2d(window, stride=a["stride"], padding=pad))]
        return [("_pad", nn.ConstantPad2d(pad, -math.inf)),
                ("", nn.MaxPool2d(window, stride=a["stride"], padding=0))]
    if step.op in ("relu", "sigmoid", "tanh"):
        return [("", {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[step.op]())]
    if step.op == "flatten":
        return [("", nn.Flatten())]
    if step.op == "batchnorm":
        bn = _filled(nn.BatchNorm1d(math.prod(step.in_shape), eps=a["eps"],
                                    momentum=1.0 - a["momentum"], dtype=dtype),
                     weight=arr["gamma"], bias=arr["beta"], running_mean=arr["mean"],
                     running_var=arr["var"])
        if len(step.in_shape) == 1:
            return [("", bn)]
        return [("_flatten", nn.Flatten()), ("", bn),
                ("_unflatten", nn.Unflatten(1, step.in_shape))]
    if step.op == "dropout":
        if not a["inverted"]:
            raise ExportError(f"cannot export layer {step.name!r} (Dropout, inverted=False) to "
                              "PyTorch: the book's dropout (x·(1 - ratio) in evaluation) has no "
                              "standard module; use Dropout(inverted=True), to which kobai's "
                              "loaders convert the book's weights")
        return [("", nn.Dropout(a["ratio"]))]
    raise ExportError(f"the PyTorch export does not know op {step.op!r} (layer {step.name!r})")


def _filled(module: Any, **arrays: np.ndarray) -> Any:
    """``module`` with each named parameter or buffer set to a copy of the array (flattened
    for batch norm's per-element arrays of shape (C, H, W))."""
    import torch

    for key, value in arrays.items():
        target = getattr(module, key)
        target.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(target.shape))
    return module


def save_torch(net: Any, path: str | os.PathLike[str], *, dtype: DTypeLike | None = None
               ) -> tuple[Path, Path]:
    """Write ``to_torch(net).state_dict()`` to ``path`` and the Python that rebuilds the module
    beside it (``path.with_suffix(".py")``).

    ``torch.load(path, weights_only=True)`` reads the state dict; running the ``.py`` (or
    ``runpy.run_path``) defines ``module``, the same ``nn.Sequential`` with it loaded, in
    ``eval()`` mode. Both files are written or neither: a failure while writing the state
    dict puts back the ``.py`` that was there before (or removes the new one).

    Returns
    -------
    (pt_path, py_path) : tuple of Path
    """
    torch = import_torch()
    pt = Path(path)
    py = pt.with_suffix(".py")
    if py == pt:
        raise ValueError(f"{pt} ends in .py, the name of the Python file written beside the "
                         "state dict; give a path ending in .pt")
    module = to_torch(net, dtype=dtype)
    source = rebuild_source(module, weights=pt.name)
    before = py.read_bytes() if py.is_file() else None
    with atomic_write(py) as fh:
        fh.write(source.encode("utf-8"))
    try:
        with atomic_write(pt) as fh:
            torch.save(module.state_dict(), fh)
    except BaseException:
        if before is None:
            py.unlink(missing_ok=True)
        else:
            with atomic_write(py) as fh:
                fh.write(before)
        raise
    return pt, py


def rebuild_source(module_or_graph: Any, *, weights: str = "model.pt") -> str:
    """Plain Python (it imports torch only) that rebuilds ``module_or_graph`` and loads its
    state dict from the file ``weights`` beside it, as ``module``, in ``eval()`` mode.

    Parameters
    ----------
    module_or_graph : torch.nn.Sequential or Graph
        A module as :func:`to_torch` builds (the modules listed in the module docstring), or
        an inference graph.
    weights : str
        The state dict's file name, relative to the ``.py`` file.
    """
    module = build_module(module_or_graph) if isinstance(module_or_graph, Graph) \
        else module_or_graph
    torch = import_torch()
    if type(module) is not torch.nn.Sequential:
        raise ExportError(f"rebuild_source takes a torch.nn.Sequential or a Graph, got "
                          f"{type(module).__name__}")
    dtypes = {p.dtype for p in module.parameters()} or {torch.float32}
    if len(dtypes) != 1:
        raise ExportError(f"the module's parameters mix dtypes {sorted(map(str, dtypes))}")
    lines = [f"    ({name!r}, {_constructor(name, child, torch.nn)}),"
             for name, child in module.named_children()]
    return "\n".join([
        '"""Rebuild the torch.nn.Sequential exported by kobai and load its state dict: run',
        'this file, or `module = runpy.run_path("this.py")["module"]`."""',
        "from collections import OrderedDict",
        "from pathlib import Path",
        "",
        "import torch",
        "from torch import nn",
        "",
        "module = nn.Sequential(OrderedDict([",
        *lines,
        f"])).to({dtypes.pop()})",
        f"module.load_state_dict(torch.load(Path(__file__).with_name({weights!r}), "
        "weights_only=True))",
        "module.eval()",
        "",
        'if __name__ == "__main__":',
        "    print(module)",
        "",
    ])


def _constructor(name: str, m: Any, nn: Any) -> str:
    """The expression building a module like ``m`` (its parameters not loaded)."""
    kind = type(m)
    if kind is nn.Linear:
        return f"nn.Linear({m.in_features}, {m.out_features}, bias={m.bias is not None})"
    if kind is nn.Conv2d:
        return (f"nn.Conv2d({m.in_channels}, {m.out_channels}, {m.kernel_size}, "
                f"stride={m.stride}, padding={m.padding}, bias={m.bias is not None})")
    if kind is nn.MaxPool2d:
        return f"nn.MaxPool2d({m.kernel_size}, stride={m.stride}, padding={m.padding})"
    if kind is nn.ConstantPad2d:
        value = f'float("{m.value}")' if math.isinf(m.value) else repr(m.value)
        return f"nn.ConstantPad2d({m.padding}, {value})"
    if kind in (nn.ReLU, nn.Sigmoid, nn.Tanh):
        return f"nn.{kind.__name__}()"
    if kind is nn.Flatten:
        return f"nn.Flatten({m.start_dim}, {m.end_dim})"
    if kind is nn.Unflatten:
        return f"nn.Unflatten({m.dim}, {tuple(m.unflattened_size)})"
    if kind is nn.BatchNorm1d:
        return (f"nn.BatchNorm1d({m.num_features}, eps={m.eps!r}, momentum={m.momentum!r}, "
                f"affine={m.affine}, track_running_stats={m.track_running_stats})")
    if kind is nn.Dropout:
        return f"nn.Dropout({m.p!r})"
    raise ExportError(f"rebuild_source cannot write module {name!r} ({kind.__name__}): it "
                      "writes the modules to_torch builds (Linear, Conv2d, MaxPool2d, "
                      "ConstantPad2d, ReLU, Sigmoid, Tanh, Flatten, Unflatten, BatchNorm1d, "
                      "Dropout)")
