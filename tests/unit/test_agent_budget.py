"""The prompt budget: what gives way, in which order, and when it refuses."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from lcelkit.agents.budget import PromptBudget, count_prompt, message_text, truncate_middle
from lcelkit.errors import ContextBudgetError
from tests.unit.test_agent_support import words


def _text(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def _turn(i: int, n: int = 20) -> list:
    return [HumanMessage(content=_text(n, f"q{i}-")), AIMessage(content=_text(n, f"a{i}-"))]


def _step(i: int, n: int = 60) -> list:
    return [AIMessage(content=f"Action: t{i}"), HumanMessage(content=_text(n, f"obs{i}-"))]


SYSTEM = [SystemMessage(content=_text(50, "sys"))]


def test_everything_fits_untouched():
    budget = PromptBudget(counter=words, context_window=2000, max_new_tokens=100)
    fitted = budget.fit(
        fixed=SYSTEM,
        current=HumanMessage(content="hi"),
        summary=SystemMessage(content="summary"),
        turns=[_turn(1), _turn(2)],
        scratchpad=[_step(1)],
    )
    assert len(fitted.messages) == 1 + 1 + 4 + 1 + 2
    assert fitted.tokens == count_prompt(words, fitted.messages) <= 1900
    assert not (fitted.dropped_turns or fitted.summary_dropped or fitted.observations_trimmed)


def test_summary_gives_way_before_recent_turns():
    budget = PromptBudget(counter=words, context_window=260, max_new_tokens=60)
    fitted = budget.fit(
        fixed=SYSTEM,
        current=HumanMessage(content="hi"),
        summary=SystemMessage(content=_text(120, "sum")),
        turns=[_turn(1), _turn(2)],
    )
    assert fitted.tokens <= 200
    assert fitted.dropped_turns == 0
    assert fitted.summary_truncated or fitted.summary_dropped


def test_oldest_turns_go_first_and_whole():
    budget = PromptBudget(counter=words, context_window=300, max_new_tokens=60)
    turns = [_turn(i) for i in range(6)]
    fitted = budget.fit(fixed=SYSTEM, current=HumanMessage(content="hi"), turns=turns)
    assert fitted.tokens <= 240
    assert fitted.dropped_turns > 0
    texts = [message_text(m) for m in fitted.messages]
    assert texts[-3].startswith("q5-0") and texts[-2].startswith("a5-0")
    humans = sum(1 for m in fitted.messages if isinstance(m, HumanMessage))
    ais = sum(1 for m in fitted.messages if isinstance(m, AIMessage))
    assert humans == ais + 1  # whole turns + the current input


def test_old_observations_are_trimmed_before_the_newest():
    budget = PromptBudget(counter=words, context_window=400, max_new_tokens=60)
    steps = [_step(i) for i in range(4)]
    fitted = budget.fit(
        fixed=SYSTEM, current=HumanMessage(content="q"), turns=[_turn(9)], scratchpad=steps
    )
    assert fitted.tokens <= 340
    texts = [message_text(m) for m in fitted.messages]
    assert any(t.startswith("obs3-0") for t in texts), "the newest observation stays"
    assert fitted.observations_trimmed >= 1
    assert not any(t.startswith("obs0-0") for t in texts)


def test_recent_turns_give_way_before_the_scratchpad():
    budget = PromptBudget(counter=words, context_window=400, max_new_tokens=60)
    steps = [_step(i) for i in range(3)]  # about 220 tokens: fits on its own
    fitted = budget.fit(
        fixed=SYSTEM,
        current=HumanMessage(content="q"),
        turns=[_turn(8), _turn(9)],
        scratchpad=steps,
    )
    assert fitted.tokens <= 340
    assert fitted.observations_trimmed == 0
    assert fitted.dropped_turns >= 1


def test_a_long_input_is_truncated_head_and_tail():
    budget = PromptBudget(counter=words, context_window=300, max_new_tokens=50)
    fitted = budget.fit(fixed=SYSTEM, current=HumanMessage(content=_text(1000, "w")))
    assert fitted.input_truncated
    assert fitted.tokens <= 250
    text = message_text(fitted.messages[-1])
    assert text.startswith("w0 w1") and text.endswith("w999")


def test_truncate_middle_keeps_both_ends():
    text = _text(100, "x")
    cut = truncate_middle(text, 30, words)
    assert words(cut) <= 30 and cut.startswith("x0") and cut.endswith("x99")


def test_when_the_system_prompt_cannot_fit_it_refuses():
    budget = PromptBudget(counter=words, context_window=100, max_new_tokens=60)
    with pytest.raises(ContextBudgetError) as info:
        budget.fit(fixed=SYSTEM, current=HumanMessage(content="hello"))
    assert "LCELKIT_CONTEXT_WINDOW" in info.value.hint
    assert "40" in info.value.message  # names the limit it could not meet


def test_cached_counter_keeps_the_counters_template_overhead():
    from langchain_core.messages import HumanMessage

    from lcelkit.agents.budget import cached_counter
    from lcelkit.chains.tokens import count_messages

    class TemplateCounter:
        message_overhead = 11
        reply_priming = 7
        prompt_overhead = 5

        def __call__(self, text: str) -> int:
            return len(text.split())

    counter = TemplateCounter()
    cached = cached_counter(counter)
    messages = [HumanMessage("one two three")]
    assert cached.message_overhead == 11
    assert count_messages(cached, messages) == count_messages(counter, messages) == 3 + 11 + 7 + 5
