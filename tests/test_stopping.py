"""The validation split, early stopping and the best epoch (``kobai.stopping``) through the
Trainer: where a crafted validation curve stops, which weights end up in the network and in
best.npz, the split's rows, and the test set scored once."""

import numpy as np
import pytest
from conftest import blobs

from kobai.history import EpochRecord, History
from kobai.io import load
from kobai.nets import TwoLayerNet
from kobai.plot import plot_learning_curve
from kobai.stopping import EarlyStopping, KeepBest, best_epoch
from kobai.trainer import Trainer

N_TRAIN, N_VAL, N_TEST = 20, 7, 5  # the scripted net tells the sets apart by their size


class ScriptedNet:
    """A book-style net whose validation loss after epoch ``e`` is ``val_losses[e - 1]``; its
    weight moves by the learning rate in every step, so each epoch's weights differ. Counts
    the evaluations of each set."""

    def __init__(self, val_losses):
        self.val_losses = list(val_losses)
        self.params = {"W": np.zeros(3)}
        self.calls = {N_TRAIN: 0, N_VAL: 0, N_TEST: 0}

    def loss(self, x, t):
        n = len(x)
        if n in self.calls:
            self.calls[n] += 1
        if n == N_VAL:
            return self.val_losses[self.calls[N_VAL] - 1]
        return 1.0

    def accuracy(self, x, t):
        return 0.5

    def gradient(self, x, t):
        return {"W": -np.ones(3)}


def scripted_trainer(val_losses, epochs=None, **kwargs):
    x, t = blobs(N_TRAIN + N_VAL + N_TEST)
    net = ScriptedNet(val_losses)
    snapshots = {}

    def snapshot(trainer, record):
        snapshots[record.epoch] = trainer.network.params["W"].copy()

    trainer = Trainer(net, x[:N_TRAIN], t[:N_TRAIN], x[-N_TEST:], t[-N_TEST:],
                      epochs=epochs or len(val_losses), mini_batch_size=N_TRAIN,
                      optimizer_param={"lr": 1.0}, rng=0, verbose=False,
                      x_val=x[N_TRAIN:-N_TEST], t_val=t[N_TRAIN:-N_TEST],
                      callbacks=[snapshot], **kwargs)
    return trainer, net, snapshots


VAL = [1.0, 0.8, 0.85, 0.9, 0.7, 0.75, 0.76, 0.77, 0.5, 0.4]


@pytest.mark.parametrize("patience, stopped", [(1, 3), (2, 4), (3, 8), (5, 10)])
def test_early_stopping_stops_patience_epochs_after_the_best(patience, stopped):
    trainer, _, _ = scripted_trainer(VAL, patience=patience)
    assert trainer.train().epoch == stopped


def test_min_delta_makes_small_improvements_not_count():
    # 0.7 is 0.1 below 0.8: with min_delta 0.15 the best stays epoch 2 and 3 epochs pass
    trainer, _, _ = scripted_trainer(VAL, patience=3, min_delta=0.15)
    assert trainer.train().epoch == 5


def test_accuracy_can_be_monitored():
    h = History(epochs=[EpochRecord(e, e, 1.0, 0.5, None, None, 0.0, val_loss=1.0, val_acc=a)
                        for e, a in enumerate([0.5, 0.7, 0.7, 0.6], start=1)])
    assert best_epoch(h, "val_acc") == 2
    stop = EarlyStopping(2, monitor="val_acc")

    class Fake:
        history, stop_training = h, False

    stop.on_epoch_end(Fake, h.epochs[-1])
    assert Fake.stop_training and stop.stopped_epoch == 4


def test_the_network_ends_with_the_best_epochs_weights_bit_for_bit():
    trainer, net, snapshots = scripted_trainer(VAL, patience=3)
    h = trainer.train()
    assert h.epoch == 8 and h.test["epoch"] == 5
    np.testing.assert_array_equal(net.params["W"], snapshots[5])
    assert not np.array_equal(snapshots[8], snapshots[5])


def test_restore_best_false_keeps_the_last_weights_and_tests_them():
    trainer, net, snapshots = scripted_trainer(VAL, patience=3, restore_best=False)
    h = trainer.train()
    assert h.test["epoch"] == 8
    np.testing.assert_array_equal(net.params["W"], snapshots[8])


def test_with_a_validation_set_the_test_set_is_scored_once_at_the_end():
    trainer, net, _ = scripted_trainer(VAL[:4])
    h = trainer.train()
    assert net.calls[N_TEST] == 1 and net.calls[N_VAL] == 4
    assert [r.test_acc for r in h.epochs] == [None] * 4
    assert h.val_loss_list == VAL[:4] and h.test == {"epoch": 2, "loss": 1.0, "acc": 0.5}
    # the book's per-epoch test curve, asked for
    trainer, net, _ = scripted_trainer(VAL[:4], test_each_epoch=True)
    h = trainer.train()
    assert net.calls[N_TEST] == 5 and h.test_acc_list == [0.5] * 4


def test_without_a_validation_set_nothing_changes():
    x, t = blobs(60)
    h = Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x[:20], t[:20], epochs=2, rng=0,
                verbose=False).train()
    assert h.test is None and h.val_acc_list == [None, None]
    assert all(isinstance(r.test_acc, float) for r in h.epochs)


def test_patience_needs_a_validation_set():
    x, t = blobs(60)
    with pytest.raises(ValueError, match="patience needs a validation set"):
        Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=2, patience=2, verbose=False)


def test_best_npz_holds_the_best_epochs_checkpoint_bit_for_bit(tmp_path):
    x, t = blobs(200)
    snapshots = {}

    def snapshot(trainer, record):
        snapshots[record.epoch] = trainer.network.state_dict()

    keep = KeepBest(path=tmp_path / "best.npz")
    trainer = Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x[:50], t[:50], epochs=6,
                      optimizer_param={"lr": 5.0}, mini_batch_size=10, rng=0,
                      verbose=False, validation=0.25, callbacks=[keep, snapshot])
    h = trainer.train()
    best = int(np.argmin(h.val_loss_list)) + 1
    assert keep.epoch == best == h.test["epoch"] == 4  # lr 5 overshoots after epoch 4
    saved = load(tmp_path / "best.npz")
    assert saved.history.epoch == best
    for key, value in snapshots[best].items():
        np.testing.assert_array_equal(saved.net.state_dict()[key], value)
        np.testing.assert_array_equal(trainer.network.state_dict()[key], value)


def test_the_validation_split_is_disjoint_stratified_and_seeded():
    x, t = blobs(300)
    x = np.column_stack([x, np.arange(300) / 300])  # each row's index in its last feature

    def split(seed):
        trainer = Trainer(TwoLayerNet(7, 4, 3, rng=0), x, t, x, t, epochs=1, rng=seed,
                          verbose=False, validation=0.2)
        return (np.rint(trainer.x_train[:, -1] * 300).astype(int),
                np.rint(trainer.x_val[:, -1] * 300).astype(int), trainer)

    train_rows, val_rows, trainer = split(5)
    assert len(val_rows) == 60 and not set(train_rows) & set(val_rows)
    assert sorted([*train_rows, *val_rows]) == list(range(300))
    np.testing.assert_array_equal(trainer.t_val, t[val_rows])
    np.testing.assert_array_equal(trainer.t_train, t[train_rows])
    share = np.bincount(t, minlength=3) * 0.2
    assert (np.abs(np.bincount(t[val_rows], minlength=3) - share) < 1).all()
    np.testing.assert_array_equal(split(5)[1], val_rows)  # the same seed, the same split
    assert not np.array_equal(split(6)[1], val_rows)
    assert trainer.iter_per_epoch == 3  # 240 training rows in batches of 100


def test_the_learning_curve_draws_a_run_with_a_validation_set(tmp_path):
    trainer, _, _ = scripted_trainer(VAL[:3])
    h = trainer.train()
    assert plot_learning_curve(h, tmp_path / "curve.png").stat().st_size > 0
    assert plot_learning_curve(h.to_dict(), tmp_path / "again.png").is_file()
