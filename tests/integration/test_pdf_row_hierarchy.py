"""Unruled tables whose rows nest by setting (bold heading rows with totals, indented
labels) and whose group names share one rule: the row units a question is matched
against name each row under its heads, and every column keeps its group."""

from __future__ import annotations

import pytest

from tests.integration.test_pdf_table_structure import read_html
from tests.support.make_nested_rows import NESTED_ROWS_EXPECTED, nested_rows_pdf

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    from lcelkit.loaders import load

    path = nested_rows_pdf(tmp_path_factory.mktemp("nested") / "nested.pdf")
    (found,) = [d for d in load(path, pdf_strategy="rules") if d.metadata["category"] == "Table"]
    return found


def test_group_names_over_one_shared_rule_cover_all_their_columns(table):
    html = read_html(table.metadata["text_as_html"])
    assert html.paths() == NESTED_ROWS_EXPECTED["header_paths"]
    assert html.body == NESTED_ROWS_EXPECTED["body"]


def test_row_units_name_each_row_under_its_bold_head_and_indented_parent(table):
    from lcelkit.loaders import Splitter

    splitter = Splitter(
        lambda text: len(text.split()) + 2, chunk_size=400, chunk_overlap=0, row_units=True
    )
    units = [c for c in splitter.split([table]) if c.metadata["category"] == "TableRow"]
    names = {
        u.page_content.splitlines()[1].split(" | ")[0].removeprefix("Category: ") for u in units
    }
    assert names == set(NESTED_ROWS_EXPECTED["names"])
    seeing = [u.page_content for u in units if "> Difficulty seeing |" in u.page_content]
    assert any(
        "Category: Aged 15 and older > Difficulty seeing | 2010 | Number: " in text
        for text in seeing
    ), seeing
