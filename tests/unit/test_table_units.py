"""Row units (loaders/table_units.py): what a table row is matched by, and which piece it
hands back."""

from __future__ import annotations

from langchain_core.documents import Document

from lcelkit.loaders import Splitter
from lcelkit.loaders.elements import table_to_html
from lcelkit.loaders.table_units import (
    ROW_UNIT_CATEGORY,
    row_names,
    row_units,
    stand_in_caption,
    table_row_units,
)


def words(text: str) -> int:
    return len(text.split())


def test_a_section_row_names_the_rows_under_it_until_the_next():
    rows = [["Men", "", ""], ["55–64", "1", "2"], ["65–74", "3", "4"],
            ["Women", "", ""], ["55–64", "5", "6"]]  # fmt: skip
    assert row_names(rows) == [None, "Men > 55–64", "Men > 65–74", None, "Women > 55–64"]


def test_a_label_that_repeats_is_named_with_the_row_above_it_that_does_not():
    rows = [["All ages", "9", "9"], ["Severe disability", "1", "2"],
            ["Aged 65 and older", "8", "8"], ["Severe disability", "3", "4"]]  # fmt: skip
    assert row_names(rows) == [
        "All ages",
        "All ages > Severe disability",
        "Aged 65 and older",
        "Aged 65 and older > Severe disability",
    ]


def test_a_plain_title_line_right_above_a_table_names_its_units():
    title = Document(
        page_content="Correlation coefficients of spread and yield differences",
        metadata={"category": "NarrativeText", "source": "r.pdf"},
    )
    ticks = Document(page_content="0 500 1.000 1.500 2.000", metadata=title.metadata)
    cut = Document(page_content="54.4 million people in 2005, when", metadata=title.metadata)
    assert stand_in_caption(title) is None  # not as a heading further up
    assert stand_in_caption(title, adjacent=True) == title.page_content
    assert stand_in_caption(ticks, adjacent=True) is None
    assert stand_in_caption(cut, adjacent=True) is None
    table = _table([["Quarter", "Portugal"], ["Q1 2010", "0.64"]], caption=None)
    splitter = Splitter(words, chunk_size=200, chunk_overlap=0, row_units=True)
    prose = Document(page_content="An analysis follows.", metadata=title.metadata)
    for docs, first in (([title, table], title.page_content), ([title, prose, table], None)):
        chunks = splitter.split(docs)
        unit = next(c for c in chunks if c.metadata["category"] == ROW_UNIT_CATEGORY)
        lines = unit.page_content.splitlines()
        assert (lines[0] if len(lines) > 1 else None) == first


def test_levels_from_the_pdf_nest_rows_and_a_section_row_heads_its_own_level():
    rows = [["Total", "9", "9"], ["Men", "", ""], ["55–64", "1", "2"], ["Severe", "0", "1"],
            ["Women", "", ""], ["55–64", "5", "6"], ["Total", "7", "7"]]  # fmt: skip
    levels = [0, 2, 2, 4, 2, 2, 0]
    assert row_names(rows, levels) == [
        "Total", None, "Total > Men > 55–64", "Total > Men > 55–64 > Severe",
        None, "Total > Women > 55–64", "Total",
    ]  # fmt: skip
    # a labelled row without a level: the grid alone decides, as without levels
    assert row_names(rows, [0, 2, None, 4, 2, 2, 0]) == row_names(rows)


def test_levels_survive_the_html_of_the_table():
    from lcelkit.loaders.elements import parse_table_html, row_levels_of

    grid = [["Age", "Number"], ["Men", ""], ["55–64", "1"], ["Note: rounded", ""]]
    html = table_to_html(grid, "Table 1", 1, [("Men", 1), ("55–64", 2)])
    rows, _, header_rows = parse_table_html(html)
    assert rows == grid  # the grid reads back unchanged
    assert row_levels_of(html)[header_rows:] == [1, 2, None]
    assert row_levels_of(table_to_html(grid, "Table 1", 1)) is None  # no levels at all


def test_each_column_group_makes_its_own_unit_with_the_caption_and_the_row_name():
    headers = ["Age", "2005 · Number", "2005 · Percent", "2010 · Number", "2010 · Percent"]
    units = row_units("Severe disability", ["Severe disability", "10", "1.5", "12", "1.7"],
                      headers, "Table 1. Disability by age")  # fmt: skip
    assert units == [
        "Table 1. Disability by age\nAge: Severe disability | 2005 | Number: 10; Percent: 1.5",
        "Table 1. Disability by age\nAge: Severe disability | 2010 | Number: 12; Percent: 1.7",
    ]


def test_the_label_columns_header_names_the_row_once():
    # a corner cell that names the table's subject ("Air passengers rights" over the
    # countries) is in every unit; a header the row name already holds is not repeated
    units = row_units("Spain", ["Spain", "268"], ["Air passengers rights", "Enquiries"], None)
    assert units == ["Air passengers rights: Spain | Enquiries: 268"]
    assert row_units("Age 5", ["Age 5", "3"], ["Age", "Count"], None) == ["Age 5 | Count: 3"]
    assert row_units("x", ["x", "3"], ["", "Count"], None) == ["x | Count: 3"]


def test_a_row_too_long_for_the_embedder_is_cut_by_columns_keeping_its_name():
    headers = ["Item"] + [f"Column {i}" for i in range(1, 41)]
    row = ["Widgets"] + [str(i) for i in range(1, 41)]
    units = row_units("Widgets", row, headers, "Caption", count_tokens=words, max_tokens=30)
    assert len(units) > 1
    assert all(words(u) <= 30 for u in units)
    assert all(u.startswith("Caption\nItem: Widgets | ") for u in units)
    assert "Column 40: 40" in units[-1] and "Column 1: 1;" in units[0]


def test_a_row_without_values_makes_no_unit():
    assert row_units("Note", ["Note", "", ""], ["", "A", "B"], None) == []


def _table(rows, caption="Table 7. Deaths by age", source="r.pdf"):
    html = table_to_html(rows, caption, 1)
    meta = {"source": source, "page_number": 2, "category": "Table", "text_as_html": html,
            "element_id": "t7", "filename": "r.pdf"}  # fmt: skip
    return Document(page_content="\n".join(" | ".join(r) for r in rows), metadata=meta)


def test_units_of_a_split_table_point_at_the_piece_that_holds_their_row():
    rows = [["Age", "Rate"]] + [[f"{a}–{a + 9}", f"{a * 3}.5"] for a in range(0, 300, 10)]
    table = _table(rows)
    splitter = Splitter(words, chunk_size=40, chunk_overlap=0, row_units=True)
    chunks = splitter.split([table])
    pieces = [c for c in chunks if c.metadata["category"] == "Table"]
    units = [c for c in chunks if c.metadata["category"] == ROW_UNIT_CATEGORY]
    assert len(pieces) > 1 and len(units) == len(rows) - 1
    by_id = {p.metadata["chunk_id"]: p for p in pieces}
    for unit in units:
        label = unit.page_content.split("\n")[1].split(" | ")[0]
        assert label.startswith("Age: ")  # the label column's header names the row
        assert (
            f"| {label.removeprefix('Age: ')} |" in by_id[unit.metadata["parent_id"]].page_content
        )
        assert unit.page_content.startswith("Table 7. Deaths by age\n")
        assert unit.metadata["source"] == "r.pdf" and unit.metadata["page_number"] == 2
        assert "text_as_html" not in unit.metadata
        assert unit.metadata["chunk_id"] not in by_id
    # the same table again gives the same ids (incremental ingest skips them)
    again = splitter.split([_table(rows)])
    assert {c.metadata["chunk_id"] for c in again if c.metadata["category"] == ROW_UNIT_CATEGORY} \
        == {u.metadata["chunk_id"] for u in units}  # fmt: skip


def test_units_of_a_table_cut_by_columns_point_at_the_piece_showing_their_values():
    # Twelve columns cut between pieces by columns as well as rows, and the same age
    # labels under "Men" and "Women": each unit must hand back a piece that shows all its
    # own cells (no unit spans a cut), not the first piece with its label.
    head = ["Age group"] + [f"{g} {m}" for g in ("Black", "White", "Asian")
                            for m in ("no.", "Rate", "CI low", "CI high")]  # fmt: skip
    rows = [head]
    for section, base in (("Men", 100), ("Women", 500)):
        rows.append([section] + [""] * 12)
        rows += [[f"{a}–{a + 9}"] + [f"{base + a}.{j}" for j in range(12)] for a in (45, 55)]
    chunks = Splitter(words, chunk_size=60, chunk_overlap=0, row_units=True).split([_table(rows)])
    by_id = {c.metadata["chunk_id"]: c for c in chunks if c.metadata["category"] == "Table"}
    units = [c for c in chunks if c.metadata["category"] == ROW_UNIT_CATEGORY]
    assert len({p.page_content.split("\n")[1] for p in by_id.values()}) > 1  # cut by columns
    assert len(units) >= 4 * 3
    for unit in units:
        line = unit.page_content.split("\n")[1]
        values = [cell.split(": ")[1] for cell in line.split(" | ")[1].split("; ")]
        parent = by_id[unit.metadata["parent_id"]].page_content
        assert all(f"| {v} |" in parent for v in values), (line, parent)
    women = next(u for u in units if "Asian Rate: 555.9" in u.page_content)
    assert "Age group: Women > 55–64 | " in women.page_content


def test_without_row_units_the_splitter_emits_only_pieces():
    rows = [["Age", "Rate"], ["0–9", "1.5"]]
    chunks = Splitter(words, chunk_size=40, chunk_overlap=0).split([_table(rows)])
    assert [c.metadata["category"] for c in chunks] == ["Table"]


def test_a_table_folded_side_by_side_makes_one_unit_per_label():
    rows = [["Age", "Population", "Age", "Population"],
            ["5 years", "3,162,691", "45 years", "2,242,318"]]  # fmt: skip
    table = _table(rows, caption="Table A.2: population by single year of age")
    pieces = Splitter(words, chunk_size=200, chunk_overlap=0).split([table])
    units = table_row_units(table, pieces)
    assert [u.page_content.split("\n")[1] for u in units] == [
        "Age: 5 years | Population: 3,162,691",
        "Age: 45 years | Population: 2,242,318",
    ]


def test_a_heading_or_caption_line_stands_in_for_a_missing_caption():
    heading = Document(
        page_content="Mean absolute percentage errors", metadata={"category": "Title"}
    )
    caption = Document(
        page_content="Exhibit 3. Costs\nmore text", metadata={"category": "NarrativeText"}
    )
    prose = Document(
        page_content="The projections were adjusted.", metadata={"category": "NarrativeText"}
    )
    assert stand_in_caption(heading) == "Mean absolute percentage errors"
    assert stand_in_caption(caption) == "Exhibit 3. Costs"
    assert stand_in_caption(prose) is None
    rows = [["Item", "Value"], ["Teachers", "5.9"]]
    table = _table(rows, caption=None)
    splitter = Splitter(words, chunk_size=200, chunk_overlap=0, row_units=True)
    title = Document(
        page_content=heading.page_content, metadata={**heading.metadata, "source": "r.pdf"}
    )
    chunks = splitter.split([title, table])
    unit = next(c for c in chunks if c.metadata["category"] == ROW_UNIT_CATEGORY)
    assert unit.page_content == "Mean absolute percentage errors\nItem: Teachers | Value: 5.9"
