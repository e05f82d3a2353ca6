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

import contextlib
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr

from lcelkit.chains.llm_hf import (
    _MIN_REPLY,
    LocalChatHuggingFace,
    _held_back,
    _Loaded,
    _loop_cut,
    _repeat_cut,
    _stop_cut,
)
from lcelkit.chains.windows import pick_window
from lcelkit.errors import BackendError, ConfigError, ContextBudgetError, ModelNotFoundError

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

_FORMAT = 1  # bump when what an entry holds changes
_MODEL_FILE = "openvino_model.xml"
_META_FILE = "entry.json"
_COPIED = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "config.json",
    "generation_config.json",
)
_INPUTS = ("input_ids", "attention_mask", "position_ids")
#: The CPU runs the IR in f32, KV cache included, and never quantizes activations: the
#: answers must be the transformers fp32 path's (DESIGN.md, "Without bf16").
_COMPILE = {
    "INFERENCE_PRECISION_HINT": "f32",
    "KV_CACHE_PRECISION": "f32",
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0",
    "PERFORMANCE_HINT": "LATENCY",
    "NUM_STREAMS": "1",
}
_PROBES = (
    "What is the capital of France? Answer in one sentence.",
    "Context:\n[1] North · Q3 = 15.2\n[2] The south region grew by 4%.\n\n"
    "Question: What was the Q3 revenue of the North region?",
)


def openvino_available() -> bool:
    """Whether ``openvino`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("openvino", "transformers", "torch"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


def _entry_path(folder: Path) -> Path:
    from lcelkit.chains.openvino_cache import cache_dir, cache_key

    key = cache_key(folder, f"llm{_FORMAT}-fp32", list(_INPUTS), _versions())
    return cache_dir() / "llm" / key


# -- the tokenizer and chat template, without transformers --------------------------------
class ChatTokenizer:
    """A model's ``tokenizer.json`` (``tokenizers``) and Jinja chat template, with the
    parts of transformers' tokenizer interface lcelkit uses (encode, decode,
    ``apply_chat_template``, the special token ids)."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.name_or_path = str(folder)
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config = _json(folder / "tokenizer_config.json")
        template = folder / "chat_template.jinja"
        self.chat_template: str | None = (
            template.read_text(encoding="utf-8") if template.is_file() else None
        ) or config.get("chat_template")
        self._special = {
            name: self._token_text(config.get(name))
            for name in ("bos_token", "eos_token", "pad_token", "unk_token")
        }
        self.eos_token_id = self._id(self._special["eos_token"])
        self.pad_token_id = self._id(self._special["pad_token"])
        self.model_max_length = config.get("model_max_length")
        self._compiled: Any = None

    @staticmethod
    def _token_text(value: Any) -> str | None:
        if isinstance(value, dict):
            value = value.get("content")
        return value if isinstance(value, str) else None

    def _id(self, text: str | None) -> int | None:
        return self._tok.token_to_id(text) if text else None

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, no special tokens added."""
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def __call__(
        self, text: str, add_special_tokens: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """``{"input_ids": [...]}`` of ``text``, as transformers' tokenizer call returns."""
        ids = self._tok.encode(text, add_special_tokens=add_special_tokens).ids
        return {"input_ids": list(ids), "attention_mask": [1] * len(ids)}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        """The text of ``ids``."""
        return str(self._tok.decode(ids, skip_special_tokens=skip_special_tokens))

    def apply_chat_template(
        self,
        messages: list[dict[str, Any]],
        tokenize: bool = True,
        add_generation_prompt: bool = False,
        **kwargs: Any,
    ) -> Any:
        """The chat prompt of ``messages`` (rendered as transformers renders it)."""
        if not self.chat_template:
            raise ConfigError(
                f"the tokenizer of {self.name_or_path} has no chat template",
                hint="use an instruct/chat model, or add a chat_template to its "
                "tokenizer_config.json (e.g. ChatML)",
            )
        if self._compiled is None:
            self._compiled = _compile_template(self.chat_template)
        text = self._compiled.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            **{k: v for k, v in self._special.items() if v is not None},
            **kwargs,
        )
        return self.encode(text) if tokenize else text

    def __repr__(self) -> str:
        return f"ChatTokenizer({self.name_or_path!r})"


def _compile_template(source: str) -> Any:
    """The template compiled as transformers compiles chat templates (sandboxed Jinja,
    ``trim_blocks``/``lstrip_blocks``, ``raise_exception``, ``tojson``)."""
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, **kw: Any) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, **kw)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)


# -- the export (cold runs only: torch and transformers) ----------------------------------
def _export(folder: Path, work: Path) -> None:
    """Export ``folder`` to a stateful IR in ``work`` and check it against transformers."""
    import warnings

    import openvino as ov
    import torch
    from openvino._offline_transformations import apply_make_stateful_transformation
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.cache_utils import DynamicCache
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # config notices and the weights' progress bar
    hf_logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="sdpa", local_files_only=True
    ).eval()
    with torch.no_grad():  # the cache's shapes, as the model fills it
        filled = model(torch.ones(1, 2, dtype=torch.long), use_cache=True).past_key_values
    if not isinstance(filled, DynamicCache) or not filled.layers:
        raise ValueError(f"the model's cache is a {type(filled).__name__}, not a DynamicCache")
    shapes_seen = {tuple(layer.keys.shape) for layer in filled.layers}
    shapes_seen |= {tuple(layer.values.shape) for layer in filled.layers}
    if len(shapes_seen) != 1:
        raise ValueError(f"the cache's layers differ in shape ({sorted(shapes_seen)})")
    layers = len(filled.layers)
    _, kv_heads, _, head_dim = next(iter(shapes_seen))

    class WithCache(torch.nn.Module):
        """The model with its past keys/values as flat inputs and outputs."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(
            self, input_ids: Any, attention_mask: Any, position_ids: Any, *past: Any
        ) -> tuple[Any, ...]:
            cache = DynamicCache(config=self.inner.config)
            for i, layer in enumerate(cache.layers):
                layer.dtype, layer.device = past[2 * i].dtype, past[2 * i].device
                layer.keys, layer.values, layer.is_initialized = past[2 * i], past[2 * i + 1], True
            out = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            flat = []
            for layer in out.past_key_values.layers:
                flat += [layer.keys, layer.values]
            return (out.logits, *flat)

    if len(DynamicCache(config=model.config).layers) != layers:
        raise ValueError("the model's cache is not one DynamicCache layer per decoder layer")
    seen, new = 3, 5
    example = (
        torch.ones(1, new, dtype=torch.long),
        torch.ones(1, seen + new, dtype=torch.long),
        torch.arange(seen, seen + new).unsqueeze(0),
        *[torch.zeros(1, kv_heads, seen, head_dim) for _ in range(2 * layers)],
    )
    past_names = [f"past.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    shapes = [ov.PartialShape([1, -1])] * 3 + [ov.PartialShape([1, kv_heads, -1, head_dim])] * (
        2 * layers
    )
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes: expected
        converted = ov.convert_model(WithCache(), example_input=example, input=shapes)
    for port, name in zip(converted.inputs, [*_INPUTS, *past_names], strict=True):
        port.get_tensor().set_names({name})
    for i, port in enumerate(converted.outputs):
        port.get_tensor().set_names({"logits" if i == 0 else "present." + past_names[i - 1]})
    apply_make_stateful_transformation(converted, {name: "present." + name for name in past_names})
    ov.save_model(converted, str(work / _MODEL_FILE), compress_to_fp16=False)
    for name in _COPIED:
        if (folder / name).is_file():
            shutil.copy2(folder / name, work / name)

    # Kept only when it computes what transformers computes, and tokenizes as it does.
    reference = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    tokenizer = ChatTokenizer(work)
    runner = _Runner(_compile(work, cached=False))
    for probe in _PROBES:
        messages = [{"role": "user", "content": probe}]
        text = reference.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) != (
            text
        ):
            raise ValueError("the Jinja chat template renders differently from transformers'")
        ids = reference(text, add_special_tokens=False)["input_ids"]
        if tokenizer.encode(text) != list(ids):
            raise ValueError("tokenizer.json gives other ids than transformers' tokenizer")
        with torch.no_grad():
            expected = model.generate(
                torch.tensor([ids]),
                max_new_tokens=8,
                do_sample=False,
                pad_token_id=reference.eos_token_id,
            )[0, len(ids) :].tolist()
        got = list(runner.tokens(ids, 8, eos=set(), cancel=threading.Event()))
        if not expected or got[: len(expected)] != expected:
            raise ValueError(f"greedy tokens differ from transformers' ({got} vs {expected})")


def _failed(folder: Path, reason: str, marker: Path) -> ConfigError:
    return ConfigError(
        f"cannot run the chat model {folder} on OpenVINO: {reason}",
        hint="set LCELKIT_LLM__BACKEND=transformers (auto falls back to it by itself); "
        f"delete {marker} to try the conversion again",
    )


def openvino_entry(folder: Path) -> Path:
    """The cached OpenVINO export of the model ``folder``; exported now (once) if missing.
    Raises ConfigError when the model cannot be exported or does not match transformers;
    the reason is kept beside the entry, so that later processes do not try again."""
    from lcelkit.chains.openvino_cache import publish_dir

    entry = _entry_path(folder)
    if (entry / _META_FILE).is_file():
        return entry
    failed = entry.with_name(entry.name + ".failed")
    if failed.is_file():  # tried before with these files and versions: no second try
        raise _failed(folder, failed.read_text(encoding="utf-8", errors="replace"), failed)
    logger.warning("converting %s to OpenVINO in %s (once)", folder, entry)
    try:
        with publish_dir(entry, _META_FILE) as work:
            try:
                _export(folder, work)
            except Exception as exc:
                reason = f"{exc.__class__.__name__}: {exc}"
                with contextlib.suppress(OSError):  # only costs a second try
                    failed.write_text(reason, encoding="utf-8")
                raise _failed(folder, reason, failed) from None
            meta = {"format": _FORMAT, "folder": str(folder), **_versions()}
            (work / _META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write the OpenVINO cache {entry.parent}: {exc}",
            hint="set LCELKIT_OPENVINO_CACHE to a writable folder, or "
            "LCELKIT_LLM__BACKEND=transformers",
        ) from None
    return entry


# -- running it ----------------------------------------------------------------------------
def _compile(entry: Path, *, cached: bool) -> Any:
    """The IR in ``entry`` compiled for the CPU (f32; OpenVINO's compiled-model cache
    under the OpenVINO cache's ``compiled/`` when ``cached``)."""
    import openvino as ov

    from lcelkit.chains.openvino_cache import cache_dir

    options = dict(_COMPILE)
    if cached:
        compiled_cache = cache_dir() / "compiled"
        try:
            compiled_cache.mkdir(parents=True, exist_ok=True)
            options["CACHE_DIR"] = str(compiled_cache)
        except OSError as exc:
            logger.info("OpenVINO model cache %s unavailable: %s", compiled_cache, exc)
    core = ov.Core()
    return core.compile_model(core.read_model(str(entry / _MODEL_FILE)), "CPU", options)


_RUNNERS: dict[str, _Runner] = {}
_RUNNERS_LOCK = threading.Lock()


def _runner(entry: Path) -> _Runner:
    """The entry's runner, compiled once per process."""
    with _RUNNERS_LOCK:
        if str(entry) not in _RUNNERS:
            _RUNNERS[str(entry)] = _Runner(_compile(entry, cached=True))
        return _RUNNERS[str(entry)]


class _Runner:
    """The compiled stateful model: one infer request (one KV cache) per generation."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled

    def tokens(
        self,
        ids: list[int],
        max_new: int,
        *,
        eos: set[int],
        cancel: threading.Event,
        temperature: float = 0.0,
        top_k: int = 50,
    ) -> Iterator[int]:
        """New token ids after the prompt ``ids`` (greedy when ``temperature`` is 0)."""
        import numpy as np

        request = self.compiled.create_infer_request()
        current = np.asarray([ids], dtype=np.int64)
        seen = 0
        rng = np.random.default_rng()
        for _ in range(max_new):
            if cancel.is_set():
                return
            n = current.shape[1]
            request.infer(
                {
                    "input_ids": current,
                    "attention_mask": np.ones((1, seen + n), dtype=np.int64),
                    "position_ids": np.arange(seen, seen + n, dtype=np.int64)[None],
                }
            )
            logits = request.get_tensor("logits").data[0, -1]
            if temperature > 0:
                scaled = logits.astype(np.float64) / temperature
                top = np.argpartition(scaled, -top_k)[-top_k:] if top_k else np.arange(len(scaled))
                weights = np.exp(scaled[top] - scaled[top].max())
                token = int(top[rng.choice(len(top), p=weights / weights.sum())])
            else:
                token = int(logits.argmax())
            yield token
            if token in eos:
                return
            seen += n
            current = np.asarray([[token]], dtype=np.int64)


def _eos_ids(folder: Path, tokenizer: ChatTokenizer) -> set[int]:
    found: set[int] = set()
    for source in (_json(folder / "generation_config.json"), _json(folder / "config.json")):
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
    runner: _Runner
    eos: frozenset[int]


_WINDOW_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length",
                "n_ctx")  # fmt: skip


def config_window(folder: Path) -> int | None:
    """The context window ``config.json`` (and its ``text_config``) and
    ``tokenizer_config.json`` give (the smaller), read as JSON (no transformers), as
    ``chains.hf_files.hf_context_window`` reads them with transformers."""
    config = _json(folder / "config.json")
    windows = []
    for part in (config, config.get("text_config")):
        if not isinstance(part, dict):
            continue
        for key in _WINDOW_KEYS:
            value = part.get(key)
            if isinstance(value, int) and value > 0:
                windows.append(value)
                break
    limit = _json(folder / "tokenizer_config.json").get("model_max_length")
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
                runner = _runner(entry)
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
        wanted = stop or self.stop or []
        stops = [s for s in ([wanted] if isinstance(wanted, str) else wanted) if s]
        max_new = int(kwargs.get("max_new_tokens") or self.max_new_tokens)
        loaded = self.load()._loaded
        assert loaded is not None
        tokenizer, model = loaded.tokenizer, loaded.model
        window = self.context_window or loaded.context_window
        ids = tokenizer.encode(self._to_chat_prompt(messages, tokenizer))
        n_in = len(ids)
        if window and n_in + max_new > window:
            left = window - n_in
            if left < min(max_new, _MIN_REPLY):
                raise ContextBudgetError(
                    f"the prompt has {n_in} tokens; it leaves {max(left, 0)} of the "
                    f"context window of {window} tokens of {self.model_id} for the reply",
                    hint="shorten the input, retrieve fewer chunks, or lower max_new_tokens",
                )
            max_new = left
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
                cut = _stop_cut(text, stops) if stops else None
                if cut is None and "\n" in piece:
                    cut = _repeat_cut(text)
                if cut is None:
                    cut = _loop_cut(text)
                if cut is not None:
                    if cut > emitted:
                        yield ChatGenerationChunk(message=AIMessageChunk(content=text[emitted:cut]))
                    emitted, stopped = cut, True
                    break
                safe = len(text) - (_held_back(text, stops) if stops else 0)
                if safe > emitted:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=text[emitted:safe]))
                    emitted = safe
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
        reason = "stop" if stopped or n_out < max_new else "length"
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": n_in,
                    "output_tokens": n_out,
                    "total_tokens": n_in + n_out,
                },
                response_metadata={"finish_reason": reason, "model_name": self.model_id},
            ),
            generation_info={"finish_reason": reason, "model_name": self.model_id},
        )

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
    try:
        return LocalChatOpenVINO(model_id=model, **params).load()
    except ConfigError as exc:
        if backend == "openvino":
            raise
        logger.warning("%s; answering with transformers instead", exc.message)
        return None


def chat_tokenizer(folder: Path) -> ChatTokenizer:
    """The :class:`ChatTokenizer` of a local model folder (one per process), checked: a
    ``tokenizer.json`` that cannot be read is a ModelNotFoundError, a missing chat template
    a ConfigError (the checks transformers' tokenizer gets in ``chains.hf_files``)."""
    tokenizer = _chat_tokenizer(str(folder))
    if not tokenizer.chat_template:
        raise ConfigError(
            f"the tokenizer of {folder} has no chat template",
            hint="use an instruct/chat model, or add a chat_template to its "
            "tokenizer_config.json (e.g. ChatML)",
        )
    return tokenizer


@lru_cache(maxsize=8)
def _chat_tokenizer(folder: str) -> ChatTokenizer:
    try:
        return ChatTokenizer(Path(folder))
    except Exception as exc:
        raise ModelNotFoundError(
            f"cannot load the tokenizer of {folder}: {exc.__class__.__name__}: {exc}",
            hint="the folder's tokenizer.json is unreadable: convert the model again "
            "(delete the folder if it is lcelkit's GGUF cache) or fix the file",
        ) from None
