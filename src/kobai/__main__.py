"""``python -m kobai``: the ``kobai`` command (:func:`kobai.cli.main`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
