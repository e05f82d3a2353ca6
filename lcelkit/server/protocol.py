"""uvicorn's HTTP protocol with a deadline for request headers (slow-client defence).

uvicorn times out idle keep-alive connections (``timeout_keep_alive``) but not a
client that connects and then sends nothing, or trickles its headers a byte at a time
("slowloris"): each such connection is held for ever, and enough of them exhaust the
server's file descriptors. :class:`HeaderTimeoutProtocol` closes a connection whose
request headers are not complete ``server.header_timeout`` seconds after it opened
(or after the previous response on a keep-alive connection). ``lcelkit serve`` uses it
(with httptools, uvicorn's default parser); behind a reverse proxy the proxy's own
header timeout does the same (nginx: client_header_timeout).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeaderTimeoutProtocol", "header_timeout"]

logger = logging.getLogger(__name__)


@functools.cache
def header_timeout() -> float:
    """``server.header_timeout`` from the settings (read once per worker process)."""
    from lcelkit.settings import get_settings

    return float(get_settings().server.header_timeout)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that closes connections slow to send their headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(header_timeout(), self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            logger.info(
                "closing a connection from %s: no complete request headers in %g s",
                self.client,
                header_timeout(),
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline."""
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        """Headers are in: no deadline while the request runs (server.request_timeout)."""
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The next request on this connection gets the same deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)
