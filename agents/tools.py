"""The agent's built-in tools: ``search_documents``, ``calculator``, ``current_datetime``.

Users add their own with ``langchain_core.tools.tool`` (``@tool``); the agent treats
every ``BaseTool`` the same way on the text and the native tool-calling paths.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import math
import operator
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import PrivateAttr

__all__ = [
    "SEARCH_TOOL_NAME",
    "CalculatorError",
    "LazyRetriever",
    "calculator_tool",
    "current_datetime_tool",
    "default_tools",
    "embedder_name",
    "format_passages",
    "safe_eval",
    "search_documents_tool",
    "trim_to_tokens",
]

logger = logging.getLogger(__name__)

SEARCH_TOOL_NAME = "search_documents"
TokenCounter = Callable[[str], int]


def _words(text: str) -> int:
    return len(text.split())


def trim_to_tokens(text: str, max_tokens: int, counter: TokenCounter, marker: str = " …") -> str:
    """The longest prefix of ``text`` (cut at a space when possible) within ``max_tokens``."""
    if max_tokens <= 0:
        return ""
    if counter(text) <= max_tokens:
        return text
    low, high = 0, len(text)
    while low < high:  # largest prefix length whose text + marker fits
        mid = (low + high + 1) // 2
        if counter(text[:mid] + marker) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    cut = text[:low]
    space = cut.rfind(" ")
    if space > len(cut) * 0.8:
        cut = cut[:space]
    return (cut.rstrip() + marker) if cut.strip() else ""


# -- search_documents ------------------------------------------------------------------
class LazyRetriever(BaseRetriever):
    """A retriever built on first use (opening the index can load embedding weights)."""

    factory: Callable[[], BaseRetriever]
    _built: BaseRetriever | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def retriever(self) -> BaseRetriever:
        """The real retriever (built now if needed)."""
        if self._built is None:
            with self._lock:
                if self._built is None:
                    self._built = self.factory()
        return self._built

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.retriever.invoke(query, {"callbacks": run_manager.get_child()})

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        retriever = await asyncio.to_thread(lambda: self.retriever)
        return await retriever.ainvoke(query, {"callbacks": run_manager.get_child()})


def embedder_name(retriever: Any) -> str | None:
    """The name of the embedder behind ``retriever`` (a :class:`LazyRetriever` is looked
    through once built), or None when it has none or does not say."""
    if isinstance(retriever, LazyRetriever):
        retriever = retriever.retriever
    embeddings = getattr(retriever, "embeddings", None)
    if embeddings is None:
        embeddings = getattr(getattr(retriever, "store", None), "embeddings", None)
    name = getattr(embeddings, "name", None)
    return name if isinstance(name, str) else None


def format_passages(
    docs: Sequence[Document], *, max_tokens: int, counter: TokenCounter | None = None
) -> str:
    """Numbered passages ``[n] source, p. N`` + text, trimmed to ``max_tokens`` in all."""
    counter = counter or _words
    if not docs:
        return "No matching passages were found in the indexed documents."
    parts: list[str] = []
    used = 0
    for number, doc in enumerate(docs, start=1):
        meta = doc.metadata or {}
        where = str(meta.get("source") or "unknown source")
        page = meta.get("page_number") or meta.get("page")
        header = f"[{number}] {where}" + (f", p. {page}" if page not in (None, "") else "")
        block = f"{header}\n{doc.page_content.strip()}"
        cost = counter(block) + (1 if parts else 0)
        if used + cost <= max_tokens:
            parts.append(block)
            used += cost
            continue
        room = max_tokens - used - counter(header) - 2
        if room >= 16:  # a meaningful piece of the passage still fits
            parts.append(f"{header}\n{trim_to_tokens(doc.page_content.strip(), room, counter)}")
        break
    if not parts:
        first = docs[0]
        return trim_to_tokens(f"[1] {first.page_content.strip()}", max_tokens, counter)
    return "\n\n".join(parts)


def search_documents_tool(
    retriever: BaseRetriever,
    *,
    max_tokens: int = 512,
    counter: TokenCounter | None = None,
    name: str = SEARCH_TOOL_NAME,
    description: str | None = None,
) -> BaseTool:
    """The retriever as a tool: numbered passages with source and page, within a budget.

    The tool's artifact is the list of ``{"source", "page", "chunk_id", "score"}`` dicts
    of the passages (plus ``embedder``, and ``dense_score``, ``bm25_score`` and
    ``bm25_lean`` when the retriever gives them), so callers can show citations and judge
    relevance (``agents.routing.passages_relevant``).
    """
    counter = counter or _words

    def _artifact(docs: Sequence[Document]) -> list[dict[str, Any]]:
        embedder = embedder_name(retriever)
        return [
            {
                "source": d.metadata.get("source"),
                "page": d.metadata.get("page_number"),
                "chunk_id": d.metadata.get("chunk_id"),
                "score": d.metadata.get("score"),
                # the retriever's own scores and its embedder: the agent judges relevance
                **({"embedder": embedder} if embedder else {}),
                **{
                    key: d.metadata[key]
                    for key in ("dense_score", "bm25_score", "bm25_lean")
                    if key in d.metadata
                },
            }
            for d in docs
        ]

    def _run(query: str) -> tuple[str, list[dict[str, Any]]]:
        if not str(query).strip():
            raise ToolException("search_documents needs a non-empty query")
        docs = retriever.invoke(str(query))
        return format_passages(docs, max_tokens=max_tokens, counter=counter), _artifact(docs)

    async def _arun(query: str) -> tuple[str, list[dict[str, Any]]]:
        if not str(query).strip():
            raise ToolException("search_documents needs a non-empty query")
        docs = await retriever.ainvoke(str(query))
        return format_passages(docs, max_tokens=max_tokens, counter=counter), _artifact(docs)

    return StructuredTool.from_function(
        func=_run,
        coroutine=_arun,
        name=name,
        description=description
        or (
            "Search the user's indexed documents (PDFs, notes, reports; Korean or English). "
            "Input: a search query. Returns numbered passages with their source and page."
        ),
        response_format="content_and_artifact",
        handle_tool_error=True,
    )


# -- calculator ----------------------------------------------------------------------
class CalculatorError(ValueError):
    """The expression is not plain arithmetic, or too large to compute."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_EXPONENT = 10_000
MAX_MAGNITUDE = 10**400


def _check(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalculatorError("the result is not a number")
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:
        raise CalculatorError("the result is too large")
    return value


def _eval(node: ast.AST, depth: int = 0) -> Any:
    if depth > 60:
        raise CalculatorError("the expression is nested too deeply")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check(_UNARY[type(node.op)](_eval(node.operand, depth + 1)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        too_big = isinstance(node.op, ast.Pow) and (
            abs(right) > MAX_EXPONENT
            or (abs(left) > 1 and abs(right) * math.log10(abs(left)) > 400)
        )
        if too_big:
            raise CalculatorError("the power is too large to compute")
        try:
            return _check(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise CalculatorError("division by zero") from None
        except OverflowError:
            raise CalculatorError("the result is too large") from None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_eval(arg, depth + 1) for arg in node.args]
        try:
            return _check(_FUNCTIONS[node.func.id](*args))
        except (ValueError, TypeError, OverflowError) as exc:
            raise CalculatorError(f"{node.func.id}: {exc}") from None
    raise CalculatorError(
        f"unsupported element {type(node).__name__!s}: only numbers, + - * / // % **, "
        f"parentheses and {', '.join(sorted(_FUNCTIONS))} are allowed"
    )


def safe_eval(expression: str) -> int | float:
    """Evaluate plain arithmetic by walking the syntax tree (no ``eval``, no names)."""
    text = expression.strip().strip("`").replace("^", "**").replace("×", "*").replace("÷", "/")
    text = text.replace(",", "") if "(" not in text else text
    if not text:
        raise CalculatorError("the expression is empty")
    if len(text) > 500:
        raise CalculatorError("the expression is longer than 500 characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalculatorError(f"not an arithmetic expression: {expression!r}") from None
    return _eval(tree)


def calculator_tool() -> BaseTool:
    """Safe arithmetic: numbers, ``+ - * / // % **``, parentheses, sqrt/log/round/..."""

    def _run(expression: str) -> str:
        try:
            value = safe_eval(expression)
        except CalculatorError as exc:
            raise ToolException(f"calculator error: {exc}") from None
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            value = int(value)
        return str(value)

    return StructuredTool.from_function(
        func=_run,
        name="calculator",
        description=(
            "Evaluate an arithmetic expression, e.g. '(3 + 4) * 2 / 7' or 'sqrt(2) ** 3'. "
            "Supports + - * / // % ** and sqrt, log, exp, round, min, max, abs."
        ),
        handle_tool_error=True,
    )


# -- current_datetime ----------------------------------------------------------------
def current_datetime_tool(clock: Callable[[], datetime] | None = None) -> BaseTool:
    """The current date and time (local, or in an IANA time zone such as ``Asia/Seoul``)."""

    def _run(timezone: str = "") -> str:
        tz_name = timezone.strip().strip("'\"")
        if tz_name:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                zone = ZoneInfo(tz_name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ToolException(
                    f"unknown time zone {tz_name!r}; use an IANA name like 'UTC' or 'Asia/Seoul'"
                ) from None
            now = (clock() if clock else datetime.now(zone)).astimezone(zone)
        else:
            now = (clock() if clock else datetime.now()).astimezone()
        return f"{now.strftime('%A')}, {now.isoformat(timespec='seconds')}"

    return StructuredTool.from_function(
        func=_run,
        name="current_datetime",
        description=(
            "The current date, weekday and time. Input: an optional IANA time zone "
            "(e.g. 'UTC', 'Asia/Seoul'); empty for local time."
        ),
        handle_tool_error=True,
    )


def default_tools(
    retriever: BaseRetriever | None = None,
    *,
    counter: TokenCounter | None = None,
    observation_max_tokens: int = 512,
) -> list[BaseTool]:
    """``search_documents`` (when a retriever is given), ``calculator``, ``current_datetime``."""
    tools: list[BaseTool] = []
    if retriever is not None:
        tools.append(
            search_documents_tool(retriever, max_tokens=observation_max_tokens, counter=counter)
        )
    tools.extend([calculator_tool(), current_datetime_tool()])
    return tools
