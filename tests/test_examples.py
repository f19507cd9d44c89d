"""The scripts in examples/ run on the bundled sample and print what the book's print."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ch04_gradient_simplenet_prints_the_seed_gradient(tmp_path):
    out = run_example("ch04_gradient_simplenet.py", tmp_path)
    assert "[[ 0.07838251  0.25642842 -0.33481093]" in out
    assert "0.81648668" in out


def test_ch05_gradient_check(tmp_path):
    out = run_example("ch05_gradient_check.py", tmp_path)
    assert "W1:" in out and "PASSED" in out


def test_ch05_train_neuralnet(tmp_path):
    out = run_example("ch05_train_neuralnet.py", tmp_path)
    test_acc = float(out.strip().splitlines()[-1].split("test acc ")[1])
    assert test_acc > 0.85


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ch04_train_neuralnet.py", "ch06_optimizer_compare.py"])
def test_slower_examples(name, tmp_path):
    assert run_example(name, tmp_path)
