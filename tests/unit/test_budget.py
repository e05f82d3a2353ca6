"""Token-budgeted packing: rank order, drops, the budget is never exceeded."""

from __future__ import annotations

import logging

import pytest
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage, SystemMessage

from lcelkit.chains.budget import (
    MESSAGE_OVERHEAD_TOKENS,
    count_prompt,
    pack,
    prompt_budget,
    split_sentences,
)
from lcelkit.errors import ContextBudgetError


def words(text: str) -> int:
    return len(text.split())


def doc(n_words: int, tag: str) -> Document:
    return Document(page_content=" ".join([tag] * n_words), metadata={"chunk_id": tag})


def test_keeps_in_rank_order_and_drops_what_does_not_fit(caplog):
    docs = [doc(40, "a"), doc(50, "b"), doc(30, "c"), doc(20, "d")]
    with caplog.at_level(logging.INFO, logger="lcelkit.chains.budget"):
        result = pack(docs, counter=words, budget=90, separator_tokens=2)
    # a (40) fits; b (50+2) would make 92; c (30+2) makes 72; d (20+2) would make 94.
    assert [d.metadata["chunk_id"] for d in result.kept] == ["a", "c"]
    assert [d.metadata["chunk_id"] for d in result.dropped] == ["b", "d"]
    assert result.tokens == 72
    assert "kept 2 of 4 chunks" in caplog.text and "dropped 2" in caplog.text


@pytest.mark.parametrize("budget", [0, 1, 7, 33, 64, 150, 500])
def test_budget_is_never_exceeded(budget):
    docs = [doc(n, f"t{i}") for i, n in enumerate([5, 30, 12, 60, 1, 8, 25])]
    render = lambda d, n: f"[{n}] {d.page_content}"  # noqa: E731
    result = pack(docs, counter=words, budget=budget, separator_tokens=1, render=render)
    rendered = sum(words(render(d, i)) for i, d in enumerate(result.kept, 1))
    assert result.tokens == rendered + max(0, len(result.kept) - 1)
    assert result.tokens <= budget
    assert len(result.kept) + len(result.dropped) == len(docs)
    order = [docs.index(d) for d in result.kept]
    assert order == sorted(order)


def test_trim_last_cuts_at_a_sentence_boundary():
    text = "First sentence here. Second one is here. Third sentence is rather long indeed."
    docs = [doc(10, "a"), Document(page_content=text, metadata={"chunk_id": "b"})]
    result = pack(docs, counter=words, budget=19, separator_tokens=1, trim_last=True)
    assert [d.metadata["chunk_id"] for d in result.kept] == ["a", "b"]
    trimmed = result.kept[1]
    assert trimmed.page_content == "First sentence here. Second one is here."
    assert trimmed.metadata["trimmed"] is True
    assert result.tokens <= 19
    # Without trimming the chunk is dropped whole.
    assert len(pack(docs, counter=words, budget=19, separator_tokens=1).kept) == 1


def test_split_sentences():
    assert split_sentences("A b. C d? E!\nF") == ["A b.", "C d?", "E!", "F"]


def test_prompt_budget_raises_before_any_call_when_nothing_fits():
    assert prompt_budget(context_window=512, max_new_tokens=100, base_tokens=50) == 362
    with pytest.raises(ContextBudgetError) as err:
        prompt_budget(context_window=512, max_new_tokens=100, base_tokens=412)
    assert "412 tokens" in err.value.message and "512" in err.value.message
    assert "LCELKIT_MAX_NEW_TOKENS" in err.value.hint


def test_count_prompt_reserves_chat_template_overhead():
    messages = [SystemMessage("one two three"), HumanMessage("four five")]
    assert count_prompt(words, messages) >= 5 + MESSAGE_OVERHEAD_TOKENS * 3
    assert count_prompt(words, "a b c") == 3
