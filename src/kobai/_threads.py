"""How many BLAS threads a training step uses: no oversubscription of a small machine.

The policy, applied by :class:`kobai.trainer.Trainer`: **one BLAS thread when the largest
matrix product of a training step is below 2**23 multiply-adds (the book's 784-50-10 at batch
100), and the BLAS default otherwise**. ``threadpoolctl`` sets the limit once around the whole
training run, not per step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext

import numpy as np

# Small products gain little from threads on an idle machine and lose a lot when a core is
# busy (threads wait for each other); larger nets (784-1000-10) gain from a second core.
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
