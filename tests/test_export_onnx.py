"""kobai.export.to_onnx: onnxruntime gives kobai's probabilities for every kind of network, for
any batch size, and an export that fails writes nothing.

onnxruntime is the oracle (nobody here wrote it); ``export_nets`` gives the trained networks
and MNIST's test images. One session per network, built once per module.
"""

import copy
import sys

import numpy as np
import pytest
from conftest import DLFS, needs_shared, require
from export_nets import BOOK_FILES, book_nets, trained_nets
from export_nets import test_images as mnist_test_images

import kobai
from kobai.export import ExportError, to_onnx
from kobai.export.onnx_model import IR_VERSION, OPSET
from kobai.layers import Affine, Convolution, Dropout, Flatten, Layer, Pooling, Relu
from kobai.nets import Network

onnx = require("onnx")  # skipped without onnx / onnxruntime, except on CI (CI=true)
ort = require("onnxruntime")

#: the kinds of trained_nets(), written out so that collecting this file trains nothing
KINDS = ["two-layer", "mlp-relu-bn-dropout", "mlp-sigmoid", "mlp-tanh-bn", "simple-convnet",
         "generic", "deep-convnet"]
BOOK_KINDS = [pytest.param(kind, marks=needs_shared(DLFS / name))
              for kind, (name, _) in BOOK_FILES.items()]


class Exported:
    """A network, its .onnx file and an onnxruntime session of it."""

    def __init__(self, net, path):
        self.net, self.path = net, path
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(self, x):
        """(probabilities, logits) from onnxruntime."""
        return self.session.run(["probabilities", "logits"], {"x": x})


def _exporter(tmp_path_factory, load_nets):
    """kind -> Exported, each network loaded (``load_nets()``, once) and exported on first
    use."""
    folder = tmp_path_factory.mktemp("onnx")
    nets, cache = {}, {}

    def export(kind):
        if kind not in cache:
            nets.update(nets or load_nets())
            cache[kind] = Exported(nets[kind], to_onnx(nets[kind], folder / f"{kind}.onnx"))
        return cache[kind]

    return export


@pytest.fixture(scope="module")
def trained():
    """kind -> trained network, shared by the module: copy one before changing it."""
    return trained_nets()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trained):
    """kind -> Exported, each exported once."""
    return _exporter(tmp_path_factory, lambda: trained)


@pytest.fixture(scope="module")
def exported_book(tmp_path_factory):
    """kind -> Exported of the book's trained weights."""
    return _exporter(tmp_path_factory, book_nets)


def images(net, n):
    """The first ``n`` test images in ``net``'s input shape, and their labels."""
    x, t = mnist_test_images(n)
    return x.reshape(-1, *net.input_shape), t


def assert_matches_kobai(exported, x, atol=1e-5):
    """onnxruntime's probabilities within ``atol`` of predict_proba, logits close, and the
    same predicted classes."""
    p, logits = exported.run(x)
    expected = exported.net.predict_proba(x)
    np.testing.assert_allclose(p, expected, rtol=0, atol=atol)
    np.testing.assert_allclose(logits, Network.predict(exported.net, x), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(p.argmax(axis=1), expected.argmax(axis=1))


# -- parity ------------------------------------------------------------------------------------

def test_kinds_are_every_trained_net(trained):
    assert sorted(trained) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_onnxruntime_gives_kobais_probabilities(exported, kind):
    net = exported(kind).net
    assert_matches_kobai(exported(kind), images(net, 1000)[0])


@pytest.mark.parametrize("kind", BOOK_KINDS)
def test_onnxruntime_gives_kobais_probabilities_for_the_books_weights(exported_book, kind):
    net = exported_book(kind).net
    assert_matches_kobai(exported_book(kind), images(net, 1000)[0])


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_onnxruntime_gives_kobais_probabilities_on_all_test_images(exported, kind):
    net = exported(kind).net
    assert_matches_kobai(exported(kind), images(net, 10_000)[0])


@pytest.mark.slow
@pytest.mark.parametrize("kind", BOOK_KINDS)
def test_onnxruntime_gives_the_books_probabilities_on_all_test_images(exported_book, kind):
    net = exported_book(kind).net
    assert_matches_kobai(exported_book(kind), images(net, 10_000)[0])


def test_dropout_of_the_book_scales_by_the_kept_fraction(trained, tmp_path):
    net = copy.deepcopy(trained["mlp-relu-bn-dropout"])  # the others share `trained`
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            layer.inverted = False  # evaluation is x * (1 - ratio), ratio 0.2
    e = Exported(net, to_onnx(net, tmp_path / "net.onnx"))
    assert_matches_kobai(e, images(net, 1000)[0])
    keep = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(e.path).graph.initializer}
    assert keep["Dropout1.keep"] == np.float32(0.8)


def test_padded_max_pooling_never_takes_the_padding(tmp_path):
    # every pooled value is negative, so a pad taken as 0 would win at the borders
    rng = np.random.default_rng(1)
    net = Network([Convolution(rng.standard_normal((2, 1, 3, 3)), np.full(2, -20.0)),
                   Pooling(3, 3, stride=2, pad=1), Flatten(),
                   Affine(rng.standard_normal((2 * 4 * 4, 3)), np.zeros(3))],
                  input_shape=(1, 9, 9)).astype(np.float32)
    x = rng.random((5, 1, 9, 9)).astype(np.float32)
    assert_matches_kobai(Exported(net, to_onnx(net, tmp_path / "net.onnx")), x)


# -- the model's interface -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["two-layer", "simple-convnet"])
def test_one_session_takes_any_batch_size(exported, kind):
    e = exported(kind)
    x = images(e.net, 1000)[0]
    for n in (1, 7, 1000):
        p, logits = e.run(x[:n])
        assert p.shape == logits.shape == (n, 10)
        np.testing.assert_allclose(p, e.net.predict_proba(x[:n]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind, shape", [("two-layer", ["N", 784]),
                                          ("deep-convnet", ["N", 1, 28, 28])])
def test_input_is_x_in_the_networks_layout_with_a_dynamic_batch(exported, kind, shape):
    session = exported(kind).session
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [
        ("x", shape, "tensor(float)")]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [
        ("probabilities", ["N", 10]), ("logits", ["N", 10])]


@pytest.mark.parametrize("kind", KINDS)
def test_every_tensor_has_the_batch_dimension_n(exported, kind):
    # shape inference from the input alone: a batch size written anywhere would show here
    model = onnx.shape_inference.infer_shapes(onnx.load(exported(kind).path), strict_mode=True)
    tensors = [*model.graph.value_info, *model.graph.output]
    assert len(tensors) > 2
    for tensor in tensors:
        assert tensor.type.tensor_type.shape.dim[0].dim_param == "N", tensor.name


def test_opset_and_ir_version_are_pinned(exported):
    model = onnx.load(exported("two-layer").path)
    assert (OPSET, IR_VERSION) == (17, 8)
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]


def test_metadata_names_kobai_and_the_network(exported):
    model = onnx.load(exported("deep-convnet").path)
    assert {p.key: p.value for p in model.metadata_props} == {
        "kobai_version": kobai.__version__, "network": "DeepConvNet", "dtype": "float32"}
    assert model.producer_name == "kobai"
    assert "DeepConvNet" in model.doc_string


def test_batch_norm_is_per_element_and_arrays_are_named_after_layers(exported):
    graph = onnx.load(exported("mlp-relu-bn-dropout").path).graph
    arrays = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    assert sorted(arrays) == sorted([f"Affine{i}.{k}" for i in (1, 2, 3) for k in "Wb"]
                                    + [f"BatchNorm{i}.{k}" for i in (1, 2)
                                       for k in ("mean", "std", "gamma", "beta")])
    assert arrays["BatchNorm1.std"].shape == (64,)
    ops = [node.op_type for node in graph.node]
    assert "BatchNormalization" not in ops and "Dropout" not in ops
    assert ops[:6] == ["Gemm", "Sub", "Div", "Mul", "Add", "Relu"]


def test_conv_net_is_conv_pool_flatten_gemm(exported):
    graph = onnx.load(exported("simple-convnet").path).graph
    assert [node.op_type for node in graph.node] == [
        "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm", "Softmax"]


# -- dtypes --------------------------------------------------------------------------------------

def test_float64_mlp_runs_in_float64(trained, tmp_path):
    net = trained["mlp-relu-bn-dropout"].astype(np.float64)
    e = Exported(net, to_onnx(net, tmp_path / "net.onnx"))
    x = images(net, 1000)[0].astype(np.float64)
    p, logits = e.run(x)
    assert p.dtype == logits.dtype == np.float64
    np.testing.assert_allclose(p, net.predict_proba(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(logits, Network.predict(net, x), rtol=1e-12, atol=1e-12)


def test_float64_conv_net_is_a_valid_float64_model(trained, tmp_path):
    # onnxruntime 1.32 has no float64 Conv kernel, so the checker is the oracle here
    net = trained["generic"].astype(np.float64)
    model = onnx.load(to_onnx(net, tmp_path / "net.onnx"))
    onnx.checker.check_model(model, full_check=True)
    double = onnx.TensorProto.DOUBLE
    assert model.graph.input[0].type.tensor_type.elem_type == double
    assert {t.data_type for t in model.graph.initializer} == {double}


def test_dtype_float32_converts_a_float64_net(trained, tmp_path):
    net = trained["simple-convnet"].astype(np.float64)
    e = Exported(net, to_onnx(net, tmp_path / "net.onnx", dtype=np.float32))
    x = images(net, 1000)[0]
    p, _ = e.run(x)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, net.predict_proba(x.astype(np.float64)), rtol=0, atol=1e-5)


# -- what cannot be exported writes nothing ----------------------------------------------------

class MyRelu(Relu):
    pass


class Twice(Layer):
    def forward(self, x, *, train=True):
        return 2 * x

    def backward(self, dout):
        return 2 * dout


def _mlp(middle):
    rng = np.random.default_rng(0)
    return Network([Affine(rng.standard_normal((4, 5)), np.zeros(5)), middle,
                    Affine(rng.standard_normal((5, 3)), np.zeros(3))])


@pytest.mark.parametrize("layer, name", [(MyRelu(), "MyRelu1"), (Twice(), "Twice1")])
def test_unknown_layer_is_refused_by_name_and_nothing_written(tmp_path, layer, name):
    with pytest.raises(ExportError, match=f"layer '{name}'"):
        to_onnx(_mlp(layer), tmp_path / "net.onnx")
    assert list(tmp_path.iterdir()) == []


def test_nan_parameter_is_refused_and_nothing_written(tmp_path):
    net = _mlp(Relu())
    net.params["W2"][1, 2] = np.nan
    with pytest.raises(ExportError, match="W2 holds 1 NaN"):
        to_onnx(net, tmp_path / "net.onnx")
    assert list(tmp_path.iterdir()) == []


def test_failed_export_leaves_the_existing_file_intact(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"the old model")
    net = _mlp(Relu())
    net.params["b1"][0] = np.inf
    with pytest.raises(ExportError):
        to_onnx(net, path)
    assert path.read_bytes() == b"the old model"
    assert list(tmp_path.iterdir()) == [path]


def test_model_the_checker_refuses_is_not_written(tmp_path, monkeypatch):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"the old model")

    def refuse(model, full_check=False):
        raise onnx.checker.ValidationError("refused")

    monkeypatch.setattr(onnx.checker, "check_model", refuse)
    with pytest.raises(onnx.checker.ValidationError):
        to_onnx(_mlp(Relu()), path)
    assert path.read_bytes() == b"the old model"
    assert list(tmp_path.iterdir()) == [path]


def test_export_replaces_the_existing_file(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"the old model")
    assert to_onnx(_mlp(Relu()), str(path)) == path
    onnx.checker.check_model(onnx.load(path), full_check=True)
    assert list(tmp_path.iterdir()) == [path]


def test_missing_folder_is_one_line_and_creates_nothing(tmp_path):
    with pytest.raises(ExportError, match="the folder .*missing does not exist") as info:
        to_onnx(_mlp(Relu()), tmp_path / "missing" / "net.onnx")
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_path_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(ExportError, match="it is a folder"):
        to_onnx(_mlp(Relu()), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("obj", [object(), {"W1": np.zeros((4, 3))}])
def test_non_network_is_refused(tmp_path, obj):
    with pytest.raises(ExportError, match="expected a kobai network"):
        to_onnx(obj, tmp_path / "net.onnx")
    assert list(tmp_path.iterdir()) == []


def test_without_onnx_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    with pytest.raises(ImportError, match=r'pip install "kobai\[onnx\]"'):
        to_onnx(_mlp(Relu()), tmp_path / "net.onnx")
    assert list(tmp_path.iterdir()) == []
