"""Tests for kobai.trainer: whole epochs, determinism, evaluation, divergence, output."""

import json
import math

import numpy as np
import pytest
from conftest import BookNet, blobs

import kobai.nets.network as network
from kobai.io import SaveCheckpoint, load
from kobai.nets import MultiLayerNet, TwoLayerNet
from kobai.optimizers import SGD
from kobai.trainer import EpochRecord, History, Trainer, TrainingDivergedError


def mnist_sample():
    try:
        from kobai.datasets import load_mnist

        return load_mnist()
    except Exception as exc:  # noqa: BLE001 - any failure means the sample is unavailable
        pytest.skip(f"the bundled MNIST sample is not available: {exc}")


def test_loss_decreases_on_mnist_sample_within_three_epochs():
    (x, t), (xt, tt) = mnist_sample()
    net = MultiLayerNet(784, [50], 10, rng=0)
    history = Trainer(net, x, t, xt, tt, epochs=3, optimizer="Adam",
                      optimizer_param={"lr": 0.001}, rng=0, verbose=False).train()
    losses = [r.train_loss for r in history.epochs]
    assert losses[0] > losses[1] > losses[2]
    assert history.test_acc_list[-1] > 0.85
    assert len(history.train_loss_list) == 3 * 50  # 5,000 images, batches of 100
    assert np.mean(history.train_loss_list[-50:]) < np.mean(history.train_loss_list[:50])


def test_every_epoch_visits_every_sample_exactly_once_including_a_partial_batch():
    n, bs = 103, 10
    x, t = blobs(n)
    x[:, 0] = np.arange(n)  # the sample id travels in the first feature
    net = BookNet([x.shape[1], 3])
    trainer = Trainer(net, x, t, x, t, epochs=3, mini_batch_size=bs, rng=1, verbose=False)
    assert trainer.iter_per_epoch == 11
    trainer.train()
    assert [len(b) for b in net.batches[:11]] == [10] * 10 + [3]
    orders = [np.concatenate(net.batches[e * 11:(e + 1) * 11]) for e in range(3)]
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
    assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch


def test_kobai_net_epochs_visit_every_sample_once(monkeypatch):
    n = 57
    x, t = blobs(n, n_features=4)
    x[:, 0] = np.arange(n)
    net = MultiLayerNet(4, [5], 3, rng=0)
    seen = []
    real_step = net.train_step

    def recording_step(xb, labels, optimizer, **kwargs):
        seen.append(xb[:, 0].copy())
        return real_step(xb, labels, optimizer, **kwargs)

    monkeypatch.setattr(net, "train_step", recording_step)
    Trainer(net, x, t, x, t, epochs=2, mini_batch_size=20, rng=0, verbose=False).train()
    assert [len(b) for b in seen] == [20, 20, 17] * 2
    for e in range(2):
        np.testing.assert_array_equal(np.sort(np.concatenate(seen[3 * e:3 * e + 3])),
                                      np.arange(n))


def test_data_is_validated_once_not_per_step(monkeypatch):
    x, t = blobs(200)
    net = MultiLayerNet(6, [8], 3, use_batchnorm=True, rng=0)
    trainer = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=10, rng=0, verbose=False)
    calls = []
    real = network.check_x
    monkeypatch.setattr(network, "check_x", lambda *a, **k: calls.append(1) or real(*a, **k))
    trainer.train()
    assert calls == []
    assert trainer.x_train.dtype == net.dtype and trainer.t_train.dtype == np.int64


def test_same_seed_gives_bit_identical_history():
    x, t = blobs(240)

    def run(seed):
        net = MultiLayerNet(6, [16, 8], 3, use_batchnorm=True, use_dropout=True,
                            dropout_ratio=0.2, weight_decay_lambda=1e-3, rng=5)
        return Trainer(net, x[:200], t[:200], x[200:], t[200:], epochs=3, mini_batch_size=32,
                       optimizer="Momentum", optimizer_param={"lr": 0.05}, rng=seed,
                       verbose=False).train()

    first, second = run(42), run(42)
    assert first.train_loss_list == second.train_loss_list
    drop_seconds = [{**vars(r), "seconds": 0} for r in first.epochs]
    assert drop_seconds == [{**vars(r), "seconds": 0} for r in second.epochs]
    assert run(43).train_loss_list != first.train_loss_list


def test_generator_rng_is_reproducible_and_recorded_as_seed():
    x, t = blobs(100)
    histories = [Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=2,
                         mini_batch_size=16, rng=np.random.default_rng(9),
                         verbose=False).train() for _ in range(2)]
    assert histories[0].train_loss_list == histories[1].train_loss_list
    assert histories[0].seed == histories[1].seed and histories[0].seed >= 0


def test_epoch_records_are_in_evaluation_mode_with_weight_decay():
    x, t = blobs(2500, seed=3)  # more than EVAL_BATCH_SIZE rows: evaluated in chunks
    net = MultiLayerNet(6, [10], 3, use_batchnorm=True, use_dropout=True,
                        weight_decay_lambda=0.01, rng=0)
    history = Trainer(net, x, t, x[:300], t[:300], epochs=1, mini_batch_size=100, rng=0,
                      verbose=False).train()
    r = history.epochs[0]
    np.testing.assert_allclose(r.train_loss, net.loss(x, t, train=False), rtol=1e-12)
    np.testing.assert_allclose(r.test_loss, net.loss(x[:300], t[:300], train=False),
                               rtol=1e-12)
    assert r.train_acc == net.accuracy(x, t) and r.test_acc == net.accuracy(x[:300], t[:300])
    assert (r.epoch, r.iteration, r.lr) == (1, 25, 0.01) and r.seconds > 0


def test_evaluate_sample_num_uses_the_first_samples():
    x, t = blobs(300)
    net = BookNet([6, 3])
    Trainer(net, x, t, x[:250], t[:250], epochs=2, evaluate_sample_num_per_epoch=120,
            rng=0, verbose=False).train()
    assert net.eval_sizes == [120, 120, 120, 120]


def test_book_style_net_trains():
    x, t = blobs(300, seed=2)
    history = Trainer(BookNet([6, 3]), x, t, x, t, epochs=5, mini_batch_size=30,
                      optimizer_param={"lr": 0.1}, rng=0, verbose=False).train()
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss
    assert history.test_acc_list[-1] > 0.9


def test_nan_loss_stops_training_and_puts_back_the_last_checkpoint(tmp_path, monkeypatch):
    x, t = blobs(100)
    net = MultiLayerNet(6, [8], 3, rng=0)
    path = tmp_path / "model.npz"
    saved_bytes = []
    trainer = Trainer(net, x, t, x, t, epochs=5, mini_batch_size=20, optimizer="Adam",
                      optimizer_param={"lr": 0.01}, rng=0, verbose=False,
                      callbacks=[SaveCheckpoint(path),
                                 lambda tr, rec: saved_bytes.append(path.read_bytes())])
    calls = []
    real_step = net.train_step

    def poisoned(xb, labels, optimizer, **kwargs):  # like train_step on a NaN loss: no update
        calls.append(1)
        return (math.nan if len(calls) == 8  # epoch 2, iteration 3
                else real_step(xb, labels, optimizer, **kwargs))

    monkeypatch.setattr(net, "train_step", poisoned)
    with pytest.raises(TrainingDivergedError, match="smaller learning rate") as info:
        trainer.train()
    message = str(info.value)
    assert "epoch 2, iteration 3 of 5" in message and "iteration 8 overall" in message
    assert (info.value.epoch, info.value.iteration) == (2, 3) and math.isnan(info.value.loss)
    assert trainer.optimizer.iter == 5  # epoch 2 discarded: back to the end of epoch 1
    checkpoint = load(path)
    for key, arr in net.params.items():
        np.testing.assert_array_equal(arr, checkpoint.net.params[key])  # = the checkpoint
    assert checkpoint.optimizer.iter == 5
    assert len(saved_bytes) == 1 and path.read_bytes() == saved_bytes[0]
    assert checkpoint.history.epoch == 1
    assert trainer.history.epoch == 1 and len(trainer.history.train_loss_list) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_huge_learning_rate_diverges_with_a_clear_error():
    x, t = blobs(200)
    net = MultiLayerNet(6, [8], 3, rng=0)
    trainer = Trainer(net, x, t, x, t, epochs=5, mini_batch_size=20,
                      optimizer_param={"lr": 1e6}, rng=0, verbose=False)
    with np.errstate(over="ignore", invalid="ignore"), \
            pytest.raises(TrainingDivergedError, match=r"training diverged at .*epoch \d") as info:
        trainer.train()
    assert "lr=1e+06" in str(info.value)
    assert trainer.history.epoch == info.value.epoch - 1


def test_verbose_false_prints_nothing(capsys):
    x, t = blobs(100)
    Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=2, rng=0, verbose=False).train()
    assert capsys.readouterr() == ("", "")


def test_verbose_prints_a_progress_bar_and_an_epoch_table(capsys):
    x, t = blobs(100)
    Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=2, mini_batch_size=25, rng=0,
            verbose=True).train()
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["epoch", "train", "loss", "test", "loss", "train", "acc",
                                "test", "acc", "seconds"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2"]
    assert "8/8" in err and "loss=" in err


def test_progress_false_keeps_the_table_but_not_the_bar(capsys):
    x, t = blobs(100)
    Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=2, rng=0, verbose=True,
            progress=False).train()
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 3 and err == ""


def test_history_round_trips_through_json():
    x, t = blobs(100)
    history = Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=2, rng=3,
                      verbose=False).train()
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again == history
    assert again.train_acc_list == [r.train_acc for r in history.epochs]
    assert isinstance(again.epochs[0], EpochRecord) and again.seed == 3


def test_history_files_are_written(tmp_path):
    x, t = blobs(100)
    history = Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=2, rng=3,
                      verbose=False).train()
    history.to_csv(tmp_path / "history.csv")
    history.to_json(tmp_path / "history.json")
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,iteration,train_loss,train_acc,test_loss,test_acc,seconds,lr"
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2"]
    assert History.from_dict(json.loads((tmp_path / "history.json").read_text())) == history


def test_history_files_read_back_and_csv_keeps_the_epochs_only(tmp_path):
    x, t = blobs(100)
    history = Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=3, rng=3,
                      verbose=False).train()
    history.to_csv(tmp_path / "history.csv")
    history.to_json(tmp_path / "history.json")
    assert History.from_json(tmp_path / "history.json") == history
    from_csv = History.from_csv(tmp_path / "history.csv")
    assert from_csv.epochs == history.epochs  # every field, lr included, to the last digit
    assert from_csv.train_loss_list == [] and from_csv.seed is None
    (tmp_path / "bad.csv").write_text((tmp_path / "history.csv").read_text()
                                      .replace("\n2,", "\nx,", 1))
    with pytest.raises(ValueError, match=r"bad.csv, line 3: .* holds a non-number"):
        History.from_csv(tmp_path / "bad.csv")


def test_history_until_is_what_a_checkpoint_after_that_epoch_holds():
    x, t = blobs(100)

    def train(epochs):
        return Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=epochs, rng=3,
                       mini_batch_size=30, verbose=False).train()

    three, two = train(3), train(2)
    assert three.until(2).to_dict() == {**two.to_dict(), "epochs": three.to_dict()["epochs"][:2]}
    assert three.until(2).train_loss_list == two.train_loss_list and three.until(3) is three
    assert three.until(0).epoch == 0 and three.until(0).train_loss_list == []
    with pytest.raises(ValueError, match=r"epoch must be in \[0, 3\]"):
        three.until(4)


@pytest.mark.parametrize("bad, match", [
    ({"epochs": [{"epoch": 2}]}, "expected the keys"),
    ({"train_loss_list": ["x"], "epochs": []}, "list of numbers"),
    ({"train_loss_list": [], "epochs": [], "seed": -1}, "seed"),
    ([], "must be a dict"),
])
def test_history_from_dict_refuses_bad_input(bad, match):
    if isinstance(bad, dict):
        bad = {"train_loss_list": [], **bad}
    with pytest.raises(ValueError, match=match):
        History.from_dict(bad)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
    ({"mini_batch_size": 2.5}, ValueError, "mini_batch_size"),
    ({"optimizer": "adamw"}, ValueError, "unknown optimizer"),
    ({"optimizer": SGD(), "optimizer_param": {"lr": 1}}, TypeError, "optimizer_param"),
    ({"evaluate_sample_num_per_epoch": 0}, ValueError, "evaluate_sample_num"),
    ({"rng": -1}, TypeError, "rng"),
    ({"callbacks": [42]}, TypeError, "callback"),
])
def test_bad_arguments_are_refused(kwargs, error, match):
    x, t = blobs(50)
    with pytest.raises(error, match=match):
        Trainer(TwoLayerNet(6, 4, 3), x, t, x, t, verbose=False, **kwargs)


def test_bad_data_is_refused_at_construction():
    x, t = blobs(50)
    net = TwoLayerNet(6, 4, 3)
    with pytest.raises(ValueError, match="t_train has 49 label"):
        Trainer(net, x, t[:49], x, t, verbose=False)
    x_nan = x.copy()
    x_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"x_test contains 1 NaN .* \(3, 2\)"):
        Trainer(net, x, t, x_nan, t, verbose=False)
    with pytest.raises(ValueError, match="x_train has 5 features"):
        Trainer(net, x[:, :5], t, x, t, verbose=False)
    with pytest.raises(ValueError, match="label 3"):
        Trainer(net, x, np.where(t == 2, 3, t), x, t, verbose=False)


def test_resuming_past_the_last_epoch_is_refused():
    x, t = blobs(50)
    history = Trainer(TwoLayerNet(6, 4, 3), x, t, x, t, epochs=2, verbose=False).train()
    with pytest.raises(ValueError, match="already has 2 completed epochs"):
        Trainer(TwoLayerNet(6, 4, 3), x, t, x, t, epochs=2, verbose=False, history=history)


def test_book_style_net_with_train_step_uses_it():
    class StepNet(BookNet):
        steps = 0

        def train_step(self, x, t, optimizer):
            self.steps += 1
            loss = self.loss(x, t)
            optimizer.update(self.params, self.gradient(x, t))
            return loss

    x, t = blobs(90)
    net = StepNet([6, 3])
    history = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=30, rng=0,
                      verbose=False).train()
    assert net.steps == 6 and len(history.train_loss_list) == 6


def test_non_finite_parameters_after_the_last_update_stop_before_callbacks():
    class Exploding(SGD):
        def update(self, params, grads):
            super().update(params, grads)
            if self.iter == 4:  # the last update of epoch 2
                params["W1"][0, 0] = np.inf

    x, t = blobs(60)
    ran = []
    trainer = Trainer(TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, epochs=3, mini_batch_size=30,
                      optimizer=Exploding(lr=0.1), rng=0, verbose=False,
                      callbacks=[lambda tr, rec: ran.append(rec.epoch)])
    with pytest.raises(TrainingDivergedError, match="end of epoch 2: parameter W1") as info:
        trainer.train()
    assert (info.value.epoch, info.value.iteration) == (2, None)
    assert ran == [1] and trainer.history.epoch == 1


def blas_threads_while_training(net, n_features, batch, monkeypatch):
    """The BLAS thread counts seen inside each training step of ``net``."""
    from threadpoolctl import threadpool_info

    seen = []
    real_step = net.train_step

    def recording_step(xb, labels, optimizer, **kwargs):
        seen.append({lib["num_threads"] for lib in threadpool_info()
                     if lib["user_api"] == "blas"})
        return real_step(xb, labels, optimizer, **kwargs)

    monkeypatch.setattr(net, "train_step", recording_step)
    x, t = blobs(batch, n_features=n_features)
    Trainer(net, x, t, x, t, epochs=1, mini_batch_size=batch, rng=0, verbose=False).train()
    return seen


@pytest.mark.parametrize("hidden, batch, one_thread", [
    ([50], 100, True), ([100, 100], 100, True),  # the book's sizes: small products
    ([1000], 100, False),  # 784·1000·100 multiply-adds: the BLAS default
])
def test_blas_thread_policy_one_thread_for_small_products(monkeypatch, hidden, batch,
                                                          one_thread):
    from threadpoolctl import threadpool_info

    default = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    net = MultiLayerNet(784, hidden, 10, rng=0, dtype=np.float32)
    seen = blas_threads_while_training(net, 784, batch, monkeypatch)
    assert seen == [{1} if one_thread else default]


def test_trainer_limits_blas_threads_while_training(monkeypatch):

    net = MultiLayerNet(4, [5], 3, rng=0)
    seen = blas_threads_while_training(net, 4, 20, monkeypatch)
    assert seen and all(s <= {1} for s in seen)
    x, t = blobs(40, n_features=4)
    with pytest.raises(ValueError, match="blas_threads must be"):
        Trainer(net, x, t, x, t, blas_threads=0, verbose=False)
