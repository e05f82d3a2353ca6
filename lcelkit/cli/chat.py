"""``lcelkit chat``: the agent in a terminal REPL, scriptable through stdin.

Reads one message per line (``printf 'hi\\n/exit\\n' | lcelkit chat``), streams each
answer to stdout, and shows tool calls briefly on stderr. ``/reset`` forgets the
session, ``/exit`` (or end of input) quits. Memory persists per ``--session``.

Exit codes: 0 done; 2 bad settings; 3 the LLM backend is unreachable or lacks the
model (stderr says which backend, which URL and what to do).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lcelkit.cli import EXIT_BACKEND_DOWN, EXIT_OK
from lcelkit.errors import BackendError, ContextBudgetError, LcelkitError
from lcelkit.settings import get_settings

__all__ = ["register", "run_chat"]

HELP = "commands: /reset (forget this session), /exit (quit), /help"


def register(subparsers: Any) -> None:
    """Add the ``chat`` subcommand."""
    parser = subparsers.add_parser(
        "chat",
        help="chat with the agent (search_documents over your index, calculator, date)",
        description="A REPL over stdin: one message per line; answers stream to stdout, "
        "tool calls are shown on stderr. /reset forgets the session, /exit quits. "
        "Exit code 3 when the LLM backend is down.",
    )
    parser.add_argument(
        "--session", default="default", metavar="ID", help="memory session (default: default)"
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "text", "native"),
        default=None,
        help="text ReAct or native tool calling (default: agent.mode, auto)",
    )
    parser.add_argument(
        "--list-sessions", action="store_true", help="list the stored sessions and exit"
    )
    parser.set_defaults(func=run_chat)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _brief(value: Any, limit: int = 80) -> str:
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _backend_down(exc: LcelkitError) -> int:
    _err(f"error: {exc.message}")
    if exc.hint:
        _err(f"  what to do: {exc.hint}")
    return EXIT_BACKEND_DOWN


def _tool_echo() -> Any:
    """A callback handler that shows tool calls briefly on stderr."""
    from langchain_core.callbacks import BaseCallbackHandler

    class ToolEcho(BaseCallbackHandler):
        def on_tool_start(
            self, serialized: dict[str, Any], input_str: str, *, inputs: Any = None, **kwargs: Any
        ) -> None:
            name = (serialized or {}).get("name") or kwargs.get("name") or "tool"
            _err(f"[tool] {name}({_brief(inputs if inputs is not None else input_str)})")

        def on_tool_end(self, output: Any, **kwargs: Any) -> None:
            content = getattr(output, "content", output)
            name = getattr(output, "name", None) or kwargs.get("name") or "tool"
            _err(f"[tool] {name} -> {len(str(content))} chars")

    return ToolEcho()


def _turn(agent: Any, text: str, session: str) -> None:
    config = {"configurable": {"session_id": session}, "callbacks": [_tool_echo()]}
    wrote = False
    for chunk in agent.stream({"input": text}, config):
        token = chunk.get("output")
        if token:
            sys.stdout.write(token)
            sys.stdout.flush()
            wrote = True
    if wrote:
        sys.stdout.write("\n")
        sys.stdout.flush()


def run_chat(args: argparse.Namespace) -> int:
    """Run the REPL; returns the exit code."""
    from lcelkit.factories import make_agent, make_memory_store

    settings = get_settings()
    if args.mode:
        settings.agent.mode = args.mode
    if args.list_sessions:
        for info in make_memory_store(settings).list_sessions():
            print(f"{info.session_id}\t{info.total_turns} turns")
        return EXIT_OK

    from lcelkit.chains.llms import check_backend

    cfg = settings.llm
    try:
        check_backend(cfg.provider, cfg.model_name, base_url=cfg.base_url, timeout=5.0)
        agent = make_agent(settings)
    except BackendError as exc:
        return _backend_down(exc)
    if cfg.provider == "auto":  # say which model answers, and when it is the small one
        from lcelkit.chains.llms import resolve_backend

        chosen = resolve_backend(cfg.model or None, base_url=cfg.base_url)
        _err(f"model: {chosen.label}")
        if chosen.advice:
            _err(f"note: {chosen.advice}")

    interactive = sys.stdin.isatty()
    if interactive:
        _err(f"lcelkit chat, session {args.session!r} ({agent.resolved_mode} mode). {HELP}")
    while True:
        if interactive:
            sys.stderr.write("> ")
            sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:  # end of input
            break
        text = line.strip()
        if not text:
            continue
        command = text.lower()
        if command in ("/exit", "/quit"):
            break
        if command == "/reset":
            agent.reset(args.session)
            _err(f"(session {args.session!r} reset)")
            continue
        if command == "/help":
            _err(HELP)
            continue
        try:
            _turn(agent, text, args.session)
        except BackendError as exc:
            return _backend_down(exc)
        except ContextBudgetError as exc:
            _err(f"error: {exc.message}")
            if exc.hint:
                _err(f"  what to do: {exc.hint}")
    return EXIT_OK
