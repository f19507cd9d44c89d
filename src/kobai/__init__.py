"""kobai (勾配, "gradient"): neural-network gradients by central differences and backprop.

The package follows *Deep Learning from Scratch* (ゼロから作るDeep Learning), chapters 3–6,
with the book's names: ``kobai.functions``, ``kobai.gradient``, ``kobai.layers``,
``kobai.nets``, ``kobai.optimizers``, ``kobai.gradcheck``, ``kobai.datasets``,
``kobai.trainer``, ``kobai.io``.
"""

import logging

__version__ = "0.1.0"

# A library logs, an application decides where it goes: silent unless configured
# (the kobai command shows download progress on stderr).
logging.getLogger(__name__).addHandler(logging.NullHandler())
