"""Tables as expanded grids: spans in the html, header paths, the markdown and row-wise
forms, and how a split table repeats its caption, header paths and section rows."""

from __future__ import annotations

from lcelkit.loaders.elements import (
    header_paths,
    make_table,
    parse_table_html,
    table_to_html,
    table_to_markdown,
    table_to_rows_text,
)
from lcelkit.loaders.pdf.structure import group_labels, merge_labels, strip_leaders
from lcelkit.loaders.split import Splitter

GRID = [
    ["Year", "Total", "Grade", "Grade"],
    ["Year", "Total", "PK", "K"],
    ["Actual", "", "", ""],
    ["1996", "45,611", "670", "3,532"],
]


def test_spanning_header_cells_become_colspan_and_rowspan():
    html = table_to_html(GRID, "Table 2. Enrollment", header_rows=2)
    assert '<th rowspan="2">Year</th>' in html
    assert '<th rowspan="2">Total</th>' in html
    assert '<th colspan="2">Grade</th>' in html
    assert html.count("<thead>") == 1 and "<tbody><tr><td>Actual</td>" in html


def test_html_reads_back_as_the_same_grid_and_paths():
    html = table_to_html(GRID, "Table 2. Enrollment", header_rows=2)
    rows, caption, header_rows = parse_table_html(html)
    assert (rows, caption, header_rows) == (GRID, "Table 2. Enrollment", 2)
    assert header_paths(html) == ["Year", "Total", "Grade · PK", "Grade · K"]


def test_markdown_has_one_header_row_of_paths_and_compact_keeps_spans_once():
    markdown = table_to_markdown(GRID, "Table 2. Enrollment", header_rows=2)
    assert markdown.split("\n")[:3] == [
        "Table 2. Enrollment",
        "| Year | Total | Grade · PK | Grade · K |",
        "|---|---|---|---|",
    ]
    compact = table_to_markdown(GRID, None, header_rows=2, compact=True)
    assert compact.split("\n")[:3] == [
        "| Year | Total | Grade |  |",
        "|---|---|---|---|",
        "|  |  | PK | K |",
    ]


def test_row_wise_form_names_each_value_by_its_header_path():
    text = table_to_rows_text(GRID, "Table 2", header_rows=2)
    assert text.split("\n") == [
        "Table 2",
        "Actual",
        "1996: Total 45,611; Grade · PK 670; Grade · K 3,532",
    ]


def test_make_table_keeps_header_rows_in_html_and_markdown():
    element = make_table(GRID, caption="Table 2", header_rows=2)
    assert header_paths(element.metadata.text_as_html)[2] == "Grade · PK"
    assert "| Year | Total | Grade · PK | Grade · K |" in element.text


def test_dot_leaders_are_dropped_but_decimals_stay():
    assert strip_leaders("All ages . . . . . . . .") == "All ages"
    assert strip_leaders("Aged 6 and older.......") == "Aged 6 and older"
    assert strip_leaders("1.2.3 and 4.5") == "1.2.3 and 4.5"


def test_wrapped_row_labels_join_their_row_and_section_rows_stay():
    rows = [
        ["Male", "", ""],
        ["Chlorine and inorganic compounds", "10", "20"],
        ["(as HCl)", "", ""],
        ["Disposable income per capita in", "", ""],
        ["constant dollars", "1.4", "2.2"],
    ]
    assert merge_labels(rows) == [
        ["Male", "", ""],
        ["Chlorine and inorganic compounds (as HCl)", "10", "20"],
        ["Disposable income per capita in constant dollars", "1.4", "2.2"],
    ]


def test_rows_of_a_labelled_group_take_its_label():
    rows = [["Asthma", "Count", "31"], ["", "Percentage", "6.3%"], ["Total", "", "500"]]
    assert group_labels(rows)[1] == ["Asthma", "Percentage", "6.3%"]
    assert group_labels(rows)[2] == ["Total", "", "500"]


def _words(text: str) -> int:
    return len(text.split()) + 2


def test_split_pieces_repeat_caption_paths_and_the_current_section_row():
    body = [["Actual", "", "", ""]] + [[str(1990 + i), "1", "2", "3"] for i in range(12)]
    body += [["Projected", "", "", ""]] + [[str(2010 + i), "4", "5", "6"] for i in range(12)]
    element = make_table([*GRID[:2], *body], caption="Table 2. Enrollment", header_rows=2)
    from lcelkit.loaders.elements import element_to_document

    doc = element_to_document(element, source="t.pdf", filename="t.pdf", filetype="pdf")
    chunks = Splitter(_words, chunk_size=60, chunk_overlap=0).split([doc])
    assert len(chunks) > 3
    for chunk in chunks:
        lines = chunk.page_content.split("\n")
        assert _words(chunk.page_content) <= 60
        assert lines[0] == "Table 2. Enrollment"
        assert lines[1] == "| Year | Total | Grade · PK | Grade · K |"
        first = lines[3].split(" | ")[0].strip("| ")
        assert first in ("Actual", "Projected")  # every piece says which section it is in
        assert header_paths(chunk.metadata["text_as_html"])[2] == "Grade · PK"
    years = [
        ln.split(" | ")[0].strip("| ") for c in chunks for ln in c.page_content.split("\n")[3:]
    ]
    data = [y for y in years if y not in ("Actual", "Projected")]
    assert data == [str(1990 + i) for i in range(12)] + [str(2010 + i) for i in range(12)]
