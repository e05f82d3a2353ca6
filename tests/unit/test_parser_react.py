"""The tolerant ReAct parser: what small local models actually write."""

from __future__ import annotations

import pytest
from langchain_core.exceptions import OutputParserException

from lcelkit.agents.parser import Action, Finish, ReActOutputParser, ReActParseError, parse_react


def test_classic_format_gives_an_action():
    parsed = parse_react(
        "Thought: I should search.\nAction: search_documents\nAction Input: revenue 2023"
    )
    assert isinstance(parsed, Action)
    assert parsed.tool == "search_documents"
    assert parsed.tool_input == "revenue 2023"
    assert parsed.thought == "I should search."


def test_case_and_spacing_are_tolerated():
    parsed = parse_react("thought:need math\n  ACTION :  calculator \n action input:   2 + 2  ")
    assert isinstance(parsed, Action)
    assert (parsed.tool, parsed.tool_input) == ("calculator", "2 + 2")


def test_action_input_on_the_next_line():
    parsed = parse_react("Thought: x\nAction: calculator\nAction Input:\n(3 + 4) * 2")
    assert isinstance(parsed, Action)
    assert parsed.tool_input == "(3 + 4) * 2"


def test_quoted_and_backticked_values_are_unwrapped():
    parsed = parse_react('Action: `search_documents`\nAction Input: "표 3 매출"')
    assert isinstance(parsed, Action)
    assert (parsed.tool, parsed.tool_input) == ("search_documents", "표 3 매출")


def test_json_action_blob_in_a_markdown_fence():
    text = (
        "Thought: I will look it up.\n```json\n"
        '{"action": "search_documents", "action_input": "warranty period"}\n```'
    )
    parsed = parse_react(text)
    assert isinstance(parsed, Action)
    assert (parsed.tool, parsed.tool_input) == ("search_documents", "warranty period")


def test_json_blob_after_action_marker_with_dict_input():
    text = 'Action:\n```\n{"action": "calculator", "action_input": {"expression": "2**10"}}\n```'
    parsed = parse_react(text)
    assert isinstance(parsed, Action)
    assert parsed.tool_input == {"expression": "2**10"}


def test_json_blob_with_final_answer_action_finishes():
    parsed = parse_react('{"action": "Final Answer", "action_input": "Paris."}')
    assert isinstance(parsed, Finish)
    assert parsed.output == "Paris."


def test_final_answer_without_thought():
    parsed = parse_react("Final Answer: 42")
    assert isinstance(parsed, Finish)
    assert parsed.output == "42"


def test_final_answer_keeps_multiline_text_and_korean():
    parsed = parse_react("Thought: done\nfinal answer:  첫째 줄\n둘째 줄 [1]\n")
    assert isinstance(parsed, Finish)
    assert parsed.output == "첫째 줄\n둘째 줄 [1]"
    assert parsed.thought == "done"


def test_a_self_written_observation_is_cut():
    text = (
        "Thought: search\nAction: search_documents\nAction Input: q\n"
        "Observation: invented result\nThought: I know\nFinal Answer: invented"
    )
    parsed = parse_react(text)
    assert isinstance(parsed, Action)
    assert parsed.tool_input == "q"
    assert "invented" not in parsed.log


def test_final_answer_after_action_without_observation_is_ignored():
    parsed = parse_react("Action: calculator\nAction Input: 1+1\nFinal Answer: 2")
    assert isinstance(parsed, Action)
    assert parsed.tool_input == "1+1"


def test_final_answer_before_a_stray_action_wins():
    parsed = parse_react("Final Answer: it is 3.\nAction: calculator")
    assert isinstance(parsed, Finish)
    assert parsed.output.startswith("it is 3.")


def test_function_call_syntax():
    parsed = parse_react("Thought: t\nAction: calculator(12 * 12)")
    assert isinstance(parsed, Action)
    assert (parsed.tool, parsed.tool_input) == ("calculator", "12 * 12")


def test_action_named_final_answer():
    parsed = parse_react("Action: Final Answer\nAction Input: Seoul")
    assert isinstance(parsed, Finish)
    assert parsed.output == "Seoul"


@pytest.mark.parametrize("text", ["", "   ", "I think the answer is blue.", "Thought: hmm"])
def test_text_without_markers_is_a_parse_error(text):
    with pytest.raises(ReActParseError):
        parse_react(text)


def test_lcel_output_parser_raises_output_parser_exception():
    parser = ReActOutputParser()
    assert isinstance(parser.invoke("Final Answer: yes"), Finish)
    with pytest.raises(OutputParserException):
        parser.invoke("no markers at all")
