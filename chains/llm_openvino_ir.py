"""The chat model's OpenVINO IR: exported once from a Hugging Face folder, checked against
transformers, cached; its tokenizer and chat template without transformers; its runner.

See :mod:`chains.llm_openvino` for the chat model built on them and for why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from lcelkit.chains.json_files import read_json_object
from lcelkit.chains.openvino_cache import F32_LATENCY
from lcelkit.errors import ConfigError, ModelNotFoundError

__all__ = ["ChatTokenizer", "chat_tokenizer", "compiled_runner", "openvino_entry"]

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
_COMPILE = {**F32_LATENCY, "KV_CACHE_PRECISION": "f32"}
_PROBES = (
    "What is the capital of France? Answer in one sentence.",
    "Context:\n[1] North · Q3 = 15.2\n[2] The south region grew by 4%.\n\n"
    "Question: What was the Q3 revenue of the North region?",
)


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
        config = read_json_object(folder / "tokenizer_config.json")
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
    if "CACHE_DIR" in options:  # by path: a cached compile is imported without reading the
        return core.compile_model(str(entry / _MODEL_FILE), "CPU", options)  # IR (~0.2 s less)
    return core.compile_model(core.read_model(str(entry / _MODEL_FILE)), "CPU", options)


_RUNNERS: dict[str, _Runner] = {}
_RUNNERS_LOCK = threading.Lock()


def compiled_runner(entry: Path) -> _Runner:
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
