"""Central differences on one array, perturbed in place: every element ("full"), or one random
direction ("fast", as PyTorch's fast gradcheck and JAX's ``check_grads``) with a fall-back to
every element when the direction disagrees or crosses a kink."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from .compare import Context, compare, compare_scalar, is_zero_gradient, within
from .differences import crossed, directional_difference, element_differences
from .report import ParamResult

__all__ = ["DEFAULT_EPS", "N_DIRECTIONS", "Evaluate", "check_array", "kink_probes", "crossed"]

# Default step ε of the central difference (L(θ+ε) - L(θ-ε)) / 2ε, for float64.
# Its error is the truncation ε²·|L'''|/6 plus rounding ≈ u·|L|/ε (u = 1.1e-16, float64's unit
# roundoff, |L| ~ 1 for a cross-entropy loss); the sum is smallest at ε ≈ (3u·|L|/|L'''|)^(1/3),
# about 1e-5 for |L'''| ~ 1. Measured on kobai's nets (depth 1-4, each activation, batch norm,
# dropout): max |backprop - numerical| ≈ 2e-11 at ε = 1e-5, against 2e-10 at 1e-6 (rounding
# dominates; PyTorch's default) and up to 5e-9 at 1e-4 (truncation, tanh; the book's h).
# A smaller ε would also flag fewer ReLU kinks, but 1e-5 already makes them rare.
DEFAULT_EPS = 1e-5
N_DIRECTIONS = 3  # random directions per array in fast mode

# evaluate() -> (scalar being differentiated, kink states of the ReLU-like layers) at the
# current contents of the arrays.
Evaluate = Callable[[], tuple[float, tuple[np.ndarray, ...]]]


class _Masked(Protocol):
    """A book-style ``Relu``: its ``mask`` marks the inputs that were ``<= 0``."""

    mask: np.ndarray


def kink_probes(layers: Sequence[object]) -> list[Callable[[], np.ndarray]]:
    """Functions returning each ReLU-like layer's kink state after its last forward.

    A layer's ``kink_state()`` (kobai's protocol: which inputs were > 0) is used when it has
    one; a book-style ``Relu`` without it is read through its boolean ``mask`` (the book
    stores ``x <= 0``: the polarity does not matter, only whether it changes).
    """
    probes: list[Callable[[], np.ndarray]] = []
    for layer in layers:
        state = getattr(layer, "kink_state", None)
        if callable(state):
            probes.append(state)
        elif "relu" in type(layer).__name__.lower() and hasattr(layer, "mask"):
            probes.append(_mask_probe(layer))
    return probes


def _mask_probe(layer: _Masked) -> Callable[[], np.ndarray]:
    """A function returning a copy of ``layer.mask`` as a bool array."""
    return lambda: np.array(layer.mask, dtype=bool)


def _full(arr: np.ndarray, evaluate: Evaluate, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of every element, each restored bit for bit (also on error), and
    the elements whose ±eps changed a kink state."""
    d = element_differences(arr, evaluate, eps, phi0=None, tol=lambda n: n)
    return d.numerical[0].reshape(arr.shape), d.kinks[0].reshape(arr.shape)


def _directional(arr: np.ndarray, analytic: np.ndarray, evaluate: Evaluate, eps: float,
                 u: np.ndarray) -> tuple[float, float, bool]:
    """``(u·∇L by backprop, by central differences, crossed a kink)`` for the unit ``u``."""
    numerical, taken, kink = directional_difference(arr, u, evaluate, eps, phi0=None,
                                                    tol=lambda n: n)
    analytic_d = float(np.sum(analytic * taken))
    return analytic_d, float(numerical[0]), bool(kink[0])


def check_array(name: str, arr: np.ndarray, analytic: np.ndarray, evaluate: Evaluate, *,
                mode: str, eps: float, rtol: float, atol: float, rng: np.random.Generator,
                notes: list[str],
                numerical: np.ndarray | tuple[np.ndarray, np.ndarray] | None = None,
                max_elements: int = 10_000, context: Context | None = None,
                every_element: Callable[[], tuple[np.ndarray, np.ndarray] | None] | None = None
                ) -> ParamResult:
    """Check ``analytic`` (backprop) against central differences of ``evaluate`` in ``arr``.

    ``arr`` is perturbed in place and restored bit for bit (in "full" mode, ``numerical``
    may instead be given, already computed, alone or as ``(numerical, kinks)`` with the bool
    array of elements whose ±eps crossed a ReLU kink). In "fast" mode, ``N_DIRECTIONS`` seeded
    random unit directions are checked (two evaluations each; a direction that crosses a ReLU
    kink is tried again with ``eps / 10``); only if one disagrees, or crosses a kink at both
    steps, are the elements checked one by one, to locate the bad ones: every element, or a
    seeded sample of ``max_elements`` of a larger array (said in the notes), or, when
    ``every_element()`` gives them (a kobai net's structured central differences), all of
    them at once.
    """
    if mode == "fast" and arr.size:
        pairs: list[tuple[float, float]] = []
        retried = kink = False
        a_d = n_d = 0.0
        for _ in range(N_DIRECTIONS):
            # A ReLU input within ~eps of 0 makes a random direction cross the kink (for an
            # MLP 784-100-100-10 on 100 inputs, about half the directions of b1 do); the
            # same direction with a 10x smaller step (rounding error still ~1e-10 << atol)
            # usually does not, which saves checking every element.
            u = rng.standard_normal(arr.shape)
            u /= np.sqrt(np.sum(u * u))
            for step in (eps, eps / 10):
                a_d, n_d, kink = _directional(arr, analytic, evaluate, step, u)
                if not kink:
                    break
                retried = True
            if kink or not within(a_d, n_d, rtol, atol):
                break
            pairs.append((a_d, n_d))
        else:
            worst = max(pairs, key=lambda p: abs(p[0] - p[1]))
            result = compare_scalar(name, arr.shape, *worst, rtol, atol)
            result.directions = pairs
            if retried:
                notes.append(f"{name}: a random direction moved a ReLU input across 0 with "
                             f"eps={eps:g}; the same direction with eps={eps / 10:g} did not "
                             "and agreed")
            if is_zero_gradient(result, atol):
                notes.append(_zero_note(name, max(abs(v) for p in pairs for v in p),
                                        "u.grad"))
            return result
        why = (f"a random direction moved a ReLU input across 0 (eps={eps:g} and "
               f"{eps / 10:g})" if kink else
               f"a directional derivative disagreed (u.grad: backprop {a_d:.6e}, "
               f"numerical {n_d:.6e})")
        fast_full = every_element() if every_element is not None else None
        if fast_full is not None:  # the net's structured central differences: all of them
            numerical, kinks = fast_full
            computed = None
        else:
            numerical, kinks, computed = _sampled(arr, evaluate, eps, rng, max_elements)
        result = compare(name, analytic, numerical, kinks, rtol, atol, mode="fast->full",
                         computed=computed, context=context)
        result.directional = (a_d, n_d)
        result.directions = [*pairs, (a_d, n_d)]
        # a wrong direction whose wrong elements the sample missed is still a failure
        result.unlocated = computed is not None and not result.n_bad and not kink
        verdict = ("located the bad elements" if result.n_bad else
                   "found no element out of tolerance" + ("" if kink else
                                                          " (the direction's error was noise)"))
        sample = (f" ({max_elements:,} of its {arr.size:,}, a seeded sample)"
                  if computed is not None else "")
        notes.append(f"{name}: {why}, so its elements were checked one by one{sample}: "
                     f"{verdict}")
    elif numerical is not None:  # computed by the net's structured central differences
        numerical, kinks = (numerical if isinstance(numerical, tuple)
                            else (numerical, np.zeros(arr.shape, dtype=bool)))
        result = compare(name, analytic, numerical, kinks, rtol, atol, context=context)
    else:
        numerical, kinks = _full(arr, evaluate, eps)
        result = compare(name, analytic, numerical, kinks, rtol, atol, context=context)
    if result.passed and arr.size and is_zero_gradient(result, atol):
        # result comes from compare() here, which always stores both full gradients
        assert result.analytic_grad is not None and result.numerical_grad is not None
        largest = max(float(np.max(np.abs(result.analytic_grad))),
                      float(np.max(np.abs(result.numerical_grad))))
        notes.append(_zero_note(name, largest, "gradients"))
    return result


def _sampled(arr: np.ndarray, evaluate: Evaluate, eps: float, rng: np.random.Generator,
             max_elements: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Central differences of every element, or of a seeded sample of ``max_elements``:
    (numerical, kinks, the computed elements or None for all)."""
    if arr.size <= max_elements:
        return (*_full(arr, evaluate, eps), None)
    flat = np.sort(rng.choice(arr.size, size=max_elements, replace=False))
    d = element_differences(arr, evaluate, eps, phi0=None, tol=lambda n: n, indices=flat)
    numerical = np.zeros(arr.size)
    kinks = np.zeros(arr.size, dtype=bool)
    computed = np.zeros(arr.size, dtype=bool)
    numerical[flat], kinks[flat], computed[flat] = d.numerical[0], d.kinks[0], True
    return (numerical.reshape(arr.shape), kinks.reshape(arr.shape),
            computed.reshape(arr.shape))


def _zero_note(name: str, largest: float, what: str) -> str:
    return (f"{name}: backprop and numerical {what} are both zero to within atol (largest "
            f"|value| {largest:.1e}): the loss does not depend on {name} here, e.g. a bias "
            f"followed by batch normalization, which subtracts it again; relative errors of "
            f"such elements count as 0")
