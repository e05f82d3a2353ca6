"""The embedder's cached OpenVINO path without sentence-transformers or PyTorch weights.

A later ``lcelkit ingest`` (or server) finds the embedder's transformer already
converted and compiled in the cache (``chains.openvino_cache``). Loading the model
through sentence-transformers only to hand its work to OpenVINO still cost a second ingest
~0.25 s of PyTorch weights nobody uses, ~0.3 s of hashing the in-memory model for
OpenVINO's compiled-model cache, and sentence-transformers' own modules.

:class:`OpenVINOPipeline` computes what a plain sentence-transformers folder computes
(``chains.query_encoder.plain_pipeline``: Transformer, mean or CLS pooling, optionally
Normalize): the model's tokenizer (padded, truncated at ``max_seq_length``), the compiled
OpenVINO transformer, the pooling and L2 normalisation, in NumPy. It is used only for a
model, precision and set of package versions for which an earlier process *recorded* it
(:func:`record_pipeline`): that process, running the full sentence-transformers path,
compared the pipeline's token ids with sentence-transformers' own (equal) and its vectors
with sentence-transformers' pooling around the same compiled model (cosine ≥
:data:`SAME_MIN_COSINE`) on :data:`CHECK_TEXTS`. :func:`load_cached_pipeline` then
compiles the cached model from its file (OpenVINO imports its compiled blob, keyed by the
file) and loads the tokenizer; the embedder still runs its probe check
against PyTorch fp32's cached vectors. Anything missing or failing returns None and the
embedder takes the full path, as before.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = [
    "CHECK_TEXTS",
    "SAME_MIN_COSINE",
    "OpenVINOPipeline",
    "load_cached_pipeline",
    "pipeline_marker",
    "record_pipeline",
]

logger = logging.getLogger(__name__)

_FORMAT = 1  # bump when what a record means changes
SAME_MIN_COSINE = 0.9999  # the pipeline must give sentence-transformers' vectors
_LONG_TEXT = "revenue growth by region and quarter " * 120  # past any max_seq_length
CHECK_TEXTS = [
    "The quarterly revenue grew by 12 percent compared to last year.",
    "표 3은 지역별 매출을 보여 줍니다.",
    "North 10 12\nSouth 8 9",
    "  leading and trailing spaces  ",
    "Ｆｕｌｌｗｉｄｔｈ, café, e\u0301, naïve — “quotes” 😀 \u00a0nbsp\u3000ideographic",
    "x",
    "",
    _LONG_TEXT,
]
_NAME_SETS = (
    ["input_ids", "attention_mask", "token_type_ids"],
    ["input_ids", "attention_mask"],
)


class OpenVINOPipeline:
    """Tokenizer → OpenVINO transformer → pooling → L2 normalisation, without torch.

    ``plain``: the folder's ``PlainPipeline``; ``names``: the compiled model's inputs, in
    order; ``pad_to``: token tensors are padded to a multiple of it (masked: the vectors do
    not change; OpenVINO caches kernels per shape); ``tokenizer``: the model folder's
    (``load_query_tokenizer``: one instance per process, shared with queries and the
    Korean coverage probe, so called under ``TOKENIZER_LOCK``).
    """

    def __init__(self, plain: Any, names: list[str], *, pad_to: int, tokenizer: Any) -> None:
        self.plain = plain
        self.names = list(names)
        self.pad_to = pad_to
        self.tokenizer = tokenizer

    @classmethod
    def of(cls, location: str, names: list[str], *, pad_to: int) -> OpenVINOPipeline | None:
        """The pipeline of the model folder ``location`` with the process's query
        tokenizer; None when its modules are not a plain pipeline with a known
        ``max_seq_length``."""
        from lcelkit.chains.embedder_models import load_query_tokenizer
        from lcelkit.chains.query_encoder import plain_pipeline

        plain = plain_pipeline(location)
        if plain is None or plain.max_seq_length is None:
            return None
        return cls(plain, names, pad_to=pad_to, tokenizer=load_query_tokenizer(location))

    @property
    def max_seq_length(self) -> int:
        """Longest input in word pieces (``sentence_bert_config.json``)."""
        return int(self.plain.max_seq_length)

    def features(self, texts: list[str]) -> dict[str, Any]:
        """The token tensors of one batch (int64, padded to a multiple of ``pad_to``)."""
        import numpy as np

        from lcelkit.chains.embedder_models import TOKENIZER_LOCK

        if self.plain.do_lower_case:
            texts = [t.lower() for t in texts]
        with TOKENIZER_LOCK:
            encoded = self.tokenizer(
                list(texts),
                padding=True,
                truncation="longest_first",
                max_length=self.max_seq_length,
            )
        out = {}
        for name in self.names:
            array = np.asarray(encoded[name], dtype=np.int64)
            extra = -array.shape[1] % self.pad_to
            out[name] = np.pad(array, ((0, 0), (0, extra))) if extra else array
        return out

    def tokenize(self, texts: list[str]) -> dict[str, list[list[int]]] | None:
        """The token ids of every text, truncated, not padded (:meth:`batch` pads a
        batch of them), so that many texts are tokenized once and can be grouped by
        their length in tokens; None where the tokenizer pads on the left (then
        :meth:`features` serves)."""
        if getattr(self.tokenizer, "padding_side", "right") != "right":
            return None
        from lcelkit.chains.embedder_models import TOKENIZER_LOCK

        if self.plain.do_lower_case:
            texts = [t.lower() for t in texts]
        with TOKENIZER_LOCK:
            encoded = self.tokenizer(
                list(texts), truncation="longest_first", max_length=self.max_seq_length
            )
        return {name: list(encoded[name]) for name in self.names}

    def batch(self, tokens: dict[str, list[list[int]]], rows: list[int]) -> dict[str, Any]:
        """The token tensors of the texts ``rows`` of :meth:`tokenize`'s result, padded as
        :meth:`features` pads them (the tokenizer's pad id, masked out, to a multiple of
        ``pad_to`` past the longest)."""
        import numpy as np

        longest = max(len(tokens["input_ids"][i]) for i in rows)
        width = longest + (-longest % self.pad_to)
        pads = {
            "input_ids": self.tokenizer.pad_token_id or 0,
            "token_type_ids": getattr(self.tokenizer, "pad_token_type_id", 0) or 0,
            "attention_mask": 0,
        }
        out = {}
        for name in self.names:
            array = np.full((len(rows), width), pads.get(name, 0), dtype=np.int64)
            for row, i in enumerate(rows):
                ids = tokens[name][i]
                array[row, : len(ids)] = ids
            out[name] = array
        return out

    def pool(self, features: dict[str, Any], hidden: Any) -> Any:
        """Normalised sentence vectors (float32) from the last hidden state ``hidden``."""
        import numpy as np

        hidden = np.asarray(hidden, dtype=np.float32)
        mask = features["attention_mask"]
        if self.plain.pooling == "cls":  # the first unmasked token, as sentence-transformers
            vectors = hidden[np.arange(hidden.shape[0]), mask.argmax(axis=1)]
        else:
            weights = mask[:, :, None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@lru_cache(maxsize=4)
def _versions(precision: str) -> dict[str, str]:
    import openvino as ov

    found = {"openvino": ov.get_version(), "format": str(_FORMAT)}
    packages = ["tokenizers", "transformers", "sentence-transformers", "numpy"]
    for package in packages + (["nncf"] if precision == "int8" else []):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "missing"
    return found


def pipeline_marker(location: str, precision: str, names: list[str]) -> Path:
    """Where the record of a checked pipeline for the model folder ``location``, run in
    ``precision`` with inputs ``names``, lives (beside the OpenVINO cache's entries)."""
    from lcelkit.chains.openvino_cache import cache_dir, cache_key

    key = cache_key(location, f"pipeline-{precision}", names, dict(_versions(precision)))
    return cache_dir() / f"{key}.json"


def record_pipeline(
    location: str,
    precision: str,
    names: list[str],
    model_file: Path,
    st_features: Any,
    encode: Any,
    *,
    pad_to: int,
    document_prompt: str = "",
) -> bool:
    """Check :class:`OpenVINOPipeline` against the full path and record it when it agrees.

    ``st_features(texts)``: sentence-transformers' padded token tensors (NumPy);
    ``encode(texts, pipeline)``: ``(sentence-transformers' vectors, pipeline's vectors)``
    of ``texts``, both pooled from one pass of them through the compiled model (the token
    ids, checked equal first, are the same input).
    ``model_file``: the cached OpenVINO model the compiled model was read from. True when
    the record was written (never raises: the record is an optimisation).
    """
    import numpy as np

    texts = CHECK_TEXTS + [document_prompt + t for t in CHECK_TEXTS if document_prompt]

    def agrees(pipeline: OpenVINOPipeline) -> float | None:
        """The pipeline's least cosine to the full path, None when its ids differ."""
        for start in range(0, len(texts), 4):
            batch = texts[start : start + 4]
            ours, theirs = pipeline.features(batch), st_features(batch)
            if set(theirs) != set(names) or any(
                not np.array_equal(ours[k], theirs[k]) for k in names
            ):
                return None
        # the text past max_seq_length in a batch of its own: in one with the short
        # texts it padded every row to the model's limit (~0.7 s of e5's first set-up)
        least = 1.0
        for long in (False, True):
            group = [t for t in texts if t.endswith(_LONG_TEXT) == long]
            theirs, ours = encode(group, pipeline)
            same = np.asarray(theirs) * np.asarray(ours)
            least = min(least, float(np.min(np.sum(same, axis=1))))
        return least

    try:
        private = OpenVINOPipeline.of(location, names, pad_to=pad_to)
        if private is None:
            return False
        cosine = agrees(private)
        if cosine is None or cosine < SAME_MIN_COSINE:
            logger.info("%s: the plain pipeline differs (%s); not recorded", location, cosine)
            return False
        from lcelkit.chains.openvino_cache import publish_file

        marker = pipeline_marker(location, precision, names)
        record = {
            "entry": model_file.parent.name,
            "min_cosine": cosine,
            "names": names,
        }
        publish_file(marker, json.dumps(record).encode("utf-8"))
        return True
    except Exception as exc:
        logger.info("%s: plain OpenVINO pipeline not recorded (%s)", location, exc)
        return False


def load_cached_pipeline(
    location: str, precision: str, *, pad_to: int, probes: list[str]
) -> tuple[OpenVINOPipeline, Any, Any] | None:
    """``(pipeline, compiled model, PyTorch fp32's probe vectors)`` when an earlier process
    recorded the pipeline for this model folder, precision and these package versions and
    the cache holds its model and reference vectors; None otherwise (or on any failure).

    The model is compiled from its file (OpenVINO's compiled-model cache imports it)."""
    from lcelkit.chains.openvino_cache import (
        MODEL_FILE,
        cache_dir,
        cached_reference_vectors,
        compile_options,
    )
    from lcelkit.chains.query_encoder import plain_pipeline

    try:
        plain = plain_pipeline(location)
        if plain is None or plain.max_seq_length is None:
            return None
        for names in _NAME_SETS:
            marker = pipeline_marker(location, precision, names)
            if marker.is_file():
                break
        else:
            return None
        record = json.loads(marker.read_text(encoding="utf-8"))
        model_file = cache_dir() / str(record["entry"]) / MODEL_FILE
        reference = cached_reference_vectors(location, probes)
        if not model_file.is_file() or reference is None:
            return None
        import openvino as ov

        from lcelkit.chains.embedder_models import load_query_tokenizer

        # one after the other: the tokenizer's Rust parse holds the interpreter, and beside
        # the compile in a thread both took longer than in turn (2 shared cores)
        options = compile_options(precision, cached=True)
        compiled = ov.Core().compile_model(str(model_file), "CPU", options)
        tokenizer = load_query_tokenizer(location)
        return (
            OpenVINOPipeline(plain, names, pad_to=pad_to, tokenizer=tokenizer),
            compiled,
            reference,
        )
    except Exception as exc:
        logger.info("%s: no cached OpenVINO pipeline (%s); loading it in full", location, exc)
        return None
