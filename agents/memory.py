"""Persisted summary memory: recent turns verbatim, older turns folded into a summary.

One row per session (its running summary) and one row per recent turn, in any
SQLAlchemy database (SQLite under ``home`` by default). A turn is the user's input,
the tool calls with their results, and the reply; turns are evicted whole, so a tool
message never loses the AI message that called it.

Summarization is incremental: when turns fall out of the recent window (by count, or
by tokens), only those turns are summarized, together with the previous summary, in
prompts that fit the model's window. The summary has its own token cap: a summary
over the cap is compressed once more, then truncated. When the summarizer fails
(backend down), the turns stay in the recent window and are folded in next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    messages_from_dict,
    messages_to_dict,
)
from langchain_core.runnables import Runnable, RunnableConfig

from lcelkit.agents.budget import cached_counter, count_prompt, message_text, truncate_tokens
from lcelkit.agents.memory_db import SessionLocks, open_memory_db, upsert_session
from lcelkit.errors import ContextBudgetError

__all__ = [
    "MemorySnapshot",
    "SessionInfo",
    "SummaryMemoryStore",
    "render_turns",
]

logger = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]
TOOL_RESULT_TOKENS = 120  # how much of a tool result a summarizer sees
_Plan = tuple[str, list[int], list[list[BaseMessage]]]  # summary, evicted ids, their turns


def _words(text: str) -> int:
    return len(text.split())


@dataclass
class MemorySnapshot:
    """What the agent remembers of a session: the summary and the recent turns."""

    session_id: str
    summary: str = ""
    turns: list[list[BaseMessage]] = field(default_factory=list)
    total_turns: int = 0


@dataclass
class SessionInfo:
    """One stored session."""

    session_id: str
    total_turns: int
    recent_turns: int
    has_summary: bool
    updated_at: float


def render_turns(
    turns: Sequence[Sequence[BaseMessage]],
    counter: TokenCounter,
    tool_tokens: int = TOOL_RESULT_TOKENS,
) -> str:
    """Turns as ``User:`` / ``Assistant:`` lines for the summarizer (tool results trimmed)."""
    lines: list[str] = []
    for turn in turns:
        for message in turn:
            if isinstance(message, HumanMessage):
                lines.append(f"User: {message_text(message).strip()}")
            elif isinstance(message, ToolMessage):
                result = truncate_tokens(message_text(message).strip(), tool_tokens, counter)
                lines.append(f"Tool result ({message.name or 'tool'}): {result}")
            elif isinstance(message, AIMessage):
                for call in message.tool_calls:
                    args = json.dumps(call["args"], ensure_ascii=False)
                    lines.append(f"Assistant called {call['name']}({args})")
                text = message.content if isinstance(message.content, str) else ""
                if text.strip():
                    lines.append(f"Assistant: {text.strip()}")
    return "\n".join(lines)


class SummaryMemoryStore:
    """Per-session memory persisted with SQLAlchemy.

    ``url``: any SQLAlchemy URL (``sqlite:///path.sqlite`` by default).
    ``summarizer``: a chat model (or any Runnable from messages to a message/str); when
    ``None``, evicted turns are folded in by truncation instead of by a model.
    ``counter``: counts tokens (``str -> int``). ``recent_turns``: turns kept verbatim;
    ``recent_max_tokens``: also evict while the recent turns exceed this many tokens.
    ``summary_max_tokens``: the summary's cap. ``prompt_limit``: the most tokens one
    summarizer prompt may have (``context_window - max_new_tokens``).
    """

    def __init__(
        self,
        url: str,
        *,
        summarizer: Runnable[Any, Any] | None = None,
        counter: TokenCounter | None = None,
        recent_turns: int = 6,
        recent_max_tokens: int | None = None,
        summary_max_tokens: int = 256,
        prompt_limit: int = 3584,
    ) -> None:
        if recent_turns < 1:
            raise ValueError("recent_turns must be at least 1")
        self.url = url
        self.summarizer = summarizer
        self.counter: TokenCounter = cached_counter(counter or _words)
        self._default_counter = counter is None
        self.recent_turns = recent_turns
        self.recent_max_tokens = recent_max_tokens
        self.summary_max_tokens = summary_max_tokens
        self.prompt_limit = prompt_limit
        self._parsed: dict[tuple[int, int], list[BaseMessage]] = {}  # (row id, payload hash)
        # the same locks for the sync and the async path; across processes on PostgreSQL
        self._locks = SessionLocks(url)
        self._db_lock: Any = contextlib.nullcontext()  # an RLock for in-memory SQLite
        self._engine, self._sessions, self._turns = open_memory_db(url)
        if type(self._engine.pool).__name__ == "StaticPool":
            # One shared in-memory connection: serialise its transactions across threads
            # (per-session locks alone let two sessions' transactions collide).
            self._db_lock = threading.RLock()

    def attach_model(
        self,
        summarizer: Runnable[Any, Any],
        *,
        counter: TokenCounter | None = None,
        prompt_limit: int | None = None,
    ) -> None:
        """Give a store opened without a model its summarizer, counter and prompt limit.

        A summarizer or counter the store already has is kept; the limit only shrinks.
        """
        if self.summarizer is None:
            self.summarizer = summarizer
        if counter is not None and self._default_counter:
            self.counter, self._default_counter = cached_counter(counter), False
        if prompt_limit is not None:
            self.prompt_limit = min(self.prompt_limit, prompt_limit)

    # -- database ---------------------------------------------------------------------
    def _rows(self, conn: Any, session_id: str) -> list[Any]:
        from sqlalchemy import select

        query = (
            select(self._turns.c.id, self._turns.c.messages, self._turns.c.tokens)
            .where(self._turns.c.session_id == session_id)
            .order_by(self._turns.c.seq, self._turns.c.id)
        )
        return list(conn.execute(query))

    def _messages(self, row: Any) -> list[BaseMessage]:
        """A turn row's messages, parsed once (keyed by id and payload: ids can be reused)."""
        key = (row.id, hash(row.messages))
        cached = self._parsed.get(key)
        if cached is None:
            cached = messages_from_dict(json.loads(row.messages))
            if len(self._parsed) >= 1024:
                with contextlib.suppress(RuntimeError, KeyError, StopIteration):
                    self._parsed.pop(next(iter(self._parsed)))  # another thread may race
            self._parsed[key] = cached
        return list(cached)

    def _session_row(self, conn: Any, session_id: str) -> Any:
        from sqlalchemy import select

        query = select(self._sessions).where(self._sessions.c.session_id == session_id)
        return conn.execute(query).first()

    # -- reading ----------------------------------------------------------------------
    def load(self, session_id: str) -> MemorySnapshot:
        """The summary and recent turns of ``session_id`` (empty for a new session)."""
        with self._db_lock, self._engine.connect() as conn:
            row = self._session_row(conn, session_id)
            rows = self._rows(conn, session_id)
        turns = [self._messages(r) for r in rows]
        return MemorySnapshot(
            session_id=session_id,
            summary=row.summary if row else "",
            turns=turns,
            total_turns=row.total_turns if row else 0,
        )

    async def aload(self, session_id: str) -> MemorySnapshot:
        """Async :meth:`load` (the database call runs in a worker thread)."""
        return await asyncio.to_thread(self.load, session_id)

    def list_sessions(self) -> list[SessionInfo]:
        """Every stored session, most recently used first."""
        from sqlalchemy import func, select

        with self._db_lock, self._engine.connect() as conn:
            counts = dict(
                conn.execute(
                    select(self._turns.c.session_id, func.count()).group_by(
                        self._turns.c.session_id
                    )
                ).all()
            )
            rows = conn.execute(
                select(self._sessions).order_by(self._sessions.c.updated_at.desc())
            ).all()
        return [
            SessionInfo(
                session_id=r.session_id,
                total_turns=r.total_turns,
                recent_turns=int(counts.get(r.session_id, 0)),
                has_summary=bool(r.summary),
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    def reset(self, session_id: str) -> bool:
        """Forget ``session_id`` entirely; False when it did not exist."""
        from sqlalchemy import delete

        with self._locks.hold(session_id), self._db_lock, self._engine.begin() as conn:
            gone = conn.execute(
                delete(self._sessions).where(self._sessions.c.session_id == session_id)
            ).rowcount
            gone += conn.execute(
                delete(self._turns).where(self._turns.c.session_id == session_id)
            ).rowcount
        return bool(gone)

    # -- writing ----------------------------------------------------------------------
    def _store_turn(self, session_id: str, messages: Sequence[BaseMessage]) -> _Plan:
        """Insert the turn; in the same transaction, find the turns it pushes out."""
        from sqlalchemy import insert, select

        payload = json.dumps(messages_to_dict(list(messages)), ensure_ascii=False)
        tokens = count_prompt(self.counter, messages)
        now = time.time()
        with self._db_lock, self._engine.begin() as conn:
            upsert_session(conn, self._sessions, session_id, now)  # first: takes the write lock
            row = self._session_row(conn, session_id)
            metas = list(
                conn.execute(
                    select(self._turns.c.id, self._turns.c.seq, self._turns.c.tokens)
                    .where(self._turns.c.session_id == session_id)
                    .order_by(self._turns.c.seq, self._turns.c.id)
                )
            )
            seq = (metas[-1].seq if metas else 0) + 1
            conn.execute(
                insert(self._turns).values(
                    session_id=session_id, seq=seq, messages=payload, tokens=tokens
                )
            )
            sizes = [(m.id, m.tokens) for m in metas] + [(-1, tokens)]
            evicted = self._excess(sizes)
            turns = self._fetch(conn, evicted)
        return row.summary, evicted, turns

    def _excess(self, sizes: list[tuple[int, int]]) -> list[int]:
        """Ids of the oldest turns beyond the recent window (by count, then by tokens)."""
        excess = max(0, len(sizes) - self.recent_turns)
        if self.recent_max_tokens is not None:
            total = sum(t for _, t in sizes[excess:])
            while excess < len(sizes) - 1 and total > self.recent_max_tokens:
                total -= sizes[excess][1]
                excess += 1
        return [i for i, _ in sizes[:excess]]

    def _fetch(self, conn: Any, ids: list[int]) -> list[list[BaseMessage]]:
        from sqlalchemy import select

        if not ids:
            return []
        rows = conn.execute(
            select(self._turns.c.id, self._turns.c.messages)
            .where(self._turns.c.id.in_(ids))
            .order_by(self._turns.c.seq)
        )
        return [self._messages(r) for r in rows]

    def _evictions(self, session_id: str) -> _Plan:
        """The current summary and the oldest turns that must leave the recent window."""
        from sqlalchemy import select

        with self._db_lock, self._engine.connect() as conn:
            row = self._session_row(conn, session_id)
            metas = conn.execute(
                select(self._turns.c.id, self._turns.c.tokens)
                .where(self._turns.c.session_id == session_id)
                .order_by(self._turns.c.seq)
            )
            evicted = self._excess([(m.id, m.tokens) for m in metas])
            turns = self._fetch(conn, evicted)
        return (row.summary if row else ""), evicted, turns

    def _commit_summary(
        self, session_id: str, old: str, summary: str, evicted_ids: list[int]
    ) -> bool:
        """Store the new summary and drop the folded turns, unless another writer won."""
        from sqlalchemy import delete, update

        with self._db_lock, self._engine.begin() as conn:
            row = self._session_row(conn, session_id)
            if row is None or row.summary != old:
                return False
            swapped = conn.execute(  # compare-and-set: another process may have won meanwhile
                update(self._sessions)
                .where(self._sessions.c.session_id == session_id)
                .where(self._sessions.c.summary == old)
                .values(summary=summary, updated_at=time.time())
            ).rowcount
            if swapped != 1:
                return False
            conn.execute(delete(self._turns).where(self._turns.c.id.in_(evicted_ids)))
        return True

    # -- summarization plan -------------------------------------------------------------
    def _prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return count_prompt(self.counter, messages)

    def _max_words(self) -> int:
        return max(16, int(self.summary_max_tokens * 0.6))

    def _summarize_prompt(self, summary: str, new_lines: str) -> list[BaseMessage]:
        from lcelkit.prompts.memory import PROMPTS

        return PROMPTS["memory.summarize"].format_messages(
            summary=summary or "(empty)", new_lines=new_lines, max_words=self._max_words()
        )

    def _compress_prompt(self, summary: str) -> list[BaseMessage]:
        from lcelkit.prompts.memory import PROMPTS

        return PROMPTS["memory.compress"].format_messages(
            summary=summary, max_words=self._max_words()
        )

    def _batches(self, summary: str, turns: list[list[BaseMessage]]) -> list[str]:
        """Evicted turns rendered into ``new_lines`` chunks whose prompts fit the limit.

        The summary is at most ``summary_max_tokens`` long, so each batch is sized for
        a prompt with a full-size summary.
        """
        base = self._prompt_tokens(self._summarize_prompt("x", ""))
        room = self.prompt_limit - base - self.summary_max_tokens - 8
        if room < 32:
            raise ContextBudgetError(
                f"the summary prompt needs {base + self.summary_max_tokens} tokens; the window "
                f"leaves {self.prompt_limit}",
                hint="raise LCELKIT_CONTEXT_WINDOW or lower agent.summary_max_tokens",
            )
        batches: list[str] = []
        current: list[str] = []
        used = 0
        for turn in turns:
            text = render_turns([turn], self.counter)
            cost = self.counter(text) + 1
            if cost > room:
                text = truncate_tokens(text, room - 1, self.counter)
                cost = self.counter(text) + 1
            if current and used + cost > room:
                batches.append("\n".join(current))
                current, used = [], 0
            current.append(text)
            used += cost
        if current:
            batches.append("\n".join(current))
        return batches

    @staticmethod
    def _text(result: Any) -> str:
        if isinstance(result, BaseMessage):
            return message_text(result).strip()
        return str(result).strip()

    def _fold_without_model(self, summary: str, new_lines: str) -> str:
        merged = f"{summary}\n{new_lines}".strip()
        # Keep the newest lines: cut from the front.
        words = merged.split()
        while words and self.counter(" ".join(words)) > self.summary_max_tokens:
            words = words[max(1, len(words) // 10) :]
        return " ".join(words)

    def _cap(self, summary: str) -> str:
        if self.counter(summary) <= self.summary_max_tokens:
            return summary
        return truncate_tokens(summary, self.summary_max_tokens, self.counter)

    def _config(self) -> RunnableConfig:
        return {"tags": ["lcelkit_memory_summarizer"], "run_name": "summarize_memory"}

    # -- compaction (sync and async: one implementation) ------------------------------
    def _fold(
        self, summary: str, turns: list[list[BaseMessage]]
    ) -> Generator[list[BaseMessage], Any, str]:
        """The summary with ``turns`` folded in, free of I/O: yields each prompt for the
        summarizer and is sent its reply; :meth:`compact` and :meth:`acompact` drive it."""
        for new_lines in self._batches(summary, turns):
            if self.summarizer is None:
                summary = self._fold_without_model(summary, new_lines)
                continue
            summary = self._text((yield self._summarize_prompt(summary, new_lines)))
            if self.counter(summary) > self.summary_max_tokens:
                summary = self._text((yield self._compress_prompt(summary)))
            summary = self._cap(summary)
        return summary

    def _failed(self, session_id: str, exc: Exception) -> int:
        if isinstance(exc, ContextBudgetError):
            raise exc
        logger.warning("summarizing session %s failed, will retry later: %s", session_id, exc)
        return 0

    def compact(self, session_id: str, plan: _Plan | None = None) -> int:
        """Fold turns that left the recent window into the summary; returns how many."""
        summary, ids, turns = plan or self._evictions(session_id)
        if not ids:
            return 0
        steps = self._fold(summary, turns)
        try:
            prompt = next(steps)
            while True:
                assert self.summarizer is not None
                prompt = steps.send(self.summarizer.invoke(prompt, self._config()))
        except StopIteration as done:
            folded = done.value
        except Exception as exc:
            return self._failed(session_id, exc)
        return len(ids) if self._commit_summary(session_id, summary, folded, ids) else 0

    async def acompact(self, session_id: str, plan: _Plan | None = None) -> int:
        """Async :meth:`compact` (the same steps, the summarizer awaited)."""
        summary, ids, turns = plan or await asyncio.to_thread(self._evictions, session_id)
        if not ids:
            return 0
        steps = self._fold(summary, turns)
        try:
            prompt = next(steps)
            while True:
                assert self.summarizer is not None
                prompt = steps.send(await self.summarizer.ainvoke(prompt, self._config()))
        except StopIteration as done:
            folded = done.value
        except Exception as exc:
            return self._failed(session_id, exc)
        done_ok = await asyncio.to_thread(self._commit_summary, session_id, summary, folded, ids)
        return len(ids) if done_ok else 0

    def append_turn(self, session_id: str, messages: Sequence[BaseMessage]) -> int:
        """Store one whole turn, then fold evicted turns into the summary.

        Returns the number of turns folded into the summary.
        """
        with self._locks.hold(session_id):
            return self.compact(session_id, self._store_turn(session_id, messages))

    async def aappend_turn(self, session_id: str, messages: Sequence[BaseMessage]) -> int:
        """Async :meth:`append_turn` (the same per-session lock, awaited)."""
        async with self._locks.ahold(session_id):
            plan = await asyncio.to_thread(self._store_turn, session_id, messages)
            return await self.acompact(session_id, plan)

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()
