"""What the app and the OpenAI routes both need: session ids, the error body, statuses.

Kept apart from :mod:`lcelkit.server.app` so that :mod:`lcelkit.server.openai` does not
import the app module (and the app module imports the OpenAI routes at top level).

Every 4xx/5xx answer of the server has one shape (:class:`ErrorBody`)::

    {"detail": "what is wrong", "hint": "what to do" | null, "errors": [...] | null}

``errors`` lists the failed fields of a request that did not validate (``loc``, ``msg``,
``type``; never the input itself, so a 200k-character field is not sent back).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, Field

from lcelkit.errors import (
    BackendError,
    ConfigError,
    ContextBudgetError,
    EmbeddingsError,
    LcelkitError,
    LoaderError,
    StoreError,
)

__all__ = [
    "AUTO_SESSION_PREFIX",
    "SESSION_ID",
    "SESSION_ID_PATTERN",
    "ErrorBody",
    "FieldError",
    "error_body",
    "error_status",
    "new_session_id",
    "validation_detail",
]

SESSION_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
SESSION_ID = re.compile(SESSION_ID_PATTERN)
AUTO_SESSION_PREFIX = "auto-"  # session ids the server made for calls that sent none
MAX_ERRORS = 20  # failed fields listed in one error body
MAX_ERROR_TEXT = 300  # characters of one message or location part


class FieldError(BaseModel):
    """One field of a request that did not validate."""

    loc: list[str | int] = Field(description="Where: the path of the field in the body.")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="A short machine-readable kind (pydantic's error type).")


class ErrorBody(BaseModel):
    """The body of every error answer (4xx and 5xx)."""

    detail: str = Field(description="What went wrong.")
    hint: str | None = Field(default=None, description="What to do about it.")
    errors: list[FieldError] | None = Field(
        default=None, description="The fields that failed validation (422 only)."
    )


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "..."


def _field_error(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"loc": [], "msg": _short(item), "type": "invalid"}
    loc = [p if isinstance(p, int) else _short(p) for p in item.get("loc", ())]
    return {"loc": loc, "msg": _short(item.get("msg", "")), "type": _short(item.get("type", ""))}


def error_body(
    detail: str, hint: str | None = None, errors: list[Any] | None = None
) -> dict[str, Any]:
    """The one error shape (JSON-safe: no input is echoed back)."""
    fields = [_field_error(e) for e in errors[:MAX_ERRORS]] if errors else None
    return {"detail": _short(detail) if errors else detail, "hint": hint, "errors": fields}


def validation_detail(errors: list[Any]) -> str:
    """One line that names the first failed field."""
    if not errors:
        return "the request is invalid"
    first = _field_error(errors[0])
    where = ".".join(str(p) for p in first["loc"]) or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid request: {where}: {first['msg']}{more}"


def new_session_id() -> str:
    """A server-made session id (for calls that sent none)."""
    return f"{AUTO_SESSION_PREFIX}{uuid.uuid4().hex}"


def error_status(exc: BaseException) -> tuple[int, str, str | None]:
    """(HTTP status, message, hint) for an exception a route let through."""
    if isinstance(exc, LcelkitError):
        if isinstance(exc, BackendError | StoreError | EmbeddingsError):
            status = 503
        elif isinstance(exc, ContextBudgetError | LoaderError):
            status = 422
        elif isinstance(exc, ConfigError):
            status = 500
        else:
            status = 500
        return status, exc.message, exc.hint
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail), None
    if isinstance(exc, TimeoutError):
        return 504, "the request timed out", "raise server.request_timeout or ask less"
    return 500, "internal error (see the server log)", None
