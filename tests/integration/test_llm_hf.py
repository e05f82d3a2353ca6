"""The Hugging Face backend on the tiny local GPT-2: invoke, stream, limits, LoRA adapters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate

from lcelkit import factories
from lcelkit.chains.llms import make_chat_model, supports_native_tools
from lcelkit.settings import get_settings

pytestmark = pytest.mark.integration

MAX_NEW = 16


@pytest.fixture(scope="module")
def llm(tiny_hf_model):
    """Greedy (temperature 0), so every call on the same prompt gives the same text."""
    return make_chat_model(
        "huggingface", str(tiny_hf_model), max_new_tokens=MAX_NEW, temperature=0.0
    )


@pytest.fixture(scope="module")
def lora_adapter(tiny_hf_model, tmp_path_factory) -> Path:
    """A LoRA adapter on the tiny model with random (non-zero) weights, saved by peft."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(7)
    base = AutoModelForCausalLM.from_pretrained(tiny_hf_model)
    config = LoraConfig(
        r=4,
        lora_alpha=64,
        target_modules=["c_attn"],
        fan_in_fan_out=True,
        init_lora_weights=False,  # random B: the adapter really changes the output
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(base, config)
    out = tmp_path_factory.mktemp("lora") / "adapter"
    peft_model.save_pretrained(out)
    return out


def test_invoke_returns_text_and_usage(llm):
    reply = llm.invoke([SystemMessage(content="You are terse."), HumanMessage(content="hello")])
    assert isinstance(reply, AIMessage)
    assert isinstance(reply.content, str) and reply.content
    assert reply.usage_metadata["input_tokens"] > 0
    assert reply.usage_metadata["output_tokens"] == MAX_NEW
    assert reply.response_metadata["finish_reason"] == "length"
    # The prompt is not echoed back (return_full_text=False behaviour).
    assert "You are terse." not in reply.content


def test_max_new_tokens_is_respected(llm, tiny_hf_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_hf_model)
    short = llm.invoke("hello", max_new_tokens=4)
    assert short.usage_metadata["output_tokens"] == 4
    long = llm.invoke("hello")
    assert long.usage_metadata["output_tokens"] == MAX_NEW
    assert len(tok(short.content, add_special_tokens=False)["input_ids"]) <= 6
    assert long.content.startswith(short.content[:2])


def test_stream_yields_tokens_progressively(llm):
    whole = llm.invoke("hello").content
    pieces = [c.content for c in llm.stream("hello") if c.content]
    assert len(pieces) > 1
    assert "".join(pieces) == whole


def test_async_stream_and_events_in_a_chain(llm):
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | llm

    async def run() -> tuple[str, int, str]:
        parts = [c.content async for c in chain.astream({"q": "hello"})]
        events = [
            e async for e in chain.astream_events({"q": "hello"}, version="v2")
            if e["event"] == "on_chat_model_stream" and e["data"]["chunk"].content
        ]  # fmt: skip
        whole = (await chain.ainvoke({"q": "hello"})).content
        return "".join(parts), len(events), whole

    streamed, n_events, whole = asyncio.run(run())
    assert streamed == whole
    assert n_events > 1


def test_stop_sequence_cuts_the_reply(llm):
    whole = llm.invoke("hello").content
    assert len(whole) >= 6
    stop = whole[3:6]
    cut = llm.invoke("hello", stop=[stop]).content
    assert stop not in cut
    assert whole.startswith(cut)
    streamed = "".join(c.content for c in llm.stream("hello", stop=[stop]))
    assert streamed == cut


def test_tool_messages_and_assistant_last_are_accepted(llm):
    # ChatHuggingFace alone refuses these; the ReAct loop needs them.
    history = [
        HumanMessage(content="search please"),
        AIMessage(content="", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "1"}]),
        ToolMessage(content="result text", tool_call_id="1"),
    ]
    assert llm.invoke(history).content
    assert llm.invoke([HumanMessage(content="hi"), AIMessage(content="Thought:")]).content
    assert supports_native_tools(llm) is False


def test_lora_adapter_loads_on_top_and_changes_the_output(llm, tiny_hf_model, lora_adapter):
    base_text = llm.invoke("hello").content
    tuned = make_chat_model(
        "huggingface",
        str(tiny_hf_model),
        adapter=str(lora_adapter),
        max_new_tokens=MAX_NEW,
        temperature=0.0,
    )
    tuned_text = tuned.invoke("hello").content
    assert tuned_text and tuned_text != base_text
    # The adapter folder alone also works: its base comes from adapter_config.json.
    config = json.loads((lora_adapter / "adapter_config.json").read_text())
    assert Path(config["base_model_name_or_path"]) == Path(tiny_hf_model)
    alone = make_chat_model(
        "huggingface", str(lora_adapter), max_new_tokens=MAX_NEW, temperature=0.0
    )
    assert alone.invoke("hello").content == tuned_text
    assert alone.context_window == 1024  # the base model's n_positions


def test_merged_model_folder_just_loads(tiny_hf_model, lora_adapter, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_hf_model)
    merged = PeftModel.from_pretrained(base, lora_adapter).merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    AutoTokenizer.from_pretrained(tiny_hf_model).save_pretrained(tmp_path / "merged")
    # fp32: bf16 (the CPU default where the CPU has it) merges and rounds in another order,
    # which a random-weight model's near-tied logits notice.
    tuned = make_chat_model(
        "huggingface", str(tiny_hf_model), adapter=str(lora_adapter),
        max_new_tokens=MAX_NEW, temperature=0.0, dtype="fp32",
    )  # fmt: skip
    from_merged = make_chat_model(
        "huggingface", str(tmp_path / "merged"), max_new_tokens=MAX_NEW, temperature=0.0,
        dtype="fp32",
    )  # fmt: skip
    assert from_merged.invoke("hello").content == tuned.invoke("hello").content


def test_factories_build_the_hf_backend_from_settings(tiny_hf_model, monkeypatch):
    for var in ("LCELKIT_CONTEXT_WINDOW", "LCELKIT_LLM_MODEL", "LCELKIT_MAX_NEW_TOKENS"):
        monkeypatch.delenv(var, raising=False)
    settings = get_settings(
        llm={"provider": "huggingface", "model": str(tiny_hf_model), "max_new_tokens": 8}
    )
    assert factories.resolve_context_window(settings) == 1024  # n_positions of the tiny GPT-2
    chat = factories.make_llm(settings)
    assert chat.context_window == 1024
    assert chat.invoke("hi").usage_metadata["output_tokens"] == 8
    text = "표 3은 지역별 매출을 보여 줍니다. Revenue grew."
    from_llm = factories.make_token_counter(settings, chat)
    without_llm = factories.make_token_counter(settings)  # tokenizer only, no weights
    exact = len(chat.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert from_llm(text) == without_llm(text) == exact


def test_counted_chat_prompt_never_undercounts_the_rendered_template(tiny_hf_model):
    from transformers import AutoTokenizer

    from lcelkit.chains.tokens import count_messages, hf_counter

    tok = AutoTokenizer.from_pretrained(tiny_hf_model)
    counter = hf_counter(tok)
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    conversations = [
        [HumanMessage("hi")],
        [SystemMessage("You answer briefly."), HumanMessage("What is 2+2?")],
        [
            SystemMessage("Use the tools."),
            HumanMessage("서울 지사의 3분기 매출은?"),
            AIMessage("152억 원입니다."),
            HumanMessage("And Berlin?"),
            AIMessage("I do not know."),
            HumanMessage("ok " * 50),
        ],
    ]
    for messages in conversations:
        rendered = tok.apply_chat_template(
            [{"role": roles[m.type], "content": m.content} for m in messages],
            tokenize=True,
            add_generation_prompt=True,
        )["input_ids"]
        counted = count_messages(counter, messages)
        assert counted >= len(rendered), (counted, len(rendered))
        assert counted <= len(rendered) + 4 * len(messages) + 8  # close, not wildly over
