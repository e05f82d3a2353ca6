"""Token-aware chunking: unstructured's ``chunk_by_title`` for text, row-wise splits for tables.

Lengths are counted in the EMBEDDER's tokens (special tokens included), so no
chunk is silently truncated by the embedding model. Text runs go through
``chunk_by_title`` with character limits derived from the run's own
characters-per-token ratio (Korean packs about 0.5 characters per MiniLM token,
English about 4.5); anything still over ``chunk_size`` tokens is re-split with a
recursive splitter measured in tokens, using Korean-aware separators.

Tables are never merged with text. A table that fits stays one chunk; a bigger one
is split by rows, each piece repeating the caption and the header rows, with its
own ``text_as_html`` and a markdown ``page_content``.

Chunk categories: a chunk made of one element keeps that element's category; a
chunk that merges several elements is ``CompositeElement`` (unstructured's name).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lcelkit.errors import ConfigError

from .elements import (
    lift_caption,
    make_element,
    parse_table_html,
    table_to_html,
    table_to_markdown,
    table_to_rows_text,
)
from .ids import chunk_id
from .table_units import stand_in_caption, table_row_units

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from transformers import PreTrainedTokenizerBase

__all__ = ["KOREAN_SEPARATORS", "Splitter", "TableFormat", "load_and_split"]

#: How a table chunk's text is written: a markdown table under one header row of column
#: paths, or one line per row ("Austria: Domestic (%) 86.2; Imported (%) 13.8").
TableFormat = Literal["markdown", "rows"]

logger = logging.getLogger(__name__)

#: Separators for the recursive re-split, coarse to fine ("다. " ends Korean sentences).
KOREAN_SEPARATORS = ["\n\n", "\n", "다. ", ". ", "? ", "! ", "。", " ", ""]

_DROP_KEYS = {"text_as_html", "chunk_id"}


class Splitter:
    """Split loaded Documents into chunks of at most ``chunk_size`` embedder tokens."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase | Callable[[str], int],
        chunk_size: int = 256,
        chunk_overlap: int = 32,
        table_format: TableFormat = "markdown",
        row_units: bool = False,
    ) -> None:
        if chunk_size < 16:
            raise ConfigError(
                f"chunk_size={chunk_size} is too small", hint="use at least 16 tokens"
            )
        if not 0 <= chunk_overlap < chunk_size // 2:
            raise ConfigError(
                f"chunk_overlap={chunk_overlap} must be >= 0 and below chunk_size/2",
                hint=f"use a value between 0 and {chunk_size // 2 - 1}",
            )
        if table_format not in ("markdown", "rows"):
            raise ConfigError(
                f"table_format={table_format!r} is not known", hint="use 'markdown' or 'rows'"
            )
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.table_format = table_format
        self.row_units = row_units  # also emit row units (loaders.table_units) for tables
        if hasattr(tokenizer, "encode"):
            hf: Any = tokenizer

            def count(text: str) -> int:
                return len(hf(text, add_special_tokens=True, verbose=False)["input_ids"])

            self._count: Callable[[str], int] = count
            self._additive = True  # WordPiece splits on whitespace first: lines add up
        else:
            self._count = tokenizer  # type: ignore[assignment]
            self._additive = False

    def count_tokens(self, text: str) -> int:
        """Length of ``text`` in the tokenizer's tokens (special tokens included)."""
        return int(self._count(text))

    # ------------------------------------------------------------------ public

    def split(self, docs: list[Document]) -> list[Document]:
        """Chunks in reading order, each with the source metadata, ``category`` and ``chunk_id``.

        With ``row_units``, each table's pieces are followed by its row units
        (``loaders.table_units``: matched by retrievers, never shown to the model).
        """
        chunks: list[Document] = []
        run: list[Document] = []

        def flush() -> None:
            if run:
                chunks.extend(self._split_text_run(run))
                run.clear()

        above: str | None = None  # the last heading or caption-like line (row units)
        before: Document | None = None  # the element right before this one, if text
        for doc in docs:
            if run and run[-1].metadata.get("source") != doc.metadata.get("source"):
                flush()
                above = before = None
            if doc.metadata.get("category") == "Table" and doc.metadata.get("text_as_html"):
                flush()
                pieces = self._split_table(doc)
                chunks.extend(pieces)
                if self.row_units:
                    right_above = stand_in_caption(before, adjacent=True) if before else None
                    chunks.extend(
                        table_row_units(
                            doc,
                            pieces,
                            above=right_above or above,
                            count_tokens=self.count_tokens,
                            max_tokens=self.chunk_size,
                        )
                    )
                before = None
                continue
            above = stand_in_caption(doc) or above
            before = doc
            run.append(doc)
        flush()
        return chunks

    # ------------------------------------------------------------------ text

    def _split_text_run(self, docs: list[Document]) -> list[Document]:
        from unstructured.chunking.title import chunk_by_title

        by_id: dict[str, Document] = {}
        elements = []
        for index, doc in enumerate(docs):
            element = make_element(
                str(doc.metadata.get("category", "NarrativeText")),
                doc.page_content,
                page_number=doc.metadata.get("page_number"),
                category_depth=doc.metadata.get("category_depth"),
            )
            key = str(doc.metadata.get("element_id") or f"e{index}")
            element._element_id = key
            by_id[key] = doc
            elements.append(element)
        sample = "\n\n".join(d.page_content for d in docs)[:20000]
        ratio = max(0.3, len(sample) / max(1, self.count_tokens(sample)))
        max_chars = max(40, int(self.chunk_size * ratio * 0.9))
        raw_chunks = chunk_by_title(
            elements,
            max_characters=max_chars,
            new_after_n_chars=int(max_chars * 0.8),
            combine_text_under_n_chars=max(20, max_chars // 3),
            multipage_sections=True,
            include_orig_elements=True,
        )
        out: list[Document] = []
        for chunk in raw_chunks:
            origs = chunk.metadata.orig_elements or []
            first = by_id.get(origs[0].id) if origs else None
            base = dict(first.metadata) if first is not None else dict(docs[0].metadata)
            ids = [o.id for o in origs]
            if len(set(ids)) == 1 and first is not None:
                base["category"] = first.metadata.get("category", "NarrativeText")
            else:
                base["category"] = "CompositeElement"
                base["element_id"] = hashlib.sha256("\x1f".join(ids).encode()).hexdigest()[:32]
                base.pop("category_depth", None)
            for piece in self._fit_text(chunk.text):
                out.append(self._make_chunk(piece, base))
        return out

    def _fit_text(self, text: str) -> list[str]:
        text = text.strip()
        if not text:
            return []
        if self.count_tokens(text) <= self.chunk_size:
            return [text]
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(
            separators=KOREAN_SEPARATORS,
            keep_separator="end",
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
            length_function=self.count_tokens,
        )
        pieces: list[str] = []
        for piece in splitter.split_text(text):
            pieces.extend(self._force_fit(piece))
        return [p for p in pieces if p.strip()]

    def _force_fit(self, text: str) -> list[str]:
        """Halve a piece (at a space when possible) until every part fits."""
        if self.count_tokens(text) <= self.chunk_size or len(text) <= 1:
            return [text]
        middle = len(text) // 2
        cut = text.rfind(" ", 0, middle)
        cut = cut if cut > len(text) // 4 else middle
        return self._force_fit(text[:cut].strip()) + self._force_fit(text[cut:].strip())

    # ------------------------------------------------------------------ tables

    def _render(
        self,
        rows: list[list[str]],
        caption: str | None,
        header_rows: int,
        compact: bool = False,
    ) -> str:
        if self.table_format == "rows":
            return table_to_rows_text(rows, caption, header_rows)
        return table_to_markdown(rows, caption, header_rows, compact=compact)

    def _split_table(self, doc: Document) -> list[Document]:
        base = dict(doc.metadata)
        html = base.get("text_as_html")
        if (
            self.table_format == "markdown"
            and self.count_tokens(doc.page_content) <= self.chunk_size
        ):
            return [self._make_chunk(doc.page_content, base, html=html)]
        rows, caption, header_rows = lift_caption(*parse_table_html(str(html)))
        if self.table_format == "rows":
            whole = self._render(rows, caption, header_rows)
            if self.count_tokens(whole) <= self.chunk_size:
                return [self._make_chunk(whole, base, html=html)]
        header_rows = max(1, min(header_rows, len(rows) - 1)) if len(rows) > 1 else len(rows)
        header, body = rows[:header_rows], rows[header_rows:]
        # keep the repeated prefix (caption + header paths) within 3/5 of the budget: first
        # shorten the caption, then cut the table into groups of columns (each with the row
        # labels and its columns' full header paths), then drop the caption, then the
        # middle header levels (the top level and the leaves matter most), then the leaves
        limit = self.chunk_size * 3 // 5
        words = caption.split() if caption else []
        if len(words) > 17 and self._prefix_cost(header, caption) > limit:
            caption = " ".join(words[:16]) + " …"
        if self._prefix_cost(header, caption) > limit:
            groups = self._column_groups(header, body, caption, limit)
            if groups is not None:
                out = []
                for cols in groups:
                    sub_header = [[r[j] if j < len(r) else "" for j in cols] for r in header]
                    sub_body = [
                        sub
                        for sub in ([r[j] if j < len(r) else "" for j in cols] for r in body)
                        if any(sub)
                    ]
                    for piece_rows, text in self._row_pieces(sub_header, sub_body, caption):
                        piece_html = table_to_html(
                            [*sub_header, *piece_rows], caption, len(sub_header)
                        )
                        out.append(self._make_chunk(text, base, html=piece_html))
                return out
        compact = False
        while (
            header
            and self.count_tokens(self._render(header, caption, len(header), compact)) > limit
        ):
            words = caption.split() if caption else []
            if len(words) > 17:
                caption = " ".join(words[:16]) + " …"
            elif caption:
                caption = None
            elif not compact and len(header) > 1 and self.table_format == "markdown":
                compact = True  # each spanning header once instead of in every path
            elif len(header) > 2:
                del header[1]
            elif len(header) > 1:
                del header[-1]
            else:
                break
        out: list[Document] = []
        for piece_rows, text in self._row_pieces(header, body, caption, compact):
            html = table_to_html([*header, *piece_rows], caption, len(header))
            out.append(self._make_chunk(text, base, html=html))
        return out

    def _prefix_cost(self, header: list[list[str]], caption: str | None) -> int:
        return self.count_tokens(self._render(header, caption, len(header))) if header else 0

    def _column_groups(
        self, header: list[list[str]], body: list[list[str]], caption: str | None, limit: int
    ) -> list[list[int]] | None:
        """Columns in groups whose prefix (caption + the label column's and their header
        paths) fits ``limit``, each group with the label column first (the first column
        filled in half the body rows with words, and any before it); None when one column with
        the labels is already too wide, or the table has too few columns."""
        width = max((len(r) for r in header), default=0)

        def labelled(j: int) -> bool:  # filled in half the rows, mostly with words
            cells = [r[j] for r in body if j < len(r) and r[j]]
            words = sum(1 for c in cells if sum(ch.isalpha() for ch in c) > 3)
            return len(cells) * 2 >= len(body) and words * 2 >= len(cells)

        lead = next((j for j in range(min(width, 4)) if labelled(j)), 0)
        labels = list(range(lead + 1))
        if width < lead + 3:
            return None
        groups: list[list[int]] = []
        current = list(labels)
        for j in range(lead + 1, width):
            trial = [*current, j]
            cost = self._prefix_cost(
                [[r[k] if k < len(r) else "" for k in trial] for r in header], caption
            )
            if cost <= limit:
                current = trial
                continue
            if len(current) == len(labels):
                return None
            groups.append(current)
            current = [*labels, j]
            single = [[r[k] if k < len(r) else "" for k in current] for r in header]
            if self._prefix_cost(single, caption) > limit:
                return None
        groups.append(current)
        return groups if len(groups) > 1 else None

    def _row_pieces(
        self,
        header: list[list[str]],
        body: list[list[str]],
        caption: str | None,
        compact: bool = False,
    ) -> list[tuple[list[list[str]], str]]:
        prefix = self._render(header, caption, len(header), compact)
        prefix_cost = self.count_tokens(prefix)

        def render(rows: Sequence[list[str]]) -> str:
            return self._render([*header, *rows], caption, len(header), compact)

        def line_cost(row: list[str]) -> int:
            return self.count_tokens(render([row])) - prefix_cost

        pieces: list[tuple[list[list[str]], str]] = []
        current: list[list[str]] = []
        cost = prefix_cost
        section: list[str] | None = None  # the last label-only row ("Male", "Actual")
        for row in body:
            if len(row) > 1 and row[0] and not any(row[1:]):
                section = row
            row_cost = line_cost(row)
            if prefix_cost + row_cost > self.chunk_size:
                if current:
                    pieces.append((current, render(current)))
                    current, cost = [], prefix_cost
                pieces.extend(self._oversized_row(row, prefix, header, render))
                continue
            if current and cost + row_cost > self.chunk_size:
                pieces.append((current, render(current)))
                current, cost = [], prefix_cost
            if not current and section is not None and row is not section:
                # a piece that starts inside a section repeats the section row
                section_cost = line_cost(section)
                if prefix_cost + section_cost + row_cost <= self.chunk_size:
                    current.append(section)
                    cost += section_cost
            current.append(row)
            cost += row_cost
        if current:
            pieces.append((current, render(current)))
        # the additive estimate is exact for WordPiece; verify anyway for other counters
        checked: list[tuple[list[list[str]], str]] = []
        for rows, text in pieces:
            if self.count_tokens(text) <= self.chunk_size or len(rows) <= 1:
                checked.append((rows, text))
            else:
                half = len(rows) // 2
                checked.extend(self._row_pieces(header, rows[:half], caption, compact))
                checked.extend(self._row_pieces(header, rows[half:], caption, compact))
        return checked

    def _oversized_row(
        self,
        row: list[str],
        prefix: str,
        header: list[list[str]],
        render: Callable[[Sequence[list[str]]], str],
    ) -> list[tuple[list[list[str]], str]]:
        """One row too long for a chunk: its values in groups of columns, each group a row
        of its own that keeps the row label, behind the prefix; a single value still too
        long is cut as text."""
        groups: list[list[str]] = []
        current: list[str] | None = None
        for j in range(1, len(row)):
            if not row[j]:
                continue
            trial = list(current) if current is not None else [row[0]] + [""] * (len(row) - 1)
            trial[j] = row[j]
            if current is not None and self.count_tokens(render([trial])) > self.chunk_size:
                groups.append(current)
                trial = [row[0]] + [""] * (len(row) - 1)
                trial[j] = row[j]
            current = trial
        if current is not None:
            groups.append(current)
        out: list[tuple[list[list[str]], str]] = []
        for sub in groups or [row]:
            text = render([sub])
            if self.count_tokens(text) <= self.chunk_size:
                out.append(([sub], text))
                continue
            line = text.split("\n")[-1] if header else " | ".join(sub)
            budget = max(8, self.chunk_size - self.count_tokens(prefix))
            inner = Splitter(self._count, chunk_size=max(16, budget), chunk_overlap=0)
            for part in inner._fit_text(line):
                piece = f"{prefix}\n{part}"
                for fitted in (
                    self._force_fit(piece)
                    if self.count_tokens(piece) > self.chunk_size
                    else [piece]
                ):
                    out.append(([sub], fitted))
        return out

    # ------------------------------------------------------------------ common

    def _make_chunk(self, text: str, base: dict[str, Any], html: Any = None) -> Document:
        from langchain_core.documents import Document

        metadata = {k: v for k, v in base.items() if k not in _DROP_KEYS and v is not None}
        if html:
            metadata["text_as_html"] = html
        source = str(metadata.get("source", ""))
        page = metadata.get("page_number")
        metadata["chunk_id"] = chunk_id(source, text, page)
        return Document(page_content=text, metadata=metadata)


def load_and_split(path: str | Path, splitter: Splitter, **load_kwargs: Any) -> list[Document]:
    """``load(path, **load_kwargs)`` then ``splitter.split``."""
    from .files import load

    return splitter.split(load(path, **load_kwargs))
