"""kobai (勾配, "gradient"): neural-network gradients by central differences and backprop.

The package follows *Deep Learning from Scratch* (ゼロから作るDeep Learning), chapters 3–8,
with the book's names: ``kobai.functions``, ``kobai.gradient``, ``kobai.layers``,
``kobai.nets``, ``kobai.optimizers``, ``kobai.gradcheck``, ``kobai.datasets``,
``kobai.trainer``, ``kobai.io``.
"""

import logging

from ._threads import auto_blas_threads, blas_threads

__version__ = "0.7.0"
__all__ = ["auto_blas_threads", "blas_threads"]

# ``blas_threads(n)`` limits NumPy's BLAS to n threads inside a ``with`` block (None: no limit);
# ``auto_blas_threads(params, batch_size)`` is the Trainer's policy (1 for small products, else
# None), to apply it to a training loop written out as in the book (see examples/ and
# ``kobai._threads`` for why).

# A library logs, an application decides where it goes: silent unless configured
# (the kobai command shows download progress on stderr).
logging.getLogger(__name__).addHandler(logging.NullHandler())
