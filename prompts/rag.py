"""Prompts of retrieval-augmented answering: cited answers and follow-up condensing.

The context is a list of numbered passages, ``[1] (file.pdf p.3)`` then the text;
answers cite them as ``[1]``. Table cells the question names (its row label and column
header, found by ``chains.table_cells``) follow the question as one line. Every answer
prompt tells the model to say it does not know when the passages do not contain the
answer.
"""

from __future__ import annotations

from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate, MessagesPlaceholder

__all__ = ["DONT_KNOW", "PROMPTS", "TABLE_CELLS_LABEL"]

DONT_KNOW = "I don't know based on the provided documents."

# Short and concrete (issue #12): SmolLM2-135M follows long rule lists badly. Chosen on 60
# SQuAD and 60 table questions kept out of bench/answers.py's reported sets (the
# candidates' figures are in docs/DESIGN.md, "RAG chains").
ANSWER_SYSTEM = f"""Answer the question from the passages and cite the passage number like \
[1]. If the passages do not say, reply: {DONT_KNOW} Answer in the language of the \
question."""

# {table_cells} is "" or a line "\nTable cells named by the question: North · Q3 = 63 [1]"
ANSWER_HUMAN = """Passages:
{context}

Question: {question}{table_cells}
Answer:"""

TABLE_CELLS_LABEL = "Table cells named by the question:"

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
    ).partial(table_cells=""),
    "rag.answer_cot": ChatPromptTemplate.from_messages(
        [("system", ANSWER_COT_SYSTEM), ("human", ANSWER_HUMAN.removesuffix("\nAnswer:"))]
    ).partial(table_cells=""),
    "rag.condense_question": ChatPromptTemplate.from_messages(
        [
            ("system", CONDENSE_SYSTEM),
            MessagesPlaceholder("chat_history"),
            ("human", CONDENSE_HUMAN),
        ]
    ),
}
