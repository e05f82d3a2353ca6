"""``python -m lcelkit``: the same as the ``lcelkit`` command."""

from lcelkit.cli import run

__all__: list[str] = []

run()
