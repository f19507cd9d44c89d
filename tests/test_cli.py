"""The kobai command: each subcommand end to end, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from kobai import __version__
from kobai.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_version_and_help_through_the_console_script():
    done = subprocess.run([sys.executable, "-m", "kobai.cli", "--version"], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == f"kobai {__version__}"
    done = subprocess.run([sys.executable, "-m", "kobai.cli", "--help"], capture_output=True,
                          text=True, check=True)
    for command in ("train", "evaluate", "predict", "simplenet", "gradcheck"):
        assert command in done.stdout


def test_simplenet_prints_the_seed_numbers(capsys):
    status, out, _ = run(capsys, "simplenet")
    assert status == 0
    assert "[-0.87361615  0.31163259  0.34522554]" in out
    assert "np.argmax(p) = 2" in out
    assert "net.loss(x, t) = 0.81648668" in out
    assert "[[ 0.07838251  0.25642842 -0.33481093]" in out
    assert "[ 0.11757377  0.38464263 -0.5022164 ]]" in out


def test_simplenet_with_weights_and_seed(capsys):
    status, out, _ = run(capsys, "simplenet", "--weights", "1,0,0;0,1,0")
    assert status == 0 and "np.argmax(p) = 1" in out
    status, out_a, _ = run(capsys, "simplenet", "--seed", "5")
    status, out_b, _ = run(capsys, "simplenet", "--seed", "5")
    assert status == 0 and out_a == out_b
    W = np.random.default_rng(5).standard_normal((2, 3))
    assert np.array2string(W) in out_a


@pytest.mark.parametrize("argv, message", [
    (["simplenet", "--weights", "1,2;3,4"], "2 rows of 3 numbers"),
    (["simplenet", "--weights", "a,b,c;d,e,f"], "6 numbers"),
    (["train", "--epochs", "-3"], "--epochs: expected a positive integer, got -3"),
    (["train", "--epochs", "many"], "--epochs: expected a positive integer"),
    (["train", "--lr", "0"], "--lr: expected a positive number"),
    (["train", "--optimizer", "adamw"], "invalid choice: 'adamw'"),
    (["train", "--dropout", "1.5"], "--dropout: expected a ratio in [0, 1)"),
    (["train", "--batchnorm", "--no-progress"], "--batchnorm need --net mlp"),
    (["train", "--hidden", "10", "10"], "--net two-layer has one hidden layer"),
    (["nonsense"], "invalid choice: 'nonsense'"),
])
def test_bad_arguments_get_one_line_and_status_2(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
