"""``kobai tune``: real Ray Tune searches, on a local instance and on a cluster started here.

Each search runs ``kobai tune`` as a user would, in a subprocess (Ray's processes, signal
handlers and environment stay out of pytest's), on a few hundred images for one or two
epochs. Servers are on 127.0.0.1 only and stopped by their own PID.

The searches that need only *a* Ray join one head started for the module (the ``cluster``
fixture, ``--address``): starting a local instance costs each search seconds. The
interrupted search starts its own local instance (``--cpus``), as a user's first search
does, so that path stays tested here.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from threading import Thread

import numpy as np
import pytest

from kobai.datasets import load_mnist
from kobai.datasets.split import validation_split
from kobai.io import load
from kobai.tune.records import COMPLETED, DIVERGED, ERROR, STOPPED, UNFINISHED
from kobai.tune.report import read_results_csv
from kobai.tune.trial import TrialData, run_trial

# Ray on loopback only (read by Ray at import, by the driver and the processes it starts);
# a cluster's client also needs the head's token, or the head started without one
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
SMALL = ["--train-size", "500", "--hidden", "20x2", "--no-progress"]


def kobai_tune(*args, cwd, timeout=600, env=None):
    """``kobai tune ARGS`` in ``cwd``; the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, "-m", "kobai", "tune", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **RAY_ENV, **(env or {})})


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a cluster: `ray start --head` on this machine ---------------------------------------------

@contextmanager
def ray_head(tmp_path, cpus=2, env=RAY_ENV):
    """A Ray head on 127.0.0.1 with ``cpus`` CPUs, started with ``ray start --block`` (in
    ``os.environ`` updated with ``env``) and stopped by its PID: SIGTERM, then SIGKILL to its
    process group if it has not stopped in 60 s. Yields its address."""
    port = free_port()
    # short: Ray's Unix sockets live under it, and their paths are limited to ~107 bytes
    temp_dir = Path(tempfile.mkdtemp(prefix="kobai-ray-"))
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray) if ray.exists() else "ray", "start", "--head", "--port", str(port),
               "--num-cpus", str(cpus), "--include-dashboard=false", "--temp-dir",
               str(temp_dir), "--block"]
    log_path = tmp_path / f"ray-head-{port}.log"
    with log_path.open("w") as log:
        head = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, **env})
        try:
            deadline = time.monotonic() + 120
            while True:
                assert head.poll() is None, log_path.read_text()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the Ray head did not start in 120 s"
                    time.sleep(0.3)
            yield f"127.0.0.1:{port}"
        finally:
            head.send_signal(signal.SIGTERM)
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait()
            shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of one Ray head (2 CPUs) shared by this module's searches that only need
    a Ray; each joins it and leaves it as it found it (its jobs end with the search)."""
    with ray_head(tmp_path_factory.mktemp("ray-head")) as address:
        yield address


# -- a random search, run once for the tests below --------------------------------------------

@pytest.fixture(scope="module")
def search(tmp_path_factory, cluster):
    """Eight trials of two epochs of a batch-norm net, drawn from choices: a learning rate
    that trains and one that diverges; a batch size that trains and one that cannot (the
    last mini-batch of the 400 training images would hold one image)."""
    cwd = tmp_path_factory.mktemp("tune")
    run = kobai_tune("--trials", 8, "--epochs", 2, "--address", cluster, "--batchnorm",
                     "--lr", "0.05,1000", "--batch-size", "100,399", *SMALL,
                     "--out", "search", cwd=cwd)
    return cwd / "search", run


def test_a_search_writes_its_results_and_a_tested_model(search):
    out, run = search
    assert run.returncode == 0, run.stderr
    for name in ("search.json", "results.csv", "best.json", "model.npz", "tune.png"):
        assert (out / name).is_file(), name
    trials = read_results_csv(out / "results.csv")
    assert len(trials) == 8
    assert len({t.config["seed"] for t in trials}) == 8
    assert {t.config["lr"] for t in trials} <= {0.05, 1000}
    assert "best 8 of 8 trials" in run.stdout and "test accuracy" in run.stdout
    assert run.stderr == ""  # failed trials are reported in the table, not as tracebacks


def test_diverged_trials_are_results_not_errors(search):
    out, _ = search
    trials = read_results_csv(out / "results.csv")
    diverged = [t for t in trials if t.status == DIVERGED]
    assert diverged, "the seeded search drew no trial with lr 1000 and batch size 100"
    assert all(t.config["lr"] == 1000 and t.config["batch_size"] == 100 for t in diverged)
    assert all("loss" in t.error for t in diverged)


def test_rank_1_is_the_chosen_trial_and_the_saved_model_is_its_configuration(search):
    out, _ = search
    trials = read_results_csv(out / "results.csv")
    best = json.loads((out / "best.json").read_text())
    assert trials[0].trial_id == best["trial_id"] and trials[0].status == COMPLETED
    checkpoint = load(out / "model.npz")
    config = checkpoint.net.get_config()
    assert config["hidden_size_list"] == best["config"]["hidden"] == [20, 20]
    assert config["use_batchnorm"] is True
    assert checkpoint.optimizer.lr == best["config"]["lr"]
    assert checkpoint.data["batch_size"] == best["config"]["batch_size"]


def test_a_failed_trial_is_reported_and_the_search_goes_on(search):
    out, run = search
    trials = read_results_csv(out / "results.csv")
    failed = [t for t in trials if t.config["batch_size"] == 399]
    assert failed, "the seeded search drew no batch size 399"
    for trial in failed:
        assert trial.status == ERROR and trial.epochs == 0
        assert "needs at least 2 samples" in trial.error
        assert trial.trial_id in run.stdout
    assert all(t.status in (COMPLETED, DIVERGED) for t in trials
               if t.config["batch_size"] == 100)
    assert "error.txt" in run.stdout


def test_the_best_trial_is_chosen_on_validation_and_tested_once(search):
    out, _ = search
    trials = read_results_csv(out / "results.csv")
    best = json.loads((out / "best.json").read_text())
    completed = [t for t in trials if t.status == COMPLETED]
    top = max(completed, key=lambda t: t.final_acc)
    assert best["trial_id"] == top.trial_id
    assert best["final_val_acc"] == top.final_acc
    # the retrained model: all 500 training images, and the test figure is its accuracy
    checkpoint = load(out / "model.npz")
    assert checkpoint.data["n_train"] == 500
    _, (x_test, t_test) = load_mnist(dtype=np.float32)
    assert best["test_acc_after_retraining"] == pytest.approx(
        checkpoint.net.accuracy(x_test, t_test), abs=1e-12)


def test_trials_are_scored_on_a_stratified_split_of_the_training_data(search):
    """Rerunning the best trial's configuration on the documented split (the first 500
    training images, 20% held out by validation_split with the search's seed) gives the
    validation accuracies the search recorded: no test image is involved."""
    out, _ = search
    best = json.loads((out / "best.json").read_text())
    (x, t), _ = load_mnist(dtype=np.float32)
    x, t = x[:500], t[:500]
    train, val = validation_split(t, 0.2, rng=0)
    assert len(val) == 100
    reports = []
    run_trial(best["config"], TrialData(x[train], t[train], x[val], t[val]), epochs=2,
              report=reports.append)
    assert [r.val_acc for r in reports] == best["val_acc"]


def test_an_existing_search_is_not_overwritten(search):
    out, _ = search
    before = (out / "results.csv").read_bytes()
    run = kobai_tune("--trials", 1, "--epochs", 1, *SMALL, "--out", out.name, cwd=out.parent)
    assert run.returncode == 2
    assert "holds a search" in run.stderr and f"--resume {out.name}" in run.stderr
    assert (out / "results.csv").read_bytes() == before


def test_a_folder_holding_files_is_not_written_into(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "best.json").write_text("precious")
    run = kobai_tune("--trials", 1, "--epochs", 1, *SMALL, "--out", "mine", cwd=tmp_path)
    assert run.returncode == 2 and "not empty" in run.stderr
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["best.json"]
    assert (tmp_path / "mine" / "best.json").read_text() == "precious"


def test_resuming_a_finished_search_runs_and_rewrites_nothing(search):
    """--resume of a search whose trials all ran and whose best was retrained: nothing to
    run again, nothing rewritten."""
    out, _ = search
    before = {name: (out / name).read_bytes() for name in ("best.json", "model.npz")}
    run = kobai_tune("--resume", out.name, "--no-progress", cwd=out.parent)
    assert run.returncode == 0, run.stderr
    assert "nothing is left to do" in run.stdout and "retraining" not in run.stdout
    assert {name: (out / name).read_bytes() for name in before} == before


# -- ASHA, divergence ------------------------------------------------------------------------

def test_asha_stops_trailing_trials(tmp_path, cluster):
    # 12 trials: ASHA stops a trial only once three others have reported at its rung, and with
    # 8 the order the trials report in (timing) left it nothing to stop once in CI
    run = kobai_tune("--trials", 12, "--epochs", 3, "--address", cluster, "--scheduler", "asha",
                     "--grace-period", 1, "--lr", "1e-4,0.05,0.5,2000", *SMALL,
                     "--out", "asha", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    trials = read_results_csv(tmp_path / "asha" / "results.csv")
    statuses = {t.status for t in trials}
    assert STOPPED in statuses and COMPLETED in statuses
    assert all(t.epochs < 3 for t in trials if t.status == STOPPED)
    # ranked: the trials that ran every epoch first, so rank 1 is the choice
    assert trials[0].status == COMPLETED
    best = json.loads((tmp_path / "asha" / "best.json").read_text())
    assert best["status"] == COMPLETED and best["epochs_completed"] == 3


@pytest.mark.slow
def test_a_search_chooses_among_learning_rate_schedules(tmp_path, cluster):
    run = kobai_tune("--trials", 4, "--epochs", 2, "--address", cluster,
                     "--lr", "0.1", "--lr-schedule", "constant,step", *SMALL,
                     "--out", "schedules", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    trials = read_results_csv(tmp_path / "schedules" / "results.csv")
    assert {t.config["lr_schedule"] for t in trials} == {"constant", "step"}
    assert all(t.status == COMPLETED for t in trials)


# -- interrupted and resumed -----------------------------------------------------------------

def test_an_interrupted_search_resumes(tmp_path, cluster):
    """Ctrl-C once a trial has finished: the search (on a local instance of its own) stops
    with the others unfinished, says how to resume, and --resume (here on the cluster) runs
    the rest, keeping the finished trials as they were."""
    # six trials of ~2 s on two CPUs: when the first finishes, four have yet to; the
    # progress bar (on stderr) says when one has
    args = ["--trials", 6, "--epochs", 200, "--cpus", 2, "--lr", "1e-3:1e-1:log",
            "--train-size", 1000, "--hidden", "20x2", "--out", "long"]
    proc = subprocess.Popen([sys.executable, "-m", "kobai", "tune", *map(str, args)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **RAY_ENV},
                            # Ctrl-C as in a terminal, even where pytest runs with SIGINT
                            # ignored (a background job), which the child would inherit
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err = []
    reader = Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")),
                    daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not re.search(r"\b[1-5]/6\b", "".join(err)):
            assert proc.poll() is None, "".join(err)
            assert time.monotonic() < deadline, "no trial finished within 300 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
        stdout = proc.stdout.read()
        reader.join(timeout=10)
        stderr = "".join(err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stdout + stderr
    assert "kobai tune --resume long" in stdout
    first = read_results_csv(tmp_path / "long" / "results.csv")
    assert any(t.status == COMPLETED for t in first)
    assert len(first) < 6 or any(t.status == UNFINISHED for t in first)
    assert not (tmp_path / "long" / "best.json").exists()

    resumed = kobai_tune("--resume", "long", "--address", cluster, "--no-progress",
                         cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    trials = read_results_csv(tmp_path / "long" / "results.csv")
    assert len(trials) == 6 and all(t.status == COMPLETED and t.epochs == 200 for t in trials)
    done_before = {t.trial_id: t.val_acc for t in first if t.status == COMPLETED}
    for trial in trials:  # the trials finished before the interruption are kept as they were
        if trial.trial_id in done_before:
            assert trial.val_acc == done_before[trial.trial_id]
    assert (tmp_path / "long" / "best.json").is_file()


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("args, named", [
    (["--lr", "1e-2:1e-6:log"], "--lr"),
    (["--trials", "-1"], "--trials"),
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "1.5"], "--batch-size"),
    (["--momentum", "0.9"], "--momentum"),
    (["--net", "cnn", "--hidden", "100x6"], "--hidden"),
    (["--val-fraction", "1.5"], "--val-fraction"),
    (["--cpus", "2", "--address", "auto"], "--address"),
])
def test_a_malformed_search_is_refused_naming_the_option(tmp_path, args, named):
    run = kobai_tune(*args, "--no-progress", cwd=tmp_path, timeout=120)
    assert run.returncode == 2
    message = run.stderr.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("kobai: error:") and named in message[0]
    assert not (tmp_path / "runs").exists()


def test_an_unreachable_address_is_one_line_not_a_hang(tmp_path):
    port = free_port()  # nothing listens there
    run = kobai_tune("--address", f"127.0.0.1:{port}", *SMALL, cwd=tmp_path, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert f"127.0.0.1:{port}" in run.stderr and "ray start --head" in run.stderr
    assert not (tmp_path / "runs").exists()  # no run folder for a search that never started


def test_an_address_that_is_not_a_ray_cluster_is_refused(tmp_path):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        run = kobai_tune("--address", f"127.0.0.1:{server.server_port}", *SMALL, cwd=tmp_path,
                         timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 2
    assert "not as a Ray cluster" in run.stderr


def test_resume_refuses_a_folder_that_is_not_a_search(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.npz").write_bytes(b"not a search")
    run = kobai_tune("--resume", "other", cwd=tmp_path, timeout=120)
    assert run.returncode == 2 and "not a kobai tune run" in run.stderr


@pytest.mark.parametrize("option", [["--lr", "0.1"], ["--scheduler", "asha"], ["--seed", "5"],
                                    ["--dataset", "mnist"], ["--dtype", "float64"],
                                    ["--no-retrain"], ["--preset", "book"]])
def test_resume_refuses_options_that_would_change_the_search(tmp_path, option):
    run = kobai_tune("--resume", "anything", *option, cwd=tmp_path, timeout=120)
    assert run.returncode == 2 and option[0] in run.stderr and "own settings" in run.stderr


def test_a_failed_retraining_keeps_the_choice(tmp_path, cluster):
    """The trials train their 400 images in one batch (of up to 499); retraining on all 500
    leaves a last batch of one image, which batch norm refuses.
    The search's choice stays in best.json, and --resume (without Ray: every trial ran)
    tries the retraining again."""
    run = kobai_tune("--trials", 2, "--epochs", 1, "--address", cluster, "--batchnorm",
                     "--batch-size", 499, "--lr", "0.01:0.1", *SMALL, "--out", "bn",
                     cwd=tmp_path)
    assert run.returncode == 1
    assert "retraining trial" in run.stderr and "best.json holds the chosen" in run.stderr
    best = json.loads((tmp_path / "bn" / "best.json").read_text())
    assert "test_acc_after_retraining" not in best
    assert best["config"]["batch_size"] == 499
    assert not (tmp_path / "bn" / "model.npz").exists()
    again = kobai_tune("--resume", "bn", "--no-progress", cwd=tmp_path)
    assert again.returncode == 1 and "retraining trial" in again.stderr
    assert "searching" not in again.stdout and "resuming" not in again.stdout


def test_without_ray_the_command_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from kobai.cli import main; "
            "sys.exit(main(['tune', '--trials', '1']))")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2
    assert 'pip install "kobai[tune]"' in run.stderr


# -- on a cluster ----------------------------------------------------------------------------

def test_a_search_runs_on_a_cluster_and_resumes_from_its_record(tmp_path, cluster):
    """A search on a cluster started by `ray start --head`; then, as after a Ctrl-C in the
    search's first second (its record written, no Ray Tune state yet), --resume starts the
    recorded search afresh, and with the same seed it finds the same."""
    run = kobai_tune("--address", cluster, "--trials", 3, "--epochs", 1, *SMALL,
                     "--out", "cluster", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    first = read_results_csv(tmp_path / "cluster" / "results.csv")
    assert len(first) == 3 and all(t.status == COMPLETED for t in first)
    assert (tmp_path / "cluster" / "model.npz").is_file()
    for item in (tmp_path / "cluster").iterdir():
        if item.name != "search.json":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    again = kobai_tune("--resume", "cluster", "--address", cluster, "--no-progress",
                       cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "searching 3 trials" in again.stdout
    trials = read_results_csv(tmp_path / "cluster" / "results.csv")
    key = lambda t: t.config["seed"]  # noqa: E731
    assert [(t.config, t.val_acc) for t in sorted(trials, key=key)] == [
        (t.config, t.val_acc) for t in sorted(first, key=key)]


def test_a_cluster_without_cpus_is_refused_not_waited_on(tmp_path):
    with ray_head(tmp_path, cpus=0) as address:
        run = kobai_tune("--address", address, "--trials", 1, "--epochs", 1, *SMALL,
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 2
    assert "no CPU" in run.stderr and address in run.stderr
    assert not (tmp_path / "runs").exists()


def test_a_cluster_that_requires_a_token_is_named_as_such(tmp_path):
    """Ray's default for `ray start --head`: token authentication; a client without the
    token gets one line saying so, not Ray's retry messages."""
    with ray_head(tmp_path, env={**RAY_ENV, "RAY_AUTH_MODE": "token"}) as address:
        # it refuses every attempt alike: 2 show it as well as kobai's default 8 (~6 s more)
        run = kobai_tune("--address", address, "--trials", 1, "--epochs", 1, *SMALL,
                         cwd=tmp_path, timeout=300, env={"RAY_NUM_REDIS_GET_RETRIES": "2"})
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert "requires its authentication token" in run.stderr and "RAY_AUTH_MODE=token" in run.stderr
    assert not (tmp_path / "runs").exists()
