"""``Network``'s state and parameter files: ``state_dict``/``load_state_dict`` (parameters and
running statistics by name), ``astype``, and the book's ``save_params``/``load_params``
(:mod:`kobai.nets.params_file`)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .._validate import resolve_dtype

__all__ = ["NetworkState"]

Net = TypeVar("Net", bound="NetworkState")


class NetworkState:
    """The state and parameter-file methods of :class:`~kobai.nets.Network` (a mixin)."""

    params: dict[str, np.ndarray]
    dtype: np.dtype
    layers: dict[str, Any]
    last_layer: Any
    if TYPE_CHECKING:
        _bind: Callable[[], None]
        _rewire: Callable[[tuple[Any, ...]], None]
        _state_slots: list[tuple[str, Any, str]]
        _decay_out: dict[str, np.ndarray]

    def _state_arrays(self) -> dict[str, np.ndarray]:
        self._bind()
        own = dict(self.params)
        own.update({key: layer.state[skey] for key, layer, skey in self._state_slots})
        return own

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters and the layers' state (running statistics), by name."""
        return {key: arr.copy() for key, arr in self._state_arrays().items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy ``state`` (as from :meth:`state_dict`) into this net's arrays, in place."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict of name -> array, as returned by "
                            f"state_dict(), got {type(state).__name__}")
        own = self._state_arrays()
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(f"state does not match this {type(self).__name__}: missing "
                             f"{missing or 'nothing'}, unexpected {extra or 'nothing'}")
        for key, arr in own.items():
            new = np.asarray(state[key])
            if new.shape != arr.shape:
                raise ValueError(f"state[{key!r}] has shape {new.shape}; this network's "
                                 f"{key} has shape {arr.shape}")
            if new.dtype.kind != "f" or not np.all(np.isfinite(new)):
                raise ValueError(f"state[{key!r}] must hold finite floats")
        for key, arr in own.items():
            arr[...] = state[key]

    def astype(self: Net, dtype: Any) -> Net:
        """A deep copy of this network with parameters and layer state cast to ``dtype``."""
        dt = resolve_dtype(dtype)
        self._bind()
        clone = copy.deepcopy(self)
        clone.dtype = dt
        for layer in [*clone.layers.values(), clone.last_layer]:
            layer.__dict__.pop("_ws", None)  # buffers of the old dtype
            for name in ("params", "state"):
                arrays = getattr(layer, name, None)
                if isinstance(arrays, dict):
                    for key, arr in arrays.items():
                        arrays[key] = arr.astype(dt)
        clone._decay_out = {}
        clone._rewire(tuple(clone.layers.values()))
        return clone

    def save_params(self, file_name: str | os.PathLike[str] = "params.pkl") -> None:
        """Write the parameters (and running statistics) to ``file_name``: for a ``.pkl`` name
        the book's pickle of a dict of arrays, which the book's own ``load_params`` reads (the
        book's method and default name); for any other name kobai's ``.npz``. See
        :mod:`kobai.nets.params_file`."""
        from .params_file import save_params

        save_params(self, file_name)

    def load_params(self, file_name: str | os.PathLike[str] = "params.pkl") -> None:
        """Load parameters saved by :meth:`save_params`, a safetensors file of a
        ``state_dict`` or the book's trained-weight pickles (``ch07/params.pkl``,
        ``ch08/deep_convnet_params.pkl``, ...), which are read without unpickling: see
        :mod:`kobai.nets.params_file`."""
        from .params_file import load_params

        load_params(self, file_name)
