"""The embedder's tokenizer for one-shot processes, rebuilt once and kept on disk.

transformers 5 rebuilds some tokenizers from their vocabulary at every load instead of
reading ``tokenizer.json`` as it is: multilingual-e5-small's (XLM-RoBERTa, a 250,000-piece
Unigram) took ~2 s per ``lcelkit ask`` on the project's 2-core machine, more than the
query's forward pass and the model's weights together. :func:`load_cached_tokenizer`
saves the rebuilt tokenizer once (``save_pretrained``: its ``tokenizer.json`` is the
rebuilt one) and later processes read that file with the ``tokenizers`` library alone
(:class:`QueryTokenizer`, ~0.5 s: Rust's own parse of the file), not through
transformers' ``PreTrainedTokenizerFast`` (~1 s: its wrapper adds ~0.5 s over the
250,000 pieces). :class:`QueryTokenizer` answers the calls the query encoder and the
Korean coverage probe make (``tokenizer(text or texts, add_special_tokens=, truncation=,
max_length=, padding=, return_tensors=)``, ``encode``, ``unk_token_id``) and hands
anything else to the ``PreTrainedTokenizerFast`` of the same file, loaded at the first
such use. An entry is kept only when the reloaded tokenizer gives the same ids as the
original on probe texts (English, Korean, a table, spaces, a long text; with and without
special tokens, truncated, a padded batch); it is read with :class:`QueryTokenizer` only
when that passed the same check when the entry was made (else with
``PreTrainedTokenizerFast``); otherwise, or when the cache cannot be written, the
original is used and nothing changes. Tokenizers that load quickly anyway (under ``WORTH_S``: the
bundled MiniLM's takes ~0.02 s) are returned as they are.

sentence-transformers loads a model folder's tokenizer itself (an ingest's embedder:
the same ~2 s rebuild). :func:`tokenizer_view` gives it a folder of links to the model
folder's files with the cached, checked tokenizer in place of the original: the entry's
``tokenizer_config.json`` names the plain fast class so that transformers reads
``tokenizer.json`` as it is, and states its added tokens so that transformers does not
parse the whole file in Python to find them (:func:`_plain_config`; the entry is checked
in that form); the weights, configuration and modules are the original files.

Entries live beside the OpenVINO cache (``chains/openvino_cache.py``: the same key of the
folder's files, sizes and modification times, plus the transformers and tokenizers
versions) under ``tokenizers/``. The splitter (``load_tokenizer``, in every ingest's
parse worker) reads the view too (:func:`load_view_tokenizer`) once an entry exists; the
first ingest's worker, which starts before the entry is made, loads the folder as before.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

__all__ = [
    "PROBES",
    "WORTH_S",
    "QueryTokenizer",
    "load_cached_tokenizer",
    "load_view_tokenizer",
    "tokenizer_cache_dir",
    "tokenizer_view",
]

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
_FORMAT = 3  # 2: entries say whether QueryTokenizer reads them (``raw`` in the meta file);
# 3: their tokenizer_config.json is the plain one the view reads (:func:`_plain_config`)
_TRUNCATE = (True, "longest_first", "only_first")
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
    padded = tokenizer(PROBES[:4], padding=True, truncation=True, max_length=16)
    out.append([padded[name] for name in ("input_ids", "attention_mask")])
    out.append(tokenizer(PROBES[0], return_tensors="pt")["input_ids"].tolist())
    out.append(tokenizer.encode(PROBES[2]))
    out.append(tokenizer.unk_token_id)
    return out


class QueryTokenizer:
    """A cached tokenizer read with the ``tokenizers`` library alone (no transformers
    wrapper): the calls queries and the coverage probe make, with transformers' results;
    any other attribute comes from the ``PreTrainedTokenizerFast`` of the same file,
    loaded at its first use."""

    def __init__(self, entry: Path, meta: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.entry = entry
        self.backend_tokenizer = Tokenizer.from_file(str(entry / "tokenizer.json"))
        self.unk_token_id: int | None = meta.get("unk_token_id")
        self.pad_token_id: int | None = meta.get("pad_token_id")
        self.pad_token: str | None = meta.get("pad_token")
        self.pad_token_type_id: int = int(meta.get("pad_token_type_id") or 0)
        self.model_max_length: int = int(meta["model_max_length"])
        self.padding_side: str = meta.get("padding_side", "right")
        self.truncation_side: str = meta.get("truncation_side", "right")
        self.model_input_names: list[str] = list(meta["model_input_names"])
        self._full: Any = None
        self._lock = threading.RLock()  # the backend's truncation/padding are its state

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_full", "entry"):
            raise AttributeError(name)
        return getattr(self.full, name)

    @property
    def full(self) -> Any:
        """The same file as a ``PreTrainedTokenizerFast`` (loaded now, ~0.5 s more)."""
        if self._full is None:
            from transformers import PreTrainedTokenizerFast

            self._full = PreTrainedTokenizerFast.from_pretrained(str(self.entry))
        return self._full

    def encode(self, text: str, add_special_tokens: bool = True, **kwargs: Any) -> list[int]:
        """The ids of ``text`` (other arguments: transformers' ``encode``)."""
        if kwargs:
            return self.full.encode(text, add_special_tokens=add_special_tokens, **kwargs)
        return list(self([text], add_special_tokens=add_special_tokens)["input_ids"][0])

    def __call__(
        self,
        text: str | list[str],
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        return_tensors: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """``tokenizer(text, ...)`` as transformers computes it: ``input_ids``, the
        ``attention_mask`` (and ``token_type_ids`` where the model takes them)."""
        pad = padding in (True, "longest")
        cut = truncation in _TRUNCATE
        if cut and max_length is None and self.model_max_length >= 10**9:
            cut = None  # transformers would warn and not truncate: let it
        plain = (padding in (False, None, "do_not_pad") or pad) and (
            cut or (truncation in (None, False, "do_not_truncate") and max_length is None)
        )
        if cut is None or kwargs or not plain or return_tensors not in (None, "pt"):
            return self.full(  # anything else: transformers itself
                text, add_special_tokens=add_special_tokens, padding=padding,
                truncation=truncation, max_length=max_length, return_tensors=return_tensors,
                **kwargs,
            )  # fmt: skip
        texts = [text] if isinstance(text, str) else list(text)
        tok = self.backend_tokenizer
        with self._lock:
            if cut:
                tok.enable_truncation(
                    max_length or self.model_max_length, strategy="longest_first",
                    direction=self.truncation_side,
                )  # fmt: skip
            else:
                tok.no_truncation()
            if pad and self.pad_token_id is not None:
                tok.enable_padding(
                    direction=self.padding_side, pad_id=self.pad_token_id,
                    pad_type_id=self.pad_token_type_id, pad_token=self.pad_token or "",
                )  # fmt: skip
            else:
                tok.no_padding()
            encodings = tok.encode_batch(texts, add_special_tokens=add_special_tokens)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
        }
        out = {k: v for k, v in columns.items() if k in self.model_input_names}
        if return_tensors == "pt":
            import torch

            return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}
        if isinstance(text, str):
            return {k: v[0] for k, v in out.items()}
        return out


def _raw_meta(tokenizer: Any) -> dict[str, Any]:
    """What :class:`QueryTokenizer` needs of ``tokenizer`` besides its ``tokenizer.json``."""
    return {
        "unk_token_id": tokenizer.unk_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "pad_token": tokenizer.pad_token,
        "pad_token_type_id": getattr(tokenizer, "pad_token_type_id", 0),
        "model_max_length": int(min(tokenizer.model_max_length, 10**9)),
        "padding_side": tokenizer.padding_side,
        "truncation_side": tokenizer.truncation_side,
        "model_input_names": list(tokenizer.model_input_names),
    }


def _key(location: str) -> str:
    from importlib.metadata import version  # not ``import transformers``: ~0.35 s

    from lcelkit.chains.openvino_cache import cache_key

    versions = {
        "transformers": version("transformers"),
        "tokenizers": version("tokenizers"),
        "format": str(_FORMAT),
    }
    return cache_key(location, "tokenizer", [], versions)


def load_cached_tokenizer(location: str) -> Any:
    """The tokenizer of the model folder ``location``: from the cache when it holds it
    (a :class:`QueryTokenizer` where it was checked, else ``PreTrainedTokenizerFast``),
    else loaded with ``AutoTokenizer`` (and cached when that was a rebuild)."""
    if not Path(location).is_dir():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(location)
    key = _key(location)
    root = tokenizer_cache_dir()
    entry = root / key
    if (entry / _META).is_file():
        try:
            meta = json.loads((entry / _META).read_text(encoding="utf-8"))
            if isinstance(meta.get("raw"), dict):
                return QueryTokenizer(entry, meta["raw"])
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(str(entry))
        except Exception as exc:
            logger.warning("tokenizer cache entry %s is unreadable (%s); rebuilding it", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(location)
    if type(tokenizer) is PreTrainedTokenizerFast or time.perf_counter() - started < WORTH_S:
        return tokenizer  # read directly, or quick to rebuild: nothing worth saving
    from lcelkit.chains.openvino_cache import publish_dir

    try:
        with publish_dir(entry, _META) as work:  # published only once _META is written
            tokenizer.save_pretrained(str(work))
            _plain_config(work, tokenizer)
            reloaded = PreTrainedTokenizerFast.from_pretrained(str(work))
            expected = _ids(tokenizer)
            if _ids(reloaded) != expected:
                logger.info("the saved tokenizer of %s differs; not cached", location)
                return tokenizer
            meta: dict[str, Any] = {
                "key": key, "class": type(tokenizer).__name__, "folder": location, "raw": None,
                "format": _FORMAT,
            }  # fmt: skip
            try:
                raw = _raw_meta(tokenizer)
                if _ids(QueryTokenizer(work, raw)) == expected:
                    meta["raw"] = raw
                else:
                    logger.info("%s: the tokenizers library alone differs; not used", location)
            except Exception as exc:
                logger.info("%s: the tokenizers library alone fails (%s); not used", location, exc)
            (work / _META).write_text(json.dumps(meta), encoding="utf-8")
    except Exception as exc:  # the cache is an optimisation: never fail for it
        logger.warning("could not cache the tokenizer of %s in %s: %s", location, root, exc)
    return tokenizer


def _plain_config(folder: Path, tokenizer: Any) -> None:
    """Make ``folder``'s saved ``tokenizer_config.json`` read ``tokenizer.json`` as it is:
    the plain fast class (not the model's own, which transformers 5 rebuilds from the
    vocabulary), and the added tokens stated, taken from the tokenizer in memory, so that
    transformers does not parse the whole file in Python to find them (~0.6 s for e5's
    17 MB). The entry is checked in this form: it is what the view and the splitter read."""
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    added = tokenizer.backend_tokenizer.get_added_tokens_decoder()
    fields = ("content", "single_word", "lstrip", "rstrip", "normalized", "special")
    config["added_tokens_decoder"] = {
        str(index): {name: getattr(token, name) for name in fields}
        for index, token in sorted(added.items())
    }
    path.write_text(json.dumps(config), encoding="utf-8")


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_VIEW_META = "lcelkit-view-3.json"  # 3: the entry's own (checked) tokenizer_config.json


def load_view_tokenizer(location: str) -> Any:
    """The model folder ``location``'s tokenizer as ``PreTrainedTokenizerFast`` read from
    its cached, checked copy (:func:`tokenizer_view`; ~0.65 s for e5 instead of a ~2 s
    rebuild), for the splitter; None when the cache holds none (the tokenizer loads fast
    anyway, or no process has cached it yet) or it cannot be read."""
    view = tokenizer_view(location)
    if view is None:
        return None
    try:
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(str(view))
    except Exception as exc:  # an optimisation: the folder always works
        logger.warning("cached tokenizer of %s unreadable (%s); loading the folder", location, exc)
        return None


def tokenizer_view(location: str) -> Path | None:
    """A folder with the model folder ``location``'s files (links) and its cached,
    checked tokenizer, for sentence-transformers; None when the cache holds no entry for
    it (:func:`load_cached_tokenizer` makes one when the tokenizer is slow to load) or
    links cannot be made."""
    folder = Path(location)
    if not folder.is_dir():
        return None
    try:
        key = _key(location)
        entry = tokenizer_cache_dir() / key
        if not (entry / _META).is_file():
            return None  # fast to load, or not cached (yet): the folder as it is
        view = tokenizer_cache_dir() / "views" / key
        if (view / _VIEW_META).is_file():
            return view
        shutil.rmtree(view, ignore_errors=True)  # an older kind of view, or half removed
        from lcelkit.chains.openvino_cache import publish_dir

        with publish_dir(view, _VIEW_META) as work:
            for item in folder.iterdir():
                if item.name not in _TOKENIZER_FILES and not item.name.startswith("."):
                    os.symlink(item.resolve(), work / item.name)
            for name in ("tokenizer.json", "tokenizer_config.json"):  # (_plain_config)
                shutil.copy(entry / name, work / name)
            (work / _VIEW_META).write_text(json.dumps({"folder": location}), encoding="utf-8")
        return view
    except Exception as exc:  # an optimisation: the original folder always works
        logger.warning("no cached-tokenizer view of %s: %s", location, exc)
        return None
