"""Divergence the Trainer must not miss: a finite loss that explodes, parameters that overflow in
an epoch's last update, and NumPy's overflow warnings before the error message."""

import math
import warnings

import numpy as np
import pytest
from conftest import BookNet, blobs

from kobai.cli import main
from kobai.nets import MultiLayerNet
from kobai.optimizers import SGD, Adam
from kobai.trainer import (
    EXPLODED_FACTOR,
    SUSTAINED_BATCHES,
    SUSTAINED_FACTOR,
    EpochRecord,
    History,
    Trainer,
    TrainingDivergedError,
)

UNIFORM_3 = math.log(3)  # the loss of a uniform guess over blobs' 3 classes


class ScriptedNet(BookNet):
    """A book-style net whose mini-batch losses are given in advance (then the real loss)."""

    def __init__(self, losses):
        super().__init__([6, 3])
        self.script = list(losses)
        self.updates = 0

    def loss(self, x, t):
        return self.script.pop(0) if self.script else super().loss(x, t)

    def gradient(self, x, t):
        self.updates += 1
        return {key: np.zeros_like(arr) for key, arr in self.params.items()}


def train_scripted(losses, **kwargs):
    x, t = blobs(200)
    net = ScriptedNet(losses)
    trainer = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=10, rng=0, verbose=False,
                      **kwargs)
    return net, trainer


def test_a_finite_loss_that_explodes_stops_training_and_puts_back_the_epochs_start():
    x, t = blobs(200)
    net = MultiLayerNet(6, [8], 3, rng=0)
    start = {k: v.copy() for k, v in net.params.items()}
    trainer = Trainer(net, x, t, x, t, epochs=5, mini_batch_size=20,
                      optimizer_param={"lr": 1e6}, rng=0, verbose=False)
    with pytest.raises(TrainingDivergedError, match="the loss exploded") as info:
        trainer.train()
    err = info.value
    assert math.isfinite(err.loss) and err.loss > EXPLODED_FACTOR * UNIFORM_3
    assert (err.epoch, err.iteration) == (1, 2)
    assert "more than 1000 times its reference" in str(err)
    assert "log(n_classes) = 1.099, the loss of a uniform guess" in str(err)
    assert trainer.optimizer.iter == 0  # the epoch is discarded: the net is as it started
    assert trainer.history.train_loss_list == []
    for key, arr in net.params.items():
        np.testing.assert_array_equal(arr, start[key])


def test_an_exploding_loss_is_measured_against_the_runs_first_loss():
    # 1000 times the first loss (5.0 > log 3), not 1000 times log 3: 4000 passes, 6000 stops
    net, trainer = train_scripted([5.0, 4000.0, 3.0, 6000.0])
    with pytest.raises(TrainingDivergedError, match="more than 1000 times its reference 5") \
            as info:
        trainer.train()
    assert (info.value.iteration, info.value.loss) == (4, 6000.0)
    assert net.updates == 3


def test_a_loss_far_above_the_reference_for_ten_batches_in_a_row_stops_training():
    high = SUSTAINED_FACTOR * UNIFORM_3 * 2  # 200 times the reference, below 1000 times
    net, trainer = train_scripted([UNIFORM_3] + [high] * SUSTAINED_BATCHES)
    with pytest.raises(TrainingDivergedError,
                       match=r"the last 10 mini-batch losses were all above 100 times") as info:
        trainer.train()
    assert info.value.iteration == 1 + SUSTAINED_BATCHES
    assert net.updates == SUSTAINED_BATCHES  # the tenth high batch was not applied


def test_a_spike_that_recovers_within_nine_batches_does_not_stop_training():
    high = SUSTAINED_FACTOR * UNIFORM_3 * 5
    spikes = [UNIFORM_3] + [high] * (SUSTAINED_BATCHES - 1) + [1.0] + [high] * 9
    net, trainer = train_scripted(spikes)
    history = trainer.train()
    assert history.epoch == 2 and net.updates == 40


def test_a_resumed_run_keeps_the_reference_and_the_streak_of_its_history():
    high = SUSTAINED_FACTOR * UNIFORM_3 * 2
    x, t = blobs(200)
    history = History(train_loss_list=[UNIFORM_3] + [1.0] * 10 + [high] * 9, seed=0)
    history.epochs.append(EpochRecord(epoch=1, iteration=20, train_loss=1.0, train_acc=0.5,
                                      test_loss=1.0, test_acc=0.5, seconds=0.0))
    net = ScriptedNet([high])
    trainer = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=10, verbose=False,
                      history=history)
    with pytest.raises(TrainingDivergedError, match="last 10 mini-batch losses") as info:
        trainer.train()
    assert (info.value.epoch, info.value.iteration) == (2, 1) and net.updates == 0


def mnist_sample():
    try:
        from kobai.datasets import load_mnist

        return load_mnist()
    except Exception as exc:  # noqa: BLE001 - any failure means the sample is unavailable
        pytest.skip(f"the bundled MNIST sample is not available: {exc}")


@pytest.mark.parametrize("optimizer, lr, hidden, batchnorm", [
    ("Adam", 0.001, [100, 100], False),  # the usual Adam
    ("SGD", 0.1, [50], False),           # kobai train's defaults (sigmoid in the CLI)
    ("RMSprop", 0.01, [100, 100], False),  # ten times RMSprop's default: spikes, recovers
    ("Momentum", 1.0, [100, 100], True),
])
def test_healthy_runs_on_the_bundled_sample_are_not_stopped(optimizer, lr, hidden, batchnorm):
    (x, t), (xt, tt) = mnist_sample()
    net = MultiLayerNet(784, hidden, 10, use_batchnorm=batchnorm, rng=1, dtype=np.float32)
    history = Trainer(net, x, t, xt, tt, epochs=3, optimizer=optimizer,
                      optimizer_param={"lr": lr}, rng=1, verbose=False).train()
    assert history.epoch == 3 and history.test_acc_list[-1] > 0.8


def test_kobai_train_with_a_huge_learning_rate_fails_with_exit_status_1(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning before the message
        status = main(["train", "--lr", "1000", "--net", "mlp", "--epochs", "2", "--out",
                       str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1
    assert "training diverged at epoch 1" in err and "the loss exploded" in err
    assert "smaller learning rate than lr=1000" in err


@pytest.mark.parametrize("make_net, lr", [
    (lambda: MultiLayerNet(6, [8], 3, rng=0), 1e6),
    (lambda: MultiLayerNet(6, [8], 3, rng=0, dtype=np.float32), 1e37),
], ids=["float64-explodes", "float32-overflows"])
def test_no_numpy_warning_leaks_before_the_divergence_message(make_net, lr):
    x, t = blobs(200)
    trainer = Trainer(make_net(), x, t, x, t, epochs=5, mini_batch_size=20,
                      optimizer_param={"lr": lr}, rng=0, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TrainingDivergedError):
            trainer.train()
    assert np.geterr()["over"] == "warn"  # silenced only inside the training loop


class OverflowOnStep(SGD):
    """SGD whose update number ``at`` overflows W1 to inf."""

    def __init__(self, at, **kwargs):
        super().__init__(**kwargs)
        self.at = at

    def update(self, params, grads):
        super().update(params, grads)
        if self.iter == self.at:
            params["W1"][0, 0] = np.inf


@pytest.mark.parametrize("at", [4, 3], ids=["epoch's last update", "mid-epoch update"])
def test_parameters_that_overflow_are_restored_to_the_start_of_the_epoch(at):
    x, t = blobs(60)
    net = MultiLayerNet(6, [4], 3, rng=0)
    after_epoch_1 = {}
    trainer = Trainer(net, x, t, x, t, epochs=3, mini_batch_size=30,
                      optimizer=OverflowOnStep(at, lr=0.1), rng=0, verbose=False,
                      callbacks=[lambda tr, rec: after_epoch_1.update(net.state_dict())])
    with pytest.raises(TrainingDivergedError, match="back at the start of epoch 2") as info:
        trainer.train()
    assert info.value.epoch == 2 and trainer.history.epoch == 1
    state = net.state_dict()
    assert all(np.isfinite(arr).all() for arr in state.values())
    for key, arr in after_epoch_1.items():
        np.testing.assert_array_equal(state[key], arr)
    assert trainer.optimizer.iter == 2  # the optimizer's state is put back too


def test_adam_state_is_restored_with_the_parameters():
    class OverflowingAdam(Adam):
        def update(self, params, grads):
            super().update(params, grads)
            if self.iter == 4:
                params["W1"][...] = np.nan

    x, t = blobs(60)
    net = MultiLayerNet(6, [4], 3, rng=0)
    saved = {}
    optimizer = OverflowingAdam(lr=0.01)
    trainer = Trainer(net, x, t, x, t, epochs=3, mini_batch_size=30, optimizer=optimizer,
                      rng=0, verbose=False,
                      callbacks=[lambda tr, rec: saved.update(optimizer.state_dict())])
    with pytest.raises(TrainingDivergedError, match="back at the start of epoch 2"):
        trainer.train()
    state = optimizer.state_dict()
    assert state["step"] == saved["step"] == 2
    for slot in ("m", "v"):
        for key, arr in saved["slots"][slot].items():
            np.testing.assert_array_equal(state["slots"][slot][key], arr)


def test_an_interrupted_epoch_is_discarded_and_train_again_matches_an_uninterrupted_run():
    from kobai.nets import MultiLayerNet
    from kobai.trainer import Trainer

    rng = np.random.default_rng(0)
    x, t = rng.random((60, 6)), rng.integers(0, 3, 60)

    def trainer():
        net = MultiLayerNet(6, [5], 3, use_dropout=True, use_batchnorm=True, rng=0)
        return Trainer(net, x, t, x, t, epochs=3, mini_batch_size=10, optimizer="Adam",
                       optimizer_param={"lr": 0.01}, rng=0, verbose=False)

    reference = trainer()
    reference.train()
    interrupted = trainer()
    real_step, calls = interrupted.network.train_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 9:  # epoch 2, batch 3 of 6
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    interrupted.network.train_step = step
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    assert interrupted.history.epoch == 1
    assert len(interrupted.history.train_loss_list) == 6  # the partial epoch's 2 are gone
    interrupted.train()
    assert interrupted.history.train_loss_list == reference.history.train_loss_list
    for key, arr in reference.network.params.items():
        np.testing.assert_array_equal(interrupted.network.params[key], arr)


def test_the_trainers_progress_bar_is_tqdms_own_outside_jupyter(capsys):
    """In a terminal, tqdm's bar on stderr (in Jupyter: tests/test_notebook.py)."""
    x, t = blobs(60)
    Trainer(MultiLayerNet(6, [4], 3, rng=0), x, t, x, t, epochs=2, mini_batch_size=20, rng=0,
            verbose=False, progress=True).train()
    err = capsys.readouterr().err
    assert "epoch 2/2: 100%|" in err and "6/6" in err


def test_after_divergence_train_can_be_called_again_with_a_smaller_learning_rate():
    x, t = blobs(120)
    net = MultiLayerNet(6, [8], 3, rng=0)

    class Bump:  # after epoch 1, an lr far too large
        def on_epoch_end(self, trainer, record):
            if record.epoch == 1:
                trainer.optimizer.lr = 1e6

    trainer = Trainer(net, x, t, x, t, epochs=3, mini_batch_size=20, optimizer_param={"lr": 0.1},
                      rng=0, verbose=False, callbacks=[Bump()])
    with pytest.raises(TrainingDivergedError):
        trainer.train()
    assert trainer.history.epoch == 1 and len(trainer.history.train_loss_list) == 6
    trainer.optimizer.lr = 0.1
    trainer.callbacks = []
    trainer.train()
    assert trainer.history.epoch == 3 and trainer.history.test_acc_list[-1] > 0.8
