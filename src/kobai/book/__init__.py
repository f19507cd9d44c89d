"""The book's own module layout on kobai, and a runner for the book's unmodified scripts.

*Deep Learning from Scratch* (ゼロから作るDeep Learning) ships its code as chapter scripts
(``ch05/train_neuralnet.py``, ...) that import ``common.*`` and ``dataset.mnist`` from the
root of its repository. ``kobai.book`` provides those modules with the book's names and the
book's semantics, built on kobai's layers:

* ``kobai.book.common.functions``, ``.gradient``, ``.layers``, ``.optimizer``,
  ``.multi_layer_net``, ``.multi_layer_net_extend``, ``.trainer``, ``.util``;
* ``kobai.book.dataset.mnist.load_mnist``, the book's signature served by kobai's verified
  loader (the bundled sample or the full MNIST, never a pickle cache);
* ``kobai.book.layer_naive`` (chapter 5's ``MulLayer`` and ``AddLayer``).

:func:`run` (``kobai book run SCRIPT``) runs a book script unchanged on them
(:mod:`kobai.book.runner`); :data:`kobai.book.scripts.SCRIPTS` lists the scripts it has been
tested with (``kobai book list``). For new code, use kobai's own names (``kobai.nets``, ...).
"""

from .runner import run

__all__ = ["run"]
