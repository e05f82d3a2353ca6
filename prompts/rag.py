"""Prompts of retrieval-augmented answering: cited answers and follow-up condensing.

The context is a list of numbered passages, ``[1] (source p.3)`` then the text;
answers cite them as ``[1]``. Every answer prompt tells the model to say it does
not know when the passages do not contain the answer.
"""

from __future__ import annotations

from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate, MessagesPlaceholder

__all__ = ["DONT_KNOW", "PROMPTS"]

DONT_KNOW = "I don't know based on the provided documents."

ANSWER_SYSTEM = f"""You answer questions using only the numbered passages provided by the \
user. Rules:
- Use only facts stated in the passages; never add outside knowledge.
- After each statement, cite the passage(s) it comes from in square brackets, like [1] or \
[2][3].
- If the passages do not contain the answer, reply exactly: "{DONT_KNOW}"
- Answer in the language of the question, concisely."""

ANSWER_HUMAN = """Passages:
{context}

Question: {question}"""

ANSWER_COT_SYSTEM = f"""You answer questions using only the numbered passages provided by the \
user. First think briefly, step by step, about which passages are relevant and what they say \
(at most three short sentences, after "Reasoning:"). Then give the final answer on a new line \
starting with "Answer:". Rules:
- Use only facts stated in the passages; never add outside knowledge.
- Cite the passage(s) of each statement in square brackets, like [1] or [2][3].
- If the passages do not contain the answer, the final answer is exactly: "{DONT_KNOW}"
- Answer in the language of the question."""

CONDENSE_SYSTEM = """Rewrite the user's follow-up question as a standalone question that can \
be understood without the conversation: replace pronouns and references ("it", "that one", \
"the second") with what they refer to. Keep the language of the question. Reply with the \
standalone question only, no explanation."""

CONDENSE_HUMAN = """Follow-up question: {question}

Standalone question:"""

PROMPTS: dict[str, BasePromptTemplate] = {
    "rag.answer": ChatPromptTemplate.from_messages(
        [("system", ANSWER_SYSTEM), ("human", ANSWER_HUMAN)]
    ),
    "rag.answer_cot": ChatPromptTemplate.from_messages(
        [("system", ANSWER_COT_SYSTEM), ("human", ANSWER_HUMAN)]
    ),
    "rag.condense_question": ChatPromptTemplate.from_messages(
        [
            ("system", CONDENSE_SYSTEM),
            MessagesPlaceholder("chat_history"),
            ("human", CONDENSE_HUMAN),
        ]
    ),
}
