"""kobai train's run files while it trains and when it stops: history.csv and history.json after
every epoch, and on Ctrl-C (a real SIGINT) the history and learning curve of the epochs that
model.npz holds."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from threading import Thread

from conftest import run

import kobai
from kobai.history import History
from kobai.io import load
from kobai.nets import MultiLayerNet

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_history_csv_and_json_are_rewritten_after_every_epoch(tmp_path, capsys, monkeypatch):
    """What `tail -f history.csv` sees: when epoch e starts, the files hold epochs 1 .. e-1."""
    out = tmp_path / "run"
    real_step, seen = MultiLayerNet.train_step, []

    def step(self, x, t, optimizer, **kwargs):
        if len(seen) % 50 == 0:  # the first batch of an epoch (50 make one on the sample)
            csv, js = out / "history.csv", out / "history.json"
            seen.append((History.from_csv(csv).epoch if csv.exists() else None,
                         History.from_json(js).epoch if js.exists() else None))
        else:
            seen.append(None)
        return real_step(self, x, t, optimizer, **kwargs)

    monkeypatch.setattr(MultiLayerNet, "train_step", step)
    status, _, err = run(capsys, "train", "--epochs", "3", "--no-progress", "--out", out)
    assert status == 0, err
    assert [s for s in seen if s is not None] == [(None, None), (1, 1), (2, 2)]
    final = History.from_json(out / "history.json")
    assert final == load(out / "model.npz").history and final.epoch == 3
    assert History.from_csv(out / "history.csv").epochs == final.epochs


def kobai_train_interrupted(cwd, *args, after_epoch):
    """``python -m kobai train ARGS`` sent SIGINT once its table shows ``after_epoch``:
    (returncode, stdout, stderr)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",  # the table row as soon as it is printed
           "PYTHONPATH": os.pathsep.join([str(Path(kobai.__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "kobai", "train", *map(str, args)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env,
                            # Ctrl-C as in a terminal, even where pytest runs with SIGINT
                            # ignored (a background job), which the child would inherit
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out, err = [], []
    readers = [Thread(target=lambda s=s, b=b: b.extend(iter(s.readline, "")), daemon=True)
               for s, b in ((proc.stdout, out), (proc.stderr, err))]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any(line.split()[:1] == [str(after_epoch)] for line in list(out)):
            assert proc.poll() is None, "".join(out + err)
            assert time.monotonic() < deadline, f"no epoch {after_epoch} within 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        for reader in readers:
            reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(out), "".join(err)


def test_ctrl_c_leaves_the_history_and_learning_curve_of_the_epochs_model_npz_holds(tmp_path):
    # Ctrl-C once epoch 2 is in the table: in epoch 3, or while epoch 2 is being saved (the
    # row is printed first), so model.npz holds epoch 1 or 2
    status, out, err = kobai_train_interrupted(tmp_path, "--epochs", 200, "--no-progress",
                                               "--out", "run", after_epoch=2)
    assert status == 130, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kobai: interrupted ") and "Traceback" \
        not in err
    run_dir = tmp_path / "run"
    assert "kobai train --resume run --out run --epochs 200" in lines[0]
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "history.csv", "history.json", "learning_curve.png", "model.npz"]  # no temporary file
    kept = load(run_dir / "model.npz").history
    assert kept.epoch >= 1 and f"run/model.npz holds epoch {kept.epoch}," in lines[0]
    assert History.from_json(run_dir / "history.json") == kept
    assert History.from_csv(run_dir / "history.csv").epochs == kept.epochs
    assert (run_dir / "learning_curve.png").read_bytes()[:8] == PNG_SIGNATURE
    assert f"wrote run/history.csv, run/history.json, run/learning_curve.png (epochs " \
           f"1-{kept.epoch})" in out
