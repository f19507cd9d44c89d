"""``python -m kobai.book run SCRIPT`` and ``python -m kobai.book list``: ``kobai book``."""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["book", *sys.argv[1:]]))
