"""``python -m srcnn``: the same as the ``srcnn`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
