"""What a gradient check found: one :class:`ParamResult` per array, collected in a
:class:`GradCheckReport` that prints as a table and can raise with a readable message."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ParamResult", "GradCheckReport", "EpsSweep", "LayerFinding"]

_MAX_LISTED = 5  # indices spelled out per parameter in the text report


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_index(name: str, index: tuple[int, ...] | None) -> str:
    """``W1[3, 7]``, or the bare name for a 0-d array."""
    if not index:
        return name
    return f"{name}[{', '.join(str(i) for i in index)}]"


@dataclass
class ParamResult:
    """How backprop compared with central differences for one array (a parameter, or ``x``).

    Element ``i`` fails when ``|a_i - n_i| > atol + rtol·|n_i|`` (``a`` backprop, ``n`` central
    differences); elements near a kink are left out of every count and error.

    Attributes
    ----------
    name : str
        Key in ``net.params`` (or ``"x"``, ``"W"``, ... for :func:`check_layer`).
    shape : tuple of int
    mode : {"full", "fast", "fast->full"}
        Every element; random directions ``u·∇L`` only; every element after a direction failed.
    n_checked, n_bad : int
        Elements compared one by one (0 in "fast" mode), and those out of tolerance.
    max_abs_error, mean_abs_error, max_rel_error : float
        Relative: ``|a - n| / max(|a|, |n|)``, 0 where both ``<= atol`` (``u·∇L`` in "fast").
    worst_index : tuple of int or None
        Largest ``|a - n| / (atol + rtol·|n|)``; None in "fast" mode.
    analytic, numerical : float
        ``a`` and ``n`` at ``worst_index`` (``u·∇L`` in "fast" mode).
    n_kinks, kink_indices, bad_indices
        Elements whose ``±eps`` crossed a kink; them; the failing ones, worst first (≤ 100).
    directional, directions : (float, float) or None, list of (float, float)
        ``(backprop, numerical)`` ``u·∇L`` of the worst direction, and of every one.
    hint : str
        A pattern recognised in a failure (constant factor, transpose, all zeros, ...).
    analytic_grad, numerical_grad : ndarray or None
        The full gradients when every element was checked.
    kink_rule : {"excluded", "between"}
        Kinks from ``kink_state()`` (not checked), or from one-sided differences (passes
        between them).
    n_elements : int or None
        The array's size when only a sample of its elements was checked.
    unlocated : bool
        A direction disagreed but no sampled element did (a FAIL; ``mode="full"`` finds it).
    """

    name: str
    shape: tuple[int, ...]
    mode: str
    n_checked: int
    n_bad: int
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...] | None
    analytic: float
    numerical: float
    mean_abs_error: float = 0.0
    n_kinks: int = 0
    kink_indices: list[tuple[int, ...]] = field(default_factory=list)
    bad_indices: list[tuple[int, ...]] = field(default_factory=list)
    directional: tuple[float, float] | None = None
    directions: list[tuple[float, float]] = field(default_factory=list)
    hint: str = ""
    analytic_grad: np.ndarray | None = field(default=None, repr=False)
    numerical_grad: np.ndarray | None = field(default=None, repr=False)
    kink_rule: str = "excluded"
    n_elements: int | None = None
    unlocated: bool = False

    @property
    def passed(self) -> bool:
        """No element out of tolerance (elements near a kink are not counted), and no wrong
        direction left unexplained."""
        return self.n_bad == 0 and not self.unlocated

    @property
    def status(self) -> str:
        """"FAIL" if any element is out of tolerance, else "KINK" if some element sat near a
        kink and could not be checked, else "PASS"."""
        if self.n_bad or self.unlocated:
            return "FAIL"
        return "KINK" if self.n_kinks else "PASS"

    def describe_worst(self) -> str:
        """``W1[3, 7]: backprop 1.2e-02, numerical 6.1e-03 (abs err ..., rel err ...)``."""
        where = "u.grad" if self.worst_index is None else format_index(self.name,
                                                                        self.worst_index)
        return (f"{where}: backprop {self.analytic:.6e}, numerical {self.numerical:.6e} "
                f"(abs err {self.max_abs_error:.2e}, rel err {self.max_rel_error:.2e})")

    def _row(self) -> list[str]:
        if self.n_checked or self.directional is None:
            checked = str(self.n_checked) + ("*" if self.n_elements else "")
            index = "-" if self.worst_index is None else format_index("", self.worst_index)
            index = index or "()"
        else:
            n_dirs = len(self.directions) if self.directions else 1
            checked, index = _plural(n_dirs, "dir"), "u.grad"
        return [self.name, str(self.shape), checked, f"{self.max_abs_error:.2e}",
                f"{self.max_rel_error:.2e}", index, f"{self.analytic:+.6e}",
                f"{self.numerical:+.6e}", str(self.n_bad), self.status]


_HEADER = ["param", "shape", "checked", "max abs err", "max rel err", "worst index",
           "backprop", "numerical", "#bad", "status"]
_LEFT = {0, 1, 5, 9}  # left-aligned columns; numbers are right-aligned


@dataclass
class EpsSweep:
    """The error of one element's central difference at steps 10^-1 ... 10^-10.

    Too large a step leaves truncation error (falling as h²), too small a step rounding error
    (rising as u/h): the error against the step is a V, whose bottom is the best step.

    Attributes
    ----------
    index : tuple of int
        The element swept (the worst one of the array).
    steps, errors : list of float
        Each step and ``|backprop - central difference|`` at it.
    """

    name: str
    index: tuple[int, ...]
    steps: list[float]
    errors: list[float]

    @property
    def best_step(self) -> float:
        return self.steps[int(np.nanargmin(self.errors))]

    @property
    def best_error(self) -> float:
        return float(np.nanmin(self.errors))

    def describe(self) -> str:
        return (f"eps sweep of {format_index(self.name, self.index)}: best step "
                f"{self.best_step:g} (error {self.best_error:.2e}); errors "
                + ", ".join(f"{h:g}: {e:.1e}" for h, e in zip(self.steps, self.errors,
                                                                strict=True)))


@dataclass
class LayerFinding:
    """A layer whose own backward is wrong at the input it received in the network."""

    position: int
    name: str
    kind: str
    wrong: list[str]
    right: list[str]
    report: GradCheckReport | None = field(default=None, repr=False)

    def describe(self) -> str:
        wrong = ", ".join(_grad_name(w) for w in self.wrong)
        right = ", ".join(_grad_name(r) for r in self.right)
        return (f"layer {self.position} ({self.name}, {self.kind}): {wrong} wrong"
                + (f", {right} right" if right else ""))


def _grad_name(name: str) -> str:
    return "grad of the input" if name == "x" else name


@dataclass
class GradCheckReport:
    """Result of :func:`check_gradients`, :func:`check_layer` or :func:`check_function`.

    Attributes
    ----------
    mode : {"full", "fast"}
    eps, rtol, atol : float
        Step of the central differences and the tolerances used.
    results : dict of str to ParamResult
        One entry per checked array, in the order of ``net.params``.
    notes : list of str
        Things the user should know that do not make the check fail (a float64 copy was
        checked, a gradient is zero, a fast check fell back to full mode, ...).
    problems : list of str
        Failures not tied to one element (a missing gradient, ``backward`` modifying ``dout``).
    precision : str
        The dtypes of the two sides: "float64", or e.g. "float32 backprop, float64 numerical
        (shadow)".
    kind : str
        What a row is: "param" (a network's parameter) or "input" (a function's argument).
    sweeps : dict of str to EpsSweep
        With ``eps_sweep=True``: the error against the step, per array.
    layers : list of LayerFinding
        With ``locate=True``: every layer whose own backward is wrong, in forward order.
    """

    mode: str
    eps: float
    rtol: float
    atol: float
    results: dict[str, ParamResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    precision: str = "float64"
    kind: str = "param"
    sweeps: dict[str, EpsSweep] = field(default_factory=dict)
    layers: list[LayerFinding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when at least one array was checked, none has an element out of tolerance,
        and there are no problems (a check of nothing does not pass)."""
        return (not self.problems and bool(self.results)
                and all(r.passed for r in self.results.values()))

    @property
    def failed(self) -> list[str]:
        """Names of the arrays with elements out of tolerance."""
        return [name for name, r in self.results.items() if not r.passed]

    @property
    def n_kinks(self) -> int:
        return sum(r.n_kinks for r in self.results.values())

    def __getitem__(self, name: str) -> ParamResult:
        return self.results[name]

    def summary(self) -> str:
        """One line: PASSED / FAILED and why."""
        n_params = len(self.results)
        n_elems = sum(r.n_checked for r in self.results.values())
        n_dirs = sum(len(r.directions) or 1 for r in self.results.values()
                     if r.directional is not None and r.mode == "fast")
        counts = [_plural(n_elems, "element")] if n_elems or not n_dirs else []
        counts += [_plural(n_dirs, "direction")] if n_dirs else []
        scope = f"{_plural(n_params, 'array')}, {' + '.join(counts)}"
        excluded = sum(r.n_kinks for r in self.results.values() if r.kink_rule == "excluded")
        between = self.n_kinks - excluded
        kinks = (f"; {_plural(excluded, 'element')} near a ReLU kink not checked"
                 if excluded else "")
        kinks += (f"; {_plural(between, 'element')} at a kink, between the one-sided "
                  "differences" if between else "")
        if self.passed:
            return (f"PASSED: {scope} within |backprop - numerical| <= atol + rtol*|numerical|"
                    f"{kinks}")
        parts = [f"{name} ({self.results[name].n_bad} bad)" if self.results[name].n_bad
                 else f"{name} (a wrong direction)" for name in self.failed]
        parts += [f"{len(self.problems)} problem(s)"] if self.problems else []
        if not parts:
            return f"FAILED: nothing was checked ({scope})"
        return f"FAILED: {', '.join(parts)} of {scope}{kinks}"

    def details(self) -> list[str]:
        """Lines about each failing or kinked array, then problems and notes."""
        lines: list[str] = []
        for r in self.results.values():
            if r.n_bad:
                lines.append(f"{r.name}: {r.n_bad} of {r.n_checked} elements out of tolerance;"
                             f" worst {r.describe_worst()}")
                if r.hint:
                    lines.append(f"    hint: {r.hint}")
                if r.n_bad > 1:
                    shown = ", ".join(format_index(r.name, i) for i in r.bad_indices[:_MAX_LISTED])
                    more = f", ... ({r.n_bad - _MAX_LISTED} more)" if r.n_bad > _MAX_LISTED else ""
                    lines.append(f"    out of tolerance: {shown}{more}")
            if r.n_kinks:
                shown = ", ".join(format_index(r.name, i) for i in r.kink_indices[:_MAX_LISTED])
                more = ", ..." if r.n_kinks > _MAX_LISTED else ""
                if r.kink_rule == "between":
                    lines.append(f"{r.name}: {r.n_kinks} element(s) at a kink (the one-sided "
                                 f"differences disagree and stay apart at half the step); "
                                 f"backprop must lie between them there: {shown}{more}")
                else:
                    lines.append(f"{r.name}: {r.n_kinks} element(s) moved a ReLU input across "
                                 f"0 between -eps and +eps, so the central difference mixes "
                                 f"both slopes; not checked: {shown}{more}")
            if r.n_elements:
                lines.append(f"{r.name}: {r.n_checked:,} of its {r.n_elements:,} elements "
                             "were checked (a seeded random sample; * in the table)")
            if r.unlocated and r.directional is not None:
                a_d, n_d = r.directional
                lines.append(f"{r.name}: a random direction disagreed (u.grad: backprop "
                             f"{a_d:.6e}, numerical {n_d:.6e}) but no element of the sample "
                             f"did: the wrong elements are outside it; mode='full' finds them")
        if self.layers:
            lines.append("wrong layers (each checked at the input it receives in the network): "
                         + "; ".join(f.describe() for f in self.layers))
        lines += [sweep.describe() for sweep in self.sweeps.values()]
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"note: {n}" for n in self.notes]
        return lines

    def __str__(self) -> str:
        rows = [[self.kind, *_HEADER[1:]]] + [r._row() for r in self.results.values()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
        table = ["  ".join(cell.ljust(w) if i in _LEFT else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                 for row in rows]
        title = (f"kobai gradient check: mode={self.mode}, eps={self.eps:g}, "
                 f"rtol={self.rtol:g}, atol={self.atol:g}, {self.precision}")
        return "\n".join([title, *table, self.summary(), *self.details()])

    def raise_if_failed(self) -> None:
        """Raise an ``AssertionError`` naming each failing array, its worst index and values."""
        if self.passed:
            return
        if not self.results and not self.problems:
            raise AssertionError(f"gradient check failed: nothing was checked\n\n{self}")
        lines = ["gradient check failed (backprop vs central differences, |a - n| > "
                 f"atol + rtol*|n| with rtol={self.rtol:g}, atol={self.atol:g}):"]
        for name in self.failed:
            r = self.results[name]
            if r.unlocated and not r.n_bad:
                lines.append(f"  {name}: a random direction disagreed, but none of the "
                             f"{r.n_checked} sampled elements")
                continue
            lines.append(f"  {name}: {r.n_bad} of {r.n_checked} elements out of tolerance; "
                         f"worst {r.describe_worst()}" + (f"; {r.hint}" if r.hint else ""))
        if self.layers:
            lines.append("  wrong layers: " + "; ".join(f.describe() for f in self.layers))
        lines += [f"  {p}" for p in self.problems]
        raise AssertionError("\n".join(lines) + "\n\n" + str(self))
