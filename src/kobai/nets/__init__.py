"""Networks of the book: ``SimpleNet`` (§4.4.2), ``TwoLayerNet`` (§4.5, §5.7) and
``MultiLayerNet`` (§6.1–6.4, the book's ``MultiLayerNet`` and ``MultiLayerNetExtend`` in one)."""

from .multi_layer_net import MultiLayerNet
from .simple_net import SimpleNet, simpleNet
from .two_layer_net import TwoLayerNet

__all__ = ["SimpleNet", "simpleNet", "TwoLayerNet", "MultiLayerNet"]
