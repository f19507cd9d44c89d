"""The scripts in examples/ run on the bundled sample and print what the book's print."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_DW, SEED_LOSS, SEED_P, SEED_W, require

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NUMBER = r"[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?"


def run_example(name, tmp_path, *args):
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def numbers(text):
    """Every number in printed text (e.g. a NumPy array), as a float64 array."""
    return np.array(re.findall(NUMBER, text), dtype=np.float64)


def test_ch04_gradient_simplenet_prints_the_seed_numbers(tmp_path):
    lines = run_example("ch04_gradient_simplenet.py", tmp_path).splitlines()
    assert len(lines) == 7  # net.W, p, argmax(p), the loss and dW; the arrays take 2, 1, 2 lines
    np.testing.assert_allclose(numbers("".join(lines[0:2])).reshape(2, 3), SEED_W, atol=5e-9)
    np.testing.assert_allclose(numbers(lines[2]), SEED_P, atol=1e-7)
    assert lines[3] == "2"
    assert abs(float(lines[4]) - SEED_LOSS) < 5e-8  # the tolerances of test_seed_golden.py
    np.testing.assert_allclose(numbers("".join(lines[5:7])).reshape(2, 3), SEED_DW, atol=1e-6)


def test_ch05_gradient_check_prints_tiny_differences_and_a_passing_report(tmp_path):
    lines = run_example("ch05_gradient_check.py", tmp_path).splitlines()
    # The book's printout: the mean |backprop - numerical| per parameter, about 1e-10 or less.
    diffs = [re.fullmatch(rf"(\w+):({NUMBER})", line) for line in lines[:4]]
    assert [m[1] for m in diffs] == ["W1", "b1", "W2", "b2"], lines[:4]
    for m in diffs:
        assert 0 <= float(m[2]) < 1e-9, m[0]
    # kobai's table: one PASS row per parameter, every element of 784-50-10 checked.
    rows = [re.match(r"(\w+) +\(([\d, ]+)\) +(\d+) .* (\w+)$", line) for line in lines[4:]]
    assert [m.groups() for m in rows if m] == [
        ("W1", "784, 50", "39200", "PASS"), ("b1", "50,", "50", "PASS"),
        ("W2", "50, 10", "500", "PASS"), ("b2", "10,", "10", "PASS")]
    assert any(line.startswith("PASSED: 4 arrays, 39760 elements") for line in lines)


def test_ch05_train_neuralnet_prints_the_epoch_table_and_final_accuracy(tmp_path):
    lines = run_example("ch05_train_neuralnet.py", tmp_path).splitlines()
    assert lines[0].split() == ["epoch", "train", "loss", "test", "loss", "train", "acc",
                                "test", "acc", "seconds"]
    table = [line.split() for line in lines[1:-1]]
    assert [row[0] for row in table] == [str(epoch) for epoch in range(1, 21)]
    final = re.fullmatch(r"train acc (\d\.\d{4}), test acc (\d\.\d{4})", lines[-1])
    assert final is not None, lines[-1]
    assert (final[1], final[2]) == (table[-1][3], table[-1][4])  # the last epoch's row
    assert float(final[1]) > 0.9 and float(final[2]) > 0.9
    assert float(table[-1][1]) < float(table[0][1]) / 5  # train loss fell from about 2.2


def test_ch07_gradient_check_prints_the_books_lines_and_a_passing_report(tmp_path):
    lines = run_example("ch07_gradient_check.py", tmp_path).splitlines()
    # The book's printout: "key mean|numerical - backprop|" for SimpleConvNet's six arrays.
    diffs = [line.split() for line in lines[:6]]
    assert [d[0] for d in diffs] == ["W1", "b1", "W2", "b2", "W3", "b3"], lines[:6]
    for d in diffs:
        assert 0 <= float(d[1]) < 1e-6, d  # h = 1e-4, as the book's numerical_gradient
    rows = [re.match(r"(\w+) +\(([\d, ]+)\) +(\d+) .* (\w+)$", line) for line in lines[6:]]
    assert [m.groups() for m in rows if m] == [
        ("W1", "10, 1, 3, 3", "90", "PASS"), ("b1", "10,", "10", "PASS"),
        ("W2", "160, 10", "1600", "PASS"), ("b2", "10,", "10", "PASS"),
        ("W3", "10, 10", "100", "PASS"), ("b3", "10,", "10", "PASS")]
    assert any(line.startswith("PASSED: 6 arrays, 1820 elements") for line in lines)


def test_ch07_train_convnet_quick_trains_saves_params_and_draws_the_filters(tmp_path):
    lines = run_example("ch07_train_convnet.py", tmp_path, "--quick").splitlines()
    table = [line.split() for line in lines[1:3]]
    assert [row[0] for row in table] == ["1", "2"]
    assert float(table[1][1]) < float(table[0][1])  # the training loss fell
    assert lines[3] == "Saved Network Parameters!"
    final = re.fullmatch(r"test acc (\d\.\d{4}) on 1000 test images", lines[4])
    assert final is not None and float(final[1]) > 0.3, lines[4]  # chance is 0.1
    for name in ("filters-before.png", "filters-after.png", "learning_curve.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    from kobai.nets import SimpleConvNet

    net = SimpleConvNet()  # the book's visualize_filter.py: load_params("params.pkl")
    net.load_params(tmp_path / "params.pkl")
    assert net.params["W1"].shape == (30, 1, 5, 5)


@pytest.mark.slow
def test_ch07_train_convnet_reaches_96_percent_on_the_sample(tmp_path):
    lines = run_example("ch07_train_convnet.py", tmp_path).splitlines()
    assert [line.split()[0] for line in lines[1:21]] == [str(e) for e in range(1, 21)]
    final = re.fullmatch(r"test acc (\d\.\d{4}) on 10000 test images", lines[-2])
    assert final is not None and float(final[1]) > 0.955, lines[-2]  # measured 0.9632


def test_ch08_misclassified_mnist_prints_the_books_lines_and_draws_them(tmp_path):
    lines = run_example("ch08_misclassified_mnist.py", tmp_path, "--quick").splitlines()
    assert lines[:2] == ["calculating test accuracy ... ", "test accuracy:0.993"]
    assert lines[2:4] == ["======= misclassified result =======",
                          "{view index: (label, inference), ...}"]
    pairs = json.loads(re.sub(r"(\d+):", r'"\1":', lines[4]).replace("(", "[").replace(")", "]"))
    assert list(pairs) == [str(i) for i in range(1, 8)]  # 7 of the first 1,000 are wrong
    assert all(label != inferred for label, inferred in pairs.values())
    assert lines[5] == "wrote misclassified_mnist.png"
    assert (tmp_path / "misclassified_mnist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_ch08_misclassified_mnist_on_all_test_images_is_the_books_0_9935(tmp_path):
    lines = run_example("ch08_misclassified_mnist.py", tmp_path).splitlines()
    assert lines[1] == "test accuracy:0.9935"
    assert lines[4].startswith("{1: (6, 0), 2: (3, 5), 3: (3, 5), 4: (8, 3),")


@pytest.mark.slow
def test_ch04_train_neuralnet_prints_rising_accuracies(tmp_path):
    lines = run_example("ch04_train_neuralnet.py", tmp_path).splitlines()
    progress = [re.fullmatch(r"iteration +(\d+): train acc (\d\.\d{4}), test acc (\d\.\d{4})",
                             line) for line in lines[:-1]]
    assert [int(m[1]) for m in progress] == list(range(0, 2000, 50))  # once per epoch
    assert float(progress[0][3]) < 0.2  # chance level before training
    final = re.fullmatch(r"final: train acc (\d\.\d{4}), test acc (\d\.\d{4})", lines[-1])
    assert final is not None, lines[-1]
    assert float(final[1]) > 0.9 and float(final[2]) > 0.88  # MNIST's test set: 0.897


@pytest.mark.slow
def test_ch06_optimizer_compare_sgd_is_slowest_and_writes_the_png(tmp_path):
    lines = run_example("ch06_optimizer_compare.py", tmp_path).splitlines()
    names = ["SGD", "Momentum", "AdaGrad", "Adam"]
    losses = {}
    for line in lines[:-1]:
        m = re.fullmatch(r"iteration (\d+): " + ", ".join(rf"{n} ({NUMBER})" for n in names),
                         line)
        assert m is not None, line
        losses[int(m[1])] = dict(zip(names, map(float, m.groups()[1:]), strict=True))
    assert list(losses) == [0, 100, 200, 300, 400]
    assert all(loss > 1.5 for loss in losses[0].values())  # about ln 10 = 2.3 at the start
    last = losses[400]
    assert last["SGD"] < 1.0 and all(last[n] < min(0.2, last["SGD"]) for n in names[1:])
    assert lines[-1] == "wrote optimizer_compare.png"
    assert (tmp_path / "optimizer_compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_readme_own_layer_example_trains_checks_and_saves(tmp_path):
    """The README's "Your own layer" code, run as it is printed there."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your own layer"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "PASSED: 4 arrays" in done.stdout
    final = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("5 ")]
    assert final and float(final[-1][4]) > 0.9  # test accuracy after epoch 5
    # the figure the README prints beside it is the one the code gives (to rounding: BLAS)
    claimed = float(re.search(r"# test acc (\d\.\d+)", code).group(1))
    assert abs(float(final[-1][4]) - claimed) <= 0.002, (final[-1], claimed)
    assert (tmp_path / "square.npz").is_file()


# A network method that, at its first call, prints the BLAS thread counts in force and stops.
BLAS_PROBE = """
import json, runpy, sys
import threadpoolctl
import kobai.nets

def probe(self, *args, **kwargs):
    info = threadpoolctl.threadpool_info()
    print("BLAS threads:", json.dumps(sorted({i["num_threads"] for i in info
                                              if i["user_api"] == "blas"})))
    raise SystemExit(0)

setattr(getattr(kobai.nets, sys.argv[2]), sys.argv[3], probe)
runpy.run_path(sys.argv[1], run_name="__main__")
"""


@pytest.mark.parametrize("name, net_class, method", [
    ("ch04_train_neuralnet.py", "TwoLayerNet", "gradient"),
    ("ch05_gradient_check.py", "TwoLayerNet", "numerical_gradient"),
])
def test_examples_written_out_train_under_the_trainers_blas_thread_policy(tmp_path, name,
                                                                          net_class, method):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", BLAS_PROBE, str(EXAMPLES / name), net_class,
                           method], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("BLAS threads:"))
    # the policy (kobai.auto_blas_threads): 784x50 products at batch 100 or 3 are small
    assert json.loads(line.split(":", 1)[1]) == [1]


def test_blas_threads_is_public_with_the_trainers_policy():
    import threadpoolctl

    import kobai
    from kobai.nets import TwoLayerNet

    with kobai.blas_threads(1):
        inside = {i["num_threads"] for i in threadpoolctl.threadpool_info()
                  if i["user_api"] == "blas"}
    assert inside <= {1}
    assert kobai.auto_blas_threads(TwoLayerNet(784, 50, 10).params.values(), 100) == 1
    assert kobai.auto_blas_threads(TwoLayerNet(784, 1000, 10).params.values(), 100) is None


# 11 s of Ray (test_tune_search.py runs real searches by default): kept out of the default run,
# which stays under 5 minutes on 2 cores
@pytest.mark.slow
def test_ch06_hyperparameter_optimization_runs_the_books_search_on_ray(tmp_path):
    out = run_example("ch06_hyperparameter_optimization.py", tmp_path, "--trials", "3",
                      "--epochs", "2", "--cpus", "2", "--out", "search")
    lines = [line for line in out.splitlines() if line.startswith("Best-")]
    assert [line.split("(")[0] for line in lines] == ["Best-1", "Best-2", "Best-3"]
    accs = [float(re.search(r"val acc:([0-9.]+)\)", line).group(1)) for line in lines]
    assert accs == sorted(accs, reverse=True)
    for line in lines:
        lr, wd = map(float, re.search(r"lr:(\S+), weight decay:(\S+)", line).groups())
        assert 1e-6 <= lr <= 1e-2 and 1e-8 <= wd <= 1e-4
    assert (tmp_path / "search" / "tune.png").is_file()
    assert (tmp_path / "search" / "model.npz").is_file()


def test_check_numpy_backward_names_the_missing_mean(tmp_path):
    text = run_example("check_numpy_backward.py", tmp_path)
    assert re.search(r"^x +\(32, 10\) +320 .* 320 +FAIL$", text, re.MULTILINE), text
    assert "a missing mean (divide by the batch size)" in text and "N = 32" in text


def test_check_torch_backward_names_the_wrong_layer(tmp_path):
    require("torch")
    text = run_example("check_torch_backward.py", tmp_path)
    assert re.search(r"^2\.weight .* PASS$", text, re.MULTILINE), text
    assert re.search(r"^0\.weight .* FAIL$", text, re.MULTILINE), text
    assert "layer 2 (1, Swish): grad of the input wrong" in text
    assert "float32 backprop, float64 numerical" in text


def test_check_jax_backward_names_the_transposed_weight_gradient(tmp_path):
    require("jax")
    text = run_example("check_jax_backward.py", tmp_path)
    assert re.search(r"^x +\(32, 16\) .* PASS$", text, re.MULTILINE), text
    assert re.search(r"^W +\(16, 16\) .* FAIL$", text, re.MULTILINE), text
    assert "hint: backprop gradient is the transpose of the numerical one" in text
