"""Table STRUCTURE on generated one-page PDFs shaped like real government report tables.

Each fixture (``tests/support/make_tables.py``) is parsed with the offline rules path and
the table is checked as a reader sees it:

- ``metadata.text_as_html`` is a ``<table>`` with a ``<caption>`` (caption and units
  line), header rows as ``<th>`` in ``<thead>`` with ``colspan``/``rowspan`` on spanning
  cells, body rows in ``<tbody>``;
- every column's header path (its distinct header texts from top to bottom, joined with
  " · "), read here from the html independently AND from ``loaders.elements.header_paths``;
- the body rows: a cell's lines joined with spaces, wrapped row labels as one cell, dot
  leaders dropped, section rows kept with only the first cell filled, page furniture out;
- the markdown text: the caption first, then a header row of the header paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import make_tables

pytestmark = pytest.mark.integration

BUILDERS: dict[str, Callable[[Path], Path]] = {
    "enrollment": make_tables.enrollment_pdf,
    "participation": make_tables.participation_pdf,
    "thresholds": make_tables.thresholds_pdf,
    "three_level": make_tables.three_level_pdf,
    "population": make_tables.population_pdf,
    "furniture": make_tables.furniture_pdf,
}


def _clean(text: str) -> str:
    return " ".join(text.split())


@dataclass
class HtmlTable:
    """A ``<table>`` read back by this test: spans expanded, thead and tbody apart."""

    caption: str | None
    head: list[list[str]]  # a spanning header's text in every slot it covers
    body: list[list[str]]  # a spanning body cell's text in its first slot only
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # (th text, colspan, rowspan)
    has_thead: bool = False
    has_tbody: bool = False

    def paths(self) -> list[str]:
        """Each column's distinct header texts from top to bottom, joined with " · "."""
        width = max((len(r) for r in self.head), default=0)
        out = []
        for j in range(width):
            seen: list[str] = []
            for row in self.head:
                text = row[j] if j < len(row) else ""
                if text and text not in seen:
                    seen.append(text)
            out.append(" · ".join(seen))
        return out


def _expand(trs: list[Any], repeat: bool) -> tuple[list[list[str]], list[tuple[str, int, int]]]:
    grid: dict[tuple[int, int], str] = {}
    spans = []
    for i, tr in enumerate(trs):
        j = 0
        for cell in tr.find_all(["th", "td"], recursive=False):
            while (i, j) in grid:
                j += 1
            colspan = int(cell.get("colspan", 1))
            rowspan = int(cell.get("rowspan", 1))
            text = _clean(cell.get_text(" "))
            if cell.name == "th":
                spans.append((text, colspan, rowspan))
            for di in range(rowspan):
                for dj in range(colspan):
                    first = di == 0 and dj == 0
                    grid[(i + di, j + dj)] = text if repeat or first else ""
            j += colspan
    if not grid:
        return [], spans
    n_rows = len(trs)
    width = max(c for _, c in grid) + 1
    return [[grid.get((i, j), "") for j in range(width)] for i in range(n_rows)], spans


def read_html(text_as_html: str) -> HtmlTable:
    """Parse the element's html with BeautifulSoup (not with the code under test)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text_as_html, "lxml")
    table = soup.find("table")
    assert table is not None, text_as_html
    caption = table.find("caption")
    thead, tbody = table.find("thead"), table.find("tbody")
    head, spans = _expand(thead.find_all("tr") if thead else [], repeat=True)
    body, _ = _expand(tbody.find_all("tr") if tbody else [], repeat=False)
    return HtmlTable(
        caption=_clean(caption.get_text(" ")) if caption else None,
        head=head,
        body=body,
        spans=spans,
        has_thead=thead is not None,
        has_tbody=tbody is not None,
    )


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[Any]]:
    """``parsed(name)``: the elements of fixture ``name``, built and parsed once."""
    from lcelkit.loaders.pdf import parse_pdf

    folder = tmp_path_factory.mktemp("table_structure")
    cache: dict[str, list[Any]] = {}

    def get(name: str) -> list[Any]:
        if name not in cache:
            path = BUILDERS[name](folder / f"{name}.pdf")
            cache[name] = parse_pdf(path, source=str(path), strategy="rules")
        return cache[name]

    return get


def only_table(elements: list[Any]) -> Any:
    tables = [e for e in elements if e.category == "Table"]
    assert len(tables) == 1, [e.text[:60] for e in tables]
    assert tables[0].metadata.text_as_html.lstrip().startswith("<table")
    return tables[0]


def check_structure(table: Any, expected: dict[str, Any]) -> HtmlTable:
    """The checks every fixture shares: caption, thead/tbody, header paths, body, markdown."""
    from lcelkit.loaders.elements import header_paths

    html = read_html(table.metadata.text_as_html)
    assert html.has_thead and html.has_tbody, table.metadata.text_as_html
    assert html.caption is not None and html.caption.startswith(expected["caption"])
    if "units" in expected:
        assert expected["units"] in html.caption
    assert html.paths() == expected["header_paths"]
    assert header_paths(table.metadata.text_as_html) == expected["header_paths"]
    assert html.body == expected["body"]
    lines = table.text.splitlines()
    assert lines[0].startswith(expected["caption"])
    header_row = next(line for line in lines if line.startswith("|"))
    cells = [_clean(c) for c in header_row.strip().strip("|").split("|")]
    assert cells == expected["header_paths"]
    return html


def test_stacked_spanning_header_over_unruled_body(parsed):
    expected = make_tables.ENROLLMENT_EXPECTED
    table = only_table(parsed("enrollment"))
    html = check_structure(table, expected)
    assert ("Grade", 4, 1) in html.spans  # centred over PK, K, 1, 2
    assert len(html.head) == 2
    # section rows stay rows of their own, first cell only
    assert ["Actual", "", "", "", "", ""] in html.body
    assert ["Projected", "", "", "", "", ""] in html.body


def test_multi_line_header_cells_without_rulings(parsed):
    expected = make_tables.PARTICIPATION_EXPECTED
    table = only_table(parsed("participation"))
    html = check_structure(table, expected)
    # one header row: each header cell's 2 to 4 lines are one cell, in reading order
    assert html.head == [expected["header_paths"]]
    assert html.caption == expected["caption"]


def test_ruled_grid_with_spanning_and_two_line_cells(parsed):
    expected = make_tables.THRESHOLDS_EXPECTED
    table = only_table(parsed("thresholds"))
    html = check_structure(table, expected)
    assert ("Threshold for releases", 3, 1) in html.spans
    assert ("Pollutant", 1, 2) in html.spans
    assert ("to air kg/year", 1, 1) in html.spans  # two lines, one cell
    assert ["Chlorine and inorganic compounds (as HCl)", "10 000", "-", "-"] in html.body


def test_ruled_grid_with_three_header_rows(parsed):
    expected = make_tables.THREE_LEVEL_EXPECTED
    table = only_table(parsed("three_level"))
    html = check_structure(table, expected)
    assert len(html.head) == 3
    assert ("Threshold for releases", 3, 1) in html.spans
    assert ("Pollutant", 1, 3) in html.spans


def test_dot_leaders_dropped_and_wrapped_labels_joined(parsed):
    expected = make_tables.POPULATION_EXPECTED
    table = only_table(parsed("population"))
    html = check_structure(table, expected)
    labels = [row[0] for row in html.body]
    assert "All ages" in labels and "Median age (years)" in labels
    assert "18 to 24 years, including persons in the armed forces" in labels
    assert all(row[1] for row in html.body)  # no continuation line left as an empty row
    assert ". ." not in table.text and "..." not in table.text


def test_running_header_and_page_number_stay_out(parsed):
    expected = make_tables.FURNITURE_EXPECTED
    elements = parsed("furniture")
    table = only_table(elements)
    html = check_structure(table, expected)
    assert html.caption == expected["caption"]
    cells = {cell for row in html.head + html.body for cell in row}
    assert expected["page_number"] not in cells
    for part in expected["running_header"]:
        assert part not in table.metadata.text_as_html
        assert part not in table.text
    assert len(html.body) == len(expected["body"])


def _sections(body: list[list[str]]) -> dict[str, str | None]:
    """First cell of each data row -> the section row above it (None when there is none)."""
    out: dict[str, str | None] = {}
    section = None
    for row in body:
        if not any(row[1:]):
            section = row[0]
        else:
            out[row[0]] = section
    return out


@pytest.mark.parametrize(("name", "chunk_size"), [("enrollment", 128), ("furniture", 256)])
def test_split_table_repeats_caption_and_header_paths(tmp_path: Path, name: str, chunk_size: int):
    from lcelkit.chains.embeddings import load_tokenizer
    from lcelkit.loaders import Splitter, load

    expected = getattr(make_tables, f"{name.upper()}_EXPECTED")
    splitter = Splitter(load_tokenizer(), chunk_size=chunk_size, chunk_overlap=16)
    docs = load(BUILDERS[name](tmp_path / f"{name}.pdf"), pdf_strategy="rules")
    chunks = [c for c in splitter.split(docs) if c.metadata["category"] == "Table"]
    assert len(chunks) >= 2  # the table is cut ...
    header_row = "| " + " | ".join(expected["header_paths"]) + " |"
    sections = _sections(expected["body"])
    data_rows: list[list[str]] = []
    for chunk in chunks:  # ... and every piece can be read on its own
        assert splitter.count_tokens(chunk.page_content) <= chunk_size
        lines = chunk.page_content.splitlines()
        assert lines[0].startswith(expected["caption"])
        assert header_row in lines
        section = None
        for row in read_html(chunk.metadata["text_as_html"]).body:
            if not any(row[1:]):
                section = row[0]  # a section row may be repeated as context in each piece
                continue
            assert section == sections[row[0]], (row, chunk.page_content)
            data_rows.append(row)
    assert data_rows == [row for row in expected["body"] if any(row[1:])]  # once, in order
