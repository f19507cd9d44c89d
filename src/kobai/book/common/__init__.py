"""The book's ``common`` package (``functions``, ``gradient``, ``layers``, ``optimizer``,
``multi_layer_net``, ``multi_layer_net_extend``, ``trainer``, ``util``) as thin adapters over
kobai: the book's names, signatures and semantics, kobai's layers, optimizers and checks."""
