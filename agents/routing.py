"""Whether a user's message needs the documents, decided without asking the model.

Small local models (135M-3B) rarely choose to call ``search_documents`` on their own,
even when asked to: SmolLM2-135M never did. :func:`asks_about_documents` lets the agent
search before the model speaks (``agent.retrieval = "auto"``): a message that names the
documents, or a question that is not arithmetic, a date/time question or small talk.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["RetrievalMode", "asks_about_documents", "first_tool", "should_retrieve"]

RetrievalMode = Literal["auto", "always", "tool"]

_DOCUMENT_CUE = re.compile(
    r"\b(documents?|docs?|files?|search|look(?:ed)? up|according to|report|polic(?:y|ies)|"
    r"handbook|manual|pdf|table|sources?|indexed|faq|contract)\b|문서|자료|검색|규정",
    re.IGNORECASE,
)
_ARITHMETIC = re.compile(r"^[\s\d.,()+\-*/%^x×÷=?]+$|\b(calculate|compute|sqrt)\b", re.IGNORECASE)
_MATH_QUESTION = re.compile(
    r"^\s*(what(?:'s| is)|how much is)\s+[\d\s.,()+\-*/%^x×÷]+\??\s*$", re.IGNORECASE
)
_DATETIME = re.compile(
    r"\b(what(?:'s| is) (?:the )?(?:date|time|day)|what day is it|today'?s date|current "
    r"(?:date|time)|time is it)\b|몇 시|오늘 날짜",
    re.IGNORECASE,
)
_SMALL_TALK = re.compile(
    r"^\s*(hi|hello|hey|thanks?|thank you|bye|good (?:morning|evening|night)|ok(?:ay)?|"
    r"how are you|who are you|안녕)\b[\s\w,!.?']{0,30}$",
    re.IGNORECASE,
)
_EXPRESSION = re.compile(r"[\d.]+(?:\s*[-+*/%^x×÷]\s*\(?\s*[\d.]+\)?)+")
_QUESTION = re.compile(
    r"\?\s*$|^\s*(what|which|who|whom|whose|when|where|why|how|is|are|was|were|does|do|did|"
    r"can|could|should|list|tell me|explain|describe|summari[sz]e|give me)\b|[까요]\?*\s*$",
    re.IGNORECASE,
)


def asks_about_documents(text: str) -> bool:
    """True when ``text`` names the documents, or is a question that is not arithmetic,
    a date/time question or small talk."""
    if _DOCUMENT_CUE.search(text):
        return True
    if _ARITHMETIC.search(text) or _MATH_QUESTION.search(text) or _DATETIME.search(text):
        return False
    if _SMALL_TALK.search(text):
        return False
    return bool(_QUESTION.search(text))


def should_retrieve(mode: RetrievalMode, text: str) -> bool:
    """Whether the agent searches the documents before the model's first call:
    ``always``; ``tool`` never (the model decides); ``auto`` per :func:`asks_about_documents`."""
    if mode == "always":
        return True
    if mode == "tool":
        return False
    return asks_about_documents(text)


def first_tool(mode: RetrievalMode, text: str, tools: set[str]) -> tuple[str, str] | None:
    """``(tool, input)`` to run before the model's first call, or None.

    ``search_documents`` per :func:`should_retrieve`; with ``auto``, plain arithmetic
    goes to ``calculator`` and a date/time question to ``current_datetime`` (a 135M
    model computes 17 * 23 = 321 and invents dates rather than call them).
    """
    if mode == "auto":
        expression = _EXPRESSION.search(text)
        arithmetic = _ARITHMETIC.search(text) or _MATH_QUESTION.search(text)
        if "calculator" in tools and expression and arithmetic and not _DOCUMENT_CUE.search(text):
            return "calculator", expression.group(0).replace("x", "*")
        if "current_datetime" in tools and _DATETIME.search(text):
            return "current_datetime", ""
    if "search_documents" in tools and should_retrieve(mode, text):
        return "search_documents", text
    return None
