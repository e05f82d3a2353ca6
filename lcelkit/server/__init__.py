"""lcelkit's HTTP server: LangServe routes for the RAG chain and the agent, plus /v1 and /health.

The app factory is :func:`lcelkit.server.app.create_app` (import it from there; this
package imports nothing at import time, so ``import lcelkit`` stays cheap).
"""

__all__: list[str] = []
