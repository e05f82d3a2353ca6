"""Prompts of long-document summarization: map (one part), reduce (merge), refine."""

from __future__ import annotations

from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate

__all__ = ["PROMPTS"]

MAP_HUMAN = """Write a concise summary of the following text. Keep the key facts, names and \
numbers; write in the language of the text. Reply with the summary only.

Text:
{text}

Summary:"""

REDUCE_HUMAN = """The following are summaries of consecutive parts of one document. Merge \
them into one concise summary of the whole document, keeping the key facts, names and \
numbers, in the language of the summaries. Reply with the summary only.

Summaries:
{summaries}

Summary of the whole document:"""

REFINE_HUMAN = """Here is a summary of the first parts of a document:
{summary}

Here is the next part of the document:
{text}

Refine the summary so that it also covers the new part. Keep it concise, keep the key facts, \
names and numbers. Reply with the refined summary only.

Refined summary:"""

PROMPTS: dict[str, BasePromptTemplate] = {
    "summarize.map": ChatPromptTemplate.from_messages([("human", MAP_HUMAN)]),
    "summarize.reduce": ChatPromptTemplate.from_messages([("human", REDUCE_HUMAN)]),
    "summarize.refine": ChatPromptTemplate.from_messages([("human", REFINE_HUMAN)]),
}
