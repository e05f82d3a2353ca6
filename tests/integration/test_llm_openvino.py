"""The OpenVINO chat backend (``chains.llm_openvino``) on the tiny local GPT-2: the same
answers as transformers, exported once, no torch on the warm path, and a failed export
that falls back (``auto``) or says what to do (``openvino``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

import lcelkit.chains.llm_openvino as ov_llm
import lcelkit.chains.llm_openvino_ir as ov_ir
from lcelkit.chains.llm_hf import LocalChatHuggingFace
from lcelkit.chains.llms import make_chat_model
from lcelkit.errors import ConfigError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [
    [HumanMessage("hi")],
    [SystemMessage("Answer from the context.\n[1] North · Q3 = 15.2"), HumanMessage("Q3?")],
    [HumanMessage("서울 지점의 직원 수는 몇 명입니까? " * 20)],  # a longer prompt
]


@pytest.fixture()
def ov_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An OpenVINO cache of the test's own, and no runner compiled by an earlier test."""
    cache = tmp_path / "openvino"
    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(cache))
    monkeypatch.setattr(ov_ir, "_RUNNERS", {})
    return cache


def test_the_openvino_backend_answers_token_for_token_as_transformers(tiny_hf_model, ov_cache):
    chat = make_chat_model("huggingface", str(tiny_hf_model), max_new_tokens=24)
    assert type(chat).__name__ == "LocalChatOpenVINO"  # backend auto, openvino installed
    reference = LocalChatHuggingFace(model_id=str(tiny_hf_model), max_new_tokens=24, dtype="fp32")
    for messages in PROMPTS:
        got, expected = chat.invoke(messages), reference.invoke(messages)
        assert got.content == expected.content
        assert got.usage_metadata == expected.usage_metadata
        streamed = [c.content for c in chat.stream(messages) if c.content]
        assert len(streamed) > 1 and "".join(streamed) == expected.content
    stop = expected.content[5:9]  # a piece of the reply: both cut the reply before it
    assert (
        chat.invoke(PROMPTS[0], stop=[stop]).content
        == reference.invoke(PROMPTS[0], stop=[stop]).content
    )
    assert len(list(ov_cache.joinpath("llm").iterdir())) == 1  # exported once, kept


def test_the_tokenizer_and_template_match_transformers(tiny_hf_model):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(tiny_hf_model)
    tokenizer = ov_llm.chat_tokenizer(Path(tiny_hf_model))
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "표 3은 지역별 매출을 보여 줍니다. Revenue?"},
        {"role": "assistant", "content": "15.2"},
        {"role": "user", "content": "And Q4?"},
    ]
    for generation in (False, True):
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )
        assert text == reference.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )
        assert tokenizer.encode(text) == reference(text, add_special_tokens=False)["input_ids"]
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == reference.decode(ids, skip_special_tokens=True)


def test_a_warm_process_answers_without_importing_torch_or_transformers(tiny_hf_model, ov_cache):
    make_chat_model("huggingface", str(tiny_hf_model), max_new_tokens=4)  # exports it
    code = (
        "import json, sys\n"
        "from lcelkit.chains.llms import check_backend, make_chat_model\n"
        f"check_backend('huggingface', {str(tiny_hf_model)!r})\n"
        f"chat = make_chat_model('huggingface', {str(tiny_hf_model)!r}, max_new_tokens=4)\n"
        "reply = chat.invoke('hi')\n"
        "print(json.dumps([type(chat).__name__, reply.usage_metadata['output_tokens'],\n"
        "                  'torch' in sys.modules, 'transformers' in sys.modules]))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        "LocalChatOpenVINO",
        4,
        False,
        False,
    ]


def test_a_failed_export_falls_back_under_auto_and_is_a_config_error_when_asked_for(
    tiny_hf_model, ov_cache, monkeypatch, caplog
):
    calls: list[Path] = []

    def broken(folder: Path, work: Path) -> None:
        calls.append(folder)
        raise RuntimeError("unsupported operation aten::frobnicate")

    monkeypatch.setattr(ov_ir, "_export", broken)
    chat = make_chat_model("huggingface", str(tiny_hf_model), max_new_tokens=4)
    assert type(chat) is LocalChatHuggingFace  # transformers answers instead
    assert chat.invoke("hi").usage_metadata["output_tokens"] == 4
    assert "aten::frobnicate" in caplog.text and "answering with transformers" in caplog.text
    with pytest.raises(ConfigError) as raised:
        make_chat_model("huggingface", str(tiny_hf_model), max_new_tokens=4, backend="openvino")
    assert "aten::frobnicate" in raised.value.message
    assert "LCELKIT_LLM__BACKEND=transformers" in (raised.value.hint or "")
    assert len(calls) == 1  # the reason is kept: no second try with the same files
    assert not [p for p in ov_cache.joinpath("llm").iterdir() if not p.name.endswith(".failed")]


def test_backend_choice(tiny_hf_model, ov_cache):
    assert (
        make_chat_model(
            "huggingface", str(tiny_hf_model), max_new_tokens=4, backend="transformers"
        ).__class__
        is LocalChatHuggingFace
    )
    assert not ov_llm.wants_openvino(
        "auto", "m", adapter="/some/adapter", device="cpu", dtype="auto"
    )  # an adapter: transformers
    assert not ov_llm.wants_openvino("auto", "m", adapter=None, device="cpu", dtype="bf16")
    with pytest.raises(ConfigError, match="without adapter, in fp32, on the CPU"):
        ov_llm.wants_openvino("openvino", "m", adapter=None, device="cuda", dtype="auto")
    assert not ov_cache.exists()  # nothing exported for any of these


def test_an_adapter_folder_given_as_the_model_runs_with_transformers(tmp_path, ov_cache):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "x"}')
    assert ov_llm.make_openvino(str(adapter), backend="auto") is None  # nothing exported
    with pytest.raises(ConfigError, match="adapter folder"):
        ov_llm.make_openvino(str(adapter), backend="openvino")
    assert not ov_cache.exists()
