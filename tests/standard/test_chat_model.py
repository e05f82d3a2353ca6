"""LangChain's standard chat-model suites (``langchain-tests``) for lcelkit's local
models: :class:`~lcelkit.chains.llm_hf.LocalChatHuggingFace` (transformers) and
:class:`~lcelkit.chains.llm_openvino.LocalChatOpenVINO` (the same model on OpenVINO, what
``llm.backend`` ``auto`` answers with on a CPU), each built from plain parameters as
``ChatOllama`` is from ``model=``. The integration suites run the real
SmolLM2-135M-Instruct GGUF (README command 1 installs it; its OpenVINO export is cached,
so README command 1 has usually made it already).

What a 135M local model cannot do is marked not applicable, each with its reason: it
has no native tool calling (its chat template has no tool format and transformers does
not parse tool calls from generated text; the agent's text ReAct path drives it
instead), hence no tool-based structured output, and it reads text only.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from lcelkit.chains.llm_hf import LocalChatHuggingFace
from lcelkit.chains.llm_openvino import LocalChatOpenVINO
from tests.standard.conftest import smollm2_gguf

NO_TOOLS = (
    "not applicable: SmolLM2-135M has no native tool calling (no tool format in its chat "
    "template; transformers parses no tool calls); lcelkit's agent uses text ReAct"
)
NO_STRUCTURED = (
    "not applicable: structured output goes through native tool calling, which a 135M "
    "local model does not have"
)
TEXT_ONLY = "not applicable: SmolLM2-135M is a text-only model (no image/audio/PDF input)"


def _not_applicable(reason: str) -> Any:
    """The suite's own way to opt out of a test (it refuses any other override): an
    ``xfail`` with the reason, not run."""

    @pytest.mark.xfail(reason=reason, run=False)
    def test(self: Any, *args: Any, **kwargs: Any) -> None:
        """Not applicable to this model (see the reason)."""

    return test


class _Capabilities:
    """What the local model can do, stated once for both suites."""

    @property
    def chat_model_class(self) -> type[LocalChatHuggingFace]:
        return LocalChatHuggingFace

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_tool_choice(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False


class TestLocalChatUnit(_Capabilities, ChatModelUnitTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        # Construction loads nothing (the weights load at the first call), so the unit
        # suite needs no model file.
        return {"model_id": "models/SmolLM2-135M-Instruct.Q4_1.gguf"}

    test_serdes = _not_applicable(
        "not applicable: a local model is rebuilt from its file, not serialized "
        "(is_lc_serializable() is False, as for ChatOllama)"
    )


@pytest.mark.integration
class TestLocalChatIntegration(_Capabilities, ChatModelIntegrationTests):
    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # Short replies keep the suite fast (the standard 100 tokens take ~4 s a call on
        # one loaded CPU core); greedy decoding (temperature 0) keeps it repeatable.
        return {**super().standard_chat_model_params, "max_tokens": 8}

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # Also for the models the suite builds from these alone (test_stop_sequence).
        return {"model_id": str(smollm2_gguf()), "max_new_tokens": 8}

    test_tool_calling = _not_applicable(NO_TOOLS)
    test_tool_calling_async = _not_applicable(NO_TOOLS)
    test_bind_runnables_as_tools = _not_applicable(NO_TOOLS)
    test_tool_message_histories_string_content = _not_applicable(NO_TOOLS)
    test_tool_message_histories_list_content = _not_applicable(NO_TOOLS)
    test_tool_choice = _not_applicable(NO_TOOLS)
    test_tool_calling_with_no_arguments = _not_applicable(NO_TOOLS)
    test_tool_message_error_status = _not_applicable(NO_TOOLS)
    test_structured_few_shot_examples = _not_applicable(NO_TOOLS)
    test_agent_loop = _not_applicable(NO_TOOLS)
    test_unicode_tool_call_integration = _not_applicable(NO_TOOLS)
    test_structured_output = _not_applicable(NO_STRUCTURED)
    test_structured_output_async = _not_applicable(NO_STRUCTURED)
    test_structured_output_pydantic_2_v1 = _not_applicable(NO_STRUCTURED)
    test_structured_output_optional_param = _not_applicable(NO_STRUCTURED)
    test_json_mode = _not_applicable(NO_STRUCTURED)
    test_pdf_inputs = _not_applicable(TEXT_ONLY)
    test_audio_inputs = _not_applicable(TEXT_ONLY)
    test_image_inputs = _not_applicable(TEXT_ONLY)
    test_image_tool_message = _not_applicable(TEXT_ONLY)
    test_pdf_tool_message = _not_applicable(TEXT_ONLY)
    test_anthropic_inputs = _not_applicable(
        "not applicable: Anthropic-format content blocks (tool_use, images) need tools "
        "and images, which this model does not take"
    )
    test_stream_time = _not_applicable(
        "not applicable: it replays recorded HTTP (VCR); the local model makes no HTTP calls"
    )


class _OnOpenVINO:
    """The same suites on the OpenVINO backend (everything else as stated above)."""

    @property
    def chat_model_class(self) -> type[LocalChatOpenVINO]:
        return LocalChatOpenVINO


class TestLocalChatOpenVINOUnit(_OnOpenVINO, TestLocalChatUnit):
    pass


@pytest.mark.integration
class TestLocalChatOpenVINOIntegration(_OnOpenVINO, TestLocalChatIntegration):
    pass
