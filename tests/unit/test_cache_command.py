"""``lcelkit cache``: the caches' sizes, the stale entries with their reason, prune deletes
only those, clear asks first."""

from __future__ import annotations

import json
import os
import time
from importlib import metadata
from pathlib import Path

import pytest

from lcelkit.chains.gguf import _DONE_MARKER, _cache_folder
from lcelkit.cli import main


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An XDG cache of the test's own with one entry of each kind, live or stale."""
    root = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    for name in ("LCELKIT_OPENVINO_CACHE", "LCELKIT_GGUF_CACHE", "LCELKIT_MODEL_CACHE"):
        monkeypatch.delenv(name, raising=False)
    lcelkit = root / "lcelkit"
    # a GGUF file still there, with its copy, and the copy of a file since deleted
    gguf = tmp_path / "models" / "tiny.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    live = _cache_folder(gguf)
    live.mkdir(parents=True)
    (live / "model.safetensors").write_bytes(b"\0" * 5000)
    (live / _DONE_MARKER).write_text(str(gguf), encoding="utf-8")
    gone = lcelkit / "gguf" / "old-0123456789ab"
    gone.mkdir()
    (gone / "model.safetensors").write_bytes(b"\0" * 7000)
    (gone / _DONE_MARKER).write_text(str(tmp_path / "deleted.gguf"), encoding="utf-8")
    # chat-model exports: of the live copy, of the gone copy, and by another openvino
    llm = lcelkit / "openvino" / "llm"
    versions = {n: metadata.version(n) for n in ("openvino", "transformers", "torch")}
    for name, folder, made in (
        ("live-llm1", live, versions),
        ("orphan-llm1", gone, versions),
        ("old-llm1", live, {**versions, "openvino": "2020.1.0"}),
    ):
        (llm / name).mkdir(parents=True)
        (llm / name / "openvino_model.bin").write_bytes(b"\0" * 3000)
        (llm / name / "entry.json").write_text(
            json.dumps({"format": 1, "folder": str(folder), **made}), encoding="utf-8"
        )
    # embedder exports: this openvino's and an older one's; a half-written one, old
    ov = lcelkit / "openvino"
    for name, made in (
        ("e5-fp32-aaaa", versions["openvino"] + "-1-x"),
        ("e5-fp32-bbbb", "2020.1.0-1"),
    ):
        (ov / name).mkdir()
        (ov / name / "model.bin").write_bytes(b"\0" * 2000)
        (ov / name / "entry.json").write_text(
            json.dumps({"format": 1, "openvino": made}), encoding="utf-8"
        )
    # embedder exports that record their model folder: live, folder deleted, folder changed
    from lcelkit.chains.openvino_cache import cache_key

    model = tmp_path / "e5-model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\0" * 10)
    args = {"variant": "fp32", "inputs": ["input_ids"], "versions": {"openvino": "x"}}
    live_key = cache_key(model, args["variant"], args["inputs"], args["versions"])
    for name, location, key in (
        ("e5-fp32-ffff", model, live_key),
        ("e5-fp32-gggg", tmp_path / "deleted-model", "e5-fp32-gggg"),
        ("e5-fp32-hhhh", model, "made-before-the-weights-were-replaced"),
    ):
        (ov / name).mkdir()
        (ov / name / "model.bin").write_bytes(b"\0" * 100)
        meta = {"format": 1, "openvino": versions["openvino"] + "-1-x", "key": key,
                "source": {"location": str(location), **args}}  # fmt: skip
        (ov / name / "entry.json").write_text(json.dumps(meta), encoding="utf-8")
    half = ov / ".e5-fp32-cccc-tmp1"
    half.mkdir()
    (half / "model.bin").write_bytes(b"\0" * 1000)
    day_ago = time.time() - 2 * 86400
    os.utime(half, (day_ago, day_ago))
    # tokenizer entries: this format's, and one an older lcelkit made (never read again)
    from lcelkit.chains.tokenizer_cache import _FORMAT, _META

    for name, meta in (("e5-tokenizer-dddd", {"format": _FORMAT}), ("e5-tokenizer-eeee", {})):
        (lcelkit / "tokenizers" / name).mkdir(parents=True)
        (lcelkit / "tokenizers" / name / "tokenizer.json").write_bytes(b"\0" * 500)
        (lcelkit / "tokenizers" / name / _META).write_text(json.dumps(meta), encoding="utf-8")
    (ov / "compiled").mkdir()
    (ov / "compiled" / "123.blob").write_bytes(b"\0" * 4000)
    return lcelkit


def _show(capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["cache", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_show_lists_each_area_and_says_why_an_entry_is_stale(cache, capsys):
    shown = _show(capsys)
    areas = {a["area"]: a for a in shown["areas"]}
    assert areas["gguf"]["entries"] == 2 and areas["gguf"]["stale"] == 1
    assert areas["compiled"]["bytes"] == 4000 and areas["compiled"]["stale"] == 0
    why = {Path(s["path"]).name: s["why"] for s in shown["stale"]}
    assert set(why) == {"old-0123456789ab", "orphan-llm1", "old-llm1", "e5-fp32-bbbb",
                        ".e5-fp32-cccc-tmp1", "e5-tokenizer-eeee", "e5-fp32-gggg",
                        "e5-fp32-hhhh"}  # fmt: skip
    assert "deleted.gguf is gone" in why["old-0123456789ab"]
    assert "stale GGUF copy" in why["orphan-llm1"]
    assert "openvino 2020.1.0" in why["old-llm1"] and "openvino 2020.1.0" in why["e5-fp32-bbbb"]
    assert "unfinished" in why[".e5-fp32-cccc-tmp1"]
    assert "older lcelkit" in why["e5-tokenizer-eeee"]
    assert "deleted-model is gone" in why["e5-fp32-gggg"]
    assert "e5-model changed since" in why["e5-fp32-hhhh"]

    assert main(["cache"]) == 0
    text = capsys.readouterr().out
    assert "`lcelkit cache prune` frees" in text and str(cache / "gguf") in text


def test_prune_deletes_the_stale_entries_only(cache, capsys):
    assert main(["cache", "prune", "--dry-run"]) == 0
    assert "would remove 8 entries" in capsys.readouterr().out
    assert (cache / "gguf" / "old-0123456789ab").is_dir()  # a dry run deletes nothing

    assert main(["cache", "prune"]) == 0
    assert "removed 8 entries" in capsys.readouterr().out
    left = {p.name for p in cache.rglob("*") if p.parent.name in ("gguf", "llm", "openvino")}
    assert {"live-llm1", "e5-fp32-aaaa", "e5-fp32-ffff", "compiled"} <= left
    assert not {"old-0123456789ab", "orphan-llm1", "old-llm1", "e5-fp32-bbbb"} & left
    assert len([p for p in (cache / "gguf").iterdir()]) == 1  # the live copy stays
    assert (cache / "openvino" / "compiled" / "123.blob").is_file()
    assert [p.name for p in (cache / "tokenizers").iterdir()] == ["e5-tokenizer-dddd"]
    assert _show(capsys)["stale"] == []

    assert main(["cache", "prune", "--compiled"]) == 0
    assert not (cache / "openvino" / "compiled" / "123.blob").exists()


def test_clear_asks_before_deleting_everything(cache, capsys):
    assert main(["cache", "clear"]) == 2
    err = capsys.readouterr().err
    assert "lcelkit cache clear --yes" in err
    assert (cache / "openvino" / "llm" / "live-llm1").is_dir()

    assert main(["cache", "clear", "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == 14
    assert _show(capsys)["stale"] == [] and not any((cache / "gguf").iterdir())
