"""The structured numerical gradient: the book's central differences (§4.4) for every parameter
element at once, each perturbation followed only through the part of the network it changes.

``central`` states the algorithm and its accuracy; ``stages`` reads a network into stages that
compute with its layers' own ``apply`` (and raises :class:`~kobai.nets.UnsupportedNetwork` for a
layer without the hooks); ``tail``, ``rank1``, ``smooth``, ``linear`` and ``kinks`` are its
parts.
"""

from .central import numerical_gradient, numerical_gradient_and_kinks
from .stages import UnsupportedNetwork

__all__ = ["UnsupportedNetwork", "numerical_gradient", "numerical_gradient_and_kinks"]
