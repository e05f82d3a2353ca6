"""Letters by script: how much of a text is Hangul (for the ingest's Korean coverage note
and hybrid search's lean on BM25; ``chains.coverage`` builds on these)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["count_letters", "letter_counts"]

_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff]")
_LETTER = re.compile(r"[^\W\d_]")


def letter_counts(text: str) -> tuple[int, int]:
    """``(Hangul letters, all letters)`` of ``text`` (digits, spaces, punctuation not counted)."""
    return len(_HANGUL.findall(text)), len(_LETTER.findall(text))


def count_letters(docs: Iterable[Any], start: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """``start`` plus the ``(Hangul, all)`` letters of the documents' ``page_content``."""
    hangul, letters = start
    for doc in docs:
        h, n = letter_counts(doc.page_content)
        hangul += h
        letters += n
    return hangul, letters
