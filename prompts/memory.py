"""Prompts of the agent's summary memory: fold evicted turns into the running summary,
and compress a summary that outgrew its token cap."""

from __future__ import annotations

from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate

__all__ = ["PROMPTS"]

SUMMARIZE_SYSTEM = """You maintain a running summary of a conversation between a user and an \
assistant. Merge the new lines into the current summary. Keep facts, names, numbers, \
decisions, open questions and what the user asked for; drop small talk. Write at most \
{max_words} words, in the language of the conversation. Reply with the new summary only."""

SUMMARIZE_HUMAN = """Current summary:
{summary}

New lines of conversation:
{new_lines}

New summary:"""

COMPRESS_HUMAN = """This conversation summary is too long. Rewrite it in at most {max_words} \
words, keeping the most important facts, names, numbers and decisions. Reply with the summary \
only.

Summary:
{summary}"""

PROMPTS: dict[str, BasePromptTemplate] = {
    "memory.summarize": ChatPromptTemplate.from_messages(
        [("system", SUMMARIZE_SYSTEM), ("human", SUMMARIZE_HUMAN)]
    ),
    "memory.compress": ChatPromptTemplate.from_messages([("human", COMPRESS_HUMAN)]),
}
