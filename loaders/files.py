"""Files -> elements -> Documents: discovery, checks, sniffing, encodings, dispatch by type."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lcelkit.errors import (
    CorruptFileError,
    EmptyFileError,
    FileTooLargeError,
    UnreadableFileError,
    UnsupportedFileError,
)

from .elements import element_to_document
from .formats import DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_UNPACKED_BYTES
from .pdf import PdfStrategy, parse_pdf

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from unstructured.documents.elements import Element

__all__ = [
    "CERTAIN_ENCODINGS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ELEMENTS",
    "DEFAULT_MAX_UNPACKED_BYTES",
    "SUPPORTED_EXTENSIONS",
    "check_limits",
    "decode_text",
    "discover",
    "load",
    "load_elements",
    "sniff",
]

logger = logging.getLogger(__name__)

#: File extensions lcelkit parses (lower case, with the dot).
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".csv"}
)

#: Files larger than this are refused by default (100 MiB).
DEFAULT_MAX_BYTES = 100 * 2**20

_WESTERN = ("cp1252", "latin_1", "iso8859_15")


def _walk_error(exc: OSError) -> UnreadableFileError:
    """A folder ``os.walk`` could not list, as the failure the summary shows."""
    where = str(exc.filename) if exc.filename is not None else "?"
    if exc.errno == errno.ENAMETOOLONG:
        return UnreadableFileError(
            where,
            f"{where}: the path is too long for the system ({len(where):,} characters); "
            "its files were not indexed",
            hint="move or rename the folders to a shorter path",
        )
    return UnreadableFileError(
        where,
        f"{where}: cannot read the folder ({exc.strerror or exc}); its files were not indexed",
        hint="check the folder's permissions",
    )


def discover(
    paths: Sequence[str | Path], *, failures: list[UnreadableFileError] | None = None
) -> list[Path]:
    """Expand files and folders into the files to load.

    Folders are walked recursively in sorted order, skipping hidden files and folders
    and keeping only :data:`SUPPORTED_EXTENSIONS`. A file named explicitly is kept
    whatever its extension (it fails later with a clear reason), and so is a path
    that does not exist or cannot be looked at. Duplicates are dropped, first
    occurrence wins. Folders that cannot be listed (permissions, a path over the
    system's limit) are appended to ``failures`` (when given) and logged.
    """
    found: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        if path not in seen:
            seen.add(path)
            found.append(path)

    def onerror(exc: OSError) -> None:
        error = _walk_error(exc)
        logger.warning("%s", error)
        if failures is not None:
            failures.append(error)

    for raw in paths:
        path = Path(raw)
        try:
            is_dir = path.is_dir()
        except OSError:  # e.g. under a folder without search permission: fails on load
            is_dir = False
        if is_dir:
            for root, dirs, files in os.walk(path, onerror=onerror):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    candidate = Path(root) / name
                    if candidate.suffix.lower() in SUPPORTED_EXTENSIONS:
                        add(candidate)
        else:
            add(path)
    return found


def sniff(head: bytes) -> str:
    """What the first bytes of a file say it is: 'pdf', 'zip', 'png', ..., 'text' or 'binary'."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    signatures = {
        b"PK\x03\x04": "zip",
        b"\x89PNG": "png",
        b"\xff\xd8\xff": "jpeg",
        b"GIF8": "gif",
        b"\xd0\xcf\x11\xe0": "ole (legacy .doc/.xls)",
        b"\x1f\x8b": "gzip",
        b"7z\xbc\xaf": "7z",
        b"Rar!": "rar",
    }
    for magic, kind in signatures.items():
        if head.startswith(magic):
            return kind
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return "text"
    if b"\x00" in head:
        return "binary"
    return "text"


_DESCRIBE = {
    "pdf": "a PDF document",
    "zip": "a ZIP archive",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "gzip": "a gzip archive",
    "text": "plain text",
    "binary": "binary data",
}


def _hangul_share(text: str) -> float:
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return 0.0
    hangul = sum(1 for ch in non_ascii if "\uac00" <= ch <= "\ud7a3" or "\u3130" <= ch <= "\u318f")
    return hangul / len(non_ascii)


#: Encodings :func:`decode_text` reads with certainty (a BOM, valid UTF-8, Korean CP949).
CERTAIN_ENCODINGS = frozenset({"utf-8", "utf-8-sig", "utf-16", "utf-32", "cp949"})


def decode_text(data: bytes, *, source: str = "") -> tuple[str, str]:
    """Decode bytes to text; returns (text, encoding).

    Order: BOM (UTF-8/16/32), strict UTF-8, CP949/EUC-KR when the result is mostly
    Hangul (short Korean files are often mis-detected by generic guessers), then
    charset-normalizer. Raises CorruptFileError when nothing fits (binary data).
    An encoding outside :data:`CERTAIN_ENCODINGS` is a guess: :func:`load` warns.
    """
    boms = [
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ]
    for bom, encoding in boms:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise CorruptFileError(
                    source,
                    f"{source}: starts with a {encoding} byte-order mark but does not decode",
                    hint="re-save the file as UTF-8",
                ) from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp949")
        if _hangul_share(text) >= 0.5:
            return text, "cp949"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is not None and best.encoding:
        # equally good single-byte guesses: prefer Western European (cp1252)
        for match in matches:
            if match.encoding in _WESTERN and match.chaos <= best.chaos + 0.01:
                return str(match), match.encoding
        return str(best), best.encoding
    raise CorruptFileError(
        source,
        f"{source}: could not detect the text encoding (binary data?)",
        hint="re-save the file as UTF-8",
    )


def _check_file(path: Path, source: str, max_bytes: int | None) -> int:
    """Existence, type, size checks before anything is read. Returns the size."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise UnreadableFileError(
            source, f"{source}: no such file", hint="check the path (it may have been moved)"
        ) from exc
    except OSError as exc:
        raise UnreadableFileError(
            source, f"{source}: cannot stat the file ({exc.strerror})", hint="check permissions"
        ) from exc
    if path.is_dir():
        raise UnreadableFileError(
            source,
            f"{source}: is a directory, not a file",
            hint="pass folders to discover() / `lcelkit ingest`, which walk them",
        )
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise UnsupportedFileError(
            source,
            f"{source}: unsupported file type {suffix or '(no extension)'!r}",
            hint=f"supported types: {supported}; convert the file to one of them",
        )
    if max_bytes is not None and info.st_size > max_bytes:
        raise FileTooLargeError(
            source,
            f"{source}: {info.st_size:,} bytes is over the limit of {max_bytes:,} bytes",
            hint="raise ingest.max_file_mb (LCELKIT_INGEST__MAX_FILE_MB) or split the file",
        )
    if info.st_size == 0:
        raise EmptyFileError(source, f"{source}: the file is empty", hint="nothing to index")
    return info.st_size


def check_limits(
    path: str | Path,
    *,
    source: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    max_unpacked_bytes: int | None = DEFAULT_MAX_UNPACKED_BYTES,
) -> None:
    """The cheap refusals of :func:`load`, without parsing: missing, unsupported, empty,
    too large, or a DOCX whose zip directory says it unpacks past the limit. Raises the
    same LoaderError :func:`load` would (ingest runs this before starting a parse)."""
    from .formats import check_docx_size

    path = Path(path)
    source = source if source is not None else str(path)
    _check_file(path, source, max_bytes)
    if path.suffix.lower() == ".docx" and sniff(_read_head(path, source)) == "zip":
        check_docx_size(path, source, max_unpacked_bytes)


def _read_head(path: Path, source: str, size: int = 2048) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except PermissionError as exc:
        raise UnreadableFileError(
            source, f"{source}: permission denied", hint="check the file's permissions"
        ) from exc
    except FileNotFoundError as exc:
        raise UnreadableFileError(
            source, f"{source}: the file vanished while reading", hint="check the path"
        ) from exc
    except OSError as exc:
        raise UnreadableFileError(
            source, f"{source}: cannot read the file ({exc.strerror})", hint="check the file"
        ) from exc


def _read_bytes(path: Path, source: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(
            source, f"{source}: cannot read the file ({exc.strerror})", hint="check the file"
        ) from exc


def _check_kind(suffix: str, kind: str, source: str) -> None:
    """Refuse files whose content contradicts their extension."""
    expected = {".pdf": "pdf", ".docx": "zip"}.get(suffix, "text")
    if kind == expected:
        return
    what = _DESCRIBE.get(kind, kind)
    proper = {"pdf": ".pdf", "zip": ".zip/.docx", "text": ".txt"}.get(kind)
    rename = f"rename it to {proper} if that is what it is, or " if proper else ""
    raise CorruptFileError(
        source,
        f"{source}: the extension says {suffix} but the content is {what}",
        hint=f"{rename}replace it with a real {suffix} file",
    )


def load_elements(
    path: str | Path,
    *,
    source: str | None = None,
    pdf_strategy: PdfStrategy = "auto",
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    max_unpacked_bytes: int | None = DEFAULT_MAX_UNPACKED_BYTES,
    max_elements: int | None = DEFAULT_MAX_ELEMENTS,
    warnings: list[str] | None = None,
) -> list[Element]:
    """Parse one file into unstructured elements (reading order); see :func:`load`."""
    from . import formats

    path = Path(path)
    source = source if source is not None else str(path)
    notes: list[str] = []
    _check_file(path, source, max_bytes)
    suffix = path.suffix.lower()
    _check_kind(suffix, sniff(_read_head(path, source)), source)
    if suffix == ".pdf":
        from .pdf_integrity import pdf_damage

        elements = parse_pdf(path, source=source, strategy=pdf_strategy)
        notes += [f"damaged PDF, what was indexed may be incomplete: {d}" for d in pdf_damage(path)]
    elif suffix == ".docx":
        elements = formats.parse_docx(
            path, source=source, max_unpacked_bytes=max_unpacked_bytes, max_elements=max_elements
        )
    else:
        text, encoding = decode_text(_read_bytes(path, source), source=source)
        logger.debug("%s: decoded as %s", source, encoding)
        if encoding not in CERTAIN_ENCODINGS:
            notes.append(
                f"not valid UTF-8: decoded as {encoding}, a guess; if the indexed text looks "
                "wrong, re-save the file as UTF-8"
            )
        if suffix in (".md", ".markdown"):
            elements = formats.parse_markdown(text)
        elif suffix in (".html", ".htm"):
            elements = formats.parse_html(text, source=source, max_elements=max_elements)
        elif suffix == ".csv":
            elements = formats.parse_csv(text, source=source)
        else:
            elements = formats.parse_text(text)
    for element in elements:  # decomposed Hangul / accents (common in PDFs, macOS files) -> NFC
        element.text = unicodedata.normalize("NFC", element.text)
        if element.metadata.text_as_html:
            element.metadata.text_as_html = unicodedata.normalize(
                "NFC", element.metadata.text_as_html
            )
    elements = [e for e in elements if e.text.strip()]
    if not elements:
        raise EmptyFileError(
            source, f"{source}: no text found in the file", hint="nothing to index"
        )
    _assign_ids(elements, source)
    for note in notes:  # the caller that collects warnings reports them itself
        logger.log(logging.WARNING if warnings is None else logging.DEBUG, "%s: %s", source, note)
    if warnings is not None:
        warnings.extend(notes)
    return elements


def _assign_ids(elements: list[Element], source: str) -> None:
    """Deterministic element ids: hash of source, page, position and text."""
    for index, element in enumerate(elements):
        digest = hashlib.sha256(
            f"{source}\x1f{element.metadata.page_number}\x1f{index}\x1f{element.text}".encode(
                "utf-8", "surrogatepass"
            )
        ).hexdigest()[:32]
        element._element_id = digest  # unstructured's own id_to_hash ignores the folder


def load(
    path: str | Path,
    *,
    source: str | None = None,
    pdf_strategy: PdfStrategy = "auto",
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    max_unpacked_bytes: int | None = DEFAULT_MAX_UNPACKED_BYTES,
    max_elements: int | None = DEFAULT_MAX_ELEMENTS,
    warnings: list[str] | None = None,
) -> list[Document]:
    """Load one file as Documents, one per element, in reading order.

    ``source`` defaults to the path as given. Raises a LoaderError subclass naming
    the file for anything wrong with it (missing, unreadable, too large, empty,
    unsupported, corrupt, encrypted, lying about its type). ``max_bytes`` caps the
    file's size, ``max_unpacked_bytes`` what a DOCX unpacks to, ``max_elements`` the
    elements of DOCX/HTML markup. Problems that do not stop the file (a damaged PDF
    read in part, a text encoding that had to be guessed) are appended to
    ``warnings`` when given, and logged.
    """
    path = Path(path)
    source = source if source is not None else str(path)
    elements = load_elements(
        path,
        source=source,
        pdf_strategy=pdf_strategy,
        max_bytes=max_bytes,
        max_unpacked_bytes=max_unpacked_bytes,
        max_elements=max_elements,
        warnings=warnings,
    )
    filetype = path.suffix.lower().lstrip(".")
    return [
        element_to_document(e, source=source, filename=path.name, filetype=filetype)
        for e in elements
    ]
