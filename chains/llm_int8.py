"""int8 matrix products for the local chat model on CPUs without native bf16.

On a CPU without AVX512-BF16/AMX the Hugging Face backend runs fp32 (PyTorch emulates
bf16, which is slower). There, PyTorch's dynamic quantization of the ``nn.Linear``
layers (``torch.ao.quantization.quantize_dynamic``, int8 weights per tensor, the
activations quantized on the fly; VNNI kernels through fbgemm/oneDNN) cut SmolLM2-135M's
prefill of a 700-token prompt from 1.22 s to 0.41 s and a new token from ~35 to ~13 ms on
the project's 2-core machine (docs/BENCHMARKS.md, "``lcelkit ask`` without bf16"), with the
same answer quality on ``bench/answers.py`` (DESIGN.md, "Without bf16"). ``dtype="auto"``
uses it on a CPU with VNNI and without bf16 (:func:`int8_chosen`); ``dtype="int8"`` asks for
it; embeddings and norms stay fp32.

Quantizing takes ~1.8 s of CPU per load (statistics, rounding and packing of 211
layers), so the result is kept on disk: :func:`quantize_int8` saves the quantized state
dict once (``torch.save``, read back with ``weights_only=True``: tensors only, no pickled
code) under ``llm-int8/`` beside the OpenVINO cache (``chains/openvino_cache.py``; the same
key of the model folder's files, sizes and modification times, plus the torch and
transformers versions), and later loads put it into the fp32 model's layers (~0.3 s).
An unreadable entry is rebuilt with a warning; a cache that cannot be written only costs
the next load the quantization again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["int8_chosen", "int8_supported", "llm_int8_cache_dir", "quantize_int8"]

logger = logging.getLogger(__name__)

_FORMAT = 1  # bump when what an entry holds changes
_STATE = "int8-state.pt"
_META = "entry.json"


def int8_supported() -> bool:
    """Whether this CPU runs int8 matrix products natively (AVX-512 VNNI or AVX-VNNI)
    and PyTorch has an x86 quantized engine."""
    import torch

    from lcelkit.chains.openvino_cache import cpu_features

    engines = set(torch.backends.quantized.supported_engines)
    return bool(cpu_features()["vnni"]) and bool(engines & {"x86", "fbgemm", "onednn"})


def int8_chosen(dtype: str, device: str, adapter: str | None) -> bool:
    """Whether the chat model runs int8: ``dtype="int8"``, or ``"auto"`` on a CPU with VNNI
    and without native bf16, with no adapter (LoRA layers stay as they are)."""
    if dtype == "int8":
        return True
    if dtype != "auto" or device != "cpu" or adapter:
        return False
    from lcelkit.chains.embeddings import bf16_supported

    return not bf16_supported() and int8_supported()


def llm_int8_cache_dir() -> Path:
    """``llm-int8/`` beside the OpenVINO cache (inside ``LCELKIT_OPENVINO_CACHE`` when
    that is set)."""
    from lcelkit.chains.openvino_cache import cache_dir

    root = cache_dir()
    explicit = os.environ.get("LCELKIT_OPENVINO_CACHE", "").strip()
    return root / "llm-int8" if explicit else root.parent / "llm-int8"


def _linears(model: Any) -> list[tuple[Any, str, Any]]:
    import torch

    return [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear
    ]


def _key(location: str) -> str:
    import torch
    import transformers

    from lcelkit.chains.openvino_cache import cache_key

    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "format": str(_FORMAT),
    }
    return cache_key(location, "llm-int8", [], versions)


def _from_state(model: Any, state: dict[str, Any]) -> Any:
    """``model`` with its ``nn.Linear`` layers replaced by dynamic int8 ones holding
    ``state``'s packed weights (strict: every key must match)."""
    import torch.ao.nn.quantized.dynamic as nnqd

    for parent, name, child in _linears(model):
        # built small: load_state_dict below packs the real weights (a full-size empty
        # layer would be packed twice for nothing, ~0.5 s for SmolLM2)
        layer = nnqd.Linear(1, 1, bias_=child.bias is not None)
        layer.in_features, layer.out_features = child.in_features, child.out_features
        setattr(parent, name, layer)
    model.load_state_dict(state, strict=True)
    return model


def quantize_int8(model: Any, location: str, reload: Callable[[], Any]) -> Any:
    """``model`` (fp32, CPU, eval) with int8 dynamic ``nn.Linear`` layers: the cached
    ones of the model folder ``location`` when an earlier load saved them, else quantized
    now (and saved). ``reload()`` gives the fp32 model again when a damaged entry left
    ``model`` half replaced."""
    import warnings

    import torch

    cacheable = Path(location).is_dir()
    root = llm_int8_cache_dir()
    entry = root / _key(location) if cacheable else None
    if entry is not None and (entry / _META).is_file():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TypedStorage notice for quantized tensors
                state = torch.load(entry / _STATE, weights_only=True, mmap=True)
            model = _from_state(model, state)
            logger.info("int8 chat model read from %s", entry)
            return model
        except Exception as exc:
            logger.warning("int8 cache entry %s is unreadable (%s); rebuilding it", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
            model = reload()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice: the API still works
        model = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
        )
    if entry is not None:
        try:
            root.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=root))
            try:
                torch.save(model.state_dict(), work / _STATE)
                meta = {"format": _FORMAT, "key": entry.name, "folder": location}
                (work / _META).write_text(json.dumps(meta), encoding="utf-8")
                try:
                    os.rename(work, entry)
                except OSError:  # another process saved it first: theirs is as good
                    if not (entry / _META).is_file():
                        raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
        except Exception as exc:  # the cache is an optimisation: never fail for it
            logger.warning("could not save the int8 chat model in %s: %s", root, exc)
    return model
