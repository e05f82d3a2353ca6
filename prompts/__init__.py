"""Named prompt templates. Each module in ``MODULES`` defines ``PROMPTS: dict[name, template]``.

``get_prompt("rag.answer")`` returns a template by name; ``all_prompts()`` lists them
(the prompt tests render every one of them).
"""

from __future__ import annotations

from importlib import import_module

from langchain_core.prompts import BasePromptTemplate

__all__ = ["MODULES", "all_prompts", "get_prompt"]

# One module per concern; add yours here.
MODULES: tuple[str, ...] = ("agent", "memory", "rag", "summarize")


def all_prompts() -> dict[str, BasePromptTemplate]:
    """Every named prompt of the project, ``{name: template}``."""
    found: dict[str, BasePromptTemplate] = {}
    for module_name in MODULES:
        module = import_module(f"lcelkit.prompts.{module_name}")
        for name, template in module.PROMPTS.items():
            if name in found:
                raise ValueError(f"duplicate prompt name {name!r} in prompts.{module_name}")
            found[name] = template
    return found


def get_prompt(name: str) -> BasePromptTemplate:
    """The prompt template called ``name`` (KeyError lists the known names)."""
    prompts = all_prompts()
    try:
        return prompts[name]
    except KeyError:
        raise KeyError(f"unknown prompt {name!r}; known: {', '.join(sorted(prompts))}") from None
