"""How many BLAS threads a training step uses: no oversubscription of a small machine.

A matrix product of a few million multiply-adds finishes in well under a millisecond on one
core; splitting it over threads gains little when the machine is idle and, when another
process keeps a core busy, costs a great deal: the threads wait for each other (measured on
our 2-core machines: small products 1.6–2× slower with one busy neighbour, up to 100× under
heavier load). So the policy, applied by :class:`kobai.trainer.Trainer`, is: **one BLAS
thread when the largest matrix product of a training step is below 2**23 multiply-adds
(e.g. the book's 784-50-10 and 784-100-100-10 at batch 100), and the BLAS default otherwise**
(784-1000-10 and larger gain 1.3–1.6× from a second core). ``threadpoolctl`` sets the limit
once around the whole training run, not per step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext

import numpy as np

SMALL_PRODUCT = 2**23  # multiply-adds


def auto_blas_threads(params: Iterable[np.ndarray], batch_size: int) -> int | None:
    """1 for networks whose largest product is small, else None (keep the BLAS default).

    The largest product of a step is taken as ``batch_size`` times the largest parameter
    array (a weight matrix: ``x · W`` costs ``batch_size · W.size`` multiply-adds).
    """
    largest = max((arr.size for arr in params), default=0)
    return 1 if largest * batch_size < SMALL_PRODUCT else None


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit the BLAS libraries NumPy uses to ``n`` threads inside the block (None: no limit)."""
    if n is None:
        with nullcontext():
            yield
        return
    # threadpoolctl ships no type information: ignored in [tool.mypy] of pyproject.toml
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield
