"""The Optimizer base class: in-place updates, state by parameter name, state_dict."""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, ClassVar

import numpy as np

EPS = 1e-7  # the book's guard against division by zero in AdaGrad, RMSprop and Adam
_STATE_KEYS = ("name", "hyper", "step", "slots")


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def check_lr(value: Any, name: str) -> float:
    """``value`` as a float, refused unless a finite number > 0 (a learning rate)."""
    x = _real(value, name)
    if not (math.isfinite(x) and x > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return x


def check_unit(value: Any, name: str) -> float:
    """``value`` as a float, refused unless in [0, 1) (a momentum or decay rate)."""
    x = _real(value, name)
    if not 0.0 <= x < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return x


def listed(keys: Any) -> str:
    """``'W1', 'b1'``: the keys for a message."""
    return ", ".join(repr(k) for k in keys)


def _refuse_non_finite(key: str, grad: Any) -> None:
    """Raise naming the first NaN or infinity of a gradient whose ``g·g`` was not finite
    (return if that was only the overflow of huge but finite entries)."""
    flat = np.ravel(grad)
    bad = ~np.isfinite(flat)
    if not bad.any():
        return
    first = int(np.argmax(bad))
    idx = tuple(int(i) for i in np.unravel_index(first, np.shape(grad)))
    raise ValueError(
        f"grads[{key!r}] contains {int(bad.sum())} NaN or infinite value(s), the first at index "
        f"{idx} ({flat[first]}); expected finite gradients. No parameter or optimizer state was "
        "changed (did the loss or its backward overflow? try a smaller learning rate)"
    )


def _as_0d(value: Any) -> np.ndarray | None:
    """A number of ``params`` as a 0-d float array to update: float64, or the NumPy floating
    scalar's own dtype. None for anything else (arrays; what the checks refuse)."""
    if isinstance(value, np.floating):
        return np.array(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.generic)):
        return np.array(float(value))
    return None


class Optimizer(ABC):
    """Common machinery: hyperparameter checks, per-name state, in-place update, state_dict.

    Subclasses declare their hyperparameters (``_hyper``), their slot arrays (``slot_names``),
    how many scratch arrays one update needs (``_n_scratch``), the per-step scalars
    (``_coefficients``) and the in-place update of one parameter (``_step``).

    Attributes
    ----------
    iter : int
        Number of successful calls to :meth:`update` (the book's ``Adam.iter``).
    refuse_non_finite : bool
        True (the default): :meth:`update` refuses a gradient holding NaN or infinity, which
        would poison the slots of every later step. False: such a gradient is applied as it
        is, as the book's optimizers do (the parameters then hold NaN or infinity; the book's
        ``batch_norm_test.py`` goes on training such networks beside the ones that recover).
    """

    name: ClassVar[str] = "Optimizer"
    slot_names: ClassVar[tuple[str, ...]] = ()
    _hyper: ClassVar[dict[str, Callable[[Any, str], float]]] = {}
    _n_scratch: ClassVar[int] = 1
    refuse_non_finite: bool = True

    def __init__(self, **hyper: float) -> None:
        for key, check in self._hyper.items():
            setattr(self, key, check(hyper[key], key))
        self.iter = 0
        # slot name -> param name -> array; saved by state_dict.
        self._slots: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.slot_names}
        # param name -> (slot arrays..., scratch arrays...); rebuilt lazily, never saved.
        self._bufs: dict[str, tuple[np.ndarray, ...]] = {}

    @property
    def hyper(self) -> dict[str, float]:
        """Hyperparameters as a JSON-able dict, e.g. ``{"lr": 0.01, "momentum": 0.9}``."""
        return {key: getattr(self, key) for key in self._hyper}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"

    def update(self, params: Mapping[str, Any], grads: Mapping[str, Any]) -> None:
        """Take one step: update every array of ``params`` in place from ``grads``.

        Parameters
        ----------
        params : dict of str -> ndarray or number
            Floating-point arrays, e.g. ``net.params``, modified in place; a number (as in the
            book's ``optimizer_compare_naive.py``) is replaced by the updated value (a
            Python float; a NumPy scalar keeps its type).
        grads : dict of str -> ndarray or number
            Gradients with exactly the keys of ``params`` and the same shape per key; not
            modified.

        Raises
        ------
        ValueError
            If the keys of ``grads`` and ``params`` differ (named), a gradient's shape differs
            from its parameter's, a gradient holds NaN or infinity (unless
            ``refuse_non_finite`` is False), or saved state does not fit the parameter.
        TypeError
            If a parameter is neither a floating-point ndarray nor a number.

        When an error is raised no parameter is updated and the step count is unchanged.
        """
        if params.keys() != grads.keys():
            missing = [k for k in params if k not in grads]
            extra = [k for k in grads if k not in params]
            problems = []
            if missing:
                problems.append(f"grads is missing {listed(missing)}")
            if extra:
                problems.append(f"grads has unexpected {listed(extra)}")
            raise ValueError(
                f"{'; '.join(problems)} (expected exactly the keys of params: {listed(params)})"
            )
        numbers_ = {key: arr for key, value in params.items()
                    if (arr := _as_0d(value)) is not None}
        if numbers_ and not isinstance(params, MutableMapping):
            raise TypeError(f"params[{next(iter(numbers_))!r}] is a number, which is updated by "
                            f"assigning the new value, but params is a read-only "
                            f"{type(params).__name__}; pass a dict")
        work = []
        for key, value in params.items():
            param = numbers_.get(key, value)
            bufs = self._bufs.get(key)
            if bufs is None or not (
                isinstance(param, np.ndarray)
                and param.shape == bufs[0].shape
                and param.dtype == bufs[0].dtype
            ):
                bufs = self._new_buffers(key, param)
            grad = grads[key]
            if np.shape(grad) != param.shape:
                raise ValueError(
                    f"grads[{key!r}] has shape {np.shape(grad)} but params[{key!r}] has shape "
                    f"{param.shape} (one gradient entry per parameter entry)"
                )
            # g·g is NaN or infinite when any entry is: one BLAS pass (half the time of
            # np.isfinite(g).all(), no temporary) clears a finite gradient
            if self.refuse_non_finite and not math.isfinite(np.vdot(grad, grad)):
                _refuse_non_finite(key, grad)
            work.append((param, grad, bufs))
        self.iter += 1
        coef = self._coefficients()
        for param, grad, bufs in work:
            self._step(param, grad, bufs, coef)
        if numbers_:
            assert isinstance(params, MutableMapping)  # checked above
            for key, arr in numbers_.items():
                was = params[key]
                params[key] = arr[()] if isinstance(was, np.generic) else float(arr)

    def _new_buffers(self, key: str, param: Any) -> tuple[np.ndarray, ...]:
        if not (isinstance(param, np.ndarray) and np.issubdtype(param.dtype, np.floating)):
            what = param.dtype if isinstance(param, np.ndarray) else type(param).__name__
            raise TypeError(
                f"params[{key!r}] must be a floating-point ndarray (it is updated in place), "
                f"got {what}"
            )
        for slot in self.slot_names:
            saved = self._slots[slot].get(key)
            if saved is not None and (saved.shape, saved.dtype) != (param.shape, param.dtype):
                raise ValueError(
                    f"optimizer slot {slot!r} for {key!r} is {saved.dtype} of shape "
                    f"{saved.shape} but params[{key!r}] is {param.dtype} of shape "
                    f"{param.shape} (state from another network or dtype?)"
                )
        slots = []
        for slot in self.slot_names:
            arr = self._slots[slot].get(key)
            if arr is None:
                arr = self._slots[slot][key] = np.zeros(param.shape, dtype=param.dtype)
            slots.append(arr)
        scratch = [np.empty(param.shape, dtype=param.dtype) for _ in range(self._n_scratch)]
        bufs = self._bufs[key] = (*slots, *scratch)
        return bufs

    @abstractmethod
    def _coefficients(self) -> tuple[float, ...]:
        """The step's scalar factors (computed once per update, e.g. Adam's bias correction)."""

    @abstractmethod
    def _step(
        self, param: np.ndarray, grad: np.ndarray, bufs: tuple[np.ndarray, ...],
        coef: tuple[float, ...],
    ) -> None:
        """Update one parameter in place from its gradient, slots and scratch ``bufs``."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: ``{"name", "hyper", "step", "slots"}``.

        Returns
        -------
        dict
            ``{"name": "Adam", "hyper": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999},
            "step": 3, "slots": {"m": {"W1": ndarray, ...}, "v": {...}}}``. The arrays are
            copies; everything except them is JSON-able (str, float, int).
        """
        return {
            "name": self.name,
            "hyper": self.hyper,
            "step": self.iter,
            "slots": {
                slot: {key: arr.copy() for key, arr in per_param.items()}
                for slot, per_param in self._slots.items()
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore hyperparameters, step count and slots saved by :meth:`state_dict`.

        The arrays are copied. Slot shapes are checked against each other here and against
        the parameters on the next :meth:`update`. Nothing changes when an error is raised.

        Parameters
        ----------
        state : dict
            As returned by :meth:`state_dict` of the same optimizer class.

        Raises
        ------
        ValueError
            If the name, hyperparameter names or values, step, slot names or slot shapes
            are not what this optimizer expects.
        TypeError
            If ``state`` is not a dict or a hyperparameter is not a real number.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        if set(state) != set(_STATE_KEYS):
            raise ValueError(f"state has keys {listed(state)} but expected {listed(_STATE_KEYS)}")
        if state["name"] != self.name:
            raise ValueError(
                f"state is for optimizer {state['name']!r} but this optimizer is {self.name!r}"
            )
        hyper = state["hyper"]
        if not isinstance(hyper, Mapping) or set(hyper) != set(self._hyper):
            got = listed(hyper) if isinstance(hyper, Mapping) else repr(hyper)
            raise ValueError(
                f"state['hyper'] has {got} but {self.name} expects {listed(self._hyper)}"
            )
        new_hyper = {key: check(hyper[key], key) for key, check in self._hyper.items()}
        step = state["step"]
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"state['step'] must be an integer >= 0, got {step!r}")
        new_slots = self._checked_slots(state["slots"])
        for key, value in new_hyper.items():
            setattr(self, key, value)
        self.iter = int(step)
        self._slots = new_slots
        self._bufs = {}

    def _checked_slots(self, slots: Any) -> dict[str, dict[str, np.ndarray]]:
        if not isinstance(slots, Mapping) or set(slots) != set(self.slot_names):
            got = listed(slots) if isinstance(slots, Mapping) else repr(slots)
            raise ValueError(
                f"state['slots'] has {got or 'no slots'} but {self.name} expects "
                f"{listed(self.slot_names) or 'no slots'}"
            )
        out: dict[str, dict[str, np.ndarray]] = {}
        for slot in self.slot_names:
            per_param = slots[slot]
            if not isinstance(per_param, Mapping):
                raise ValueError(
                    f"state['slots'][{slot!r}] must be a dict of param name -> ndarray, "
                    f"got {type(per_param).__name__}"
                )
            out[slot] = {}
            for key, value in per_param.items():
                arr = np.array(value, copy=True)
                if not np.issubdtype(arr.dtype, np.floating):
                    raise ValueError(
                        f"state['slots'][{slot!r}][{key!r}] must be a floating-point array, "
                        f"got {arr.dtype}"
                    )
                out[slot][key] = arr
        if self.slot_names:
            first = self.slot_names[0]
            for slot in self.slot_names[1:]:
                if set(out[slot]) != set(out[first]):
                    raise ValueError(
                        f"state['slots'][{slot!r}] has params {listed(out[slot])} but "
                        f"state['slots'][{first!r}] has {listed(out[first])}"
                    )
                for key, arr in out[slot].items():
                    ref = out[first][key]
                    if (arr.shape, arr.dtype) != (ref.shape, ref.dtype):
                        raise ValueError(
                            f"state['slots'][{slot!r}][{key!r}] is {arr.dtype} of shape "
                            f"{arr.shape} but state['slots'][{first!r}][{key!r}] is "
                            f"{ref.dtype} of shape {ref.shape}"
                        )
        return out
