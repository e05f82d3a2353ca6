"""``lcelkit serve``: the HTTP server (uvicorn) for the RAG chain and the agent."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from lcelkit.errors import ConfigError
from lcelkit.settings import get_settings

__all__ = ["register", "run_serve"]

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the RAG chain (/rag) and the agent (/agent) over HTTP (LangServe protocol)",
        description="Start the HTTP server: /rag and /agent (LangServe routes and playground), "
        "/v1/chat/completions (OpenAI-compatible) and /health. Settings come from lcelkit.toml "
        "and LCELKIT_* variables; LCELKIT_API_KEY turns on bearer-token auth.",
    )
    parser.add_argument("--host", help="interface to bind (default: server.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: server.port, 8000)")
    parser.add_argument("--workers", type=int, help="worker processes (default: server.workers, 1)")
    parser.add_argument(
        "--preload",
        action="store_true",
        help="build the RAG chain and the agent at startup instead of at the first request",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default: info)",
    )
    parser.set_defaults(func=run_serve)


def _http_protocol() -> Any:
    """httptools with the header deadline (server.header_timeout); h11 without it."""
    import importlib.util

    if importlib.util.find_spec("httptools") is None:
        logger.warning(
            "httptools is not installed: server.header_timeout is not enforced "
            "(pip install httptools, or put a reverse proxy in front)"
        )
        return "h11"
    from lcelkit.server.protocol import HeaderTimeoutProtocol

    return HeaderTimeoutProtocol


def run_serve(args: argparse.Namespace) -> int:
    """Handler of ``lcelkit serve``: runs uvicorn until interrupted."""
    import os

    import uvicorn

    settings = get_settings()
    server = settings.server
    host = args.host or server.host
    port = args.port if args.port is not None else server.port
    workers = args.workers if args.workers is not None else server.workers
    if not 1 <= port <= 65535:
        raise ConfigError(f"invalid port {port}", hint="use a port between 1 and 65535")
    if workers < 1:
        raise ConfigError(f"invalid --workers {workers}", hint="use 1 or more")
    if host not in ("127.0.0.1", "localhost", "::1") and not server.api_key:
        print(
            f"warning: serving on {host} without an API key; anyone who can reach this "
            "port can use it (set LCELKIT_API_KEY)",
            file=sys.stderr,
        )
    if args.preload:
        os.environ["LCELKIT_SERVER__PRELOAD"] = "1"  # read by every worker
    print(
        f"lcelkit serving on http://{host}:{port} (playgrounds: /rag/playground/, "
        f"/agent/playground/; health: /health)",
        file=sys.stderr,
    )
    uvicorn.run(
        "lcelkit.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=server.keep_alive_timeout,
        http=_http_protocol(),
    )
    return 0
