"""GGUF files through the Hugging Face backend: found, converted once, cached.

Local users mostly have GGUF files (llama.cpp / Ollama downloads). transformers reads
them with ``from_pretrained(folder, gguf_file=...)`` (needs ``gguf`` and ``accelerate``,
both lcelkit dependencies; a missing one is reported by name with its ``pip install``) and
dequantizes every tensor, which takes ~12 s for a 135M model and builds the tokenizer
from the GGUF vocabulary (~5 s). :func:`resolve_gguf` does that once per file and saves
the result as an ordinary Hugging Face folder (safetensors, tokenizer, chat template,
config with the GGUF's context length) in a cache; every later load, in any process,
reads that folder (~0.1 s for the weights). The cache key is the file's resolved path,
size and modification time, so a replaced file is converted again.

The cache lives in ``$LCELKIT_GGUF_CACHE``, else ``$XDG_CACHE_HOME/lcelkit/gguf``, else
``~/.cache/lcelkit/gguf``. An architecture or quantization type that transformers cannot
dequantize is a :class:`~lcelkit.errors.ConfigError` naming it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from lcelkit.errors import ConfigError, ModelNotFoundError

__all__ = ["GGUF_PACKAGES", "find_gguf", "gguf_cache_dir", "gguf_summary", "resolve_gguf"]

logger = logging.getLogger(__name__)
_LOCK = threading.Lock()
_DONE_MARKER = ".lcelkit-gguf"


def find_gguf(model: str) -> Path | None:
    """The GGUF file ``model`` names: a ``.gguf`` file, or a folder that holds exactly one
    and no ``config.json``. None for anything else (a Hugging Face folder, a hub id).

    A folder with several GGUF files is a :class:`ConfigError` listing them.
    """
    path = Path(model).expanduser()
    if path.is_file():
        return path.resolve() if path.suffix.lower() == ".gguf" else None
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ConfigError(
            f"the folder {path} holds {len(found)} GGUF files ({names})",
            hint="set LCELKIT_LLM_MODEL to the one .gguf file to use",
        )
    return found[0].resolve() if found else None


def gguf_cache_dir() -> Path:
    """Where converted GGUF models are kept (see the module docstring)."""
    explicit = os.environ.get("LCELKIT_GGUF_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "lcelkit" / "gguf"


def _cache_folder(gguf: Path) -> Path:
    stat = gguf.stat()
    key = hashlib.sha1(f"{gguf}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return gguf_cache_dir() / f"{gguf.stem}-{key}"


def gguf_summary(gguf: Path) -> tuple[str, list[str]]:
    """``(architecture, sorted tensor types)`` read from the file's header (for errors)."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(gguf))
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
        return arch, sorted({t.tensor_type.name for t in reader.tensors})
    except Exception as exc:  # the error path only: never hide the first error
        logger.info("cannot read the GGUF header of %s: %s", gguf, exc)
        return "unknown", []


#: What transformers needs to read a GGUF file: the reader itself, and accelerate, which
#: ``from_pretrained(gguf_file=...)`` requires. Both are lcelkit dependencies.
GGUF_PACKAGES = ("gguf", "accelerate")


def _missing_packages_error(gguf: Path, missing: list[str]) -> ConfigError:
    names = " ".join(missing)
    return ConfigError(
        f"loading the GGUF file {gguf} needs the Python package"
        f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which "
        f"{'are' if len(missing) > 1 else 'is'} not installed",
        hint=f"pip install {names}  (lcelkit depends on {names}: reinstall lcelkit to get "
        "its full set of dependencies)",
    )


def _require_packages(gguf: Path) -> None:
    """A ConfigError naming the missing packages (and the ``pip install`` line)."""
    import importlib.util

    missing = [name for name in GGUF_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise _missing_packages_error(gguf, missing)


_MISSING_PACKAGE = re.compile(
    r"\b([A-Za-z][\w.-]*) is required\b|`?pip install ([A-Za-z][\w.-]*)`?|"
    r"No module named '([\w.]+)'"
)


def _missing_package(exc: BaseException) -> str | None:
    """The package a transformers error says is missing ("accelerate is required ... `pip
    install accelerate`", ``ModuleNotFoundError``), or None for any other error."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return exc.name.split(".")[0]
    if not isinstance(exc, ImportError | ValueError):
        return None
    match = _MISSING_PACKAGE.search(str(exc))
    if match is None:
        return None
    return next(group for group in match.groups() if group).split(".")[0]


def _convert(gguf: Path, dest: Path) -> None:
    """Dequantize ``gguf`` with transformers and save it as a HF folder at ``dest``."""
    _require_packages(gguf)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.bfloat16, local_files_only=True
        )
    except Exception as exc:
        package = _missing_package(exc)
        if package is not None:  # a missing package, not the file's fault
            raise _missing_packages_error(gguf, [package]) from None
        arch, types = gguf_summary(gguf)
        raise ConfigError(
            f"transformers cannot load the GGUF file {gguf} (architecture {arch!r}, "
            f"tensor types {', '.join(types) or 'unknown'}): {exc.__class__.__name__}: {exc}",
            hint="use a GGUF of an architecture transformers supports (llama, mistral, qwen2, "
            "gemma3, phi3 ...) quantized as Q4_0/Q4_1/Q8_0/Q4_K/Q6_K/F16, or a Hugging Face "
            "folder of the model; or serve the file with Ollama (LCELKIT_LLM_PROVIDER=ollama)",
        ) from None
    # save_pretrained refuses a model that still carries its GGUF quantizer; the weights
    # are already dequantized, so the saved folder is an ordinary one.
    model.hf_quantizer = None
    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is not None and hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")
    if getattr(tokenizer, "model_max_length", 0) > 10_000_000:
        tokenizer.model_max_length = int(model.config.max_position_embeddings)
    tokenizer.save_pretrained(dest)
    model.save_pretrained(dest)


def resolve_gguf(model: str) -> str:
    """``model`` unchanged, or, when it names a GGUF file (see :func:`find_gguf`), the
    cached Hugging Face folder converted from it (converted now if it is not cached)."""
    gguf = find_gguf(model)
    if gguf is None:
        return model
    target = _cache_folder(gguf)
    if (target / _DONE_MARKER).is_file():
        return str(target)
    with _LOCK:
        if (target / _DONE_MARKER).is_file():
            return str(target)
        logger.warning("converting %s to a Hugging Face folder in %s (once)", gguf, target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        except OSError as exc:
            raise ConfigError(
                f"cannot write the GGUF cache {target.parent}: {exc}",
                hint="set LCELKIT_GGUF_CACHE to a writable folder",
            ) from None
        try:
            _convert(gguf, tmp)
            (tmp / _DONE_MARKER).write_text(str(gguf), encoding="utf-8")
            try:
                tmp.rename(target)
            except OSError:  # another process finished first: keep its copy
                if not (target / _DONE_MARKER).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if not (target / _DONE_MARKER).is_file():  # pragma: no cover - defensive
        raise ModelNotFoundError(f"the converted copy of {gguf} is missing in {target}")
    return str(target)
