"""Answer streaming on the text path: only what follows ``Final Answer:`` is released."""

from __future__ import annotations

import re

from lcelkit.agents.streaming import AnswerStreamer


def _feed(text: str, size: int = 3) -> tuple[str, AnswerStreamer]:
    streamer = AnswerStreamer(marker=True)
    out = "".join(streamer.feed(text[i : i + size]) for i in range(0, len(text), size))
    return out, streamer


def test_marker_split_across_tokens_and_thought_held_back():
    out, _ = _feed("Thought: I know this.\nFinal Answer: The capital is Paris.", size=2)
    assert out == "The capital is Paris."


def test_nothing_is_released_when_an_action_comes_first():
    out, streamer = _feed("Action: calculator\nAction Input: 1\nFinal Answer: 2")
    assert out == ""
    assert streamer.finish("2") == "2"  # the loop decides; nothing was shown twice


def test_a_self_written_observation_is_held_back_and_cut():
    out, _ = _feed("Final Answer: 42\nObservation: bogus", size=1)
    assert out == "42"


def test_trailing_whitespace_waits_for_more_text():
    streamer = AnswerStreamer(marker=True)
    assert streamer.feed("Final Answer: one ") == "one"
    assert streamer.feed("  ") == ""
    assert streamer.feed("two") == "   two"


def test_finish_releases_what_the_parser_adds():
    streamer = AnswerStreamer(marker=True)
    streamer.feed("Final Answer: partial")
    assert streamer.finish("partial answer") == " answer"
    assert streamer.emitted == "partial answer"


def test_without_marker_everything_streams_korean_too():
    streamer = AnswerStreamer(marker=False)
    pieces = re.findall(r"\s*\S+", "매출은 12% 늘었습니다 [1].")
    assert "".join(streamer.feed(p) for p in pieces) == "매출은 12% 늘었습니다 [1]."
