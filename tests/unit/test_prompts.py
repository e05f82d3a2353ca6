"""Every named prompt renders with its declared variables and no leftovers."""

from __future__ import annotations

import re
from importlib import import_module

import pytest
from langchain_core.prompts import BasePromptTemplate

from lcelkit.prompts import MODULES, all_prompts, get_prompt


def _sample(name: str) -> str:
    return f"<{name}-value>"


PROMPTS = all_prompts()


def test_every_module_contributes_prompts_named_after_it():
    assert MODULES, "prompts.MODULES lists the prompt modules"
    for module_name in MODULES:
        module = import_module(f"lcelkit.prompts.{module_name}")
        assert module.PROMPTS, f"prompts.{module_name} defines no prompt"
        for name in module.PROMPTS:
            assert name.startswith(module_name + "."), f"{name} should start with {module_name}."


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_prompt_renders_every_variable(name):
    template: BasePromptTemplate = get_prompt(name)
    values = {}
    for var in template.input_variables:
        values[var] = [] if var in {"chat_history", "history", "messages"} else _sample(var)
    rendered = template.invoke(values).to_string()
    for var, value in values.items():
        if isinstance(value, str):
            assert value in rendered, f"{name}: variable {var} not rendered"
    leftover = re.findall(r"\{[A-Za-z_][A-Za-z0-9_]*\}", rendered)
    assert not leftover, f"{name}: unfilled placeholders {leftover}"


def test_unknown_prompt_lists_the_known_ones():
    with pytest.raises(KeyError, match="known:"):
        get_prompt("no.such.prompt")
