"""A tolerant parser for text ReAct replies (``Thought`` / ``Action`` / ``Final Answer``).

Small local models rarely follow the ReAct format to the letter. This parser accepts
the usual deviations: any case and spacing around the markers, ``Action Input`` on the
line after ``Action``, a JSON action blob (``{"action": ..., "action_input": ...}``),
markdown code fences, ``tool(args)`` call syntax, and a ``Final Answer`` with no
``Thought`` before it. Anything after an ``Observation:`` the model wrote itself is cut,
since only the tool may supply an observation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from langchain_core.output_parsers import BaseOutputParser

__all__ = [
    "ACTION_INPUT_RE",
    "ACTION_RE",
    "FINAL_RE",
    "OBSERVATION_RE",
    "Action",
    "Finish",
    "ReActOutputParser",
    "ReActParseError",
    "cut_observation",
    "parse_react",
    "strip_thought",
]


class ReActParseError(ValueError):
    """The reply holds neither an action nor a final answer."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


@dataclass
class Action:
    """The model asked for ``tool`` with ``tool_input``; ``log`` is the text that asked."""

    tool: str
    tool_input: str | dict[str, Any]
    thought: str = ""
    log: str = ""


@dataclass
class Finish:
    """The model gave its final answer."""

    output: str
    thought: str = ""
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


OBSERVATION_RE = re.compile(r"(?:^|\n)[ \t>*_#]*observation[ \t*_]*:", re.IGNORECASE)
FINAL_RE = re.compile(r"[ \t>*_#]*final[ \t_]*answer[ \t*_]*:[ \t]*", re.IGNORECASE)
ACTION_RE = re.compile(r"(?:^|\n)[ \t>*_#]*action[ \t*_]*(?:\d+[ \t]*)?:[ \t]*", re.IGNORECASE)
ACTION_INPUT_RE = re.compile(
    r"(?:^|\n)[ \t>*_#]*action[ \t_]*input[ \t*_]*(?:\d+[ \t]*)?:[ \t]*", re.IGNORECASE
)
_THOUGHT = re.compile(r"^[ \t>*_#]*thought[ \t*_]*:[ \t]*", re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)```", re.DOTALL)
_CALL = re.compile(r"^([A-Za-z_][\w.-]*)\s*\((.*)\)\s*$", re.DOTALL)


def cut_observation(text: str) -> str:
    """The text up to the first ``Observation:`` the model wrote itself."""
    match = OBSERVATION_RE.search(text)
    return text[: match.start()] if match else text


def strip_thought(text: str) -> str:
    """``text`` without a leading ``Thought:`` marker."""
    return _THOUGHT.sub("", text.strip(), count=1).strip()


def _unquote(value: str) -> str:
    value = value.strip()
    fence = _FENCE.fullmatch(value)
    if fence:
        value = fence.group(2).strip()
    value = value.strip("`").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in {'"', "'"}:
        value = value[1:-1]
    return value.strip()


def _clean_tool_name(value: str) -> str:
    name = _unquote(value.splitlines()[0] if value.strip() else value)
    name = name.strip("[](){}<>*_`'\" .:;,")
    return name.strip()


def _parse_input(value: str) -> str | dict[str, Any]:
    value = _unquote(value)
    if value.startswith("{") and value.endswith("}"):
        try:
            loaded = json.loads(value)
        except ValueError:
            return value
        if isinstance(loaded, dict):
            return loaded
    return value


def _json_blobs(text: str) -> list[dict[str, Any]]:
    """JSON objects in fences first, then the outermost ``{...}`` of the text."""
    candidates = [m.group(2) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        candidates.append(text[start : end + 1])
    blobs: list[dict[str, Any]] = []
    for candidate in candidates:
        try:
            loaded = json.loads(candidate.strip())
        except ValueError:
            continue
        if isinstance(loaded, list) and loaded and isinstance(loaded[0], dict):
            loaded = loaded[0]
        if isinstance(loaded, dict):
            blobs.append(loaded)
    return blobs


def _from_blob(blob: dict[str, Any], thought: str, log: str) -> Action | Finish | None:
    lowered = {str(k).lower().replace(" ", "_"): v for k, v in blob.items()}
    name = lowered.get("action") or lowered.get("tool") or lowered.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    tool_input = lowered.get("action_input", lowered.get("tool_input", lowered.get("arguments")))
    if tool_input is None:
        tool_input = lowered.get("input", lowered.get("args", ""))
    if re.fullmatch(r"\s*final[ _]*answer\s*", name, re.IGNORECASE):
        output = tool_input if isinstance(tool_input, str) else json.dumps(tool_input)
        return Finish(output=output.strip(), thought=thought, log=log)
    if not isinstance(tool_input, (str, dict)):
        tool_input = json.dumps(tool_input)
    return Action(tool=_clean_tool_name(name), tool_input=tool_input, thought=thought, log=log)


def _thought_before(text: str, end: int) -> str:
    return strip_thought(text[:end])


def parse_react(text: str) -> Action | Finish:
    """Parse one ReAct reply into an :class:`Action` or a :class:`Finish`.

    Raises :class:`ReActParseError` when the reply holds neither.
    """
    log = cut_observation(text).strip()
    if not log:
        raise ReActParseError("the reply is empty", text)
    final = FINAL_RE.search(log)
    action = ACTION_RE.search(log)
    # An action that comes before any final answer wins: the "answer" after it was
    # made up while waiting for an observation that never came.
    if action and (not final or action.start() < final.start()):
        thought = _thought_before(log, action.start())
        rest = log[action.end() :]
        input_match = ACTION_INPUT_RE.search(rest)
        if input_match:
            name_part, input_part = rest[: input_match.start()], rest[input_match.end() :]
            if final:  # "Final Answer" after the input belongs to no one
                cut = FINAL_RE.search(input_part)
                input_part = input_part[: cut.start()] if cut else input_part
        else:
            first, _, tail = rest.partition("\n")
            name_part, input_part = first, tail if not FINAL_RE.search(tail) else ""
        if name_part.strip().startswith(("{", "```")):
            for blob in _json_blobs(rest):
                parsed = _from_blob(blob, thought, log)
                if parsed is not None:
                    return parsed
        call = _CALL.match(_unquote(name_part.strip()))
        if call and not input_part.strip():
            return Action(
                tool=call.group(1), tool_input=_parse_input(call.group(2)), thought=thought, log=log
            )
        name = _clean_tool_name(name_part)
        if re.fullmatch(r"final[ _]*answer", name, re.IGNORECASE):
            return Finish(output=_unquote(input_part), thought=thought, log=log)
        if name:
            return Action(tool=name, tool_input=_parse_input(input_part), thought=thought, log=log)
    if final:
        output = _unquote(log[final.end() :])
        return Finish(output=output, thought=_thought_before(log, final.start()), log=log)
    for blob in _json_blobs(log):
        first_brace = log.find("{")
        parsed = _from_blob(blob, _thought_before(log, max(first_brace, 0)), log)
        if parsed is not None:
            return parsed
    raise ReActParseError(
        "the reply has neither 'Action:' with 'Action Input:' nor 'Final Answer:'", text
    )


class ReActOutputParser(BaseOutputParser[Action | Finish]):
    """LCEL output parser around :func:`parse_react` (raises ``OutputParserException``)."""

    def parse(self, text: str) -> Action | Finish:
        """Parse ``text``; a reply in neither form raises ``OutputParserException``."""
        from langchain_core.exceptions import OutputParserException

        try:
            return parse_react(text)
        except ReActParseError as exc:
            raise OutputParserException(str(exc), llm_output=text) from None

    @property
    def _type(self) -> str:
        return "lcelkit_react"
