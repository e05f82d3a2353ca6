"""Factories: the only place where settings turn into configured parts.

Each backend comes from one function here, so the domain packages (``loaders``,
``chains``, ``agents``) never read settings or the environment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lcelkit.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable

    from lcelkit.agents.memory import SummaryMemoryStore
    from lcelkit.agents.react import ConversationalAgent
    from lcelkit.chains.embeddings import SentenceTransformerEmbeddings
    from lcelkit.chains.keyword import KeywordIndex
    from lcelkit.chains.tokens import TokenCounter
    from lcelkit.loaders import Splitter
    from lcelkit.loaders.index import Indexer, Parsed

from lcelkit.collection import embedder_model, record_embedder, store_namespace
from lcelkit.llm_factories import (
    llm_settings,
    llm_settings_of,
    make_llm,
    make_token_counter,
    resolve_context_window,
)

__all__ = [
    "embedder_model",
    "keyword_index_is_shared",
    "llm_settings",
    "make_agent",
    "make_embeddings",
    "make_indexer",
    "make_keyword_index",
    "make_llm",
    "make_memory_store",
    "make_rag_chain",
    "make_retriever",
    "make_splitter",
    "make_store",
    "make_token_counter",
    "parse_file",
    "record_embedder",
    "resolve_context_window",
    "shared_ingest",
    "store_namespace",
]

logger = logging.getLogger(__name__)


# -- embeddings and store -------------------------------------------------------------
def make_embeddings(
    settings: Settings, *, show_progress: bool = False
) -> SentenceTransformerEmbeddings:
    """The configured embedder (weights load lazily, at first use; see ``embedder_model``)."""
    from lcelkit.chains.embeddings import load_embeddings

    cfg = settings.embeddings
    return load_embeddings(
        embedder_model(settings),
        dtype=cfg.dtype,
        device=cfg.device,
        batch_size=cfg.batch_size,
        show_progress=show_progress,
        backend=cfg.backend,
        query_prompt=cfg.query_prompt,
        document_prompt=cfg.document_prompt,
    )


def make_store(
    settings: Settings,
    embeddings: SentenceTransformerEmbeddings | None = None,
    *,
    check_dimension: bool = True,
) -> Chroma:
    """The configured Chroma collection (embedded under ``home``, or ``store.url``).

    ``check_dimension=False`` checks only the embedder's name, so opening the store
    does not load the embedding weights (re-ingesting unchanged files stays cheap).
    """
    from lcelkit.chains.store import open_chroma

    embeddings = embeddings or make_embeddings(settings)
    return open_chroma(
        embeddings,
        collection=settings.store.collection,
        embedder_name=embeddings.name,
        dimension=embeddings.dimension if check_dimension else None,
        persist_dir=None if settings.store.url else settings.chroma_dir,
        url=settings.store.url,
    )


# -- ingestion ------------------------------------------------------------------------
def make_splitter(settings: Settings) -> Splitter:
    """The splitter, counting in the configured embedder's tokens (no weights loaded)."""
    from lcelkit.chains.embeddings import embedder_chunk_limit, load_tokenizer
    from lcelkit.loaders import Splitter

    model = embedder_model(settings)
    limit = embedder_chunk_limit(model, settings.embeddings.document_prompt)
    chunk_size = settings.split.chunk_size
    if limit is not None and chunk_size > limit:
        logger.warning(
            "chunk_size %d is over what the embedder reads (%d tokens with its passage "
            "prompt); chunks are split at %d",
            chunk_size,
            limit,
            limit,
        )
        chunk_size = limit
    return Splitter(
        load_tokenizer(model),
        chunk_size=chunk_size,
        chunk_overlap=min(settings.split.chunk_overlap, max(0, chunk_size // 2 - 1)),
        row_units=settings.ingest.table_row_units,
    )


def parse_file(
    settings: Settings,
    path: Path,
    source: str,
    splitter: Splitter,
    warnings: list[str] | None = None,
) -> list[Document]:
    """One file -> the chunks ``ingest`` would store (raises LoaderError on bad input).

    Problems that do not stop the file (a damaged PDF, a guessed encoding) are
    appended to ``warnings`` when given.
    """
    from lcelkit.loaders import load_and_split

    cfg = settings.ingest
    return load_and_split(
        path,
        splitter,
        source=source,
        pdf_strategy=cfg.pdf_strategy,
        max_bytes=int(cfg.max_file_mb * 2**20),
        max_unpacked_bytes=int(cfg.max_unpacked_mb * 2**20),
        max_elements=cfg.max_elements,
        warnings=warnings,
    )


_worker_splitters: dict[tuple[str, int, int, bool], Splitter] = {}
_PARSE_PRELOAD = (
    "lcelkit.loaders.files",
    "lcelkit.loaders.split",
    "lcelkit.loaders.index",
    "lcelkit.factories",
)


def _parse_in_worker(settings: Settings, path: Path, source: str) -> Parsed:
    """Runs in the parse worker process: one file -> its chunks and warnings."""
    from lcelkit.loaders.index import Parsed

    key = (
        embedder_model(settings),
        settings.split.chunk_size,
        settings.split.chunk_overlap,
        settings.ingest.table_row_units,
    )
    splitter = _worker_splitters.get(key)
    if splitter is None:
        splitter = _worker_splitters[key] = make_splitter(settings)
    warnings: list[str] = []
    chunks = parse_file(settings, path, source, splitter, warnings)
    return Parsed(chunks, warnings)


def make_indexer(
    settings: Settings,
    *,
    embeddings: SentenceTransformerEmbeddings | None = None,
    sinks: list | None = None,
    rebuild: bool = False,
    workers: bool | None = None,
) -> Indexer:
    """The incremental indexer for the configured collection.

    The store is opened without loading the embedder; the embedder's dimension is
    checked against the collection right before the first write. ``sinks`` default
    to the hybrid retriever's keyword index, kept in step with every write.
    ``rebuild=True`` drops the collection and its records first. ``workers``: claim
    each file in the database so that several ingest processes can share the work
    (default: :func:`shared_ingest`, a Chroma server and a database server).
    """
    from lcelkit.chains.coverage import script_warnings
    from lcelkit.chains.store import (
        chroma_client,
        delete_collection,
        ensure_embedder,
        max_batch_size,
    )
    from lcelkit.loaders.index import (
        FileManifest,
        Indexer,
        MirroredStore,
        Parsed,
        make_record_manager,
    )
    from lcelkit.loaders.isolate import supported as supported_isolation

    settings.home.mkdir(parents=True, exist_ok=True)
    embeddings = embeddings or make_embeddings(settings, show_progress=False)
    namespace = store_namespace(settings)
    record_manager = make_record_manager(namespace, settings.record_db_url)
    manifest = FileManifest(namespace, settings.record_db_url)
    if sinks is None:
        sinks = [make_keyword_index(settings)]
    if rebuild:
        client = chroma_client(persist_dir=settings.chroma_dir, url=settings.store.url)
        delete_collection(client, settings.store.collection)
        for sink in sinks:
            sink.clear()
    store = make_store(settings, embeddings, check_dimension=False)

    def check_dimension() -> None:
        ensure_embedder(store._collection, embeddings.name, embeddings.dimension)
        record_embedder(settings, embeddings.name)

    mirrored = MirroredStore(
        store, sinks, max_batch=max_batch_size(store), before_write=check_dimension
    )
    splitter: list[Splitter] = []  # built at the first parse: unchanged files need no tokenizer
    timeout = settings.ingest.file_timeout

    def parse(path: Path, source: str) -> Parsed:
        from lcelkit.loaders.isolate import supported

        if timeout > 0 and supported():  # in the worker process, under the time budget
            from lcelkit.loaders.files import check_limits
            from lcelkit.loaders.isolate import shared_runner

            cfg = settings.ingest  # a bomb is refused here, without starting the worker
            check_limits(
                path,
                source=source,
                max_bytes=int(cfg.max_file_mb * 2**20),
                max_unpacked_bytes=int(cfg.max_unpacked_mb * 2**20),
            )
            runner = shared_runner(_PARSE_PRELOAD)
            return runner.call(
                _parse_in_worker, settings, path, source, source=source, timeout=timeout
            )
        if not splitter:
            splitter.append(make_splitter(settings))
        warnings: list[str] = []
        return Parsed(parse_file(settings, path, source, splitter[0], warnings), warnings)

    isolated = timeout > 0 and supported_isolation()
    claims = None
    if workers if workers is not None else shared_ingest(settings):
        from lcelkit.loaders.claims import FileClaims

        claims = FileClaims(
            namespace, settings.record_db_url, lease=settings.database.claim_seconds
        )
    indexer = Indexer(
        mirrored,
        record_manager,
        manifest,
        parse,
        batch_size=settings.ingest.batch_size,
        claims=claims,
        notes=script_warnings,  # the Korean coverage note (chains.coverage)
        # the worker parses the next files while this process embeds (loaders/ahead.py);
        # in-process parsing (no budget) takes turns with the embedder as before
        parse_ahead=settings.ingest.parse_ahead if isolated else 0,
        warm=getattr(embeddings, "load", None),  # sets the model up while parsing starts
    )
    if rebuild:
        indexer.forget_all()
    return indexer


def shared_ingest(settings: Settings) -> bool:
    """True when ingest processes may run side by side, claiming files: the vectors are
    on a Chroma server (``store.url``) and the rest on a database server
    (``database.url``). Otherwise one ingest per home runs at a time (``homelock``)."""
    return bool(settings.store.url) and settings.database.is_server


# -- retrieval ---------------------------------------------------------------------------
def make_keyword_index(settings: Settings) -> KeywordIndex:
    """The hybrid retriever's BM25 index of the configured collection: on PostgreSQL
    (``database.url``) a table every worker shares; else SQLite FTS5 beside the
    database (under home by default)."""
    import re

    from lcelkit.chains.keyword import KeywordIndex

    if settings.database.is_server:
        from lcelkit.chains.keyword_pg import PgKeywordIndex

        return PgKeywordIndex(settings.database.url, store_namespace(settings))  # type: ignore[return-value]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", store_namespace(settings)).strip("_")
    return KeywordIndex(_keyword_dir(settings) / f"{slug}.sqlite")


def _keyword_dir(settings: Settings) -> Path:
    """Folder of the SQLite keyword indexes: ``home/keyword``, or beside a SQLite
    ``database.url`` file."""
    from pathlib import Path

    if settings.database.url:
        from sqlalchemy.engine import make_url  # ~0.15 s: not for a plain home (ask)

        database = make_url(settings.database.url).database
        if database and database != ":memory:":
            return Path(database).expanduser().resolve().parent / "keyword"
    return settings.home / "keyword"


def keyword_index_is_shared(index: object) -> bool:
    """True for the PostgreSQL keyword index: every ingest writes it, nothing to sync."""
    return type(index).__name__ == "PgKeywordIndex"


def make_retriever(
    settings: Settings,
    store: Chroma | None = None,
    *,
    embeddings: SentenceTransformerEmbeddings | None = None,
    search: str | None = None,
    k: int | None = None,
    filter: dict | None = None,
    keyword_index: KeywordIndex | None = None,
) -> BaseRetriever:
    """The configured retriever (``settings.retrieval``; arguments override it).

    For hybrid/bm25 the keyword index is opened; a per-process SQLite index is brought
    in step with the store chunk id by chunk id (``sync_keyword_index``), the shared
    PostgreSQL one needs nothing.
    """
    from lcelkit.chains.retrievers import make_retriever as build
    from lcelkit.chains.retrievers import sync_keyword_index

    cfg = settings.retrieval
    kind = search or cfg.search
    k = k or cfg.k
    if store is None:
        store = make_store(settings, embeddings)
    embeddings = embeddings or store.embeddings
    if kind in ("hybrid", "bm25") and keyword_index is None:
        keyword_index = make_keyword_index(settings)
        if not keyword_index_is_shared(keyword_index):
            sync_keyword_index(keyword_index, store)
    return build(
        store,
        search=kind,  # type: ignore[arg-type]
        k=k,
        fetch_k=max(cfg.fetch_k, k),
        lambda_mult=cfg.lambda_mult,
        score_threshold=cfg.score_threshold,
        filter=filter,
        keyword_index=keyword_index,
        embeddings=embeddings,
    )


def make_rag_chain(
    settings: Settings,
    retriever: BaseRetriever | None = None,
    *,
    llm: BaseChatModel | None = None,
    prompt: str = "rag.answer",
    conversational: bool = False,
) -> Runnable:
    """The configured RAG chain (``chains.rag``): retriever + LLM within the model's window.

    ``conversational=True`` gives the chain that condenses follow-ups with chat history.
    """
    from lcelkit.chains.rag import make_conversational_rag_chain
    from lcelkit.chains.rag import make_rag_chain as build

    llm = llm or make_llm(settings)
    factory = make_conversational_rag_chain if conversational else build
    return factory(
        retriever or make_retriever(settings),
        llm,
        counter=make_token_counter(settings, llm),
        context_window=resolve_context_window(settings, llm),
        max_new_tokens=settings.llm.max_new_tokens,
        prompt=prompt,
        name_cells=settings.retrieval.table_cells,
        min_relative_score=settings.retrieval.min_relative_score,
    )


# -- agent ------------------------------------------------------------------------------
def make_memory_store(
    settings: Settings,
    *,
    llm: BaseChatModel | None = None,
    counter: TokenCounter | None = None,
    context_window: int | None = None,
) -> SummaryMemoryStore:
    """The agent's session memory (``agent.memory_url``, else SQLite under ``home``).

    ``llm`` summarizes evicted turns; without one the store is opened for listing and
    resetting sessions, and :func:`make_agent` attaches its model to it.
    """
    from lcelkit.agents.memory import SummaryMemoryStore

    cfg = settings.agent
    prompt_limit = None
    if context_window is not None:
        from lcelkit.chains.budget import reply_reserve

        reply = reply_reserve(context_window, settings.llm.max_new_tokens)
        prompt_limit = context_window - reply
    return SummaryMemoryStore(
        settings.memory_db_url,
        summarizer=llm,
        counter=counter,
        recent_turns=cfg.recent_turns,
        recent_max_tokens=prompt_limit // 3 if prompt_limit else None,
        summary_max_tokens=cfg.summary_max_tokens,
        prompt_limit=prompt_limit or 4096 - settings.llm.max_new_tokens,
    )


def make_agent(
    settings: Settings,
    *,
    session_store: SummaryMemoryStore | None = None,
    llm: BaseChatModel | None = None,
    retriever: BaseRetriever | None = None,
    tools: list | None = None,
) -> ConversationalAgent:
    """The configured ReAct agent: LLM, ``search_documents`` over the index, calculator,
    current_datetime, persisted memory, and a budget of the model's window.

    ``session_store`` shares one memory between agents (the HTTP server); ``tools``
    replaces the default tools; ``retriever`` replaces the configured one.
    """
    from functools import partial

    from lcelkit.agents.react import ConversationalAgent
    from lcelkit.agents.tools import LazyRetriever, default_tools
    from lcelkit.chains.budget import reply_reserve
    from lcelkit.chains.llms import backend_error, supports_native_tools

    cfg = settings.agent
    llm = llm or make_llm(settings)
    llm_cfg = llm_settings_of(settings, llm)
    window = resolve_context_window(settings, llm)
    counter = make_token_counter(settings, llm)
    if tools is None:
        # Opened at the first search: a chat that never searches loads no embedder.
        retriever = retriever or LazyRetriever(factory=partial(make_retriever, settings))
        tools = default_tools(
            retriever, counter=counter, observation_max_tokens=cfg.observation_max_tokens
        )
    memory = session_store or make_memory_store(
        settings, llm=llm, counter=counter, context_window=window
    )
    reply = reply_reserve(window, settings.llm.max_new_tokens)
    memory.attach_model(llm, counter=counter, prompt_limit=window - reply)
    native = None
    if cfg.mode == "auto":
        native = supports_native_tools(llm)
    return ConversationalAgent(
        llm,
        tools,
        memory=memory,
        counter=counter,
        context_window=window,
        max_new_tokens=settings.llm.max_new_tokens,
        mode=cfg.mode,
        max_steps=cfg.max_steps,
        max_seconds=cfg.max_seconds,
        observation_max_tokens=cfg.observation_max_tokens,
        native_tools=native,
        retrieval=cfg.retrieval,
        error_mapper=partial(
            backend_error,
            provider=llm_cfg.provider,
            model=llm_cfg.model_name,
            base_url=llm_cfg.base_url if llm_cfg.provider == "ollama" else None,
        ),
    )
