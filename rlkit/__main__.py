"""``python -m rlkit``: the command line of :mod:`rlkit.cli`."""

from __future__ import annotations

import sys

from rlkit.cli import main

# The guard matters: spawned worker processes import this module as ``__mp_main__``.
if __name__ == "__main__":
    sys.exit(main())
