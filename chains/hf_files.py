"""Local Hugging Face model files: where a model is, its tokenizer (loaded once per
process), its context window, dtype and device, and LoRA/PEFT adapters. Used by the
backend (:mod:`chains.llm_hf`) and the backend checks (:mod:`chains.llms`)."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from lcelkit.errors import ConfigError, ModelNotFoundError

__all__ = [
    "check_hf_folder",
    "hf_context_window",
    "hf_location",
    "load_hf_tokenizer",
]

logger = logging.getLogger(__name__)

_TOKENIZER_LIMIT_SANITY = 10_000_000  # tokenizer.model_max_length is 1e30 when unknown
_CONFIG_WINDOW_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "seq_length",
    "n_ctx",
)


def hf_location(model: str) -> tuple[Path | None, str]:
    """(local folder or None, what to load). Raises for a missing local path.

    A GGUF file (or a folder holding one) resolves to its cached converted folder."""
    from lcelkit.chains.gguf import resolve_gguf

    model = resolve_gguf(model)
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve(), str(path.resolve())
    if path.exists() or model.startswith((".", "/", "~")) or path.is_absolute():
        raise ModelNotFoundError(
            f"Hugging Face model folder {model} does not exist"
            + (" (it is a file, not a folder)" if path.exists() else ""),
            hint="set LCELKIT_LLM_MODEL to a folder saved with save_pretrained() "
            "(config.json, weights, tokenizer files), a .gguf file, or a folder holding one",
        )
    return None, model


def _adapter_base(folder: Path) -> str | None:
    """The base model an adapter-only folder names (None for a full model folder)."""
    config = folder / "adapter_config.json"
    if not config.is_file() or (folder / "config.json").is_file():
        return None
    try:
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None
    return str(base) if base else None


def _hf_config_window(location: str) -> int | None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(location, local_files_only=True)
    candidates: list[int] = []
    for cfg in (config, getattr(config, "text_config", None)):
        if cfg is None:
            continue
        for key in _CONFIG_WINDOW_KEYS:
            value = getattr(cfg, key, None)
            if isinstance(value, int) and value > 0:
                candidates.append(value)
                break
    return min(candidates) if candidates else None


def _hf_tokenizer_window(location: str) -> int | None:
    config_path = Path(location) / "tokenizer_config.json"
    if not config_path.is_file():
        return None
    try:
        value = json.loads(config_path.read_text(encoding="utf-8")).get("model_max_length")
    except (OSError, ValueError):
        return None
    if isinstance(value, int | float) and 0 < value < _TOKENIZER_LIMIT_SANITY:
        return int(value)
    return None


def hf_context_window(model: str) -> int | None:
    """A local HF model's own window: the config's ``max_position_embeddings`` / ... and
    the tokenizer's ``model_max_length`` when it is a real number (the smaller wins); an
    adapter folder's is its base model's. None when neither says."""
    folder, location = hf_location(model)
    base = _adapter_base(folder) if folder is not None else None
    if base:
        folder, location = hf_location(base)
    windows = [w for w in (_hf_config_window(location),) if w]
    if folder is not None and (tok := _hf_tokenizer_window(location)):
        windows.append(tok)
    return min(windows) if windows else None


def check_hf_folder(folder: Path) -> None:
    """Raise ModelNotFoundError unless ``folder`` is a model (or adapter) folder."""
    if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        return
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(
            f"{folder} is not a Hugging Face model folder (no config.json)",
            hint="point LCELKIT_LLM_MODEL at a folder saved with save_pretrained()",
        )


def _load_hf_tokenizer(location: str, model: str) -> Any:
    """The tokenizer at ``location``, loaded once per process (the backend check, the
    token counter and the model share it) and again when its files change."""
    config = Path(location) / "tokenizer_config.json"
    stamp = config.stat().st_mtime_ns if config.is_file() else None
    return _tokenizer_once(location, model, stamp)


@lru_cache(maxsize=8)
def _tokenizer_once(location: str, model: str, _stamp: int | None) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
    except Exception as exc:
        raise ModelNotFoundError(
            f"cannot load the tokenizer of {model}: {exc.__class__.__name__}: {exc}",
            hint="use a local model folder (save_pretrained) or a model already in the "
            "Hugging Face cache; lcelkit never downloads models",
        ) from None
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"the tokenizer of {model} has no chat template",
            hint="use an instruct/chat model, or add a chat_template to its "
            "tokenizer_config.json (e.g. ChatML)",
        )
    return tokenizer


def load_hf_tokenizer(model: str, *, adapter: str | None = None) -> Any:
    """The tokenizer of a local HF model (or hub-cache id) without its weights: for
    counting tokens. An adapter folder with its own tokenizer files wins."""
    if adapter and (Path(adapter).expanduser() / "tokenizer_config.json").is_file():
        return _load_hf_tokenizer(str(Path(adapter).expanduser()), adapter)
    folder, location = hf_location(model)
    if folder is not None:
        check_hf_folder(folder)
    return _load_hf_tokenizer(location, model)


def _torch_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "bf16":
        return torch.bfloat16
    if dtype == "fp16":
        return torch.float16
    if dtype == "fp32":
        return torch.float32
    if device == "cpu":
        # bf16 prefills ~3.6x faster than fp32 on CPUs with native bf16 (AMX/AVX512-BF16);
        # elsewhere PyTorch emulates it and fp32 is faster.
        from lcelkit.chains.embeddings import bf16_supported

        return torch.bfloat16 if bf16_supported() else torch.float32
    return "auto"


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} was requested but torch sees no CUDA GPU",
            hint="set LCELKIT_LLM__DEVICE=cpu (or auto)",
        )
    if device.startswith("mps") and not torch.backends.mps.is_available():
        raise ConfigError(
            f"device {device!r} was requested but MPS is not available",
            hint="set LCELKIT_LLM__DEVICE=cpu (or auto)",
        )
    return device


def _require_peft(adapter: str) -> Any:
    """``peft.PeftModel``, or a ConfigError naming the ``lcelkit[peft]`` extra."""
    try:
        from peft import PeftModel
    except ImportError:
        raise ConfigError(
            f"loading the LoRA/PEFT adapter {adapter} needs the peft package",
            hint="pip install 'lcelkit[peft]' (or pip install peft), or unset the adapter",
        ) from None
    return PeftModel


def _load_adapter(base: Any, adapter: str) -> Any:
    folder = Path(adapter).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise ModelNotFoundError(
            f"adapter folder {adapter} has no adapter_config.json",
            hint="point LCELKIT_LLM__ADAPTER at a folder saved by a PEFT model's "
            "save_pretrained(), or unset it",
        )
    peft_model_cls = _require_peft(adapter)
    try:
        model = peft_model_cls.from_pretrained(base, str(folder), local_files_only=True)
    except Exception as exc:
        raise ModelNotFoundError(
            f"cannot load the adapter {adapter}: {exc.__class__.__name__}: {exc}",
            hint="the adapter must have been trained on this base model",
        ) from None
    try:
        return model.merge_and_unload()
    except Exception as exc:  # some PEFT methods cannot merge; they still run unmerged
        logger.info("adapter %s not merged (%s); running it unmerged", adapter, exc)
        return model
