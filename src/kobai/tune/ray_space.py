"""The search space as Ray Tune's ``param_space``: Ray Tune domains for ranges and choices,
and a domain of its own for a range of hidden widths (``[width] * depth``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from .syntax import Choice, Dimension, Fixed, copy_value

__all__ = ["hidden_widths", "to_ray"]


def to_ray(dims: Mapping[str, Dimension]) -> dict[str, Any]:
    """Ray Tune's ``param_space``: argparse name -> value or Ray Tune domain.

    A fixed value stays as it is; a range becomes ``tune.uniform``, ``tune.loguniform``,
    ``tune.randint`` or ``tune.lograndint`` (integers with HIGH included); a choice
    ``tune.choice``. A hidden range becomes a domain whose samples are the lists
    ``[width] * depth``, drawn with Ray's random state, so each trial's ``config["hidden"]``
    is a list of ints, as for a fixed value or a choice.
    """
    from ray import tune

    space: dict[str, Any] = {}
    for dest, dim in dims.items():
        if isinstance(dim, Fixed):
            space[dest] = copy_value(dim.value)
        elif isinstance(dim, Choice):
            space[dest] = tune.choice([copy_value(value) for value in dim.values])
        elif dim.depth is not None:
            space[dest] = hidden_widths(int(dim.low), int(dim.high), dim.log, dim.depth)
        elif dim.integer:  # Ray's upper bound is exclusive
            draw = tune.lograndint if dim.log else tune.randint
            space[dest] = draw(int(dim.low), int(dim.high) + 1)
        else:
            space[dest] = (tune.loguniform if dim.log else tune.uniform)(dim.low, dim.high)
    return space


def hidden_widths(low: int, high: int, log: bool, depth: int) -> Any:
    """A Ray Tune domain whose samples are ``[width] * depth``, ``width`` drawn from
    ``[low, high]`` (uniformly, or log-uniformly when ``log``) with Ray's random state."""
    return _widths_class()(low, high, log, depth)


@functools.cache
def _widths_class() -> type:
    """The class of :func:`hidden_widths`'s domains, defined on first use so that importing
    this module does not import Ray. Its instances pickle as a call of :func:`hidden_widths`."""
    import numpy as np
    from ray.tune.search.sample import Domain, Sampler

    class _WidthsSampler(Sampler):
        def sample(self, domain: Any, config: Any = None, size: int = 1,
                   random_state: Any = None) -> Any:
            if domain.log:  # floor of a log-uniform draw in [low, high + 1), as tune.lograndint
                draws = np.exp(random_state.uniform(np.log(domain.low), np.log(domain.high + 1),
                                                    size=size))
                widths = np.minimum(np.floor(draws), domain.high).astype(int)
            else:
                widths = random_state.integers(domain.low, domain.high + 1, size=size)
            items = [[int(width)] * domain.depth for width in widths]
            return items if size > 1 else items[0]

    class HiddenWidths(Domain):
        """``[width] * depth`` with ``width`` in ``[low, high]``."""

        default_sampler_cls = _WidthsSampler  # type: ignore[assignment]

        def __init__(self, low: int, high: int, log: bool, depth: int):
            self.low, self.high, self.log, self.depth = low, high, log, depth

        def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
            return hidden_widths, (self.low, self.high, self.log, self.depth)

        def __repr__(self) -> str:
            return (f"HiddenWidths(low={self.low}, high={self.high}, log={self.log}, "
                    f"depth={self.depth})")

        def is_valid(self, value: Any) -> bool:
            return (isinstance(value, list) and len(value) == self.depth
                    and len(set(value)) == 1 and self.low <= value[0] <= self.high)

        @property
        def domain_str(self) -> str:
            return f"[{'log ' if self.log else ''}{self.low}..{self.high}]x{self.depth}"

    return HiddenWidths
