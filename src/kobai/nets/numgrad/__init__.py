"""The structured numerical gradient: the book's central differences (§4.4) for every parameter
element at once, each perturbation followed only through the part of the network it changes.

``central`` states the algorithm and its accuracy; ``stages`` reads a network through its
layers' hooks (and raises :class:`~kobai.nets.UnsupportedNetwork` for a layer without them);
``tail``, ``rank1``, ``linear`` and ``kinks`` are its parts.
"""

from .central import numerical_gradient, numerical_gradient_and_kinks
from .stages import UnsupportedNetwork

__all__ = ["UnsupportedNetwork", "numerical_gradient", "numerical_gradient_and_kinks"]
