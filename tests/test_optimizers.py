"""Tests for kobai.optimizers: each update rule is written out again here, out of place."""

import json
import math

import numpy as np
import pytest

from kobai.optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    RMSprop,
    get_optimizer,
)

SHAPES = {"W1": (3, 4), "b1": (4,), "W2": (4, 2), "b2": (2,)}

# Non-default hyperparameters, so a test fails if one is ignored.
CUSTOM = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.05, "momentum": 0.8},
    "nesterov": {"lr": 0.05, "momentum": 0.7},
    "adagrad": {"lr": 0.2},
    "rmsprop": {"lr": 0.02, "decay_rate": 0.9},
    "adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99},
}
DEFAULTS = {
    "sgd": {"lr": 0.01},
    "momentum": {"lr": 0.01, "momentum": 0.9},
    "nesterov": {"lr": 0.01, "momentum": 0.9},
    "adagrad": {"lr": 0.01},
    "rmsprop": {"lr": 0.01, "decay_rate": 0.99},
    "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999},
}


def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def make_grads(n_steps, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    return [
        {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()} for _ in range(n_steps)
    ]


def copy_dict(d):
    return {k: v.copy() for k, v in d.items()}


# --- the book's formulas, written out again with plain out-of-place numpy -----------------


def ref_sgd(p, g, st, t, lr):
    return p - lr * g


def ref_momentum(p, g, st, t, lr, momentum):
    v = st.get("v", np.zeros_like(p))
    v = momentum * v - lr * g
    st["v"] = v
    return p + v


def ref_nesterov(p, g, st, t, lr, momentum):
    # Bengio et al. (2012), eq. 7, as the book's common/optimizer.py: the velocity before
    # this step looks ahead, then the velocity is updated
    v = st.get("v", np.zeros_like(p))
    p = p + momentum * momentum * v - (1 + momentum) * lr * g
    st["v"] = momentum * v - lr * g
    return p


def ref_adagrad(p, g, st, t, lr):
    h = st.get("h", np.zeros_like(p)) + g * g
    st["h"] = h
    return p - lr * g / (np.sqrt(h) + 1e-7)


def ref_rmsprop(p, g, st, t, lr, decay_rate):
    h = decay_rate * st.get("h", np.zeros_like(p)) + (1 - decay_rate) * g * g
    st["h"] = h
    return p - lr * g / (np.sqrt(h) + 1e-7)


def ref_adam(p, g, st, t, lr, beta1, beta2):
    lr_t = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
    m = st.get("m", np.zeros_like(p))
    v = st.get("v", np.zeros_like(p))
    m = m + (1 - beta1) * (g - m)
    v = v + (1 - beta2) * (g**2 - v)
    st["m"], st["v"] = m, v
    return p - lr_t * m / (np.sqrt(v) + 1e-7)


REFERENCE = {
    "sgd": ref_sgd,
    "momentum": ref_momentum,
    "nesterov": ref_nesterov,
    "adagrad": ref_adagrad,
    "rmsprop": ref_rmsprop,
    "adam": ref_adam,
}


def reference_run(name, hyper, params, grad_steps):
    params = copy_dict(params)
    state = {k: {} for k in params}
    for t, grads in enumerate(grad_steps, start=1):
        for k in params:
            params[k] = REFERENCE[name](params[k], grads[k], state[k], t, **hyper)
    return params


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hyper_set", ["default", "custom"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_update_equals_the_book_formula_bit_for_bit(name, hyper_set, dtype):
    hyper = (DEFAULTS if hyper_set == "default" else CUSTOM)[name]
    params = make_params(dtype)
    grad_steps = make_grads(5, dtype)
    expected = reference_run(name, hyper, params, grad_steps)
    opt = get_optimizer(name) if hyper_set == "default" else get_optimizer(name, **hyper)
    for grads in grad_steps:
        opt.update(params, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], expected[k], err_msg=k)
    assert opt.iter == 5


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_update_is_in_place_and_leaves_grads_alone(name):
    params = make_params()
    before = copy_dict(params)
    ids = {k: id(v) for k, v in params.items()}
    (grads,) = make_grads(1)
    grads_before = copy_dict(grads)
    get_optimizer(name).update(params, grads)
    assert {k: id(v) for k, v in params.items()} == ids
    for k in params:
        assert not np.array_equal(params[k], before[k]), k
        np.testing.assert_array_equal(grads[k], grads_before[k])


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_float32_params_and_state_stay_float32(name):
    params = make_params(np.float32)
    opt = get_optimizer(name)
    for grads in make_grads(2, np.float32):
        opt.update(params, grads)
    assert all(p.dtype == np.float32 for p in params.values())
    for per_param in opt.state_dict()["slots"].values():
        assert list(per_param) == list(SHAPES)
        assert all(a.dtype == np.float32 for a in per_param.values())


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_resumes_bit_for_bit(name):
    grad_steps = make_grads(6)
    params = make_params()
    opt = get_optimizer(name, **CUSTOM[name])
    for grads in grad_steps[:3]:
        opt.update(params, grads)
    saved = opt.state_dict()
    params_at_3 = copy_dict(params)
    for grads in grad_steps[3:]:
        opt.update(params, grads)

    resumed = get_optimizer(name)  # default hyperparameters: load_state_dict restores them
    resumed.load_state_dict(saved)
    assert resumed.hyper == CUSTOM[name]
    assert resumed.iter == 3
    for grads in grad_steps[3:]:
        resumed.update(params_at_3, grads)
    for k in params:
        np.testing.assert_array_equal(params_at_3[k], params[k], err_msg=k)


def test_adam_state_dict_layout_is_json_able_apart_from_arrays():
    opt = Adam(lr=0.01)
    params = make_params()
    for grads in make_grads(3):
        opt.update(params, grads)
    sd = opt.state_dict()
    assert list(sd) == ["name", "hyper", "step", "slots"]
    assert json.loads(json.dumps({k: sd[k] for k in ("name", "hyper", "step")})) == {
        "name": "Adam",
        "hyper": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999},
        "step": 3,
    }
    assert type(sd["step"]) is int
    assert list(sd["slots"]) == ["m", "v"]
    assert list(sd["slots"]["m"]) == list(SHAPES)
    assert {k: a.shape for k, a in sd["slots"]["v"].items()} == SHAPES


def test_state_dict_arrays_are_copies_both_ways():
    params = make_params()
    (grads,) = make_grads(1)
    opt = Momentum()
    opt.update(params, grads)
    sd = opt.state_dict()
    v_saved = sd["slots"]["v"]["W1"].copy()
    sd["slots"]["v"]["W1"][...] = 123.0
    np.testing.assert_array_equal(opt.state_dict()["slots"]["v"]["W1"], v_saved)

    other = Momentum()
    sd = opt.state_dict()
    other.load_state_dict(sd)
    sd["slots"]["v"]["W1"][...] = 123.0
    np.testing.assert_array_equal(other.state_dict()["slots"]["v"]["W1"], v_saved)


def test_state_is_keyed_by_name_not_by_shape_or_order():
    a, b = np.zeros(3), np.zeros(3)
    ga, gb = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 4.0])
    opt = Momentum(lr=0.1, momentum=0.5)
    opt.update({"a": a, "b": b}, {"a": ga, "b": gb})
    opt.update({"b": b, "a": a}, {"b": gb, "a": ga})  # other dict order, same names
    v = opt.state_dict()["slots"]["v"]
    np.testing.assert_array_equal(v["a"], 0.5 * (0.0 - 0.1 * ga) - 0.1 * ga)
    np.testing.assert_array_equal(v["b"], 0.5 * (0.0 - 0.1 * gb) - 0.1 * gb)
    np.testing.assert_array_equal(a, (0.0 - 0.1 * ga) + v["a"])
    np.testing.assert_array_equal(b, (0.0 - 0.1 * gb) + v["b"])


def test_sgd_hand_worked_step():
    w = np.array([1.0, 2.0, -3.0])
    SGD(lr=0.5).update({"w": w}, {"w": np.array([0.5, -1.0, 2.0])})
    np.testing.assert_array_equal(w, [0.75, 2.5, -4.0])


def test_adam_first_step_moves_each_entry_by_about_lr():
    # Bias correction makes step 1 lr * g / (|g| + 1e-7 / sqrt(1 - beta2)), ~ lr * sign(g).
    g = np.array([3.0, -0.2, 1e-3, -50.0])
    w = np.zeros(4)
    Adam(lr=0.01).update({"w": w}, {"w": g})
    np.testing.assert_allclose(w, -0.01 * g / (np.abs(g) + 1e-7 / math.sqrt(0.001)), rtol=1e-12)
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.01, 0.01], rtol=5e-3)


def test_new_parameter_gets_its_own_zero_state_later():
    opt = AdaGrad(lr=0.1)
    w, b = np.ones(2), np.ones(2)
    opt.update({"w": w}, {"w": np.full(2, 2.0)})
    opt.update({"w": w, "b": b}, {"w": np.full(2, 2.0), "b": np.full(2, 2.0)})
    h = opt.state_dict()["slots"]["h"]
    np.testing.assert_array_equal(h["w"], [8.0, 8.0])
    np.testing.assert_array_equal(h["b"], [4.0, 4.0])


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", SGD),
        ("SGD", SGD),
        ("Momentum", Momentum),
        ("NESTEROV", Nesterov),
        ("AdaGrad", AdaGrad),
        ("rmsProp", RMSprop),
        ("Adam", Adam),
    ],
)
def test_get_optimizer_is_case_insensitive(name, cls):
    assert type(get_optimizer(name)) is cls


def test_get_optimizer_passes_hyperparameters():
    opt = get_optimizer("adam", lr=0.003, beta2=0.9)
    assert opt.hyper == {"lr": 0.003, "beta1": 0.9, "beta2": 0.9}


def test_optimizers_registry_lists_the_six_rules():
    assert OPTIMIZERS == {
        "sgd": SGD,
        "momentum": Momentum,
        "nesterov": Nesterov,
        "adagrad": AdaGrad,
        "rmsprop": RMSprop,
        "adam": Adam,
    }


def test_get_optimizer_unknown_name_lists_the_valid_names():
    with pytest.raises(
        ValueError, match="'adamw'.*sgd, momentum, nesterov, adagrad, rmsprop, adam"
    ):
        get_optimizer("adamw")


def test_get_optimizer_rejects_a_foreign_hyperparameter():
    with pytest.raises(TypeError, match="Momentum has no hyperparameter 'beta1'"):
        get_optimizer("momentum", beta1=0.9)


@pytest.mark.parametrize(
    "cls, kw, error, match",
    [
        (SGD, {"lr": 0.0}, ValueError, r"lr must be a finite number > 0, got 0\.0"),
        (SGD, {"lr": -0.1}, ValueError, r"lr must be a finite number > 0, got -0\.1"),
        (Adam, {"lr": float("inf")}, ValueError, "lr must be a finite number > 0, got inf"),
        (AdaGrad, {"lr": float("nan")}, ValueError, "lr must be a finite number > 0, got nan"),
        (SGD, {"lr": "0.1"}, TypeError, "lr must be a real number, got str"),
        (Momentum, {"momentum": 1.0}, ValueError, r"momentum must be in \[0, 1\), got 1\.0"),
        (Nesterov, {"momentum": -0.1}, ValueError, r"momentum must be in \[0, 1\), got -0\.1"),
        (Adam, {"beta1": 1.0}, ValueError, r"beta1 must be in \[0, 1\), got 1\.0"),
        (Adam, {"beta2": 1.5}, ValueError, r"beta2 must be in \[0, 1\), got 1\.5"),
        (RMSprop, {"decay_rate": 1.0}, ValueError, r"decay_rate must be in \[0, 1\)"),
    ],
)
def test_bad_hyperparameter_is_rejected_by_name(cls, kw, error, match):
    with pytest.raises(error, match=match):
        cls(**kw)


@pytest.mark.parametrize(
    "drop, add, match",
    [
        ("b2", None, r"grads is missing 'b2'"),
        (None, "W3", r"grads has unexpected 'W3'"),
        ("b1", "W3", r"grads is missing 'b1'; grads has unexpected 'W3'"),
    ],
)
def test_update_rejects_mismatched_grad_keys_by_name(drop, add, match):
    params = make_params()
    (grads,) = make_grads(1)
    if drop:
        del grads[drop]
    if add:
        grads[add] = np.ones(3)
    before = {key: arr.copy() for key, arr in params.items()}
    with pytest.raises(ValueError, match=match + r" \(expected exactly the keys of params"):
        Adam().update(params, grads)
    for key, arr in params.items():
        np.testing.assert_array_equal(arr, before[key], err_msg=key)


def test_update_rejects_grad_of_wrong_shape_and_changes_nothing():
    params = make_params()
    before = copy_dict(params)
    (grads,) = make_grads(1)
    grads["W2"] = grads["W2"].T
    opt = Adam()
    with pytest.raises(ValueError, match=r"grads\['W2'\] has shape \(2, 4\).*\(4, 2\)"):
        opt.update(params, grads)
    assert opt.iter == 0
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_update_rejects_integer_params():
    with pytest.raises(TypeError, match=r"params\['w'\] must be a floating-point ndarray"):
        SGD().update({"w": np.arange(3)}, {"w": np.ones(3)})


def test_update_rejects_state_of_another_shape_or_dtype():
    opt = RMSprop()
    opt.update({"w": np.ones(3)}, {"w": np.ones(3)})
    with pytest.raises(ValueError, match=r"slot 'h' for 'w' is float64 of shape \(3,\)"):
        opt.update({"w": np.ones(4)}, {"w": np.ones(4)})
    with pytest.raises(ValueError, match=r"params\['w'\] is float32"):
        opt.update({"w": np.ones(3, np.float32)}, {"w": np.ones(3, np.float32)})


def _adam_state():
    opt = Adam()
    opt.update({"w": np.ones(3)}, {"w": np.ones(3)})
    return opt.state_dict()


def _bad_state(**changes):
    sd = _adam_state()
    sd.update(changes)
    return sd


@pytest.mark.parametrize(
    "state, match",
    [
        (_bad_state(name="Momentum"), "state is for optimizer 'Momentum' but this .* 'Adam'"),
        (_bad_state(hyper={"lr": 0.1, "beta1": 0.9}), r"state\['hyper'\] has 'lr', 'beta1'"),
        (
            _bad_state(hyper={"lr": 0.1, "beta1": 0.9, "beta2": 0.9, "eps": 1e-8}),
            "expects 'lr', 'beta1', 'beta2'",
        ),
        (_bad_state(hyper={"lr": -1.0, "beta1": 0.9, "beta2": 0.9}), "lr must be a finite"),
        (_bad_state(step=-1), r"state\['step'\] must be an integer >= 0, got -1"),
        (_bad_state(step=1.5), r"state\['step'\] must be an integer >= 0, got 1\.5"),
        (_bad_state(slots={"m": {}}), r"state\['slots'\] has 'm' but Adam expects 'm', 'v'"),
        (
            _bad_state(slots={"m": {"w": np.zeros(3)}, "v": {"w": np.zeros(4)}}),
            r"state\['slots'\]\['v'\]\['w'\] is float64 of shape \(4,\) but .* \(3,\)",
        ),
        (
            _bad_state(slots={"m": {"w": np.zeros(3)}, "v": {"u": np.zeros(3)}}),
            r"state\['slots'\]\['v'\] has params 'u'",
        ),
        ({"name": "Adam", "hyper": {}}, "state has keys 'name', 'hyper' but expected"),
    ],
)
def test_load_state_dict_rejects_bad_state_and_changes_nothing(state, match):
    opt = Adam(lr=0.05)
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(state)
    assert opt.hyper["lr"] == 0.05
    assert opt.iter == 0
    assert opt.state_dict()["slots"] == {"m": {}, "v": {}}


def test_loaded_state_is_checked_against_params_on_next_update():
    opt = Adam()
    opt.load_state_dict(_adam_state())
    w = np.ones(5)
    with pytest.raises(ValueError, match=r"slot 'm' for 'w' is float64 of shape \(3,\)"):
        opt.update({"w": w}, {"w": np.ones(5)})
    np.testing.assert_array_equal(w, np.ones(5))


def test_sgd_state_dict_has_no_slots_but_counts_steps():
    opt = SGD()
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
    sd = opt.state_dict()
    assert sd == {"name": "SGD", "hyper": {"lr": 0.01}, "step": 1, "slots": {}}
    fresh = SGD(lr=0.5)
    fresh.load_state_dict(sd)
    assert fresh.hyper == {"lr": 0.01}
    assert fresh.iter == 1
