"""lcelkit: local-first LCEL pipelines for private RAG and agents.

Importing this package is cheap: settings, factories and models load lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["Settings", "__version__", "errors", "factories", "get_settings"]

__version__ = "0.1.0"

_LAZY = {
    "Settings": ("lcelkit.settings", "Settings"),
    "get_settings": ("lcelkit.settings", "get_settings"),
    "errors": ("lcelkit.errors", None),
    "factories": ("lcelkit.factories", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lcelkit' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = import_module(module_name)
    return module if attr is None else getattr(module, attr)
