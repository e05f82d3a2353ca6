"""int8 matrix products for the local chat model (``chains.llm_int8``): when they are
chosen, and that the quantized layers are computed once and read back from disk.

A tiny random Llama (its linear layers are ``nn.Linear``, as in SmolLM2), built here
with the tokenizer of the suite's tiny GPT-2.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lcelkit.errors import ConfigError


@pytest.fixture(scope="module")
def tiny_llama(tiny_hf_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny_llama") / "model"
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    for item in tiny_hf_model.iterdir():
        if "token" in item.name or "template" in item.name:
            shutil.copy(item, folder / item.name)
    return folder


@pytest.fixture
def int8_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from lcelkit.chains import llm_hf

    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(llm_hf, "_LOADED", {})  # every load in the test is a new process's
    return tmp_path / "cache" / "llm-int8"


def _features(monkeypatch: pytest.MonkeyPatch, **flags: bool) -> None:
    from lcelkit.chains import openvino_cache

    found = {"bf16": False, "amx": False, "vnni": True, "avx512": True, **flags}
    monkeypatch.setattr(openvino_cache, "cpu_features", lambda: found)


@pytest.mark.parametrize(
    ("flags", "dtype", "device", "adapter", "expected"),
    [
        ({}, "auto", "cpu", None, True),  # no bf16, VNNI: int8
        ({"bf16": True}, "auto", "cpu", None, False),  # native bf16 wins
        ({"vnni": False}, "auto", "cpu", None, False),  # no int8 kernels: fp32
        ({}, "auto", "cpu", "adapter/", False),  # LoRA layers stay as they are
        ({}, "auto", "cuda", None, False),
        ({}, "fp32", "cpu", None, False),
        ({"vnni": False}, "int8", "cpu", None, True),  # asked for
    ],
)
def test_int8_is_chosen_on_cpus_without_bf16_that_have_vnni(
    monkeypatch, flags, dtype, device, adapter, expected
):
    from lcelkit.chains.llm_int8 import int8_chosen

    _features(monkeypatch, **flags)
    assert int8_chosen(dtype, device, adapter) is expected


def test_int8_layers_are_quantized_once_and_read_back(tiny_llama, int8_cache, monkeypatch):
    import torch
    import torch.ao.nn.quantized.dynamic as nnqd

    from lcelkit.chains import llm_hf
    from lcelkit.chains.llms import make_chat_model

    first = make_chat_model("huggingface", str(tiny_llama), dtype="int8", max_new_tokens=8)
    layers = [m for m in first.hf_model.modules() if isinstance(m, nnqd.Linear)]
    assert len(layers) == 2 * 7 + 1  # q, k, v, o, gate, up, down per layer; lm_head
    assert not any(type(m) is torch.nn.Linear for m in first.hf_model.modules())
    assert len(list(int8_cache.iterdir())) == 1  # saved once
    ids = torch.tensor([[5, 17, 300, 42, 7]])
    with torch.inference_mode():
        expected = first.hf_model(ids).logits
        fp32 = make_chat_model("huggingface", str(tiny_llama), dtype="fp32").hf_model(ids).logits
    assert not torch.equal(expected, fp32)  # int8 really runs
    answer = first.invoke("Hello").content

    def refuse(*args, **kwargs):
        raise AssertionError("quantized again instead of read from the cache")

    monkeypatch.setattr(llm_hf, "_LOADED", {})  # a later process
    monkeypatch.setattr(torch.ao.quantization, "quantize_dynamic", refuse)
    second = make_chat_model("huggingface", str(tiny_llama), dtype="int8", max_new_tokens=8)
    with torch.inference_mode():
        assert torch.equal(second.hf_model(ids).logits, expected)
    assert second.invoke("Hello").content == answer


def test_a_damaged_int8_entry_is_rebuilt_with_a_warning(
    tiny_llama, int8_cache, monkeypatch, caplog
):
    import torch

    from lcelkit.chains import llm_hf
    from lcelkit.chains.llms import make_chat_model

    ids = torch.tensor([[5, 17, 300, 42, 7]])
    first = make_chat_model("huggingface", str(tiny_llama), dtype="int8")
    with torch.inference_mode():
        expected = first.hf_model(ids).logits
    (entry,) = int8_cache.iterdir()
    (entry / "int8-state.pt").write_bytes(b"not a state dict")
    monkeypatch.setattr(llm_hf, "_LOADED", {})
    again = make_chat_model("huggingface", str(tiny_llama), dtype="int8")
    assert "unreadable" in caplog.text
    with torch.inference_mode():
        assert torch.equal(again.hf_model(ids).logits, expected)
    assert (entry / "int8-state.pt").stat().st_size > 1000  # saved again


def test_int8_with_an_adapter_is_a_config_error(tiny_llama, int8_cache, tmp_path):
    from lcelkit.chains.llms import make_chat_model

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(ConfigError) as info:
        make_chat_model("huggingface", str(tiny_llama), dtype="int8", adapter=str(adapter))
    assert "LCELKIT_LLM__DTYPE" in info.value.hint
