"""What the agent does before the model speaks, decided without asking the model.

Small local models (135M-3B) rarely choose to call ``search_documents`` on their own,
even when asked to: SmolLM2-135M never did. With ``agent.retrieval = "auto"`` the agent
therefore acts first (:func:`first_tool`):

- a message that is plainly arithmetic (an expression, with at most a few words such as
  "what is", "calculate", "곱하기" around it) goes to ``calculator``;
- a question about the current date or time goes to ``current_datetime``;
- every other message is searched for in the documents, and the retriever's own
  relevance scores decide whether the passages go into the prompt
  (:func:`passages_relevant`: BM25, and the cosine similarity against a threshold
  calibrated per embedder): small talk retrieves nothing relevant, so the model answers
  it without passages.

No list of topics or phrases decides that a message is about the documents: a question
that does not say "document" or "search" is searched like any other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

__all__ = [
    "MIN_BM25_SCORE",
    "MIN_DENSE_SCORE",
    "RetrievalMode",
    "arithmetic_expression",
    "asks_current_datetime",
    "first_tool",
    "min_dense_score",
    "passages_relevant",
]

RetrievalMode = Literal["auto", "always", "tool"]

#: Cosine similarity of the best passage at and above which the passages are relevant,
#: per embedder (similarities are not comparable across embedders: e5 puts everything
#: above 0.75). Tuned on bench/agent_real.py's first conversation set only (samples/):
#: all-MiniLM-L6-v2: document questions 0.41-0.84, small talk 0.05-0.23;
#: multilingual-e5-small: document questions 0.84-0.92, small talk 0.76-0.83 (too close
#: to rely on: 0.85 keeps a margin, and BM25 carries the document questions below it).
#: Another embedder: the cosine side is not used (BM25 decides; a dense-only retriever's
#: passages are kept).
MIN_DENSE_SCORE: dict[str, float] = {
    "all-MiniLM-L6-v2": 0.35,
    "multilingual-e5-small": 0.85,
}
#: BM25 (``-bm25()`` of SQLite FTS5, higher is better) of the best passage at and above
#: which the passages are relevant, whatever the embedder. Same tuning: document
#: questions 3.6-17.3; small talk 0, or 1.9-2.2 when one common word matched.
MIN_BM25_SCORE = 3.0


def min_dense_score(embedder: str | None) -> float | None:
    """The cosine threshold for ``embedder`` (its name, as collections record it), or
    None when it was not calibrated."""
    if not embedder:
        return None
    return MIN_DENSE_SCORE.get(embedder) or MIN_DENSE_SCORE.get(embedder.rsplit("/", 1)[-1])


# -- arithmetic ---------------------------------------------------------------------------
_OPERATOR_WORDS = [
    (r"\bmultiplied\s+by\b|\btimes\b|곱하기", "*"),
    (r"\bdivided\s+by\b|\bover\b|나누기", "/"),
    (r"\bplus\b|\badded\s+to\b|더하기", "+"),
    (r"\bminus\b|빼기", "-"),
]
_NUMBER = r"\d+(?:[.,]\d+)?"
_EXPRESSION = re.compile(rf"\(?\s*-?{_NUMBER}\s*\)?(?:\s*[-+*/%^x×÷]\s*\(?\s*-?{_NUMBER}\s*\)?)+")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
#: At most this many words around the expression: "what is ... ?", "please work out ...",
#: "... 은 얼마야?" are arithmetic; "how many engineers are in 2 + 3 offices" is not.
_MAX_WORDS_AROUND = 4


def arithmetic_expression(text: str) -> str | None:
    """The expression of a plainly arithmetic message ("What's 19 plus 23?", "81 - 27 =
    ?", "12 곱하기 11은?"), in calculator syntax; None for anything else."""
    normalized = text
    for pattern, symbol in _OPERATOR_WORDS:
        normalized = re.sub(pattern, f" {symbol} ", normalized, flags=re.IGNORECASE)
    found = _EXPRESSION.search(normalized)
    if found is None or not re.search(r"[-+*/%^x×÷]", found.group(0)):
        return None
    rest = normalized[: found.start()] + " " + normalized[found.end() :]
    if len(_WORD.findall(rest)) > _MAX_WORDS_AROUND:
        return None
    expression = found.group(0).replace("×", "*").replace("÷", "/").replace("^", "**")
    expression = re.sub(r"(?<=\d)\s*x\s*(?=[\d(])", " * ", expression)
    expression = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expression)
    return re.sub(r"\s+", " ", expression).strip()


# -- the current date or time -------------------------------------------------------------
# A question about *now*: "what time is it", "which day of the week is it today",
# "today's date", "the current time", "what year is it", and the Korean equivalents.
# "What time does the office open?" asks about the documents: no "it"/"now"/"today".
_DATETIME = re.compile(
    r"\b(?:what|which)\s+(?:(?:is\s+the\s+)?(?:time|date|day|weekday|month|year)"
    r"(?:\s+of\s+the\s+(?:week|month|year))?)\s+(?:is\s+it|is\s+today|it\s+is|today|now)\b"
    r"|\b(?:today'?s|the\s+current|current)\s+(?:date|time|day|weekday)\b"
    r"|\b(?:what(?:'s|\s+is)\s+the\s+(?:time|date))(?:\s+(?:now|today|right\s+now))?\s*\??\s*$"
    r"|\b(?:the\s+)?time\s+(?:right\s+)?now\b|\bwhat\s+day\s+is\s+(?:it|today)\b"
    r"|(?:지금|현재)\s*(?:몇\s*시|시간|시각)|몇\s*시(?:야|예요|에요|입니까|인가요)"
    r"|오늘\s*(?:은\s*)?(?:무슨\s*요일|며칠|몇\s*일|날짜)|오늘\s*날짜",
    re.IGNORECASE,
)


def asks_current_datetime(text: str) -> bool:
    """True for a question about the current date, day or time."""
    return bool(_DATETIME.search(text))


# -- relevance of what the search found ---------------------------------------------------
def _best(items: Sequence[dict[str, Any]], key: str) -> float:
    values = [v for v in (item.get(key) for item in items) if isinstance(v, int | float)]
    return float(max(values)) if values else 0.0


def passages_relevant(artifact: Any) -> bool:
    """Whether the passages a search found are relevant enough to go into the prompt,
    judged by the retriever's own scores (``search_documents``' artifact: one dict per
    passage with ``score``, ``embedder`` and, from the hybrid retriever, ``dense_score``,
    ``bm25_score`` and ``bm25_lean``).

    Hybrid: the best BM25 score reaches :data:`MIN_BM25_SCORE`, or the best cosine
    similarity reaches the embedder's :func:`min_dense_score` (not when the retriever
    leans on BM25 because the embedder cannot read the query's language: its
    similarities are noise then). Dense retrievers: the best ``score`` (a cosine
    similarity) reaches the embedder's threshold. A search without scores, or a dense one
    whose embedder was not calibrated, cannot be judged: its passages are kept. No
    passage: not relevant.
    """
    if not isinstance(artifact, list):
        return True
    items = [item for item in artifact if isinstance(item, dict)]
    if not items:
        return False
    embedder = next((item["embedder"] for item in items if item.get("embedder")), None)
    dense_bar = min_dense_score(embedder)
    if any("dense_score" in item or "bm25_score" in item for item in items):
        if _best(items, "bm25_score") >= MIN_BM25_SCORE:
            return True
        lean = any(item.get("bm25_lean") for item in items)
        return not lean and dense_bar is not None and _best(items, "dense_score") >= dense_bar
    if dense_bar is None or not any(isinstance(item.get("score"), int | float) for item in items):
        return True
    return _best(items, "score") >= dense_bar


# -- the first action ---------------------------------------------------------------------
def first_tool(mode: RetrievalMode, text: str, tools: set[str]) -> tuple[str, str] | None:
    """``(tool, input)`` to run before the model's first call, or None.

    ``always``: ``search_documents``; ``tool``: nothing (the model decides); ``auto``:
    ``calculator`` for plain arithmetic (a 135M model computes 17 * 23 = 321),
    ``current_datetime`` for a question about now (it invents dates), else
    ``search_documents`` (see :func:`passages_relevant` for what is kept).
    """
    if mode == "tool":
        return None
    if mode == "auto":
        expression = arithmetic_expression(text)
        if expression is not None and "calculator" in tools:
            return "calculator", expression
        if asks_current_datetime(text) and "current_datetime" in tools:
            return "current_datetime", ""
    if "search_documents" in tools:
        return "search_documents", text
    return None
