"""Query vectors with ``transformers`` alone, for processes that only ask.

A one-shot ``lcelkit ask`` embeds one query. Loading sentence-transformers for it costs
more than everything else the command does before the answer: importing the package
takes ~3.7 s on the project's 2-core machine on top of torch and transformers (which the
Hugging Face chat backend imports anyway), and the OpenVINO set-up another ~1.4 s, for a
forward pass of a few milliseconds (``bench/ask.py``).

:class:`QueryEncoder` runs the same computation as the model's sentence-transformers
pipeline when that pipeline is the plain one most embedders ship (``modules.json``:
Transformer, Pooling by mean or CLS token, optionally Normalize): the model's own
tokenizer (truncated at the pipeline's ``max_seq_length``, lower-cased when
``do_lower_case``), ``AutoModel``'s last hidden state, the pooling, then L2
normalisation (the embedder's vectors are always normalised). This is the usage the
model cards themselves document for plain ``transformers``. :func:`plain_pipeline`
returns None for anything else (dense layers, other pooling modes, prompts excluded
from pooling, no ``modules.json``), and the embedder then loads sentence-transformers
as before. ``tests/integration/test_query_encoder.py`` holds its vectors to
sentence-transformers' own (cosine > 0.9999).

Without torch: when the embedder's OpenVINO model of the folder is already in the
OpenVINO cache (``chains.openvino_cache``: an ingest converted it; fp32 weights, else
the int8 weights an ingest without bf16 made), the query runs on it with f32 activations
(no dynamic quantization), so that ``ask`` imports neither torch nor transformers. It is
used only when its vectors of the embedder's probe texts are within 1e-2 cosine of
PyTorch fp32's (the reference vectors the embedder keeps beside the cache); otherwise,
or when nothing is cached, the query runs on PyTorch as above.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lcelkit.chains.json_files import read_json
from lcelkit.chains.openvino_cache import F32_LATENCY
from lcelkit.errors import EmbeddingsError

__all__ = ["PlainPipeline", "QueryEncoder", "plain_pipeline"]

logger = logging.getLogger(__name__)

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class PlainPipeline:
    """What a plain sentence-transformers folder computes: a transformer, then pooling."""

    folder: Path
    pooling: Literal["mean", "cls"]
    max_seq_length: int | None
    do_lower_case: bool


def plain_pipeline(location: str | Path) -> PlainPipeline | None:
    """The folder's pipeline when :class:`QueryEncoder` computes it exactly, else None."""
    folder = Path(location)
    modules = read_json(folder / "modules.json")
    if not isinstance(modules, list) or not 2 <= len(modules) <= 3:
        return None
    kinds = [m.get("type") if isinstance(m, dict) else None for m in modules]
    if kinds[:2] != [_TRANSFORMER, _POOLING] or kinds[2:] not in ([], [_NORMALIZE]):
        return None
    if modules[0].get("path", "") not in ("", "."):
        return None  # the transformer in a sub-folder: let sentence-transformers read it
    pooling_config = read_json(folder / str(modules[1].get("path", "1_Pooling")) / "config.json")
    if not isinstance(pooling_config, dict) or pooling_config.get("include_prompt") is False:
        return None
    modes = {mode for key, mode in _POOLING_FLAGS.items() if pooling_config.get(key)}
    mode = pooling_config.get("pooling_mode")  # newer configs name the mode directly
    if isinstance(mode, str):
        modes.add({"mean_tokens": "mean", "cls_token": "cls"}.get(mode, mode))
    if len(modes) != 1 or not modes <= {"mean", "cls"}:
        return None
    config = read_json(folder / "sentence_bert_config.json") or {}
    if not isinstance(config, dict) or set(config) - {"max_seq_length", "do_lower_case"}:
        return None  # model or tokenizer arguments we do not apply
    longest = config.get("max_seq_length")
    return PlainPipeline(
        folder=folder,
        pooling=next(iter(modes)),  # type: ignore[arg-type]
        max_seq_length=longest if isinstance(longest, int) and longest > 0 else None,
        do_lower_case=bool(config.get("do_lower_case", False)),
    )


_INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")
#: The f32 kernels for the query on OpenVINO (``chains.openvino_cache.F32_LATENCY``).
_OPENVINO_OPTIONS = F32_LATENCY


class _NoReference(LookupError):
    """PyTorch fp32's probe vectors are not cached: no torch-free check is possible."""


class QueryEncoder:
    """Embeds one text at a time (fp32 activations, CPU): on the cached OpenVINO model
    when there is one that agrees with PyTorch fp32, else with ``transformers``; loaded on
    first use."""

    def __init__(
        self, pipeline: PlainPipeline, *, probes: Sequence[str] = (), min_cosine: float = 0.99
    ) -> None:
        """``probes``: the texts whose PyTorch fp32 vectors the embedder caches
        (``chains.openvino_cache.reference_vectors``); the OpenVINO model is used only when
        its vectors of them are within ``min_cosine``. No probes: PyTorch only."""
        self.pipeline = pipeline
        self.probes = list(probes)
        self.min_cosine = min_cosine
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        #: ``"openvino fp32"``, ``"openvino int8"`` or ``"torch"`` once loaded.
        self.backend: str | None = None
        self._inputs: list[str] = []  # what the OpenVINO model takes, in order

    def _tokenize(self, tokenizer: Any, texts: list[str]) -> dict[str, Any]:
        """Padded numpy features of ``texts``, in the order the OpenVINO model takes them."""
        import numpy as np

        from lcelkit.chains.embedder_models import TOKENIZER_LOCK

        with TOKENIZER_LOCK:  # shared with other callers (load_query_tokenizer)
            features = tokenizer(
                texts,
                padding=True,
                truncation="longest_first",
                max_length=self.pipeline.max_seq_length,
            )
        return {k: np.asarray(features[k], dtype=np.int64) for k in _INPUT_ORDER if k in features}

    def _pool(self, hidden: Any, mask: Any) -> Any:
        import numpy as np

        if self.pipeline.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[..., None].astype(hidden.dtype)
            vectors = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
        norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
        return vectors / np.clip(norms, 1e-12, None)

    def _openvino(self, tokenizer: Any) -> Any | None:
        """The cached OpenVINO model of the folder, compiled f32, when its probe vectors
        agree with PyTorch fp32's cached ones; else None (logged)."""
        import importlib.util

        if not self.probes or importlib.util.find_spec("openvino") is None:
            return None
        import numpy as np
        import openvino as ov

        from lcelkit.chains.openvino_cache import (
            CACHE_FORMAT,
            cache_dir,
            cache_key,
            reference_vectors,
        )

        folder = self.pipeline.folder
        probes = [p.lower() for p in self.probes] if self.pipeline.do_lower_case else self.probes
        features = self._tokenize(tokenizer, probes)
        names = list(features)
        # An embedder that read its tokenizer from a cached view takes no token_type_ids
        # (all zeros for one text, which is what the model assumes without them).
        choices = [names, [n for n in names if n != "token_type_ids"]]
        versions = {"openvino": ov.get_version()}
        for variant, inputs in [(v, n) for v in ("fp32", "int8") for n in choices]:
            if variant == "int8" and "nncf" not in versions:
                from importlib.metadata import PackageNotFoundError, version

                try:
                    versions = {**versions, "nncf": version("nncf")}
                except PackageNotFoundError:
                    versions = {**versions, "nncf": "missing"}
            entry = cache_dir() / cache_key(folder, variant, inputs, versions)
            meta = read_json(entry / "entry.json")
            if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
                continue
            try:
                core = ov.Core()
                options = dict(_OPENVINO_OPTIONS)
                compiled_cache = cache_dir() / "compiled"
                if compiled_cache.is_dir():
                    options["CACHE_DIR"] = str(compiled_cache)
                compiled = core.compile_model(
                    core.read_model(str(entry / "model.xml")), "CPU", options
                )

                def no_reference() -> Any:
                    raise _NoReference

                reference = reference_vectors(str(folder), self.probes, no_reference)
                hidden = compiled([features[n] for n in inputs])[0]
                got = self._pool(np.asarray(hidden, dtype=np.float32), features["attention_mask"])
                cosine = float(np.min(np.sum(np.asarray(reference) * got, axis=1)))
            except _NoReference:
                logger.info("no cached fp32 reference vectors for %s: queries on PyTorch", folder)
                return None
            except Exception as exc:
                logger.info("OpenVINO query model %s unusable (%s); trying the next", entry, exc)
                continue
            if cosine < self.min_cosine:
                logger.info("OpenVINO %s query vectors drift (cosine %.4f)", variant, cosine)
                continue
            self.backend, self._inputs = f"openvino {variant}", inputs
            logger.info("query encoder: OpenVINO %s (probe cosine %.5f)", entry.name, cosine)
            return compiled
        return None

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                try:
                    from lcelkit.chains.embedder_models import load_query_tokenizer

                    # one instance with the coverage probe; a slow rebuild is cached on disk
                    tokenizer = load_query_tokenizer(str(self.pipeline.folder))
                    model = self._openvino(tokenizer)
                    if model is None:
                        from transformers import AutoModel

                        model = AutoModel.from_pretrained(self.pipeline.folder).eval()
                        self.backend = "torch"
                except Exception as exc:
                    raise EmbeddingsError(
                        f"cannot load embedding model {self.pipeline.folder}: {exc}",
                        hint="use a local sentence-transformers folder, or unset "
                        "LCELKIT_EMBEDDINGS_MODEL to use the bundled all-MiniLM-L6-v2",
                    ) from exc
                self._loaded = (tokenizer, model)
                logger.info("query encoder loaded from %s (%s)", self.pipeline.folder, self.backend)
        return self._loaded

    def encode(self, text: str) -> list[float]:
        """The L2-normalised vector of ``text`` (prompt included by the caller)."""
        tokenizer, model = self._loaded or self._load()
        text = text.strip()
        if self.pipeline.do_lower_case:
            text = text.lower()
        if self.backend != "torch":
            import numpy as np

            features = self._tokenize(tokenizer, [text])
            hidden = np.asarray(model([features[n] for n in self._inputs])[0], dtype=np.float32)
            return [float(x) for x in self._pool(hidden, features["attention_mask"])[0]]
        import torch

        from lcelkit.chains.embedder_models import TOKENIZER_LOCK

        with TOKENIZER_LOCK:  # shared with other callers (load_query_tokenizer)
            features = tokenizer(
                [text],
                padding=True,
                truncation="longest_first",
                max_length=self.pipeline.max_seq_length,
                return_tensors="pt",
            )
        with torch.inference_mode():
            hidden = model(**features, return_dict=True).last_hidden_state
            if self.pipeline.pooling == "cls":
                vector = hidden[:, 0]
            else:
                mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vector = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vector = torch.nn.functional.normalize(vector, dim=-1)
        return vector[0].float().tolist()
