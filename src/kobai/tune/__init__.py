"""Hyperparameter search on Ray Tune: the book's ch. 6.5, on local cores or a cluster.

>>> from kobai.tune import SearchSpace, SearchSettings, search             # doctest: +SKIP
>>> space = SearchSpace.from_options({"lr": "1e-4:1e-1:log", "optimizer": "sgd,adam"})
>>> result = search(space, SearchSettings(trials=20, epochs=10), cpus=2)  # doctest: +SKIP
>>> result.best.config, result.test_acc                                   # doctest: +SKIP

The search space and its defaults: :mod:`kobai.tune.space`, its syntax
:mod:`kobai.tune.syntax` (the options are those of :data:`kobai.nets.options.OPTIONS`); what
a search does and writes: :mod:`kobai.tune.search`; how it runs on Ray:
:mod:`kobai.tune.engine` and :mod:`kobai.tune.ray_space`. Only the
engine needs Ray (``pip install "kobai[tune]"``); the rest imports without it.
"""

from .records import TrialResult
from .search import PRESETS, SearchResult, SearchSettings, search
from .space import SearchSpace, SpaceError

__all__ = ["PRESETS", "SearchResult", "SearchSettings", "SearchSpace", "SpaceError",
           "TrialResult", "search"]
