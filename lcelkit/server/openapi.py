"""The OpenAPI document of the server, made to match what the routes really do.

FastAPI cannot see the LangServe routes' bodies (they read the raw request, so that
LangServe's own handler decodes them), so by default the document showed no request
bodies, a ``config_hash`` query parameter, ``application/json`` for the SSE routes and
none of the error statuses. :func:`document_api` fills that in after FastAPI builds the
document:

* the request body of every LangServe ``POST`` route (``input`` / ``inputs`` typed with
  the route's input schema, ``config`` with its ``configurable`` fields, ``kwargs``);
* ``text/event-stream`` for the streaming routes (and for ``/v1/chat/completions``
  with ``"stream": true``);
* the errors each route can answer, all with the one body :class:`ErrorBody`:
  401 (with an API key set), 413 and 415 and 422 (every ``POST``), 503 and 504 (routes
  that run the chain or the agent), 404 (an unknown model on ``/v1``);
* an HTTP bearer security scheme, required on every route but ``/health`` when the
  server has an API key.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from lcelkit.server.runnables import AgentRequest, RagRequest
from lcelkit.server.shared import ErrorBody
from lcelkit.server.validation import MAX_BATCH_INPUTS
from lcelkit.settings import Settings

__all__ = ["document_api"]

_REF = "#/components/schemas/{model}"
_STREAMS = ("stream", "stream_log", "stream_events")
# What each SSE event's data holds varies with the event (LangServe: data, metadata,
# error, end; /v1: chat.completion.chunk objects, then the text [DONE]).
_SSE_DATA = {"description": "The data of one server-sent event (JSON, or [DONE] on /v1)."}
_ERRORS = {
    401: "Missing or wrong API key (send 'Authorization: Bearer <key>').",
    404: "The model does not exist on this server.",
    413: "The request body is larger than server.max_body_bytes.",
    415: "The request body is not sent as application/json.",
    422: "The request is invalid (the body names the field and what to do).",
    503: "The LLM backend or the vector store is unreachable.",
    504: "The request took longer than server.request_timeout.",
}


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON schema, its definitions moved into ``components``."""
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    return schema


def _config_schema(name: str, session: bool) -> dict[str, Any]:
    configurable: dict[str, Any] = {"type": "object", "additionalProperties": True}
    if session:
        configurable["properties"] = {
            "session_id": {
                "anyOf": [
                    {"type": "string", "pattern": r"^[A-Za-z0-9._:@-]{0,128}$"},
                    {"type": "null"},
                ],
                "description": "Conversation id; empty or absent: a new session.",
            }
        }
    return {
        "title": f"{name}Config",
        "type": "object",
        "description": "Run configuration; the server reads only 'configurable' "
        "(other keys are accepted and ignored).",
        "properties": {"configurable": configurable},
        "additionalProperties": True,
    }


def _bodies(name: str, request_model: Any, session: bool, components: dict[str, Any]) -> None:
    """``{Name}Input``, ``{Name}Config``, ``{Name}InvokeRequest``, ``{Name}BatchRequest``."""
    components[f"{name}Input"] = _schema(request_model, components)
    components[f"{name}Config"] = _config_schema(name, session)
    input_ref = {"$ref": _REF.format(model=f"{name}Input")}
    config_ref = {"$ref": _REF.format(model=f"{name}Config")}
    kwargs = {"type": "object", "additionalProperties": True}
    components[f"{name}InvokeRequest"] = {
        "title": f"{name}InvokeRequest",
        "type": "object",
        "properties": {
            "input": input_ref,
            "config": {"anyOf": [config_ref, {"type": "null"}]},
            "kwargs": {"anyOf": [kwargs, {"type": "null"}]},
        },
        "required": ["input"],
    }
    components[f"{name}BatchRequest"] = {
        "title": f"{name}BatchRequest",
        "type": "object",
        "properties": {
            "inputs": {
                "type": "array",
                "items": input_ref,
                "minItems": 1,
                "maxItems": MAX_BATCH_INPUTS,
            },
            "config": {
                "description": "One config for all inputs, or one per input (as many).",
                "anyOf": [config_ref, {"type": "null"}],
            },
            "kwargs": {"anyOf": [kwargs, {"type": "null"}]},
        },
        "required": ["inputs"],
    }


def _error_responses(statuses: list[int]) -> dict[str, Any]:
    ref = {"$ref": _REF.format(model="ErrorBody")}
    return {
        str(status): {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": ref}},
        }
        for status in statuses
    }


def _json_body(model: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }


def document_api(app: FastAPI, settings: Settings, *, openai_routes: bool = True) -> None:
    """Replace ``app.openapi`` with a builder of the document described in the module doc."""
    keyed = bool(settings.server.api_key)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorBody"] = _schema(ErrorBody, components)
        # FastAPI's own validation-error models: every 422 is an ErrorBody here.
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        _bodies("Rag", RagRequest, False, components)
        _bodies("Agent", AgentRequest, True, components)
        auth = [401] if keyed else []
        for path, item in doc.get("paths", {}).items():
            for method, operation in item.items():
                route = path.rsplit("/", 1)[-1]
                runs = path.startswith(("/rag/", "/agent/")) and method == "post"
                responses = operation.setdefault("responses", {})
                if runs:
                    name = "Rag" if path.startswith("/rag/") else "Agent"
                    body = f"{name}BatchRequest" if route == "batch" else f"{name}InvokeRequest"
                    operation["requestBody"] = _json_body(body)
                    operation.pop("parameters", None)
                    if route in _STREAMS:
                        responses["200"] = {
                            "description": "Server-sent events (data, metadata, error, end).",
                            "content": {"text/event-stream": {"schema": _SSE_DATA}},
                        }
                    responses.update(_error_responses([*auth, 413, 415, 422, 503, 504]))
                elif path == "/v1/chat/completions":
                    ok = responses.setdefault("200", {"description": "Successful Response"})
                    ok["content"] = {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": _SSE_DATA},
                    }
                    responses.update(_error_responses([*auth, 404, 413, 415, 422, 503, 504]))
                elif path != "/health":
                    responses.update(_error_responses(auth))
                for status, response in responses.items():
                    if status == "422":
                        response["content"] = {
                            "application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}
                        }
        if keyed:
            doc["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "LCELKIT_API_KEY"}
            }
            doc["security"] = [{"bearer": []}]
            if "/health" in doc.get("paths", {}):
                doc["paths"]["/health"]["get"]["security"] = []
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
