"""What the embedder reads of a chunk: markdown tables as their cells' text."""

from __future__ import annotations

from lcelkit.chains.embeddings import embedding_text
from lcelkit.loaders.elements import table_to_markdown


def test_table_rows_become_cell_text_without_pipes_or_separator():
    rows = [["Region", "Q1", "Q2"], ["North", "10.5", ""], ["South | East", "7", "9"]]
    markdown = table_to_markdown(rows, caption="Table 3: Sales by region")
    assert "|---|" in markdown and "\\|" in markdown  # the stored form
    assert embedding_text(markdown).split("\n") == [
        "Table 3: Sales by region",
        "Region Q1 Q2",
        "North 10.5",  # empty cells add nothing
        "South | East 7 9",  # an escaped pipe is cell text: kept, unescaped
    ]


def test_aligned_separators_and_indented_rows_are_handled():
    text = "  | a | b |\n  |:---|---:|\n  | 1 | 2 |"
    assert embedding_text(text) == "a b\n1 2"


def test_text_without_table_rows_is_unchanged():
    for text in [
        "plain prose, no pipes",
        "a shell pipe: cat x | grep y",
        "| starts with a pipe but does not end with one",
        "",
        "표 3은 지역별 매출을 보여 줍니다.",
    ]:
        assert embedding_text(text) == text
