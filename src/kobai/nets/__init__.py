"""Networks of the book, built from layers: ``SimpleNet`` (§4.4.2), ``TwoLayerNet`` (§4.5, §5.7),
``MultiLayerNet`` (§6.1–6.4, the book's ``MultiLayerNet`` and ``MultiLayerNetExtend`` in
one), ``SimpleConvNet`` (§7.5) and ``DeepConvNet`` (§8.1), all thin builders of the generic
:class:`Network`.

:data:`NETWORKS` is the registry of network classes that checkpoints can rebuild.
"""

from .deep_conv_net import DeepConvNet
from .multi_layer_net import MultiLayerNet
from .network import Network, UnsupportedNetwork
from .options import NETS
from .simple_conv_net import SimpleConvNet
from .simple_net import SimpleNet, simpleNet
from .two_layer_net import TwoLayerNet

__all__ = ["Network", "UnsupportedNetwork", "SimpleNet", "simpleNet", "TwoLayerNet",
           "MultiLayerNet", "SimpleConvNet", "DeepConvNet", "NETWORKS"]

#: class name -> network class, for checkpoints (``kobai.io``): these, and the class of each
#: ``--net`` of :data:`kobai.nets.options.NETS`
NETWORKS: dict[str, type[Network]] = {
    cls.__name__: cls for cls in (Network, TwoLayerNet, MultiLayerNet, SimpleNet, SimpleConvNet,
                                   DeepConvNet)
}
for _kind in NETS.values():
    NETWORKS.setdefault(_kind.cls.__name__, _kind.cls)
del _kind
