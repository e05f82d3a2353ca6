"""The local chat model on OpenVINO: converted once from the Hugging Face folder, then run
without torch or transformers.

A one-shot ``lcelkit ask`` with the transformers backend spends ~2-3 s importing torch and
transformers' model and generation modules before generating, and generates in fp32 with
PyTorch's kernels where the CPU has no bf16 (``bench/ask.py``; docs/BENCHMARKS.md).
:func:`openvino_entry` exports the model folder (a GGUF file's cached fp32 copy from
:mod:`chains.gguf`, or any local folder of a causal LM whose cache is transformers'
``DynamicCache``) once to a stateful OpenVINO IR (the KV cache lives in the infer request's
state) and keeps it in the OpenVINO cache (:mod:`chains.openvino_cache`), keyed by the
folder's files and the OpenVINO and transformers versions. :class:`LocalChatOpenVINO`
then reads that IR, the ``tokenizers`` tokenizer and the Jinja chat template, and decodes
greedily (or samples) in a plain loop. The IR's weights are fp32 and the CPU runs it with
f32 precision, so that greedy answers are those of the transformers fp32 path: the export
is kept only when its logits agree with transformers' on probe prompts (same greedy
tokens), and the tokenizer only when it gives transformers' ids and chat prompt.

Which backend answers is ``llm.backend`` (``LCELKIT_LLM__BACKEND``): ``auto`` uses this one
for a local model on the CPU (no adapter, dtype ``auto``/``fp32``) when ``openvino`` is
importable, and the transformers one otherwise or when the export fails (a warning says
why); ``openvino`` requires it (a failed export is a ConfigError); ``transformers`` never
uses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr

from lcelkit.chains.json_files import read_json_object
from lcelkit.chains.llm_hf import (
    LocalChatHuggingFace,
    _advance,
    _final_chunk,
    _Loaded,
)
from lcelkit.chains.llm_openvino_ir import (
    ChatTokenizer,
    chat_tokenizer,
    compiled_runner,
    openvino_entry,
)
from lcelkit.chains.windows import pick_window
from lcelkit.errors import BackendError, ConfigError

__all__ = [
    "ChatTokenizer",
    "LocalChatOpenVINO",
    "chat_tokenizer",
    "config_window",
    "make_openvino",
    "openvino_available",
    "openvino_entry",
    "wants_openvino",
]

logger = logging.getLogger(__name__)


def openvino_available() -> bool:
    """Whether ``openvino`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def _eos_ids(folder: Path, tokenizer: ChatTokenizer) -> set[int]:
    found: set[int] = set()
    for source in (
        read_json_object(folder / "generation_config.json"),
        read_json_object(folder / "config.json"),
    ):
        value = source.get("eos_token_id")
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, int))
        if found:
            break
    if not found and tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found


@dataclass(frozen=True)
class _Model:
    """The compiled model's runner and the token ids that end a reply."""

    runner: Any  # llm_openvino_ir._Runner
    eos: frozenset[int]


_WINDOW_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length",
                "n_ctx")  # fmt: skip


def config_window(folder: Path) -> int | None:
    """The context window ``config.json`` (and its ``text_config``) and
    ``tokenizer_config.json`` give (the smaller), read as JSON (no transformers), as
    ``chains.hf_files.hf_context_window`` reads them with transformers."""
    config = read_json_object(folder / "config.json")
    windows = []
    for part in (config, config.get("text_config")):
        if not isinstance(part, dict):
            continue
        for key in _WINDOW_KEYS:
            value = part.get(key)
            if isinstance(value, int) and value > 0:
                windows.append(value)
                break
    limit = read_json_object(folder / "tokenizer_config.json").get("model_max_length")
    if isinstance(limit, int | float) and 0 < limit < 10_000_000:
        windows.append(int(limit))
    return min(windows) if windows else None


class LocalChatOpenVINO(LocalChatHuggingFace):
    """:class:`LocalChatHuggingFace` run on OpenVINO (see the module docstring): the same
    parameters, streaming, stop sequences, loop cuts, context check and errors; no torch
    or transformers once the model is exported."""

    _ov_folder: Path | None = PrivateAttr(default=None)

    def _folder(self) -> Path:
        if self._ov_folder is None:
            from lcelkit.chains.hf_files import check_hf_folder, hf_location

            folder, _ = hf_location(self.model_id)
            if folder is None:
                raise ConfigError(
                    f"the OpenVINO backend needs a local model folder or GGUF file, not "
                    f"{self.model_id!r}",
                    hint="set LCELKIT_LLM__BACKEND=transformers for a Hugging Face cache id",
                )
            check_hf_folder(folder)
            self._ov_folder = folder
        return self._ov_folder

    def load(self) -> LocalChatOpenVINO:
        """Export (once, cached) and compile the model, and load its tokenizer."""
        if self._loaded is None:
            folder = self._folder()
            entry = openvino_entry(folder)
            tokenizer = self.tokenizer
            try:
                runner = compiled_runner(entry)
            except Exception as exc:
                raise ConfigError(
                    f"OpenVINO cannot compile the cached model {entry}: "
                    f"{exc.__class__.__name__}: {exc}",
                    hint=f"delete {entry} to convert it again, or set "
                    "LCELKIT_LLM__BACKEND=transformers",
                ) from None
            window, how = pick_window(None, config_window(folder))
            logger.info("OpenVINO %s: context window %d (%s)", self.model_id, window, how)
            model = _Model(runner, frozenset(_eos_ids(folder, tokenizer)))
            self._loaded = _Loaded(model, tokenizer, str(entry), window)
            if self.context_window is None:
                self.context_window = window
        return self

    @property
    def tokenizer(self) -> ChatTokenizer:
        """The model's :class:`ChatTokenizer` (no weights loaded)."""
        if self._loaded is not None:
            return self._loaded.tokenizer  # type: ignore[no-any-return]
        if self._tokenizer is None:
            self._tokenizer = chat_tokenizer(self._folder())
        return self._tokenizer  # type: ignore[no-any-return]

    @property
    def hf_model(self) -> Any:
        """Not available: this backend runs an OpenVINO model."""
        raise BackendError(
            "the OpenVINO backend has no transformers model",
            hint="set LCELKIT_LLM__BACKEND=transformers",
        )

    def _iter_generate(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        stops, max_new, loaded = self._generation_setup(stop, kwargs)
        tokenizer, model = loaded.tokenizer, loaded.model
        ids = tokenizer.encode(self._to_chat_prompt(messages, tokenizer))
        n_in = len(ids)
        max_new = self._reply_room(n_in, max_new, loaded)
        cancel = threading.Event()
        temperature = self.temperature if self.temperature is not None else 0.0
        new: list[int] = []
        text, printed, emitted, stopped = "", 0, 0, False
        try:
            for token in model.runner.tokens(
                ids, max_new, eos=set(model.eos), cancel=cancel, temperature=temperature
            ):
                new.append(token)
                decoded = tokenizer.decode(new, skip_special_tokens=True)
                if decoded.endswith("\ufffd") or len(decoded) <= printed:
                    continue
                piece, printed = decoded[printed:], len(decoded)
                text += piece
                shown, emitted, stopped = _advance(text, piece, emitted, stops)
                if shown:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=shown))
                if stopped:
                    break
        except Exception as exc:
            raise BackendError(
                f"generation with {self.model_id} failed: {exc.__class__.__name__}: {exc}",
                hint="check the available memory, or set LCELKIT_LLM__BACKEND=transformers",
            ) from exc
        finally:
            cancel.set()
        if not stopped:
            tail = tokenizer.decode(new, skip_special_tokens=True)[printed:]
            text += tail
            if len(text) > emitted:
                yield ChatGenerationChunk(message=AIMessageChunk(content=text[emitted:]))
        n_out = len(new)
        yield _final_chunk(self.model_id, n_in, n_out, stopped or n_out < max_new)

    @property
    def _llm_type(self) -> str:
        return "lcelkit-openvino-local"


def wants_openvino(backend: str, model: str, *, adapter: str | None, device: str,
                   dtype: str) -> bool:  # fmt: skip
    """Whether ``backend`` (``auto``/``openvino``/``transformers``) runs ``model`` on
    OpenVINO. ``openvino`` with an adapter, a device other than the CPU or a bf16/fp16
    dtype is a ConfigError (this backend runs fp32 on the CPU, without adapters)."""
    if backend == "transformers":
        return False
    fits = not adapter and device in ("cpu", "auto") and dtype in ("auto", "fp32")
    if backend == "openvino":
        if not fits:
            raise ConfigError(
                "llm.backend openvino runs a model without adapter, in fp32, on the CPU "
                f"(adapter={adapter!r}, device={device!r}, dtype={dtype!r})",
                hint="unset LCELKIT_LLM__ADAPTER/DEVICE/DTYPE, or set "
                "LCELKIT_LLM__BACKEND=transformers",
            )
        if not openvino_available():
            raise ConfigError(
                "llm.backend openvino needs the openvino package, which is not installed",
                hint="pip install openvino (an lcelkit dependency), or set "
                "LCELKIT_LLM__BACKEND=transformers",
            )
        return True
    return fits and openvino_available()


def make_openvino(model: str, *, backend: str, **params: Any) -> LocalChatOpenVINO | None:
    """The OpenVINO chat model, loaded now; None when ``backend`` is ``auto`` and the
    model cannot run on OpenVINO (warned: the caller uses transformers). ``params`` are
    :class:`LocalChatHuggingFace`'s."""
    path = Path(model).expanduser()
    if (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
        if backend == "openvino":
            raise ConfigError(
                f"{model} is an adapter folder; llm.backend openvino runs full models only",
                hint="set LCELKIT_LLM__BACKEND=transformers (or auto) for adapters",
            )
        logger.info("%s is an adapter folder: answering with transformers", model)
        return None
    try:
        return LocalChatOpenVINO(model_id=model, **params).load()
    except ConfigError as exc:
        if backend == "openvino":
            raise
        logger.warning("%s; answering with transformers instead", exc.message)
        return None
