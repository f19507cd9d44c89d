"""A network as an ONNX model: :func:`to_onnx`.

The model writes down :func:`~kobai.export.graph.inference_graph` and nothing else, one or a
few ONNX operators per step:

=============  ==========================================================================
``flatten``    ``Flatten(axis=1)`` (no batch size in the file)
``linear``     ``Gemm(x, W, b)``: ``x @ W + b``, ``W`` as kobai keeps it, (in, out)
``conv``       ``Conv(x, W, b)`` with ``kernel_shape``, ``strides`` and ``pads``
``maxpool``    ``MaxPool`` with ``kernel_shape``, ``strides`` and ``pads`` (ONNX, like kobai,
               never takes a padded position as the maximum)
``relu`` ...   ``Relu``, ``Sigmoid``, ``Tanh``
``batchnorm``  ``Sub(mean)``, ``Div(std)``, ``Mul(gamma)``, ``Add(beta)``, every array of the
               sample's shape: the book normalizes each element of a 4-D input, where ONNX's
               ``BatchNormalization`` is per channel with its own ``epsilon``
``dropout``    nothing (inverted dropout, kobai's default), else ``Mul(1 - ratio)``
=============  ==========================================================================

then ``Softmax(axis=-1)`` of the logits. Initializers are named after their layer
(``Affine1.W``, ``BatchNorm1.std``), and so are the nodes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write
from .graph import ExportError, Graph, Step, inference_graph

__all__ = ["to_onnx", "OPSET", "IR_VERSION"]

#: The ONNX operator set the models use. 13 is the first whose Softmax normalizes over one
#: axis (older ones flatten everything after ``axis``); 17 (onnx 1.12) runs on onnxruntime
#: 1.12 and later and needs no IR version above 8.
OPSET = 17

#: The file format version written. ``onnx.helper.make_model`` writes the newest one the
#: installed onnx knows, which older runtimes refuse to load ("Unsupported model IR version",
#: onnxruntime#20559); 8 is the smallest that holds opset 17
#: (``onnx.helper.find_min_ir_version_for``), the one onnx 1.12 wrote, and loads in every
#: onnxruntime since 1.10, the current 1.32 included.
IR_VERSION = 8

_NO_ONNX = 'to_onnx needs the onnx package: pip install "kobai[onnx]" (or pip install onnx)'


def to_onnx(net: Any, path: str | os.PathLike[str], *, dtype: Any = None) -> Path:
    """Write ``net`` as an ONNX model to ``path``.

    The model has one input, ``x``, of shape ``(N, *net.input_shape)`` with a dynamic batch
    size ``N`` (``(N, 784)`` for the MLPs, ``(N, 1, 28, 28)`` for the conv nets), and two
    outputs of shape ``(N, output_size)``: ``probabilities`` (as
    :meth:`~kobai.nets.Network.predict_proba`) and ``logits`` (as
    :meth:`~kobai.nets.Network.predict`, before the softmax). Opset :data:`OPSET`, IR version
    :data:`IR_VERSION`; the file's metadata holds the kobai version and the network's class.

    Parameters
    ----------
    net : Network
        Any kobai network :func:`~kobai.export.graph.inference_graph` knows.
    path : str or path-like
        The file to write (conventionally ``.onnx``), in a folder that exists. It is replaced
        only once the model is built and checked: on any error nothing is written, and a file
        already there keeps its bytes.
    dtype : float32 or float64, optional
        Of the model's tensors; default the network's own. onnxruntime (1.32) has no float64
        ``Conv`` kernel, so a float64 conv net gives a valid model (``onnx.checker`` passes)
        that onnxruntime refuses to run (NOT_IMPLEMENTED): export it with
        ``dtype=np.float32`` to run it there. Float64 MLPs run in float64.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ExportError
        ``net`` is not a network or has a layer the exporters do not know, or NaN or
        infinite parameters (see :func:`~kobai.export.graph.inference_graph`); ``path`` is a
        folder or its folder does not exist.
    ImportError
        The ``onnx`` package is missing: ``pip install "kobai[onnx]"``.

    Examples
    --------
    >>> to_onnx(net, "net.onnx")  # doctest: +SKIP
    >>> import onnxruntime as ort  # doctest: +SKIP
    >>> p, logits = ort.InferenceSession("net.onnx").run(None, {"x": x_test[:5]})  # doctest: +SKIP
    """
    try:
        import onnx
    except ImportError:
        raise ImportError(_NO_ONNX, name="onnx") from None
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"cannot write the ONNX model to {path}: it is a folder; give a "
                          f"file in it, e.g. {path / 'net.onnx'}")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist "
                          "(create it first)")
    model = _model(inference_graph(net, dtype))
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    with atomic_write(path) as fh:
        fh.write(data)
    return path


def _model(graph: Graph) -> Any:
    """The ``onnx.ModelProto`` of ``graph``."""
    from onnx import TensorProto, helper

    from .. import __version__

    elem = TensorProto.DOUBLE if graph.dtype == np.float64 else TensorProto.FLOAT
    nodes: list[Any] = []
    inits: list[Any] = []
    infos: list[Any] = []
    name = "x"
    for step in graph.steps:
        before = len(nodes)
        name = _write_step(step, name, graph.dtype, nodes, inits)
        if len(nodes) > before:  # the shape of each step's output, which the checker checks
            infos.append(helper.make_tensor_value_info(name, elem, ["N", *step.out_shape]))
    if name == "x":  # nothing but inverted dropouts: the logits are the input
        nodes.append(helper.make_node("Identity", ["x"], ["logits"], name="logits"))
    else:
        nodes[-1].output[0] = "logits"
        infos = [info for info in infos if info.name != name]
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1,
                                  name="softmax"))
    classes: list[str | int] = ["N", graph.output_size]
    doc = (f"{graph.network} exported by kobai {__version__}: input x of shape "
           f"(N, {', '.join(map(str, graph.input_shape))}); outputs probabilities "
           "(softmax of the logits, as predict_proba) and logits, of shape "
           f"(N, {graph.output_size})")
    onnx_graph = helper.make_graph(
        nodes, graph.network,
        inputs=[helper.make_tensor_value_info("x", elem, ["N", *graph.input_shape])],
        outputs=[helper.make_tensor_value_info("probabilities", elem, classes),
                 helper.make_tensor_value_info("logits", elem, classes)],
        initializer=inits, value_info=infos, doc_string=doc)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="kobai",
                              producer_version=__version__, doc_string=doc)
    helper.set_model_props(model, {"kobai_version": __version__, "network": graph.network,
                                   "dtype": str(graph.dtype)})
    return model


def _write_step(step: Step, x: str, dtype: np.dtype, nodes: list[Any],
                inits: list[Any]) -> str:
    """Append the nodes and initializers of ``step`` applied to tensor ``x``; the name of its
    output (``x`` itself for a step that computes nothing)."""
    from onnx import helper, numpy_helper

    def init(key: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), f"{step.name}.{key}"))
        return f"{step.name}.{key}"

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    name, arrays, attrs = step.name, step.arrays, step.attrs
    if step.op == "flatten":
        return node("Flatten", [x], name, axis=1)
    if step.op == "linear":
        return node("Gemm", [x, init("W", arrays["W"]), init("b", arrays["b"])], name)
    if step.op == "conv":
        W = arrays["W"]
        pad, stride = attrs["pad"], attrs["stride"]
        return node("Conv", [x, init("W", W), init("b", arrays["b"])], name,
                    kernel_shape=list(W.shape[2:]), strides=[stride, stride],
                    pads=[pad] * 4)
    if step.op == "maxpool":
        pad, stride = attrs["pad"], attrs["stride"]
        return node("MaxPool", [x], name, kernel_shape=[attrs["pool_h"], attrs["pool_w"]],
                    strides=[stride, stride], pads=[pad] * 4)
    if step.op in ("relu", "sigmoid", "tanh"):
        return node(step.op.capitalize(), [x], name)
    if step.op == "batchnorm":
        # (x - mean) / std * gamma + beta, in the layer's order, std = sqrt(var + eps) as given
        x = node("Sub", [x, init("mean", arrays["mean"])], f"{name}.centered")
        x = node("Div", [x, init("std", arrays["std"])], f"{name}.normalized")
        x = node("Mul", [x, init("gamma", arrays["gamma"])], f"{name}.scaled")
        return node("Add", [x, init("beta", arrays["beta"])], name)
    if step.op == "dropout":
        if attrs["inverted"]:
            return x
        # x * (1.0 - ratio), the scalar rounded to the dtype as NumPy does for the layer
        keep = np.array(1.0 - attrs["ratio"], dtype=dtype)
        return node("Mul", [x, init("keep", keep)], name)
    raise ExportError(f"the ONNX exporter cannot write step {name!r} (op {step.op!r}); it "
                      "writes flatten, linear, conv, maxpool, relu, sigmoid, tanh, batchnorm "
                      "and dropout")
