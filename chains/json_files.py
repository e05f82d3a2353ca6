"""Reading a model folder's small JSON files (``config.json``, ``modules.json``, ...)
without failing: a missing or broken file reads as nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["read_json", "read_json_object"]


def read_json(path: Path) -> Any:
    """The file's JSON value; None when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_json_object(path: Path) -> dict[str, Any]:
    """:func:`read_json` for a file that holds an object; ``{}`` otherwise."""
    data = read_json(path)
    return data if isinstance(data, dict) else {}
