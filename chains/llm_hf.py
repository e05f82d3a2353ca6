"""The local Hugging Face backend: a model folder, a hub-cache id or a GGUF file
(converted once by :mod:`chains.gguf`), generated with ``model.generate`` and a
token streamer (see :mod:`chains.llms` for why).

:class:`LocalChatHuggingFace` is built from plain parameters, as ``ChatOllama`` is
built from ``model=``::

    LocalChatHuggingFace(model_id="SmolLM2-135M-Instruct.Q4_1.gguf", max_new_tokens=64,
                         temperature=0, stop=["\\n\\n"])

It loads the tokenizer and the weights itself, at the first call that needs them
(:meth:`LocalChatHuggingFace.load` loads them now; :func:`make_huggingface` does, so a
bad folder fails at once). Loaded weights are shared by every instance of the process
that names the same model, adapter, device and dtype.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from lcelkit.chains.hf_files import (
    _adapter_base,
    _load_adapter,
    _load_hf_tokenizer,
    _require_peft,
    _resolve_device,
    _torch_dtype,
    check_hf_folder,
    hf_context_window,
    hf_location,
    load_hf_tokenizer,
)
from lcelkit.chains.windows import pick_window
from lcelkit.errors import (
    BackendError,
    BackendUnavailableError,
    ContextBudgetError,
    ModelNotFoundError,
)

__all__ = [
    "LocalChatHuggingFace",
    "check_hf_folder",
    "hf_location",
    "load_hf_tokenizer",
    "make_huggingface",
]

logger = logging.getLogger(__name__)

_MIN_REPLY = 16  # a prompt leaving fewer tokens than this for the reply is an error


def _stop_cut(text: str, stops: Sequence[str]) -> int | None:
    cuts = [text.find(s) for s in stops if s and s in text]
    return min(cuts) if cuts else None


def _repeat_cut(text: str, min_chars: int = 12) -> int | None:
    """Where a small model starts looping: the start of the newest complete line when
    the same line (at least ``min_chars`` long) already appeared in ``text``."""
    text = text[: text.rfind("\n") + 1]
    if not text:
        return None
    lines = text.split("\n")[:-1]
    last = lines[-1].strip()
    if len(last) < min_chars or last not in (line.strip() for line in lines[:-1]):
        return None
    return len("\n".join(lines[:-1])) + (1 if len(lines) > 1 else 0)


def _loop_cut(text: str, min_chars: int = 12, max_chars: int = 120, times: int = 3) -> int | None:
    """Where a small model loops inside a line ("The answer is: The answer is: The answer
    is: ..."): the end of the first occurrence when ``text`` ends with the same piece of
    ``min_chars``-``max_chars`` characters ``times`` times in a row."""
    end = len(text)
    for size in range(min_chars, min(max_chars, end // times) + 1):
        unit = text[end - size :]
        if unit.strip() and text.endswith(unit * times):
            return end - size * (times - 1)
    return None


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters could be the start of a stop sequence."""
    hold = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                hold = max(hold, n)
                break
    return hold


def _advance(text: str, piece: str, emitted: int, stops: Sequence[str]) -> tuple[str, int, bool]:
    """After ``piece`` joined the reply ``text`` (``emitted`` characters of it shown):
    what to show now, the new ``emitted``, and whether the reply ends here (a stop
    string, a repeated line, a loop). Text that may be the start of a stop string is held
    back."""
    cut = _stop_cut(text, stops) if stops else None
    if cut is None and "\n" in piece:
        cut = _repeat_cut(text)
    if cut is None:
        cut = _loop_cut(text)
    if cut is not None:
        return (text[emitted:cut] if cut > emitted else ""), cut, True
    safe = len(text) - (_held_back(text, stops) if stops else 0)
    if safe > emitted:
        return text[emitted:safe], safe, False
    return "", emitted, False


def _guarded(streamer: Any, model: str | None, timeout: float) -> Iterator[str]:
    """Iterate a TextIteratorStreamer; a stall past ``timeout`` is a backend error."""
    import queue

    iterator = iter(streamer)
    while True:
        try:
            piece = next(iterator)
        except StopIteration:
            return
        except queue.Empty:
            raise BackendUnavailableError(
                f"model {model} produced no token within {timeout:.0f} s",
                provider="huggingface",
                hint="the machine may be overloaded or the model too large for it; raise "
                "LCELKIT_LLM__REQUEST_TIMEOUT or use a smaller model",
            ) from None
        yield piece


def _final_chunk(model_id: str, n_in: int, n_out: int, stopped: bool) -> ChatGenerationChunk:
    """The last, empty chunk of a local model's stream: token usage and finish reason
    ("stop" when the answer ended before ``max_new_tokens``, else "length")."""
    reason = "stop" if stopped else "length"
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content="",
            usage_metadata={
                "input_tokens": n_in,
                "output_tokens": n_out,
                "total_tokens": n_in + n_out,
            },
            response_metadata={"finish_reason": reason, "model_name": model_id},
        ),
        generation_info={"finish_reason": reason, "model_name": model_id},
    )


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


@dataclass(frozen=True)
class _Loaded:
    """A model loaded once per process: weights, tokenizer and what they came from."""

    model: Any
    tokenizer: Any
    location: str
    context_window: int


_LOADED: dict[tuple[str, str | None, str, str], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def _locate(model: str, adapter: str | None) -> tuple[str, str | None, str]:
    """``(weights location, adapter, tokenizer location)`` for ``model``; checks the folder
    and the adapter before anything heavy loads (a GGUF file is converted here, once)."""
    folder, location = hf_location(model)
    if folder is not None:
        # A local folder never needs the hub; keep transformers from asking.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        check_hf_folder(folder)
        # Only an adapter folder given as the model: its base comes from adapter_config.json.
        if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
            base = _adapter_base(folder)
            if not base:
                raise ModelNotFoundError(
                    f"adapter {folder} does not name its base model",
                    hint="set LCELKIT_LLM_MODEL to the base model folder and "
                    "LCELKIT_LLM__ADAPTER to the adapter folder",
                )
            adapter = adapter or str(folder)
            folder, location = hf_location(base)
            if folder is not None:
                check_hf_folder(folder)
    tokenizer_location = location
    if adapter and (Path(adapter).expanduser() / "tokenizer_config.json").is_file():
        tokenizer_location = str(Path(adapter).expanduser())
    return location, adapter, tokenizer_location


def _load(model: str, adapter: str | None, device: str, dtype: str) -> _Loaded:
    """The tokenizer (checked first), the weights and the adapter, loaded once."""
    location, adapter, tokenizer_location = _locate(model, adapter)
    key = (location, adapter, device, dtype)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        tokenizer = _load_hf_tokenizer(tokenizer_location, model)
        # Fail fast on a bad adapter path, before loading the base weights.
        if adapter and not (Path(adapter).expanduser() / "adapter_config.json").is_file():
            raise ModelNotFoundError(
                f"adapter folder {adapter} has no adapter_config.json",
                hint="point LCELKIT_LLM__ADAPTER at a folder saved by a PEFT model's "
                "save_pretrained(), or unset it",
            )
        if adapter:
            _require_peft(adapter)
        resolved_device = _resolve_device(device)
        from transformers import AutoModelForCausalLM

        try:
            lm = AutoModelForCausalLM.from_pretrained(
                location, dtype=_torch_dtype(dtype, resolved_device), local_files_only=True
            )
        except Exception as exc:
            raise ModelNotFoundError(
                f"cannot load the model weights of {model}: {exc.__class__.__name__}: {exc}",
                hint="use a local causal-LM folder (save_pretrained) or a model already in "
                "the Hugging Face cache",
            ) from None
        if adapter:
            lm = _load_adapter(lm, adapter)
        lm.to(resolved_device)
        lm.eval()
        try:
            found = hf_context_window(location)
        except Exception as exc:
            logger.info("could not discover the context window of %s: %s", location, exc)
            found = None
        window, how = pick_window(None, found)
        logger.info("HF %s: context window %d (%s)", model, window, how)
        loaded = _LOADED[key] = _Loaded(lm, tokenizer, location, window)
        return loaded


class LocalChatHuggingFace(BaseChatModel):
    """A local Hugging Face chat model with real streaming, multi-token stop sequences,
    async support, a context-window check and the project's errors.

    Built from plain parameters: ``model_id`` is a GGUF file, a folder holding one, a
    model folder (``save_pretrained``) or a model id already in the Hugging Face cache
    (nothing is downloaded). ``max_tokens`` and ``timeout`` are accepted as the
    LangChain-standard names of ``max_new_tokens`` and ``request_timeout``.
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model_id: str = Field(description="GGUF file, model folder or Hugging Face cache id.")
    max_new_tokens: int = Field(default=512, ge=1, alias="max_tokens")
    temperature: float | None = 0.0
    stop: list[str] | None = None
    context_window: int | None = Field(
        default=None, description="Tokens; None: the model's own (capped), read at load."
    )
    request_timeout: float = Field(default=120.0, gt=0, alias="timeout")
    native_tools: bool = False
    adapter: str | None = Field(default=None, description="LoRA/PEFT adapter folder.")
    device: str = "cpu"
    dtype: str = "auto"

    _loaded: _Loaded | None = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    # -- loading -----------------------------------------------------------------------
    def load(self) -> LocalChatHuggingFace:
        """Load the tokenizer and the weights now (a bad path or model fails here)."""
        if self._loaded is None:
            self._loaded = _load(self.model_id, self.adapter, self.device, self.dtype)
            if self.context_window is None:
                self.context_window = self._loaded.context_window
        return self

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (loaded without the weights when they are not loaded)."""
        if self._loaded is not None:
            return self._loaded.tokenizer
        if self._tokenizer is None:
            self._tokenizer = load_hf_tokenizer(self.model_id, adapter=self.adapter)
        return self._tokenizer

    @property
    def hf_model(self) -> Any:
        """The loaded ``transformers`` model (loaded now if it is not yet)."""
        loaded = self.load()._loaded
        assert loaded is not None
        return loaded.model

    @property
    def model_name(self) -> str:
        """A short name for messages: the GGUF file or model folder name."""
        path = Path(self.model_id).expanduser()
        return path.name if path.name else self.model_id

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="huggingface",
            ls_model_name=str(kwargs.get("model") or self.model_id),
            ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
            ls_max_tokens=int(kwargs.get("max_new_tokens") or self.max_new_tokens),
        )
        if stop or self.stop:
            params["ls_stop"] = list(stop or self.stop or [])
        return params

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "adapter": self.adapter,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
        }

    # -- prompt ----------------------------------------------------------------
    def _to_chat_prompt(self, messages: list[BaseMessage], tokenizer: Any) -> str:
        if not messages:
            raise ValueError("at least one message is required")
        dicts = []
        for message in messages:
            if isinstance(message, SystemMessage):
                role = "system"
            elif isinstance(message, AIMessage):
                role = "assistant"
            elif isinstance(message, ToolMessage):
                role = "tool"
            elif isinstance(message, HumanMessage):
                role = "user"
            else:
                role = getattr(message, "role", None) or "user"
            dicts.append({"role": role, "content": _message_text(message.content)})
        try:
            return tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True)
        except Exception:
            if not any(d["role"] == "tool" for d in dicts):
                raise
            # Templates without a tool role: hand observations back as user turns.
            for d in dicts:
                if d["role"] == "tool":
                    d["role"], d["content"] = "user", f"Observation: {d['content']}"
            return tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True)

    # -- generation ----------------------------------------------------------------
    def _generation_setup(
        self, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[list[str], int, _Loaded]:
        """The stop strings, the new-token limit and the loaded model of one generation."""
        wanted = stop or self.stop or []
        stops = [s for s in ([wanted] if isinstance(wanted, str) else wanted) if s]
        max_new = int(kwargs.get("max_new_tokens") or self.max_new_tokens)
        loaded = self.load()._loaded
        assert loaded is not None
        return stops, max_new, loaded

    def _reply_room(self, n_in: int, max_new: int, loaded: _Loaded) -> int:
        """New tokens the context window leaves after ``n_in`` prompt tokens.

        The reply adapts to what the window leaves (``chains.budget.reply_reserve`` sized
        the prompt); only a prompt that leaves almost nothing fails (ContextBudgetError).
        """
        window = self.context_window or loaded.context_window
        if not window or n_in + max_new <= window:
            return max_new
        left = window - n_in
        if left < min(max_new, _MIN_REPLY):
            raise ContextBudgetError(
                f"the prompt has {n_in} tokens; it leaves {max(left, 0)} of the "
                f"context window of {window} tokens of {self.model_id} for the reply",
                hint="shorten the input, retrieve fewer chunks, or lower max_new_tokens",
            )
        return left

    def _iter_generate(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stops, max_new, loaded = self._generation_setup(stop, kwargs)
        tokenizer, model = loaded.tokenizer, loaded.model
        prompt = self._to_chat_prompt(messages, tokenizer)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        n_in = int(inputs["input_ids"].shape[1])
        max_new = self._reply_room(n_in, max_new, loaded)
        inputs = inputs.to(model.device)
        cancel = threading.Event()

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> bool:
                return cancel.is_set()

        class _TokenStreamer(TextIteratorStreamer):
            """Emits text after every token (the parent waits for a space), holding
            back only an incomplete multi-byte character."""

            def put(self, value: Any) -> None:
                if len(value.shape) > 1:
                    value = value[0]
                if self.skip_prompt and self.next_tokens_are_prompt:
                    self.next_tokens_are_prompt = False
                    return
                self.token_cache.extend(value.tolist())
                text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
                if text.endswith("\ufffd") or len(text) <= self.print_len:
                    return
                printable, self.print_len = text[self.print_len :], len(text)
                self.on_finalized_text(printable)

        streamer = _TokenStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self.request_timeout
        )
        temperature = self.temperature if self.temperature is not None else 0.0
        gen_kwargs: dict[str, Any] = {
            **inputs,
            "max_new_tokens": max_new,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_Cancel()]),
            "pad_token_id": tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            gen_kwargs["temperature"] = temperature
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["sequences"] = model.generate(**gen_kwargs)
            except BaseException as exc:
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=run, name="hf-generate", daemon=True)
        thread.start()
        text, emitted, stopped = "", 0, False
        try:
            for piece in _guarded(streamer, self.model_id, self.request_timeout):
                text += piece
                shown, emitted, stopped = _advance(text, piece, emitted, stops)
                if shown:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=shown))
                if stopped:
                    cancel.set()
                    break
        finally:
            cancel.set()
            thread.join(timeout=self.request_timeout)
        if "error" in result:
            err = result["error"]
            raise BackendError(
                f"generation with {self.model_id} failed: {err.__class__.__name__}: {err}",
                hint="check the model folder, the device and the available memory",
            ) from err
        if not stopped and len(text) > emitted:
            yield ChatGenerationChunk(message=AIMessageChunk(content=text[emitted:]))
        sequences = result.get("sequences")
        n_out = int(sequences.shape[1]) - n_in if sequences is not None else 0
        yield _final_chunk(self.model_id, n_in, n_out, stopped or n_out < max_new)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        kwargs.pop("stream_usage", None)
        for chunk in self._iter_generate(messages, stop, **kwargs):
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        stream: bool | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        final: ChatGenerationChunk | None = None
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            final = chunk if final is None else final + chunk
        assert final is not None
        message = final.message
        return ChatResult(
            generations=[
                ChatGeneration(
                    message=AIMessage(
                        content=message.content,
                        usage_metadata=getattr(message, "usage_metadata", None),
                        response_metadata=message.response_metadata,
                    ),
                    generation_info=final.generation_info,
                )
            ]
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        stream: bool | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._generate(messages, stop, None, **kwargs)
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        kwargs.pop("stream_usage", None)
        loop = asyncio.get_running_loop()
        iterator = self._iter_generate(messages, stop, **kwargs)
        done = object()
        try:
            while True:
                chunk = await loop.run_in_executor(None, next, iterator, done)
                if chunk is done:
                    break
                if run_manager and chunk.text:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        finally:
            await loop.run_in_executor(None, iterator.close)

    @property
    def _llm_type(self) -> str:
        return "lcelkit-huggingface-local"


def make_huggingface(
    model: str,
    *,
    max_new_tokens: int,
    temperature: float,
    context_window: int | None,
    request_timeout: float,
    adapter: str | None,
    device: str,
    dtype: str,
) -> LocalChatHuggingFace:
    """The local chat model, loaded now (tokenizer checked first, adapter merged)."""
    return LocalChatHuggingFace(
        model_id=model,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        context_window=context_window,
        request_timeout=request_timeout,
        adapter=adapter,
        device=device,
        dtype=dtype,
    ).load()
