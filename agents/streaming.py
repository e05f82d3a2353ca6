"""Streaming the final answer of a ReAct reply while it is being generated.

On the text path the model writes ``Thought: ... Final Answer: ...``; only what
follows ``Final Answer:`` is the user's answer. :class:`AnswerStreamer` holds tokens
back until it sees the marker (and never releases anything when an ``Action:`` or an
``Observation:`` came first), holds back trailing whitespace and anything that may
become an ``Observation:`` line, and afterwards releases what the parser's final
answer adds to what was already streamed.
"""

from __future__ import annotations

from lcelkit.agents.parser import ACTION_RE, FINAL_RE, OBSERVATION_RE

__all__ = ["AnswerStreamer"]

_OBS_WORD = "observation:"
_LOOKBACK = 32  # longest marker with its decoration


class AnswerStreamer:
    """Turns model tokens into answer tokens. ``marker=False``: everything is answer."""

    def __init__(self, *, marker: bool = True) -> None:
        self.buffer = ""
        self.emitted = ""
        self._started = not marker
        self._blocked = False
        self._start = 0

    @property
    def started(self) -> bool:
        """Whether the answer part has begun."""
        return self._started

    def block(self) -> None:
        """Release nothing more from this reply (it turned into a tool call)."""
        self._blocked = True

    def feed(self, piece: str) -> str:
        """Add model text; returns the answer text that can be shown now."""
        scanned = max(0, len(self.buffer) - _LOOKBACK)  # markers can span pieces
        self.buffer += piece
        if self._blocked:
            return ""
        if not self._started:
            found = FINAL_RE.search(self.buffer, scanned)
            if not found:
                return ""
            before = self.buffer[: found.start()]
            if ACTION_RE.search(before) or OBSERVATION_RE.search(before):
                self._blocked = True
                return ""
            self._started, self._start = True, found.end()
            scanned = self._start
        obs = OBSERVATION_RE.search(self.buffer, max(self._start, scanned - 1))
        end = obs.start() if obs else len(self.buffer)
        if obs:
            self._blocked = True
        else:
            newline = self.buffer.rfind("\n", self._start)
            if newline != -1:
                tail = self.buffer[newline + 1 :].lstrip(" \t>*_#").lower().replace(" ", "")
                if tail and _OBS_WORD.startswith(tail):
                    end = newline
        safe = self.buffer[self._start : end].strip()
        if not safe.startswith(self.emitted):
            return ""
        new = safe[len(self.emitted) :]
        self.emitted = safe
        return new

    def finish(self, final: str) -> str:
        """The rest of ``final`` (the parsed answer) not yet streamed, if it extends it."""
        if final.startswith(self.emitted):
            rest = final[len(self.emitted) :]
            self.emitted = final
            return rest
        return ""
