"""``kobai export``: each format from a run folder, the pretrained net and the book's pickles,
and every refusal as one line that leaves nothing written."""

import numpy as np
import pytest
from conftest import DLFS, needs_shared, one_line, require, run

from kobai.io import load


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_safetensors_of_a_run_folder_goes_beside_its_model_and_loads_back(capsys, relu_run):
    status, out, err = run(capsys, "export", relu_run, "--to", "safetensors")
    assert status == 0, err
    path = relu_run / "model.safetensors"
    assert f"wrote {path}" in out
    net, back = load(relu_run / "model.npz").net, load(path).net
    x = np.random.default_rng(0).random((5, 784)).astype(net.dtype)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))


def test_an_existing_file_is_refused_without_force_and_replaced_with_it(capsys, tmp_path,
                                                                          relu_run):
    out = tmp_path / "net.safetensors"
    out.write_bytes(b"earlier")
    status, _, err = run(capsys, "export", relu_run, "--to", "safetensors", "--out", out)
    assert status == 2
    assert "already exists" in one_line(err) and "--force" in err
    assert out.read_bytes() == b"earlier"
    status, _, err = run(capsys, "export", relu_run, "--to", "safetensors", "--out", out,
                         "--force")
    assert status == 0, err
    assert load(out).net.params.keys() == load(relu_run / "model.npz").net.params.keys()


@pytest.mark.parametrize("case", ["folder-out", "missing-folder", "no-model", "unknown-format",
                                  "run-without-model", "torch-py-out", "two-models"])
def test_bad_arguments_are_one_line_and_write_nothing(capsys, tmp_path, relu_run, case):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = {
        "folder-out": [relu_run, "--to", "onnx", "--out", empty],
        "missing-folder": [relu_run, "--to", "html", "--out", tmp_path / "no" / "m.html"],
        "no-model": ["--to", "onnx"],
        "unknown-format": [relu_run, "--to", "tflite"],
        "run-without-model": [empty, "--to", "safetensors"],
        "torch-py-out": [relu_run, "--to", "torch", "--out", tmp_path / "m.py"],
        "two-models": [relu_run, "--pretrained", "--to", "onnx"],
    }[case]
    before = _files(relu_run)
    status, _, err = run(capsys, "export", *argv)
    line = one_line(err)
    assert status == 2
    expected = {"folder-out": "is a folder", "missing-folder": "does not exist",
                "no-model": "give the model to export", "unknown-format": "invalid choice",
                "run-without-model": "without a model.npz", "torch-py-out": "suffix .py",
                "two-models": "give one model"}[case]
    assert expected in line
    assert _files(relu_run) == before
    assert _files(tmp_path) == ["empty"] and _files(empty) == []


def test_a_checkpoint_holding_nan_is_refused_and_nothing_written(capsys, tmp_path, relu_run):
    from kobai.io import save

    checkpoint = load(relu_run / "model.npz")
    checkpoint.net.params["W1"][3, 4] = np.nan
    save(checkpoint.net, tmp_path / "model.npz")
    for fmt in ("safetensors", "html"):
        status, _, err = run(capsys, "export", tmp_path / "model.npz", "--to", fmt)
        assert status == 2
        line = one_line(err)
        assert f"cannot load {tmp_path / 'model.npz'}: its parameters" in line
        assert "W1" in line and "finite" in line
    assert _files(tmp_path) == ["model.npz"]


def test_onnx_of_the_pretrained_net_predicts_as_kobai(capsys, tmp_path, monkeypatch):
    ort = require("onnxruntime")
    require("onnx")
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "export", "--pretrained", "--to", "onnx")
    assert status == 0, err
    assert "wrote deep_convnet.onnx" in out
    from conftest import mnist_digit

    from kobai import pretrained

    net = load(pretrained.path()).net
    x = np.stack([mnist_digit(d) for d in range(10)]).reshape(10, 1, 28, 28)
    x = (x / 255.0).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "deep_convnet.onnx"),
                                   providers=["CPUExecutionProvider"])
    probabilities = session.run(["probabilities"], {"x": x})[0]
    np.testing.assert_allclose(probabilities, net.predict_proba(x), atol=1e-5)
    assert list(probabilities.argmax(axis=1)) == list(range(10))


def test_torch_export_writes_the_state_dict_and_prints_the_python_that_rebuilds_it(
        capsys, tmp_path, relu_run):
    torch = require("torch")
    out = tmp_path / "net.pt"
    status, printed, err = run(capsys, "export", relu_run, "--to", "torch", "--out", out)
    assert status == 0, err
    source = (tmp_path / "net.py").read_text(encoding="utf-8")
    assert source.strip() in printed
    state = torch.load(out, weights_only=True)
    net = load(relu_run / "model.npz").net
    np.testing.assert_array_equal(state[next(iter(state))].numpy(), net.params["W1"].T)


def test_html_of_a_run_names_its_page(capsys, relu_run, tmp_path):
    out = tmp_path / "draw.html"
    status, printed, err = run(capsys, "export", relu_run, "--to", "html", "--out", out)
    assert status == 0, err
    assert out.as_uri() in printed
    text = out.read_text(encoding="utf-8")
    assert "<canvas" in text and "http://" not in text.replace("http://www.w3.org", "")


@needs_shared(DLFS / "ch03" / "sample_weight.pkl")
def test_the_books_pickle_exports_with_its_network(capsys, tmp_path):
    out = tmp_path / "sample_weight.safetensors"
    status, _, err = run(capsys, "export", "--params", DLFS / "ch03" / "sample_weight.pkl",
                         "--net", "mlp", "--hidden", "50", "100", "--activation", "sigmoid",
                         "--to", "safetensors", "--out", out)
    assert status == 0, err
    net = load(out).net
    assert [p.shape for p in net.params.values()] == [(784, 50), (50,), (50, 100), (100,),
                                                      (100, 10), (10,)]


def test_the_page_of_a_fashion_mnist_model_shows_its_class_names(tmp_path, relu_run):
    from kobai.datasets import CLASS_NAMES
    from kobai.export import FORMATS

    net = load(relu_run / "model.npz").net
    [page] = FORMATS["html"].write(net, tmp_path / "f.html", dtype=None,
                                   data={"source": "fashion-mnist"})
    text = page.read_text(encoding="utf-8")
    assert all(name in text for name in CLASS_NAMES["fashion-mnist"])
    [digits] = FORMATS["html"].write(net, tmp_path / "d.html", dtype=None, data=None)
    assert "Ankle boot" not in digits.read_text(encoding="utf-8")
