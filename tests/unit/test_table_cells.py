"""Cells a question names (row label + column header) in retrieved table chunks."""

from __future__ import annotations

from langchain_core.documents import Document

from lcelkit.chains.table_cells import find_named_cells, format_named_cells
from lcelkit.loaders.elements import table_to_html

REVENUE = [
    ["Region", "Revenue · Q2", "Revenue · Q3", "Headcount"],
    ["North", "58", "63", "120"],
    ["North-East", "11", "12", "40"],
    ["South", "41", "47", "95"],
]
SURVEY = [
    ["Country", "Domestic (%)", "Unknown (%)", "Total (n)"],
    ["Denmark", "10.0", "77.9", "3,868"],
    ["Germany", "88.0", "5.3", "66,107"],
]
KOREAN = [["지역", "3분기 매출", "직원 수"], ["서울", "63", "120"], ["부산", "47", "95"]]


def _table(rows: list[list[str]], caption: str | None = None) -> Document:
    text = "\n".join("| " + " | ".join(r) + " |" for r in rows)  # what the model reads
    return Document(text, metadata={"text_as_html": table_to_html(rows, caption, 1)})


def test_the_cell_at_the_named_row_and_column_comes_first():
    docs = [Document("Revenue grew in all regions."), _table(REVENUE)]
    cells = find_named_cells("What was the Q3 revenue of the North region?", docs)
    assert (cells[0].passage, cells[0].row, cells[0].value) == (2, "North", "63")
    assert cells[0].column == "Revenue · Q3"  # both levels named: above "Revenue · Q2"
    assert format_named_cells(cells[:1]) == "North · Revenue · Q3 = 63 [2]"


def test_labels_match_whole_words_without_case_or_punctuation():
    cells = find_named_cells("What is Unknown(%) for denmark?", [_table(SURVEY)])
    assert [(c.row, c.value) for c in cells] == [("Denmark", "77.9")]
    # "North" is not named by "North-East" alone, and "Q3" not by "Q30"
    cells = find_named_cells("Q3 for North-East?", [_table(REVENUE)])
    assert [(c.row, c.value) for c in cells] == [("North-East", "12")]
    assert find_named_cells("What is Q30 for South?", [_table(REVENUE)]) == []


def test_a_question_naming_a_row_but_no_column_or_prose_names_no_cell():
    docs = [_table(REVENUE), Document("North region revenue was strong in Q3.")]
    assert find_named_cells("How is the North region doing?", docs) == []
    assert find_named_cells("What is Q3 for Antarctica?", docs) == []


def test_hangul_labels_match_with_particles_attached():
    cells = find_named_cells("서울의 3분기 매출은 얼마입니까?", [_table(KOREAN)])
    assert [(c.row, c.value) for c in cells] == [("서울", "63")]


def test_at_most_limit_cells_and_duplicates_once():
    docs = [_table(REVENUE), _table(REVENUE)]
    cells = find_named_cells("Revenue Q2 and Q3 for North and South?", docs, limit=10)
    assert len({(c.row, c.column, c.value) for c in cells}) == len(cells) == 4
    assert len(find_named_cells("Revenue Q2 and Q3 for North and South?", docs, limit=2)) == 2


def _matched(unit: str) -> Document:
    rows = [["Age", "Rate"], ["55–64", "340.1"]]
    meta = {"text_as_html": table_to_html(rows, None, 1), "matched_row": unit}
    return Document(page_content="| Age | Rate |", metadata=meta)


def test_a_paraphrased_question_is_pointed_at_the_row_the_retriever_matched():
    unit = "Deaths by race\nMen > 55–64 | Race · Black | no.: 4,890; Rate: 340.1; (95% CI): (1–2)"
    prose = Document(page_content="Heart disease is common.", metadata={})
    cells = find_named_cells("What was the death rate of black men in their late fifties?",
                             [prose, _matched(unit)])  # fmt: skip
    assert format_named_cells(cells) == "Men > 55–64 · Race · Black · Rate = 340.1 [2]"


def test_without_a_named_column_every_cell_of_the_matched_row_is_named():
    unit = "Men > 55–64 | Race · Black | no.: 4,890; Rate: 340.1"
    cells = find_named_cells("How about older Black men?", [_matched(unit)])
    assert [(c.column, c.value) for c in cells] == [("no.", "4,890"), ("Rate", "340.1")]


def test_cells_the_question_names_win_over_the_matched_row():
    unit = "Men > 55–64 | Race · Black | no.: 4,890; Rate: 340.1"
    cells = find_named_cells("What is the Rate for 55–64?", [_matched(unit)])
    assert format_named_cells(cells) == "55–64 · Rate = 340.1 [1]"
