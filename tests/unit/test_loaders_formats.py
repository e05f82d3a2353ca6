"""Markdown, HTML, DOCX, CSV and plain-text loaders, and table rendering."""

from __future__ import annotations

from pathlib import Path

from lcelkit.loaders import load
from lcelkit.loaders.elements import parse_table_html, table_to_html, table_to_markdown
from lcelkit.loaders.formats import CSV_ROWS_PER_TABLE
from tests.support.make_docs import write_docx

MARKDOWN = """\
# Handbook

Intro paragraph with **bold** and a [link](https://example.com).

## Support

- first item
- second item
  - nested item

Table 3: Response times

| Plan | First response |
|---|---|
| Basic | 24 hours |
| Pro | 4 hours |

```python
print("hi")
```
"""


def test_markdown_elements(tmp_path: Path):
    path = tmp_path / "handbook.md"
    path.write_text(MARKDOWN)
    docs = load(path)
    kinds = [(d.metadata["category"], d.page_content.split("\n")[0]) for d in docs]
    assert kinds == [
        ("Title", "Handbook"),
        ("NarrativeText", "Intro paragraph with bold and a link."),
        ("Title", "Support"),
        ("ListItem", "first item"),
        ("ListItem", "second item"),
        ("ListItem", "nested item"),
        ("Table", "Table 3: Response times"),
        ("CodeSnippet", 'print("hi")'),
    ]
    assert docs[0].metadata["category_depth"] == 0
    assert docs[2].metadata["category_depth"] == 1
    assert docs[5].metadata["category_depth"] == 1
    table = docs[6]
    assert table.page_content == (
        "Table 3: Response times\n| Plan | First response |\n|---|---|\n"
        "| Basic | 24 hours |\n| Pro | 4 hours |"
    )
    html = table.metadata["text_as_html"]
    assert html.count("<tr>") == 3
    assert "<th>Plan</th>" in html and "<td>4 hours</td>" in html


def test_markdown_extension_variant(tmp_path: Path):
    path = tmp_path / "notes.markdown"
    path.write_text("# Notes\n\nSome text.\n")
    docs = load(path)
    assert docs[0].metadata["filetype"] == "markdown"
    assert docs[0].metadata["category"] == "Title"


HTML = """<html><head><style>p {color: red}</style><script>var x = "secret";</script></head>
<body><nav><a href="/">Home</a></nav>
<h1>FAQ</h1><p>Data is encrypted.</p>
<ul><li>Backups nightly<ul><li>kept 35 days</li></ul></li></ul>
<table><caption>Table 5: Sites</caption>
<thead><tr><th>Region</th><th>City</th></tr></thead>
<tbody><tr><td>Europe</td><td>Frankfurt</td></tr><tr><td colspan="2">Asia, Seoul</td></tr></tbody>
</table>
<div>Loose text in a div</div>
</body></html>"""


def test_html_elements(tmp_path: Path):
    path = tmp_path / "faq.htm"
    path.write_text(HTML)
    docs = load(path)
    kinds = [(d.metadata["category"], d.page_content.split("\n")[0]) for d in docs]
    assert kinds == [
        ("Title", "FAQ"),
        ("NarrativeText", "Data is encrypted."),
        ("ListItem", "Backups nightly"),
        ("ListItem", "kept 35 days"),
        ("Table", "Table 5: Sites"),
        ("NarrativeText", "Loose text in a div"),
    ]
    text = "\n".join(d.page_content for d in docs)
    assert "secret" not in text and "color" not in text and "Home" not in text
    table = docs[4]
    rows, caption, header_rows = parse_table_html(table.metadata["text_as_html"])
    assert caption == "Table 5: Sites"
    assert header_rows == 1
    assert rows == [["Region", "City"], ["Europe", "Frankfurt"], ["Asia, Seoul", ""]]


def test_docx_styles_tables_and_pages(tmp_path: Path):
    docs = load(write_docx(tmp_path / "travel.docx"))
    kinds = [(d.metadata["category"], d.page_content.split("\n")[0]) for d in docs]
    assert kinds == [
        ("Title", "Travel Policy"),
        ("Title", "Allowances"),
        ("NarrativeText", "Employees travelling abroad receive a daily allowance."),
        ("ListItem", "Book flights two weeks ahead"),
        ("ListItem", "Keep all receipts"),
        ("Table", "Table 4: Daily allowance by city"),
        ("NarrativeText", "Allowances are reviewed every year."),
    ]
    assert docs[1].metadata["category_depth"] == 0  # Heading 1
    assert [d.metadata["page_number"] for d in docs] == [1, 1, 1, 1, 1, 2, 2]
    assert "| Tokyo | 180 |" in docs[5].page_content


def test_docx_without_page_breaks_has_no_page_number(tmp_path: Path):
    docs = load(write_docx(tmp_path / "t.docx", with_page_break=False))
    assert all("page_number" not in d.metadata for d in docs)


def test_csv_becomes_tables_split_by_rows_with_header(tmp_path: Path):
    path = tmp_path / "sales.csv"
    lines = ["region;month;amount"] + [f"R{i};2024-{i % 12 + 1:02d};{i * 10}" for i in range(120)]
    path.write_text("\n".join(lines) + "\n")
    docs = load(path)
    assert len(docs) == -(-120 // CSV_ROWS_PER_TABLE)
    for doc in docs:
        assert doc.metadata["category"] == "Table"
        assert doc.page_content.startswith("| region | month | amount |\n|---|---|---|\n")
        assert "<th>region</th>" in doc.metadata["text_as_html"]
    assert "| R119 | 2024-12 | 1190 |" in docs[-1].page_content


def test_text_bullets_titles_paragraphs(tmp_path: Path):
    path = tmp_path / "memo.txt"
    path.write_text(
        "Security memo\n\n- rotate keys\n- enable MFA\n\nAll staff must comply.\nThanks.\n"
    )
    docs = load(path)
    assert [(d.metadata["category"], d.page_content) for d in docs] == [
        ("Title", "Security memo"),
        ("ListItem", "rotate keys"),
        ("ListItem", "enable MFA"),
        ("NarrativeText", "All staff must comply. Thanks."),
    ]


def test_table_rendering_markdown_and_html():
    rows = [["Name", "Note"], ["a|b", "multi\nline"], ["c", ""]]
    md = table_to_markdown(rows, caption="Table 1: Demo")
    assert md.split("\n") == [
        "Table 1: Demo",
        "| Name | Note |",
        "|---|---|",
        "| a\\|b | multi line |",
        "| c |  |",
    ]
    html = table_to_html(rows, caption="Table 1: Demo", header_rows=1)
    assert html.startswith("<table><caption>Table 1: Demo</caption><thead><tr><th>Name</th>")
    assert html.count("<tr>") == 3
    parsed, caption, header_rows = parse_table_html(html)
    assert parsed == [["Name", "Note"], ["a|b", "multi line"], ["c", ""]]
    assert caption == "Table 1: Demo" and header_rows == 1
