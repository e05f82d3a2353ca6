"""The embedder's tokenizer for one-shot processes, rebuilt once and kept on disk.

transformers 5 rebuilds some tokenizers from their vocabulary at every load instead of
reading ``tokenizer.json`` as it is: multilingual-e5-small's (XLM-RoBERTa, a 250,000-piece
Unigram) took ~2 s per ``lcelkit ask`` on the project's 2-core machine, more than the
query's forward pass and the model's weights together. :func:`load_cached_tokenizer`
saves the rebuilt tokenizer once (``save_pretrained``: its ``tokenizer.json`` is the
rebuilt one) and later processes read that file directly with ``PreTrainedTokenizerFast``
(~1 s). An entry is kept only when the reloaded tokenizer gives the same ids as the
original on probe texts (English, Korean, a table, spaces, a long text; with and without
special tokens, truncated); otherwise, or when the cache cannot be written, the original
is used and nothing changes. Tokenizers that load quickly anyway (under ``WORTH_S``: the
bundled MiniLM's takes ~0.02 s) are returned as they are.

Entries live beside the OpenVINO cache (``chains/openvino_cache.py``: the same key of the
folder's files, sizes and modification times, plus the transformers and tokenizers
versions) under ``tokenizers/``. The splitter keeps loading the original class
(``load_tokenizer``), so chunking never depends on the cache.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["PROBES", "WORTH_S", "load_cached_tokenizer", "tokenizer_cache_dir"]

logger = logging.getLogger(__name__)

PROBES = [
    "What was the Q3 revenue of the North region?",
    "  leading and trailing spaces  ",
    "서울 지점의 직원 수는 몇 명입니까? 매출은 15.2억 원입니다.",
    "| Region | Q1 |\n|---|---|\n| North | 10.5 |",
    "Ｆｕｌｌｗｉｄｔｈ, café, e\u0301, naïve — “quotes” 😀 \u00a0nbsp\u3000ideographic",
    "query: " + "revenue growth " * 100,  # truncated at 64 in the truncated calls
    "",
]
_META = "lcelkit-tokenizer.json"
WORTH_S = 0.3  # a load at least this slow is cached (MiniLM's: ~0.02 s; e5's: ~2 s)


def tokenizer_cache_dir() -> Path:
    """``tokenizers/`` beside the OpenVINO cache (``LCELKIT_OPENVINO_CACHE``, else
    ``$XDG_CACHE_HOME/lcelkit/openvino``, else ``~/.cache/lcelkit/openvino``)."""
    from lcelkit.chains.openvino_cache import cache_dir

    root = cache_dir()
    explicit = os.environ.get("LCELKIT_OPENVINO_CACHE", "").strip()
    return root / "tokenizers" if explicit else root.parent / "tokenizers"


def _ids(tokenizer: Any) -> list[Any]:
    out: list[Any] = []
    for special in (True, False):
        out.append(tokenizer(PROBES, add_special_tokens=special)["input_ids"])
        out.append(
            tokenizer(PROBES, add_special_tokens=special, truncation=True, max_length=64)[
                "input_ids"
            ]
        )
    out.append(tokenizer.unk_token_id)
    return out


def _key(location: str) -> str:
    import tokenizers
    import transformers

    from lcelkit.chains.openvino_cache import cache_key

    versions = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    return cache_key(location, "tokenizer", [], versions)


def load_cached_tokenizer(location: str) -> Any:
    """The tokenizer of the model folder ``location``: from the cache when it holds it,
    else loaded with ``AutoTokenizer`` (and cached when that was a rebuild)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if not Path(location).is_dir():
        return AutoTokenizer.from_pretrained(location)
    key = _key(location)
    root = tokenizer_cache_dir()
    entry = root / key
    if (entry / _META).is_file():
        try:
            return PreTrainedTokenizerFast.from_pretrained(str(entry))
        except Exception as exc:
            logger.warning("tokenizer cache entry %s is unreadable (%s); rebuilding it", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(location)
    if type(tokenizer) is PreTrainedTokenizerFast or time.perf_counter() - started < WORTH_S:
        return tokenizer  # read directly, or quick to rebuild: nothing worth saving
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        try:
            tokenizer.save_pretrained(str(work))
            reloaded = PreTrainedTokenizerFast.from_pretrained(str(work))
            if _ids(reloaded) != _ids(tokenizer):
                logger.info("the saved tokenizer of %s differs; not cached", location)
                return tokenizer
            meta = {"key": key, "class": type(tokenizer).__name__, "folder": location}
            (work / _META).write_text(json.dumps(meta), encoding="utf-8")
            try:
                os.rename(work, entry)
            except OSError:  # another process saved it first: theirs is as good
                if not (entry / _META).is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except Exception as exc:  # the cache is an optimisation: never fail for it
        logger.warning("could not cache the tokenizer of %s in %s: %s", location, root, exc)
    return tokenizer
