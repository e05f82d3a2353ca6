"""Context windows: the defaults and the rule that picks one (no backend imports here).

Each backend module finds its model's own window (``llm_ollama.ollama_context_window``,
``hf_files.hf_context_window``); :func:`pick_window` turns what was found into the window
used, so the backends and the dispatcher in ``chains.llms`` share one rule without
importing each other.
"""

from __future__ import annotations

__all__ = ["DEFAULT_CONTEXT_WINDOW", "MAX_AUTO_CONTEXT_WINDOW", "pick_window"]

DEFAULT_CONTEXT_WINDOW = 4096
MAX_AUTO_CONTEXT_WINDOW = 8192


def pick_window(
    configured: int | None,
    found: int | None,
    *,
    default: int = DEFAULT_CONTEXT_WINDOW,
    cap: int = MAX_AUTO_CONTEXT_WINDOW,
) -> tuple[int, str]:
    """``(window, how)``: the configured window, else the discovered one capped at ``cap``,
    else ``default``; ``how`` is ``"configured"``, ``"discovered"``, ``"discovered, capped"``
    or ``"default"`` (for the log)."""
    if configured:
        return int(configured), "configured"
    if found:
        return (cap, "discovered, capped") if found > cap else (found, "discovered")
    return default, "default"
