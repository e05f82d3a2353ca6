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
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def plain_pipeline(location: str | Path) -> PlainPipeline | None:
    """The folder's pipeline when :class:`QueryEncoder` computes it exactly, else None."""
    folder = Path(location)
    modules = _json(folder / "modules.json")
    if not isinstance(modules, list) or not 2 <= len(modules) <= 3:
        return None
    kinds = [m.get("type") if isinstance(m, dict) else None for m in modules]
    if kinds[:2] != [_TRANSFORMER, _POOLING] or kinds[2:] not in ([], [_NORMALIZE]):
        return None
    if modules[0].get("path", "") not in ("", "."):
        return None  # the transformer in a sub-folder: let sentence-transformers read it
    pooling_config = _json(folder / str(modules[1].get("path", "1_Pooling")) / "config.json")
    if not isinstance(pooling_config, dict) or pooling_config.get("include_prompt") is False:
        return None
    modes = {mode for key, mode in _POOLING_FLAGS.items() if pooling_config.get(key)}
    mode = pooling_config.get("pooling_mode")  # newer configs name the mode directly
    if isinstance(mode, str):
        modes.add({"mean_tokens": "mean", "cls_token": "cls"}.get(mode, mode))
    if len(modes) != 1 or not modes <= {"mean", "cls"}:
        return None
    config = _json(folder / "sentence_bert_config.json") or {}
    if not isinstance(config, dict) or set(config) - {"max_seq_length", "do_lower_case"}:
        return None  # model or tokenizer arguments we do not apply
    longest = config.get("max_seq_length")
    return PlainPipeline(
        folder=folder,
        pooling=next(iter(modes)),  # type: ignore[arg-type]
        max_seq_length=longest if isinstance(longest, int) and longest > 0 else None,
        do_lower_case=bool(config.get("do_lower_case", False)),
    )


class QueryEncoder:
    """Embeds one text at a time with ``transformers`` (fp32, CPU), loaded on first use."""

    def __init__(self, pipeline: PlainPipeline) -> None:
        self.pipeline = pipeline
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                try:
                    from transformers import AutoModel

                    from lcelkit.chains.embedder_models import load_query_tokenizer

                    # one instance with the coverage probe; a slow rebuild is cached on disk
                    tokenizer = load_query_tokenizer(str(self.pipeline.folder))
                    model = AutoModel.from_pretrained(self.pipeline.folder).eval()
                except Exception as exc:
                    raise EmbeddingsError(
                        f"cannot load embedding model {self.pipeline.folder}: {exc}",
                        hint="use a local sentence-transformers folder, or unset "
                        "LCELKIT_EMBEDDINGS_MODEL to use the bundled all-MiniLM-L6-v2",
                    ) from exc
                self._loaded = (tokenizer, model)
                logger.info("query encoder loaded from %s (transformers)", self.pipeline.folder)
        return self._loaded

    def encode(self, text: str) -> list[float]:
        """The L2-normalised vector of ``text`` (prompt included by the caller)."""
        import torch

        tokenizer, model = self._loaded or self._load()
        text = text.strip()
        if self.pipeline.do_lower_case:
            text = text.lower()
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
