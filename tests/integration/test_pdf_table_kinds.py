"""The kinds of table failure of issue 24, each on a generated PDF (make_*_kinds.py).

Every test states what a reader of the table sees: the caption in ``<caption>`` and not in
any header path, notes out of the grid and tied to the table, each header over its own
values, two tables side by side kept apart, a chart's labels left as text, a continued
table naming its full headers, a wide table's pieces naming their columns' group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.test_pdf_table_structure import read_html
from tests.support import make_stream_kinds, make_table_kinds

pytestmark = pytest.mark.integration


class _Kinds:
    """Both fixture modules under one name (ruled grids and charts; unruled tables)."""

    def __getattr__(self, name: str) -> Any:
        for module in (make_table_kinds, make_stream_kinds):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


kinds = _Kinds()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[Any]]:
    """``loaded(name)``: the Documents of ``make_table_kinds.<name>_pdf``, built once."""
    from lcelkit.loaders import load

    folder = tmp_path_factory.mktemp("table_kinds")
    cache: dict[str, list[Any]] = {}

    def get(name: str) -> list[Any]:
        if name not in cache:
            builder = getattr(kinds, f"{name}_pdf")
            cache[name] = load(builder(folder / f"{name}.pdf"), pdf_strategy="rules")
        return cache[name]

    return get


def _tables(docs: list[Any]) -> list[Any]:
    return [d for d in docs if d.metadata["category"] == "Table"]


def test_caption_in_the_grid_goes_to_caption_not_header(loaded):
    expected = kinds.CAPTION_IN_GRID_EXPECTED
    (table,) = _tables(loaded("caption_in_grid"))
    html = read_html(table.metadata["text_as_html"])
    assert html.caption == expected["caption"]
    assert html.paths() == expected["header_paths"]  # no path starts with the caption
    assert table.page_content.count("Exhibit 3.") == 1


def test_notes_and_sources_leave_the_grid_and_point_at_the_table(loaded):
    expected = kinds.CAPTION_IN_GRID_EXPECTED
    docs = loaded("caption_in_grid")
    (table,) = _tables(docs)
    html = read_html(table.metadata["text_as_html"])
    assert html.body == expected["body"]
    notes = [d for d in docs if d.metadata.get("parent_id")]
    assert [d.page_content for d in notes] == expected["notes"]
    assert {d.metadata["parent_id"] for d in notes} == {table.metadata["element_id"]}
    assert all(d.metadata["category"] == "NarrativeText" for d in notes)
    assert "Source:" not in table.page_content


def test_a_note_cut_into_cells_by_the_rulings_leaves_the_grid_whole(loaded):
    expected = kinds.SPREAD_NOTE_EXPECTED
    docs = loaded("spread_note")
    (table,) = _tables(docs)
    assert read_html(table.metadata["text_as_html"]).body == expected["body"]
    notes = [d for d in docs if d.metadata.get("parent_id") == table.metadata["element_id"]]
    assert [" ".join(d.page_content.split()) for d in notes] == [expected["note"]]


def test_sentences_wrapped_in_grid_cells_stay_one_row(loaded):
    expected = kinds.SENTENCE_GRID_EXPECTED
    (table,) = _tables(loaded("sentence_grid"))
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == expected["header"]
    assert html.body == expected["body"]


def test_table_beside_a_prose_column_keeps_the_prose_out(loaded):
    expected = kinds.BESIDE_PROSE_EXPECTED
    docs = loaded("beside_prose")
    (table,) = _tables(docs)
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == expected["header"]
    assert html.body == expected["body"]
    text = " ".join(d.page_content for d in docs if d.metadata["category"] != "Table")
    assert " ".join(expected["prose"].split()) in " ".join(text.split())


def test_two_numbers_set_close_together_are_two_columns(loaded):
    expected = kinds.PACKED_EXPECTED
    (table,) = _tables(loaded("packed"))
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == expected["header"]
    assert html.body == expected["body"]


def test_unruled_table_of_sentences_is_found(loaded):
    expected = kinds.DEFINITIONS_EXPECTED
    (table,) = _tables(loaded("definitions"))
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == expected["header"]
    assert html.body == expected["body"]


def test_a_header_row_of_ranges_is_header_not_data(loaded):
    expected = kinds.RANGES_EXPECTED
    (table,) = _tables(loaded("ranges"))
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == expected["header"]
    assert html.body == expected["body"]


def test_lines_of_neighbouring_header_cells_are_not_a_spanning_level(loaded):
    expected = kinds.GLUED_HEADER_EXPECTED
    (table,) = _tables(loaded("glued_header"))
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == expected["header_paths"]
    assert html.body == expected["body"]


def test_row_labels_in_spaced_text_stay_one_label(loaded):
    expected = kinds.SPACED_LABELS_EXPECTED
    (table,) = _tables(loaded("spaced_labels"))
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == expected["header"]
    assert html.body == expected["body"]


def test_header_boxes_offset_from_the_body_cells_stay_over_their_values(loaded):
    expected = kinds.STAGGERED_EXPECTED
    (table,) = _tables(loaded("staggered_grid"))
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == expected["header_paths"]
    assert html.body == expected["body"]


def test_two_tables_side_by_side_stay_two_tables(loaded):
    expected = kinds.SIDE_BY_SIDE_EXPECTED
    tables = _tables(loaded("side_by_side"))
    assert len(tables) == 2
    grids = [read_html(t.metadata["text_as_html"]) for t in tables]
    assert [g.head[-1] + [] for g in grids] == [expected["left"][0], expected["right"][0]]
    assert [g.body for g in grids] == [expected["left"][1:], expected["right"][1:]]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("chart", ["Figure 2", "1200", "Greece"]),
        ("framed_chart", ["Figure 3", "0.40", "Premature"]),
    ],
)
def test_chart_labels_are_not_a_table(loaded, name: str, words: list[str]):
    docs = loaded(name)
    assert _tables(docs) == []
    text = " ".join(d.page_content for d in docs)
    assert all(word in text for word in words)  # still readable as text


def test_continued_table_names_its_full_headers_on_the_next_page(loaded):
    expected = kinds.CONTINUED_EXPECTED
    tables = _tables(loaded("continued"))
    assert [t.metadata["page_number"] for t in tables] == [1, 2]
    second = read_html(tables[1].metadata["text_as_html"])
    assert second.paths() == expected["header_paths"]  # "Tenure" carried over "Owned"
    assert second.body == expected["second"]  # the repeated leaf row is not a body row
    assert second.caption is not None and "continued" in second.caption


def test_wide_table_pieces_name_the_group_over_their_columns():
    """A table too wide for its header paths is cut into column groups: every piece keeps
    the row labels and each of its columns' full path, group header included."""
    from lcelkit.loaders import Splitter
    from lcelkit.loaders.elements import make_table

    years = [str(y) for y in range(1995, 2015)]
    header = [
        [
            "Measure",
            *(["Median household income in constant dollars"] * 10),
            *(["Premature mortality per 100,000 population"] * 10),
        ],
        ["Measure", *years[:10], *years[:10]],
    ]
    body = [[f"State {k}", *(str(1000 + k * 37 + j) for j in range(20))] for k in range(6)]
    table = make_table([*header, *body], caption="Table 7. Inequality", header_rows=2)
    assert table is not None
    from langchain_core.documents import Document

    doc = Document(
        page_content=table.text,
        metadata={"category": "Table", "text_as_html": table.metadata.text_as_html, "source": "x"},
    )

    def words(text: str) -> int:
        return len(text.split()) + 2

    splitter = Splitter(words, chunk_size=128, chunk_overlap=0)
    chunks = splitter.split([doc])
    assert len(chunks) >= 2
    seen: set[tuple[str, str]] = set()
    for chunk in chunks:
        assert words(chunk.page_content) <= 128
        assert chunk.page_content.splitlines()[0] == "Table 7. Inequality"
        html = read_html(chunk.metadata["text_as_html"])
        for path in html.paths()[1:]:
            group, year = path.split(" · ")
            assert group in (header[0][1], header[0][11]) and year in years
        for row in html.body:
            for path, cell in zip(html.paths()[1:], row[1:], strict=True):
                seen.add((row[0], path))
                assert cell
    assert len(seen) == 6 * 20  # every value, under its full path, in some piece
