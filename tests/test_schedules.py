"""Learning-rate schedules (``kobai.schedules``): each one's values written out by its formula,
reduce-on-plateau's reductions on a crafted history, and the Trainer following them, also
across a resume."""

import math

import numpy as np
import pytest
from conftest import blobs

from kobai.history import EpochRecord, History
from kobai.nets import TwoLayerNet
from kobai.schedules import (
    CosineDecay,
    ReduceOnPlateau,
    StepDecay,
    get_schedule,
    schedule_from_config,
)
from kobai.trainer import Trainer


def history_of(losses, *, validation=True):
    """A history whose epochs have these monitored losses (validation, or training loss)."""
    return History(epochs=[
        EpochRecord(e, e, 9.0 if validation else v, 0.5, None, None, 0.0,
                    val_loss=v if validation else None, val_acc=0.5 if validation else None)
        for e, v in enumerate(losses, start=1)])


def test_step_decay_divides_by_gamma_every_step_epochs():
    s = StepDecay(0.1, step=3, gamma=0.5)
    lrs = [s.lr_at(e, History()) for e in range(1, 11)]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025,
                                     0.0125], rtol=1e-15)


def test_step_decay_default_step_is_a_third_of_the_run():
    assert get_schedule("step", lr=0.1, epochs=10).step == 4
    assert get_schedule("step", lr=0.1, epochs=9, step=2).step == 2


def test_cosine_goes_from_lr_towards_the_floor_over_the_run():
    s = CosineDecay(0.1, epochs=4, floor=0.01)
    lrs = [s.lr_at(e, History()) for e in range(1, 7)]
    # 0.01 + 0.09 (1 + cos(pi (e - 1) / 4)) / 2; a longer (resumed) run keeps the last value
    last = 0.01 + 0.09 * (1 - math.sqrt(0.5)) / 2
    np.testing.assert_allclose(lrs, [0.1, 0.01 + 0.09 * (1 + math.sqrt(0.5)) / 2, 0.055, last,
                                     last, last], rtol=1e-14)
    np.testing.assert_allclose(CosineDecay(0.2, epochs=2).lr_at(2, History()), 0.1, rtol=1e-14)


def test_plateau_reduces_after_patience_epochs_without_a_lower_loss():
    # epoch 3, 4 no better than 0.9 -> reduced for epoch 5; 0.91 is not below 0.9; 0.85 is;
    # 0.9, 0.9 after it -> reduced again for epoch 9
    h = history_of([1.0, 0.9, 0.95, 0.92, 0.91, 0.85, 0.9, 0.9, 0.9])
    s = ReduceOnPlateau(0.1, patience=2, factor=0.5)
    lrs = [s.lr_at(e, h) for e in range(1, 11)]
    assert lrs == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025]


def test_plateau_counts_min_delta_and_stops_at_the_floor():
    h = history_of([1.0, 0.95, 0.9, 0.85, 0.8, 0.75])  # 0.05 better each epoch
    assert ReduceOnPlateau(0.1, patience=2, factor=0.5).lr_at(7, h) == 0.1
    # with min_delta 0.1 only 0.85 improves (on 1.0): reductions after epochs 3 and 6, the
    # second one to the floor
    s = ReduceOnPlateau(0.1, patience=2, factor=0.5, min_delta=0.1 + 1e-12, floor=0.04)
    assert [s.lr_at(e, h) for e in range(1, 8)] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.04]


def test_plateau_watches_the_training_loss_without_a_validation_set():
    h = history_of([1.0, 1.0, 1.0], validation=False)
    assert ReduceOnPlateau(0.1, patience=2, factor=0.5).lr_at(4, h) == 0.05
    # the validation loss when there is one (the training losses here are all 9.0)
    assert ReduceOnPlateau(0.1, patience=2, factor=0.5).lr_at(4, history_of([3, 2, 1])) == 0.1


@pytest.mark.parametrize("name, settings, match", [
    ("linear", {}, "unknown learning-rate schedule 'linear'; expected one of constant, step"),
    ("step", {"gamma": 1.5}, r"gamma .* must be a number in \(0, 1\), got 1.5"),
    ("cosine", {"floor": 0.5}, "floor must be a number >= 0 below lr=0.1, got 0.5"),
    ("plateau", {"patience": 0}, "patience must be an integer >= 1, got 0"),
])
def test_bad_settings_are_refused_naming_them(name, settings, match):
    with pytest.raises(ValueError, match=match):
        get_schedule(name, lr=0.1, epochs=10, **settings)


def test_a_schedules_config_round_trips():
    for s in (StepDecay(0.1, 3, 0.5), CosineDecay(0.1, 8, 0.001),
              ReduceOnPlateau(0.1, 2, 0.5, 0.01, 1e-4), get_schedule("constant", lr=0.3,
                                                                      epochs=1)):
        assert schedule_from_config(s.get_config()) == s


def test_the_trainer_sets_each_epochs_lr_from_the_schedule():
    x, t = blobs(120)
    s = CosineDecay(0.5, epochs=4)
    h = Trainer(TwoLayerNet(6, 5, 3, rng=0), x, t, x, t, epochs=4, optimizer_param={"lr": 0.5},
                rng=0, verbose=False, lr_schedule=s).train()
    assert [r.lr for r in h.epochs] == [s.lr_at(e, History()) for e in range(1, 5)]
    h = Trainer(TwoLayerNet(6, 5, 3, rng=0), x, t, x, t, epochs=3, optimizer_param={"lr": 0.5},
                rng=0, verbose=False, lr_schedule="step").train()
    # step: every third of the 3 epochs, gamma 0.1
    np.testing.assert_allclose([r.lr for r in h.epochs], [0.5, 0.05, 0.005], rtol=1e-15)


def test_a_resumed_run_continues_the_schedule_bit_for_bit():
    x, t = blobs(120)
    x_val, t_val = blobs(40, seed=1)

    def trainer(epochs, net, optimizer, history=None):
        return Trainer(net, x, t, x, t, epochs=epochs, optimizer=optimizer, rng=0,
                       verbose=False, x_val=x_val, t_val=t_val, history=history,
                       restore_best=False,
                       lr_schedule=ReduceOnPlateau(0.5, patience=1, factor=0.5))

    from kobai.optimizers import SGD

    whole = trainer(6, TwoLayerNet(6, 5, 3, rng=0), SGD(0.5))
    whole.train()
    first = trainer(3, TwoLayerNet(6, 5, 3, rng=0), SGD(0.5))
    first.train()
    rest = trainer(6, first.network, first.optimizer, first.history)
    rest.train()
    assert [r.lr for r in rest.history.epochs] == [r.lr for r in whole.history.epochs]
    for key, value in whole.network.params.items():
        np.testing.assert_array_equal(rest.network.params[key], value)
