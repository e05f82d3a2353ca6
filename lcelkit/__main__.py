"""``python -m lcelkit``: the same as the ``lcelkit`` command."""

import sys

from lcelkit.cli import main

__all__: list[str] = []

sys.exit(main())
