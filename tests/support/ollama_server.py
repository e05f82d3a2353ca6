"""A strict loopback server that speaks the Ollama HTTP API, for tests.

The REAL ``langchain-ollama`` client (``ChatOllama``, ``OllamaLLM``, ``OllamaEmbeddings``)
and the ``ollama`` python client work against it unchanged. It implements what lcelkit
uses of the API, with the real server's wire format and error behaviour:

- ``GET /`` and ``HEAD /``: ``Ollama is running``; ``GET /api/version``
- ``GET /api/tags``: the installed models (``llama3.2`` is listed as ``llama3.2:latest``)
- ``POST /api/show``: ``model_info`` with ``"<arch>.context_length"``, ``capabilities``,
  ``details``, ``template``, ``parameters``; unknown model -> 404 ``model 'x' not found``
- ``POST /api/chat`` and ``POST /api/generate``: NDJSON streaming by default (one chunk
  per word), ``"stream": false`` for one JSON object; the final chunk has ``done: true``,
  ``done_reason`` (``stop``, ``length``, ``load``), ``prompt_eval_count``, ``eval_count``
  and durations. ``options.num_predict`` truncates the reply (``done_reason: length``),
  ``options.stop`` cuts it at the first stop sequence, and a prompt longer than
  ``options.num_ctx`` is truncated as Ollama does (the recorded request says so).
  Tools sent to a model without the ``tools`` capability -> 400, as the real server.
- ``POST /api/embed`` (and the legacy ``/api/embeddings``): deterministic hashed
  bag-of-words vectors, so related texts get related vectors.

Requests are validated strictly (400 on malformed JSON, a missing model, bad messages
or options). Replies are scripted: a ``responses`` queue (str, dict or callable) and/or
a ``reply`` callable ``(request_json) -> str | dict``; a dict may carry ``content``,
``tool_calls`` (``[{"name": ..., "arguments": {...}}]``), ``thinking``, ``delay`` (seconds
before answering) or ``error`` + ``status`` (an HTTP error reply). Every request is
recorded in :attr:`FakeOllamaServer.requests`.

In-process (a context manager on a background thread)::

    with FakeOllamaServer(model="llama3.2", context_length=2048, responses=["Hi!"]) as srv:
        ChatOllama(base_url=srv.url, model="llama3.2").invoke("hello")
        assert srv.last("/api/chat").body["options"]["num_ctx"] == ...

As a process (CLI and HTTP-server integration tests start and stop it by PID)::

    python -m tests.support.ollama_server --port 0 --port-file PORTFILE \
        --model llama3.2 --context-length 2048 --reply "Hello" [--script REPLIES.json] \
        [--record REQUESTS.jsonl]

or, from Python, ``with ollama_server_process(model=...) as (proc, url): ...``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_REPLY",
    "FakeOllamaServer",
    "ModelSpec",
    "RecordedRequest",
    "Reply",
    "main",
    "ollama_server_process",
]

logger = logging.getLogger(__name__)

DEFAULT_REPLY = "This is a scripted reply from the fake Ollama server."
VERSION = "0.12.6"
DEFAULT_NUM_CTX = 4096  # what Ollama uses when a request sets no num_ctx
_ROLES = {"system", "user", "assistant", "tool"}
_WORD = re.compile(r"\s*\S+\s*?(?=\s|$)|\s+$")
_TOKEN = re.compile(r"[\uac00-\ud7a3\u3040-\u30ff\u4e00-\u9fff]|\w+|[^\w\s]")

Reply = str | dict[str, Any] | Callable[[dict[str, Any]], "str | dict[str, Any]"]


@dataclass
class ModelSpec:
    """One model the fake server has "pulled"."""

    name: str
    context_length: int = 2048
    capabilities: tuple[str, ...] = ("completion", "tools")
    family: str = "llama"
    parameter_size: str = "3.2B"
    embedding_dim: int = 64
    template: str = (
        "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}"
        "<|eot_id|>{{ end }}{{- range .Messages }}<|start_header_id|>{{ .Role }}"
        "<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )

    @property
    def full_name(self) -> str:
        """The name with its tag, as ``/api/tags`` lists it (``llama3.2:latest``)."""
        return self.name if ":" in self.name else f"{self.name}:latest"


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    status: int = 0
    prompt_tokens: int = 0  # estimated tokens of the prompt (chat: all messages)
    truncated: bool = False  # the prompt exceeded options.num_ctx (Ollama cuts it)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def count_tokens(text: str) -> int:
    """Rough token count the server reports: words, punctuation, one per Hangul/CJK char."""
    return len(_TOKEN.findall(text))


def _split_chunks(text: str) -> list[str]:
    """Split a reply into stream chunks (one per word, whitespace kept)."""
    if not text:
        return []
    parts = re.findall(r"\S+\s*|\s+", text)
    return parts or [text]


def _hashed_embedding(text: str, dim: int) -> list[float]:
    vec = [0.0] * dim
    for token in _TOKEN.findall(text.lower()) or [""]:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dim
        vec[index] += 1.0 if digest[4] % 2 == 0 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that also drops its open keep-alive connections on close,
    so a stopped fake server is as dead to pooled clients as a killed Ollama."""

    daemon_threads = True
    # Listen backlog: the stdlib default of 5 resets connections (httpx ReadError) when
    # many clients connect at once; the real Ollama (Go) listens with the OS maximum.
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[Any] = set()
        self._conn_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then serve it on its own thread."""
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget a finished connection."""
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up is normal here (the server under test dropped a stream)."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def open_connections(self) -> int:
        """How many client connections are open now (serving or idle keep-alive)."""
        with self._conn_lock:
            return len(self._connections)

    def close_connections(self) -> None:
        """Close every connection still open (idle keep-alive ones included)."""
        import socket

        with self._conn_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()


class FakeOllamaServer:
    """The fake Ollama API on 127.0.0.1 (port 0 = a free port); a context manager."""

    def __init__(
        self,
        model: str | ModelSpec | Sequence[str | ModelSpec] = "llama3.2",
        *,
        context_length: int = 2048,
        capabilities: Sequence[str] = ("completion", "tools"),
        responses: Sequence[Reply] | None = None,
        reply: Callable[[dict[str, Any]], str | dict[str, Any]] | None = None,
        default_reply: str = DEFAULT_REPLY,
        chunk_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        record_path: Path | None = None,
    ) -> None:
        items = [model] if isinstance(model, str | ModelSpec) else list(model)
        self.models: dict[str, ModelSpec] = {}
        for item in items:
            spec = (
                item
                if isinstance(item, ModelSpec)
                else ModelSpec(item, context_length, tuple(capabilities))
            )
            self.models[spec.full_name] = spec
        self.responses: collections.deque[Reply] = collections.deque(responses or ())
        self.reply = reply
        self.default_reply = default_reply
        self.chunk_delay = chunk_delay
        self.record_path = Path(record_path) if record_path else None
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._httpd is None:
            raise RuntimeError("the fake Ollama server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self._host}:{self.port}"

    def bind(self) -> _Server:
        """Create and bind the HTTP server (without serving yet)."""
        handler = type("_Handler", (_Handler,), {"fake": self})
        self._httpd = _Server((self._host, self._port), handler)
        return self._httpd

    def start(self) -> FakeOllamaServer:
        """Bind and serve on a background daemon thread."""
        httpd = self.bind()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> FakeOllamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection ------------------------------------------------------
    def open_connections(self) -> int:
        """Client connections open now (a request in progress or an idle keep-alive)."""
        return self._httpd.open_connections() if self._httpd is not None else 0

    def add_model(self, spec: ModelSpec) -> None:
        """Make another model available ("ollama pull")."""
        with self._lock:
            self.models[spec.full_name] = spec

    def queue(self, *replies: Reply) -> None:
        """Append replies to the queue (consumed one per chat/generate request)."""
        with self._lock:
            self.responses.extend(replies)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to ``path`` (e.g. ``/api/chat``), oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def last(self, path: str) -> RecordedRequest:
        """The most recent request to ``path`` (AssertionError if none)."""
        found = self.requests_to(path)
        assert found, f"no request to {path}; got {[r.path for r in self.requests]}"
        return found[-1]

    def find_model(self, name: str) -> ModelSpec | None:
        """The model ``name`` refers to (a missing tag means ``:latest``)."""
        full = name if ":" in name else f"{name}:latest"
        with self._lock:
            return self.models.get(full)

    def next_reply(self, request: dict[str, Any]) -> dict[str, Any]:
        """The scripted reply for one request, normalized to a dict."""
        with self._lock:
            item: Reply | None = self.responses.popleft() if self.responses else None
        if item is None:
            item = self.reply if self.reply is not None else self.default_reply
        if callable(item):
            item = item(request)
        if isinstance(item, str):
            return {"content": item}
        if isinstance(item, dict):
            return dict(item)
        raise TypeError(f"a scripted reply must be str or dict, not {type(item).__name__}")

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)

    def _write_record(self, rec: RecordedRequest) -> None:
        """Append a handled request to ``record_path`` as one JSON line (process mode)."""
        if self.record_path is None:
            return
        line = json.dumps(
            {
                "method": rec.method,
                "path": rec.path,
                "status": rec.status,
                "body": rec.body,
                "prompt_tokens": rec.prompt_tokens,
                "truncated": rec.truncated,
            },
            ensure_ascii=False,
        )
        with self._lock, open(self.record_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


# -- request validation -----------------------------------------------------------------
def _require_model(body: dict[str, Any], *, allow_name: bool = False) -> str:
    model = body.get("model")
    if model is None and allow_name:
        model = body.get("name")
    if model is None or model == "":
        raise _BadRequest(400, "model is required")
    if not isinstance(model, str):
        raise _BadRequest(400, "json: cannot unmarshal model into Go value of type string")
    return model


def _validate_options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise _BadRequest(400, "json: cannot unmarshal options into Go value of type map")
    for key in ("num_ctx", "num_predict", "seed", "top_k", "num_keep"):
        value = options.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise _BadRequest(400, f"invalid option type for {key}: expected integer")
    for key in ("temperature", "top_p", "repeat_penalty"):
        value = options.get(key)
        if value is not None and not isinstance(value, int | float):
            raise _BadRequest(400, f"invalid option type for {key}: expected number")
    stop = options.get("stop")
    if stop is not None and (
        not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
    ):
        raise _BadRequest(400, "invalid option type for stop: expected array of strings")
    return options


def _validate_common(body: dict[str, Any]) -> None:
    if "stream" in body and body["stream"] is not None and not isinstance(body["stream"], bool):
        raise _BadRequest(400, "json: cannot unmarshal stream into Go value of type bool")
    keep_alive = body.get("keep_alive")
    if keep_alive is not None and not isinstance(keep_alive, str | int | float):
        raise _BadRequest(400, "json: cannot unmarshal keep_alive")
    if (
        isinstance(keep_alive, str)
        and keep_alive
        and not re.fullmatch(
            r"-?\d+(\.\d+)?(ns|us|ms|s|m|h)?(\d+(\.\d+)?(ns|us|ms|s|m|h))*", keep_alive
        )
    ):
        raise _BadRequest(400, f'time: invalid duration "{keep_alive}"')


def _validate_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        return []
    if not isinstance(messages, list):
        raise _BadRequest(
            400, "json: cannot unmarshal messages into Go value of type []api.Message"
        )
    for index, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _BadRequest(400, f"messages[{index}] must be an object")
        role = msg.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _BadRequest(400, f"messages[{index}]: invalid role {role!r}")
        content = msg.get("content")
        if content is not None and not isinstance(content, str):
            raise _BadRequest(
                400,
                f"messages[{index}]: json: cannot unmarshal content into Go value of type string",
            )
        images = msg.get("images")
        if images is not None and not isinstance(images, list):
            raise _BadRequest(400, f"messages[{index}]: images must be an array")
        tool_calls = msg.get("tool_calls")
        if tool_calls is not None:
            if not isinstance(tool_calls, list):
                raise _BadRequest(400, f"messages[{index}]: tool_calls must be an array")
            for call in tool_calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise _BadRequest(400, f"messages[{index}]: tool call without function.name")
                if not isinstance(fn.get("arguments", {}), dict):
                    raise _BadRequest(
                        400, f"messages[{index}]: tool call arguments must be an object"
                    )
    return messages


def _validate_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _BadRequest(400, "json: cannot unmarshal tools into Go value of type api.Tools")
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise _BadRequest(400, "every tool needs function.name")
    return tools


def _apply_reply_limits(text: str, options: dict[str, Any]) -> tuple[str, str, int]:
    """Cut at the first stop sequence and at num_predict words -> (text, reason, count)."""
    reason = "stop"
    for stop in options.get("stop") or []:
        if stop and stop in text:
            text = text[: text.index(stop)]
    chunks = _split_chunks(text)
    limit = options.get("num_predict")
    if isinstance(limit, int) and limit >= 0 and len(chunks) > limit:
        chunks = chunks[:limit]
        reason = "length"
    return "".join(chunks), reason, len(chunks)


def _normalize_tool_calls(calls: Any) -> list[dict[str, Any]]:
    out = []
    for index, call in enumerate(calls or []):
        if "function" in call:
            fn = dict(call["function"])
        else:
            fn = {"name": call["name"], "arguments": call.get("arguments", {})}
        fn.setdefault("index", index)
        out.append({"id": call.get("id", f"call_{index:04d}"), "function": fn})
    return out


# -- the handler ------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    fake: FakeOllamaServer
    protocol_version = "HTTP/1.1"
    server_version = "Ollama"
    sys_version = ""
    timeout = 60
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between small writes

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake ollama: " + format, *args)

    # -- low level ---------------------------------------------------------------------
    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, status: int, obj: Any) -> None:
        self._send_bytes(status, json.dumps(obj).encode(), "application/json; charset=utf-8")

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _stream_obj(self, obj: Any) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- dispatch ------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        """``HEAD /`` (the ollama CLI's heartbeat)."""
        if self.path == "/":
            self._send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8")
        else:
            self._send_bytes(404, b"404 page not found", "text/plain")

    def do_GET(self) -> None:
        """``GET /``, ``/api/version``, ``/api/tags``."""
        rec = RecordedRequest("GET", self.path, None, dict(self.headers))
        self.fake._record(rec)
        routes = {"/": self._root, "/api/version": self._version, "/api/tags": self._tags}
        handler = routes.get(self.path)
        if handler is None:
            status = 405 if self.path in _POST_ROUTES else 404
            rec.status = status
            text = b"405 method not allowed" if status == 405 else b"404 page not found"
            self._send_bytes(status, text, "text/plain")
            return
        rec.status = 200
        handler()
        self.fake._write_record(rec)

    def do_POST(self) -> None:
        """``/api/show``, ``/api/chat``, ``/api/generate``, ``/api/embed``, ``/api/embeddings``."""
        raw = self._read_body()
        rec = RecordedRequest("POST", self.path, None, dict(self.headers))
        self.fake._record(rec)
        name = _POST_ROUTES.get(self.path)
        if name is None:
            rec.status = 404
            self._send_bytes(404, b"404 page not found", "text/plain")
            return
        try:
            try:
                body = json.loads(raw.decode("utf-8")) if raw.strip() else None
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _BadRequest(400, f"invalid character in request body: {exc}") from None
            if body is None:
                raise _BadRequest(400, "missing request body")
            if not isinstance(body, dict):
                raise _BadRequest(
                    400, "json: cannot unmarshal request into Go value of type object"
                )
            rec.body = body
            rec.status = 200
            getattr(self, name)(body, rec)
        except _BadRequest as exc:
            rec.status = exc.status
            self._send_error(exc.status, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.fake._write_record(rec)

    # -- GET routes ----------------------------------------------------------------------
    def _root(self) -> None:
        self._send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self) -> None:
        self._send_json(200, {"version": VERSION})

    def _details(self, spec: ModelSpec) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": spec.family,
            "families": [spec.family],
            "parameter_size": spec.parameter_size,
            "quantization_level": "Q4_K_M",
        }

    def _tags(self) -> None:
        with self.fake._lock:
            specs = list(self.fake.models.values())
        models = [
            {
                "name": spec.full_name,
                "model": spec.full_name,
                "modified_at": "2026-01-01T00:00:00Z",
                "size": 2019393189,
                "digest": hashlib.sha256(spec.full_name.encode()).hexdigest(),
                "details": self._details(spec),
            }
            for spec in specs
        ]
        self._send_json(200, {"models": models})

    # -- POST routes ---------------------------------------------------------------------
    def _model_or_404(self, name: str) -> ModelSpec:
        spec = self.fake.find_model(name)
        if spec is None:
            raise _BadRequest(404, f"model '{name}' not found")
        return spec

    def _show(self, body: dict[str, Any], rec: RecordedRequest) -> None:
        spec = self._model_or_404(_require_model(body, allow_name=True))
        arch = spec.family
        self._send_json(
            200,
            {
                "license": "test license",
                "modelfile": f"# Modelfile generated by fake ollama\nFROM {spec.full_name}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": spec.template,
                "details": self._details(spec),
                "model_info": {
                    "general.architecture": arch,
                    "general.parameter_count": 3212749888,
                    f"{arch}.context_length": spec.context_length,
                    f"{arch}.embedding_length": 3072,
                    f"{arch}.block_count": 28,
                },
                "capabilities": list(spec.capabilities),
                "modified_at": "2026-01-01T00:00:00Z",
            },
        )

    def _prepare(
        self, body: dict[str, Any], rec: RecordedRequest, *, chat: bool
    ) -> tuple[ModelSpec, dict[str, Any], bool, bool]:
        """Validate a chat/generate request; returns (spec, options, stream, is_load)."""
        model = _require_model(body)
        _validate_common(body)
        options = _validate_options(body)
        if chat:
            messages = _validate_messages(body)
            tools = _validate_tools(body)
            prompt_text = "\n".join(str(m.get("content") or "") for m in messages)
            prompt_text += "".join(json.dumps(t) for t in tools)
            is_load = not messages
        else:
            prompt = body.get("prompt")
            if prompt is not None and not isinstance(prompt, str):
                raise _BadRequest(400, "json: cannot unmarshal prompt into Go value of type string")
            system = body.get("system")
            if system is not None and not isinstance(system, str):
                raise _BadRequest(400, "json: cannot unmarshal system into Go value of type string")
            tools = []
            prompt_text = (system or "") + "\n" + (prompt or "")
            is_load = not prompt and not system
        spec = self._model_or_404(model)
        if "completion" not in spec.capabilities:
            raise _BadRequest(
                400, f'"{spec.full_name}" does not support {"chat" if chat else "generate"}'
            )
        if tools and "tools" not in spec.capabilities:
            raise _BadRequest(
                400, f"registry.ollama.ai/library/{spec.full_name} does not support tools"
            )
        num_ctx = options.get("num_ctx") or DEFAULT_NUM_CTX
        rec.prompt_tokens = count_tokens(prompt_text)
        rec.truncated = rec.prompt_tokens > num_ctx
        stream = body.get("stream")
        return spec, options, stream is None or stream, is_load

    def _final_fields(self, prompt_tokens: int, eval_count: int, reason: str) -> dict[str, Any]:
        return {
            "done": True,
            "done_reason": reason,
            "total_duration": 1_000_000 * (5 + eval_count),
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 1_000_00 * max(prompt_tokens, 1),
            "eval_count": eval_count,
            "eval_duration": 1_000_000 * max(eval_count, 1),
        }

    def _scripted(self, body: dict[str, Any], rec: RecordedRequest) -> dict[str, Any] | None:
        """The reply dict; None when an error reply was sent instead."""
        reply = self.fake.next_reply(body)
        if reply.get("delay"):
            time.sleep(float(reply["delay"]))
        if "error" in reply:
            rec.status = int(reply.get("status", 500))
            self._send_error(rec.status, str(reply["error"]))
            return None
        return reply

    def _chat(self, body: dict[str, Any], rec: RecordedRequest) -> None:
        _spec, options, stream, is_load = self._prepare(body, rec, chat=True)
        head = {"model": body["model"]}
        num_ctx = options.get("num_ctx") or DEFAULT_NUM_CTX
        prompt_tokens = min(rec.prompt_tokens, num_ctx)
        if is_load:
            self._send_json(
                200,
                {
                    **head,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": ""},
                    "done_reason": "load",
                    "done": True,
                },
            )
            return
        reply = self._scripted(body, rec)
        if reply is None:
            return
        text, reason, count = _apply_reply_limits(str(reply.get("content", "")), options)
        tool_calls = _normalize_tool_calls(reply.get("tool_calls"))
        thinking = reply.get("thinking")
        final = self._final_fields(prompt_tokens, count + len(tool_calls), reason)
        if not stream:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if thinking:
                message["thinking"] = thinking
            if tool_calls:
                message["tool_calls"] = tool_calls
            self._send_json(200, {**head, "created_at": _now(), "message": message, **final})
            return
        self._start_stream()
        if thinking:
            for piece in _split_chunks(thinking):
                self._stream_obj(
                    {
                        **head,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": "", "thinking": piece},
                        "done": False,
                    }
                )
        for piece in _split_chunks(text):
            if self.fake.chunk_delay:
                time.sleep(self.fake.chunk_delay)
            self._stream_obj(
                {
                    **head,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
            )
        if tool_calls:
            self._stream_obj(
                {
                    **head,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": "", "tool_calls": tool_calls},
                    "done": False,
                }
            )
        self._stream_obj(
            {**head, "created_at": _now(), "message": {"role": "assistant", "content": ""}, **final}
        )
        self._end_stream()

    def _generate(self, body: dict[str, Any], rec: RecordedRequest) -> None:
        _spec, options, stream, is_load = self._prepare(body, rec, chat=False)
        head = {"model": body["model"]}
        num_ctx = options.get("num_ctx") or DEFAULT_NUM_CTX
        prompt_tokens = min(rec.prompt_tokens, num_ctx)
        if is_load:
            self._send_json(
                200,
                {**head, "created_at": _now(), "response": "", "done": True, "done_reason": "load"},
            )
            return
        reply = self._scripted(body, rec)
        if reply is None:
            return
        text, reason, count = _apply_reply_limits(str(reply.get("content", "")), options)
        final = {**self._final_fields(prompt_tokens, count, reason), "context": [1, 2, 3]}
        if not stream:
            self._send_json(200, {**head, "created_at": _now(), "response": text, **final})
            return
        self._start_stream()
        for piece in _split_chunks(text):
            if self.fake.chunk_delay:
                time.sleep(self.fake.chunk_delay)
            self._stream_obj({**head, "created_at": _now(), "response": piece, "done": False})
        self._stream_obj({**head, "created_at": _now(), "response": "", **final})
        self._end_stream()

    def _embed(self, body: dict[str, Any], rec: RecordedRequest) -> None:
        spec = self._model_or_404(_require_model(body))
        _validate_common(body)
        _validate_options(body)
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if inputs is None:
            inputs = []
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise _BadRequest(400, "invalid input type")
        dim = body.get("dimensions") or spec.embedding_dim
        if not isinstance(dim, int) or dim <= 0:
            raise _BadRequest(400, "dimensions must be a positive integer")
        rec.prompt_tokens = sum(count_tokens(i) for i in inputs)
        self._send_json(
            200,
            {
                "model": body["model"],
                "embeddings": [_hashed_embedding(i, dim) for i in inputs],
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": rec.prompt_tokens,
            },
        )

    def _embeddings(self, body: dict[str, Any], rec: RecordedRequest) -> None:
        spec = self._model_or_404(_require_model(body))
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str):
            raise _BadRequest(400, "json: cannot unmarshal prompt into Go value of type string")
        self._send_json(200, {"embedding": _hashed_embedding(prompt, spec.embedding_dim)})


_POST_ROUTES = {
    "/api/show": "_show",
    "/api/chat": "_chat",
    "/api/generate": "_generate",
    "/api/embed": "_embed",
    "/api/embeddings": "_embeddings",
}


# -- as a process -----------------------------------------------------------------------
@contextlib.contextmanager
def ollama_server_process(
    *,
    model: str = "llama3.2",
    context_length: int = 2048,
    capabilities: Sequence[str] = ("completion", "tools"),
    reply: str | None = None,
    script: Sequence[str | dict[str, Any]] | None = None,
    record: Path | None = None,
    workdir: Path | None = None,
    startup_timeout: float = 20.0,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start ``python -m tests.support.ollama_server`` on a free port; yield (process, url).

    ``record``: a file where every handled request is appended as a JSON line
    (``method``, ``path``, ``status``, ``body``, ``prompt_tokens``, ``truncated``), so
    tests of other processes can check what reached the model. The process is
    terminated (then killed) by its PID on exit.
    """
    import tempfile

    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        port_file = Path(tmp) / "port"
        cmd = [
            sys.executable, "-m", "tests.support.ollama_server", "--port", "0",
            "--port-file", str(port_file), "--model", model,
            "--context-length", str(context_length), "--capabilities", ",".join(capabilities),
        ]  # fmt: skip
        if reply is not None:
            cmd += ["--reply", reply]
        if script is not None:
            script_file = Path(tmp) / "script.json"
            script_file.write_text(json.dumps(list(script)), encoding="utf-8")
            cmd += ["--script", str(script_file)]
        if record is not None:
            cmd += ["--record", str(record)]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        }
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + startup_timeout
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None:
                    raise RuntimeError(f"fake Ollama exited with code {proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError("fake Ollama did not start in time")
                time.sleep(0.02)
            yield proc, f"http://127.0.0.1:{int(port_file.read_text())}"
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the fake Ollama API until terminated (SIGTERM / Ctrl-C)."""
    parser = argparse.ArgumentParser(description="Fake Ollama API server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434, help="0 = pick a free port")
    parser.add_argument("--port-file", type=Path, help="write the bound port here")
    parser.add_argument(
        "--model", action="append", help="model name (repeatable); default llama3.2"
    )
    parser.add_argument("--context-length", type=int, default=2048)
    parser.add_argument("--capabilities", default="completion,tools", help="comma separated")
    parser.add_argument("--reply", default=DEFAULT_REPLY, help="reply text for every request")
    parser.add_argument(
        "--script", type=Path, help="JSON list of replies (str or dict), used in order first"
    )
    parser.add_argument(
        "--record", type=Path, help="append every handled request to this JSONL file"
    )
    args = parser.parse_args(argv)
    capabilities = tuple(c.strip() for c in args.capabilities.split(",") if c.strip())
    responses = json.loads(args.script.read_text(encoding="utf-8")) if args.script else None
    fake = FakeOllamaServer(
        [ModelSpec(m, args.context_length, capabilities) for m in (args.model or ["llama3.2"])],
        responses=responses,
        default_reply=args.reply,
        host=args.host,
        port=args.port,
        record_path=args.record,
    )
    httpd = fake.bind()
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(fake.port))
        tmp.replace(args.port_file)
    sys.stdout.write(f"fake ollama listening on {fake.url}\n")
    sys.stdout.flush()
    import signal

    def _on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    try:
        httpd.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
