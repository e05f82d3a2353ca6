"""The OpenVINO cache's key and the CPU feature override (no weights loaded)."""

from __future__ import annotations

import os
import time

from lcelkit.chains.embeddings import bf16_supported
from lcelkit.chains.openvino_cache import cache_key, cpu_features, describe_cpu


def test_no_bf16_override_hides_bf16_and_amx_only(monkeypatch):
    monkeypatch.setenv("LCELKIT_CPU_NO_BF16", "1")
    features = cpu_features()
    assert not features["bf16"] and not features["amx"] and not bf16_supported()
    monkeypatch.delenv("LCELKIT_CPU_NO_BF16")
    assert cpu_features()["vnni"] == features["vnni"]
    assert "bf16=" in describe_cpu() and "vnni=" in describe_cpu()


def test_cache_key_follows_model_files_versions_and_variant(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"weights")
    key = cache_key(folder, "fp32", ["input_ids"], {"openvino": "1"})
    assert key == cache_key(folder, "fp32", ["input_ids"], {"openvino": "1"})
    assert key != cache_key(folder, "int8", ["input_ids"], {"openvino": "1"})
    assert key != cache_key(folder, "fp32", ["input_ids"], {"openvino": "2"})
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert key != cache_key(folder, "fp32", ["input_ids"], {"openvino": "1"})
    changed = cache_key(folder, "fp32", ["input_ids"], {"openvino": "1"})
    later = time.time() + 10
    os.utime(folder / "config.json", (later, later))
    assert changed != cache_key(folder, "fp32", ["input_ids"], {"openvino": "1"})
