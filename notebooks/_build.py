"""Generate the notebooks in this folder from the Python source below (reviewable diffs).

    python notebooks/_build.py          # rewrites notebooks/0*.ipynb, outputs stripped

Edit the cells here, not in Jupyter, then re-run this script and commit both. The
notebooks are executed top to bottom by ``tests/integration/test_notebooks.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

__all__ = ["NOTEBOOKS", "build", "main"]

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str]


def setup_cell(name: str) -> str:
    """The first code cell of every notebook: repo root, a private LCELKIT_HOME."""
    return f'''\
import os
import sys
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
# Quieter model loading (no progress bars, no hub lookups for local folders).
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def find_repo_root(start: Path) -> Path:
    """The lcelkit checkout this notebook belongs to: the folder that holds samples/."""
    for folder in (start, *start.parents):
        if (folder / "samples" / "report.pdf").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(
        f"no lcelkit checkout (samples/report.pdf) above {{start}}: "
        "open this notebook from the repository's notebooks/ folder"
    )


ROOT = find_repo_root(Path.cwd().resolve())
SAMPLES = ROOT / "samples"
# A fresh home for this notebook only: your own index (./.lcelkit or LCELKIT_HOME) is untouched.
HOME = Path(tempfile.mkdtemp(prefix="lcelkit-{name}-"))
os.environ["LCELKIT_HOME"] = str(HOME)
print(f"python:       {{sys.executable}}")
print(f"repository:   {{ROOT}}")
print(f"LCELKIT_HOME: {{HOME}}")'''


BACKEND_MD = """\
### Which LLM backend?
lcelkit talks to **Ollama** by default (`ollama serve`, then `ollama pull llama3.2`), or to a
**local Hugging Face model folder**: start Jupyter with
`LCELKIT_LLM_PROVIDER=huggingface LCELKIT_LLM_MODEL=/path/to/model-folder` (or set those
variables in `os.environ` in the cell above, before `get_settings()`).

The next cell checks the configured backend. With none, the cells that generate text say
so and are skipped; everything else (parsing, retrieval, evaluation) still runs."""

BACKEND_CELL = """\
from lcelkit.chains.llms import check_backend
from lcelkit import get_settings
from lcelkit.errors import LcelkitError

settings = get_settings()
try:
    check_backend(
        settings.llm.provider, settings.llm.model_name, base_url=settings.llm.base_url, timeout=3.0
    )
except LcelkitError as exc:
    HAVE_LLM = False
    print(f"No LLM backend: {exc.message}")
    print(f"What to do: {exc.hint}")
    print("The cells that need a model will say 'skipped'; retrieval still runs.")
else:
    HAVE_LLM = True
    where = settings.llm.base_url if settings.llm.provider == "ollama" else "local folder"
    print(f"LLM backend: {settings.llm.provider}, model {settings.llm.model_name} ({where})")"""

SHOW_TABLE = """\
def show_table(headers: list[str], rows: list[list]) -> None:
    \"\"\"Print rows as an aligned text table.\"\"\"
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))"""

INGEST_CELL = """\
from lcelkit.factories import make_embeddings, make_indexer, make_store
from lcelkit.loaders import discover

files = discover([SAMPLES])  # every supported file under samples/, recursively
embeddings = make_embeddings(settings)  # the bundled all-MiniLM-L6-v2, loaded at first use
report = make_indexer(settings, embeddings=embeddings).ingest(files)
summary = report.to_json()
print(f"{len(files)} files: {summary['files']}; chunks written: {summary['chunks']['written']}")
store = make_store(settings, embeddings)"""


# -- 01: composing chains ---------------------------------------------------------------------
NB01: list[Cell] = [
    (
        "md",
        """\
# 1. Composing LCEL chains with lcelkit

lcelkit's parts are ordinary LangChain runnables: loaders and a splitter produce
`Document`s, the indexer stores them in Chroma, retrievers are `BaseRetriever`s, and the
RAG chain is an LCEL pipeline you can `invoke`, `stream` or extend with `|`.

This notebook walks through them on the bundled `samples/` folder:
1. load and split a PDF (tables stay whole);
2. index the samples;
3. five retrieval strategies side by side on the same question;
4. an LCEL chain composed by hand, then lcelkit's RAG chain with citations and a token budget;
5. streaming tokens as they come;
6. swapping the backend by configuration only.

Runs top to bottom without an LLM (generation is then skipped) and without network.""",
    ),
    ("code", setup_cell("nb01")),
    ("md", BACKEND_MD),
    ("code", BACKEND_CELL),
    ("code", SHOW_TABLE),
    (
        "md",
        """\
## Load and split
`loaders.load` turns a file into one `Document` per element (`Title`, `NarrativeText`,
`ListItem`, `Table`...). The splitter counts in the embedder's own tokens and never merges a
table with text.""",
    ),
    (
        "code",
        """\
from lcelkit.factories import make_splitter
from lcelkit.loaders import load

elements = load(SAMPLES / "report.pdf")


def preview(text: str, width: int = 60) -> str:
    \"\"\"The start of a chunk on one line.\"\"\"
    return text[:width].replace("\\n", " ")


show_table(
    ["page", "category", "text"],
    [[d.metadata.get("page_number"), d.metadata["category"], preview(d.page_content)]
     for d in elements],
)
splitter = make_splitter(settings)
chunks = splitter.split(elements)
print(f"\\n{len(elements)} elements -> {len(chunks)} chunks, "
      f"at most {settings.split.chunk_size} embedder tokens each")
show_table(
    ["tokens", "category", "text"],
    [[splitter.count_tokens(c.page_content), c.metadata["category"], preview(c.page_content)]
     for c in chunks],
)""",
    ),
    (
        "md",
        """\
## Index the samples
The indexer is incremental: chunk ids are content hashes and a record manager remembers
what each file produced, so running this cell again writes nothing.""",
    ),
    ("code", INGEST_CELL),
    (
        "md",
        """\
## Retrievers side by side
`make_retriever(settings, store, search=...)` builds each kind. Every returned chunk carries
`metadata["score"]`: the cosine relevance for the dense kinds (`similarity`, `mmr`,
`threshold`, and a metadata `filter` on any of them), the reciprocal-rank-fusion score for
`hybrid` (dense + BM25 keywords).""",
    ),
    (
        "code",
        """\
from lcelkit.factories import make_retriever

QUESTION = "What was the Q3 revenue of the North region?"
kinds = {
    "similarity": {"search": "similarity"},
    "mmr": {"search": "mmr"},
    "threshold": {"search": "threshold"},
    "filter Table": {"search": "similarity", "filter": {"category": "Table"}},
    "hybrid": {"search": "hybrid"},
}
retrievers = {
    name: make_retriever(settings, store, embeddings=embeddings, k=3, **kw)
    for name, kw in kinds.items()
}
rows = []
for name, retriever in retrievers.items():
    for rank, doc in enumerate(retriever.invoke(QUESTION), 1):
        meta = doc.metadata
        rows.append([
            name,
            rank,
            Path(meta["source"]).name,
            meta.get("page_number") or "",
            meta["category"],
            f"{meta['score']:.3f}",
            doc.page_content[:44].replace("\\n", " "),
        ])
print(f"Question: {QUESTION}\\n")
show_table(["retriever", "rank", "file", "page", "category", "score", "text"], rows)""",
    ),
    (
        "md",
        """\
## An LCEL chain composed by hand
A retriever piped into a formatter is already a runnable; a dict of runnables feeds a prompt
from lcelkit's prompt registry (`prompts.get_prompt("rag.answer")`). Everything up to the
prompt runs without a model, so you can inspect exactly what would be sent.""",
    ),
    (
        "code",
        """\
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from lcelkit.chains.rag import format_passage
from lcelkit.prompts import get_prompt


def format_docs(docs: list) -> str:
    \"\"\"Numbered passages, as the RAG prompt expects them.\"\"\"
    return "\\n\\n".join(format_passage(doc, i) for i, doc in enumerate(docs, 1))


to_prompt = {
    "context": retrievers["hybrid"] | RunnableLambda(format_docs),
    "question": RunnablePassthrough(),
} | get_prompt("rag.answer")
for message in to_prompt.invoke(QUESTION).to_messages():
    print(f"--- {message.type}\\n{message.content[:700]}")""",
    ),
    (
        "md",
        """\
Add the model and a parser with `|`. With the tiny test model used in CI the text is
noise; a real model (e.g. `llama3.2`) answers from the passages.""",
    ),
    (
        "code",
        """\
from lcelkit.factories import make_llm

if HAVE_LLM:
    llm = make_llm(settings)
    hand_made = to_prompt | llm | StrOutputParser()
    print(hand_made.invoke(QUESTION))
else:
    llm = None
    print("skipped: no LLM backend (see the backend cell above)")""",
    ),
    (
        "md",
        """\
## lcelkit's RAG chain: budget and citations
`make_rag_chain(settings, retriever)` (from `lcelkit.factories`; the chain itself is
`chains.rag.make_rag_chain`) adds what the hand-made chain lacks: the passages are packed
into `context_window - max_new_tokens` tokens (counted with the backend's tokenizer), the
answer cites passages as `[n]`, and `sources[n-1]` says where passage `[n]` comes from.""",
    ),
    (
        "code",
        """\
from lcelkit.chains.rag import cited_indices
from lcelkit.factories import make_rag_chain

if HAVE_LLM:
    rag = make_rag_chain(settings, retrievers["hybrid"], llm=llm)
    result = rag.invoke({"question": QUESTION})
    print("Answer:", result["answer"].strip())
    print("Cited passages:", cited_indices(result["answer"]) or "none")
    for src in result["sources"]:
        name = Path(src["source"]).name
        print(f"  [{src['index']}] {name} p.{src['page']} score {src['score']:.3f}")
else:
    print("skipped: no LLM backend; the sources it would cite:")
    for i, doc in enumerate(retrievers["hybrid"].invoke(QUESTION), 1):
        meta = doc.metadata
        print(f"  [{i}] {Path(meta['source']).name} p.{meta.get('page_number')}")""",
    ),
    (
        "md",
        """\
## Streaming
`.stream()` yields the sources first (before the model is called), then the answer
token by token.""",
    ),
    (
        "code",
        """\
STREAM_QUESTION = "What is the first response time of the Pro plan?"
if HAVE_LLM:
    pieces = 0
    for chunk in rag.stream({"question": STREAM_QUESTION}):
        if "sources" in chunk:
            names = ", ".join(f"[{s['index']}] {Path(s['source']).name}" for s in chunk["sources"])
            print(f"sources: {names}\\n")
        if chunk.get("answer"):
            pieces += 1
            print(chunk["answer"], end="", flush=True)
    print(f"\\n\\n({pieces} streamed pieces)")
else:
    print("skipped: no LLM backend")""",
    ),
    (
        "md",
        """\
## Swapping the backend by configuration
Nothing above names a backend: `make_llm`, `make_embeddings`, `make_store` and
`make_retriever` read one typed `Settings` object, built from `lcelkit.toml` and `LCELKIT_*`
environment variables (the environment wins) or from arguments. Switching from Ollama to
a local Hugging Face model, or from embedded Chroma to a Chroma server, is a settings change.""",
    ),
    (
        "code",
        """\
from lcelkit.settings import Settings

ollama = get_settings(llm={"provider": "ollama", "model": "llama3.2"})
huggingface = get_settings(
    llm={"provider": "huggingface", "model": "/models/qwen2.5-1.5b-instruct"},
    store={"url": "http://127.0.0.1:8001"},
    retrieval={"search": "mmr", "k": 6},
)
for name, cfg in [("ollama", ollama), ("huggingface", huggingface)]:
    assert isinstance(cfg, Settings)
    print(f"{name:>12}: llm={cfg.llm.model_dump(include={'provider', 'model', 'base_url'})}")
    print(f"{'':>12}  store={cfg.store.model_dump()} retrieval.search={cfg.retrieval.search}")

print("\\nThe same through the environment (as the CLI and the server read it):")
env = {
    "LCELKIT_LLM_PROVIDER": "huggingface",
    "LCELKIT_LLM_MODEL": "/models/qwen2.5-1.5b-instruct",
    "LCELKIT_CHROMA_URL": "http://127.0.0.1:8001",
    "LCELKIT_RETRIEVAL__SEARCH": "mmr",
}
saved = {key: os.environ.get(key) for key in env}
os.environ.update(env)
from_env = get_settings()
for key, value in saved.items():  # put the notebook's environment back
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value
print(f"  llm.provider={from_env.llm.provider} llm.model={from_env.llm.model}")
print(f"  store.url={from_env.store.url} retrieval.search={from_env.retrieval.search}")
print(f"\\nThis notebook's backend: {settings.llm.provider} "
      f"({settings.llm.model or 'its default model'})")""",
    ),
]


# -- 02: RAG over PDFs with tables ------------------------------------------------------------
NB02: list[Cell] = [
    (
        "md",
        """\
# 2. RAG over PDFs with tables

Plain text extraction flattens a table into a stream of cells; lcelkit's PDF loader keeps
each table as one `Table` element with an HTML rendering (`metadata["text_as_html"]`) and a
markdown `page_content` that keeps every row with its header. This notebook shows the
difference on `samples/report.pdf` (a ruled and an unruled table), asks table questions with
their sources, and measures hit@k for each search kind.""",
    ),
    ("code", setup_cell("nb02")),
    ("md", BACKEND_MD),
    ("code", BACKEND_CELL),
    ("code", SHOW_TABLE),
    (
        "md",
        """\
## A table as parsed vs plain text extraction
Left: the `Table` element's HTML. Right: `pypdf`'s `extract_text()` of the same page.""",
    ),
    (
        "code",
        """\
import html

from IPython.display import HTML, display
from pypdf import PdfReader

from lcelkit.loaders import load


def side_by_side(pdf: Path, max_tables: int = 2) -> None:
    \"\"\"Each parsed table next to the plain text of its page.\"\"\"
    reader = PdfReader(pdf)
    tables = [d for d in load(pdf) if d.metadata["category"] == "Table"]
    print(f"{pdf.name}: {len(tables)} tables")
    for table in tables[:max_tables]:
        page = table.metadata["page_number"]
        plain = reader.pages[page - 1].extract_text()
        display(HTML(
            f"<h4>{html.escape(pdf.name)}, page {page}</h4>"
            "<table><tr><th>lcelkit Table element (text_as_html)</th>"
            "<th>pypdf extract_text()</th></tr><tr>"
            f"<td style='vertical-align:top'>{table.metadata['text_as_html']}</td>"
            f"<td style='vertical-align:top'><pre>{html.escape(plain)}</pre></td></tr></table>"
        ))
        print("What gets embedded for this table (page_content):")
        print(table.page_content, "\\n")


side_by_side(SAMPLES / "report.pdf")""",
    ),
    (
        "md",
        """\
### Optional: real-world table PDFs
If the repository's benchmark data is next to the checkout (`../shared/benchdata/tables`,
or `LCELKIT_TABLES_DIR`), the same view on a PDF from camelot's test suite. Skipped otherwise.""",
    ),
    (
        "code",
        """\
default_dir = ROOT.parent / "shared" / "benchdata" / "tables"
tables_dir = Path(os.environ.get("LCELKIT_TABLES_DIR", default_dir))
extra_pdf = tables_dir / "camelot_tests" / "pdfs" / "twotables_2.pdf"
if extra_pdf.is_file():
    side_by_side(extra_pdf, max_tables=1)
else:
    print(f"no benchmark tables at {tables_dir}: this optional part is not shown")""",
    ),
    ("md", "## Index the samples"),
    ("code", INGEST_CELL),
    (
        "md",
        """\
## Table questions, with their sources
Each answer sits in one table cell. Without an LLM the retrieved sources are shown alone.
With the tiny model used in CI the answer text is noise; a real model answers from the
cited table.""",
    ),
    (
        "code",
        """\
from lcelkit.factories import make_rag_chain, make_retriever

# (question, row label, column header, expected cell)
QA = [
    ("What was the Q3 revenue of the North region?", "North", "Q3", "15.2"),
    ("How many engineers work in the Berlin office?", "Berlin", "Engineers", "23"),
    ("What is the first response time of the Pro plan?", "Pro", "First response", "4 hours"),
    ("What is the daily allowance in Tokyo?", "Tokyo", "Allowance", "180"),
    ("What was the Q4 revenue of the South region?", "South", "Q4", "12.3"),
    ("How many salespeople work in the Seoul office?", "Seoul", "Sales", "17"),
    ("What is the resolution target of the Enterprise plan?", "Enterprise", "Resolution target",
     "8 hours"),
    ("What was the Q1 revenue of the East region?", "East", "Q1", "7.5"),
    ("How many support staff work in the Austin office?", "Austin", "Support", "7"),
    ("What is the daily allowance in Paris?", "Paris", "Allowance", "150"),
]
retriever = make_retriever(settings, store, embeddings=embeddings, search="hybrid", k=4)
if HAVE_LLM:
    rag = make_rag_chain(settings, retriever)  # the configured LLM, within its window
else:
    print("skipped: no LLM backend; the retrieved sources only\\n")
for question, _row, _column, expected in QA[:4] + [("해외 출장의 일비는 얼마인가요?", "", "", "")]:
    print(f"Q: {question}" + (f"   (expected: {expected})" if expected else ""))
    if HAVE_LLM:
        result = rag.invoke({"question": question})
        print(f"A: {result['answer'].strip()[:300]}")
        sources = [(s["source"], s["page"], s["score"]) for s in result["sources"]]
    else:
        sources = [
            (d.metadata["source"], d.metadata.get("page_number"), d.metadata["score"])
            for d in retriever.invoke(question)
        ]
    for n, (source, page, score) in enumerate(sources, 1):
        where = f" p.{page}" if page else ""
        print(f"   [{n}] {Path(source).name}{where}  score {score:.3f}")
    print()""",
    ),
    (
        "md",
        """\
## A small evaluation: hit@k per search kind
A question is a hit at k when one of the top-k chunks holds the answer cell **together with**
its row label and its column header (the table is answerable from that chunk alone).
No LLM is involved. Ten questions over a handful of files only illustrate the method; for
your own corpus, `lcelkit eval retrieval BEIR_DIR` reports nDCG@10, Recall@10 and MRR@10.""",
    ),
    (
        "code",
        """\
import re


def answerable(text: str, row: str, column: str, value: str) -> bool:
    \"\"\"A markdown row holds the row label and the value as cells; the header is there.\"\"\"
    cells = r"\\|(?:[^|\\n]*\\|)*?"
    row_re = re.compile(rf"\\|\\s*{re.escape(row)}\\s*{cells}\\s*{re.escape(value)}\\s*\\|")
    return column in text and any(row_re.search(line) for line in text.splitlines())


KINDS = ["similarity", "mmr", "threshold", "bm25", "hybrid"]
KS = [1, 2, 3, 4, 5]
hit_at = {kind: [] for kind in KINDS}
for kind in KINDS:
    for k in KS:
        r = make_retriever(settings, store, embeddings=embeddings, search=kind, k=k)
        hits = sum(
            any(answerable(d.page_content, row, column, value) for d in r.invoke(question))
            for question, row, column, value in QA
        )
        hit_at[kind].append(hits / len(QA))
show_table(
    ["search", *[f"hit@{k}" for k in KS]],
    [[kind, *[f"{v:.2f}" for v in hit_at[kind]]] for kind in KINDS],
)""",
    ),
    (
        "code",
        """\
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
for i, kind in enumerate(KINDS):  # shrinking markers: identical curves stay visible
    ax.plot(KS, hit_at[kind], marker="osD^v"[i], markersize=11 - 2 * i, alpha=0.8, label=kind)
ax.set_xlabel("k (chunks retrieved)")
ax.set_ylabel("hit@k")
ax.set_xticks(KS)
ax.set_ylim(0, 1.05)
ax.set_title(f"Table-cell questions on samples/ ({len(QA)} questions)")
ax.legend()
plt.show()""",
    ),
]


# -- 03: agent chat ---------------------------------------------------------------------------
NB03: list[Cell] = [
    (
        "md",
        """\
# 3. Chatting with the ReAct agent

`make_agent(settings)` builds lcelkit's conversational agent: a ReAct loop (text
`Thought / Action / Observation` for any model, native tool calling where the backend has
it) with the tools `search_documents` (over the index), `calculator` and `current_datetime`,
memory persisted per session (a running summary plus the recent turns) and a token budget
that keeps every prompt within the model's window.

`agent.invoke(...)` and `agent.chat(...)` use the model's synchronous API and are safe inside
Jupyter's running event loop; `await agent.ainvoke(...)` and `agent.astream_events(...)` work
in async cells.""",
    ),
    ("code", setup_cell("nb03")),
    ("md", BACKEND_MD),
    ("code", BACKEND_CELL),
    ("code", SHOW_TABLE),
    (
        "md",
        """\
## Index the samples and build the agent
A small context window (at most 2,048 tokens) and only three verbatim turns make the summary
memory kick in within the short chat below; in a real deployment keep the model's own window.""",
    ),
    ("code", INGEST_CELL),
    (
        "code",
        """\
from lcelkit.agents import search_documents_tool
from lcelkit.factories import make_agent, make_retriever, resolve_context_window

if HAVE_LLM:
    # At most 2,048 tokens of the model's window, and only 3 turns kept verbatim.
    window = min(2048, resolve_context_window(settings))
    chat_settings = get_settings(
        llm={"context_window": window}, agent={"recent_turns": 3, "max_steps": 3}
    )
    agent = make_agent(chat_settings)
    print(f"tools: {[t.name for t in agent.tools]}; mode: {agent.resolved_mode}")
    print(f"prompt limit: {agent.budget.limit} tokens "
          f"(window {agent.budget.context_window} - max_new_tokens {agent.budget.max_new_tokens})")
else:
    agent = None
    print("skipped: no LLM backend. The agent's search tool on its own:")
    tool = search_documents_tool(make_retriever(settings, store, embeddings=embeddings, k=2))
    print(tool.invoke({"query": "Q3 revenue of the North region"}))""",
    ),
    (
        "md",
        """\
## Tool use, step by step
The result lists each tool call with its input and observation; `stop_reason` says how the
turn ended (`answer`, `max_steps`, `timeout`, or `parse_error` when a model never produced
the expected format: the tiny CI model always does that, a real model searches the
documents).""",
    ),
    (
        "code",
        """\
SESSION = "notebook-demo"


def show_turn(result: dict) -> None:
    \"\"\"The steps of one agent turn, then its answer.\"\"\"
    for n, step in enumerate(result["steps"], 1):
        args = step["tool_input"]
        if isinstance(args, dict):
            args = ", ".join(f"{key}={value!r}" for key, value in args.items())
        print(f"step {n}: {step['tool']}({args})")
        if step["thought"]:
            print(f"   thought: {step['thought'][:200]}")
        print(f"   observation: {step['observation'][:300]}")
    print(f"answer ({result['stop_reason']}): {result['output'].strip()[:400]}")


if HAVE_LLM:
    result = agent.invoke(
        {"input": "What was the Q3 revenue of the North region? Search the documents."},
        {"configurable": {"session_id": SESSION}},
    )
    show_turn(result)
else:
    print("skipped: no LLM backend")""",
    ),
    (
        "md",
        """\
The same turn as events (an async cell: top-level `async for` works in Jupyter). Tool
calls arrive as `on_tool_start` / `on_tool_end`, answer tokens as `on_chain_stream` of the
agent's own run.""",
    ),
    (
        "code",
        """\
if HAVE_LLM:
    tokens = 0
    async for event in agent.astream_events(
        {"input": "How many engineers work in the Berlin office?"},
        {"configurable": {"session_id": SESSION}},
        version="v2",
    ):
        if event["event"] == "on_tool_start":
            print(f"\\n[tool {event['name']} <- {event['data'].get('input')}]")
        elif event["event"] == "on_tool_end":
            output = event["data"].get("output")
            print(f"[tool {event['name']} -> {getattr(output, 'content', output)!s:.400}]")
        elif event["event"] == "on_chain_stream" and not event["parent_ids"]:
            piece = event["data"]["chunk"].get("output")
            if piece:
                tokens += 1
                print(piece, end="", flush=True)
    print(f"\\n({tokens} streamed pieces)")
else:
    print("skipped: no LLM backend")""",
    ),
    (
        "md",
        """\
## Memory across cells
The session id ties turns together; memory is stored in SQLite under `LCELKIT_HOME`, so it
also survives a kernel restart. Recalling the name needs a real model.""",
    ),
    (
        "code",
        """\
if HAVE_LLM:
    print(agent.chat("My name is Mina and I manage the Berlin office.", session_id=SESSION))
else:
    print("skipped: no LLM backend")""",
    ),
    (
        "code",
        """\
if HAVE_LLM:
    print(agent.chat("What is my name, and which office do I manage?", session_id=SESSION))
    snapshot = agent.memory.load(SESSION)
    print(f"\\nsession {SESSION!r}: {snapshot.total_turns} turns stored, "
          f"{len(snapshot.turns)} kept verbatim, summary: {len(snapshot.summary)} characters")
else:
    print("skipped: no LLM backend")""",
    ),
    (
        "md",
        """\
## A long conversation: summary memory and the token budget
Fifteen turns in a fresh session. Older turns are folded into a running summary by the
model; every prompt the agent sends is counted with the backend's tokenizer and stays
under the limit. A callback records the size of each prompt the agent sends (the
summarizer's own calls are budgeted the same way but not counted here).""",
    ),
    (
        "code",
        """\
from langchain_core.callbacks import BaseCallbackHandler

from lcelkit.agents import count_prompt


class PromptSizes(BaseCallbackHandler):
    \"\"\"Records (turn, prompt tokens) for every model call the agent makes.\"\"\"

    def __init__(self, counter) -> None:
        self.counter = counter
        self.turn = 0
        self.calls: list[tuple[int, int]] = []

    def on_chat_model_start(self, serialized, messages, *, tags=None, **kwargs) -> None:
        if "agent_llm" in (tags or []):
            self.calls.append((self.turn, count_prompt(self.counter, messages[0])))


LONG_SESSION = "long-chat"
TOPICS = [
    "What was the Q3 revenue of the North region?",
    "And the South region in Q4?",
    "How many engineers work in Seoul?",
    "Which office has the most support staff?",
    "What is the daily allowance in Tokyo?",
    "And in Paris?",
    "What is the first response time of the Pro plan?",
    "What are the core working hours?",
    "How many remote days a week are allowed?",
    "Who approves overtime?",
    "What is 15.2 minus 12.3?",
    "What day is it today?",
    "Summarize what we discussed about revenue.",
    "Which plan has the fastest resolution target?",
    "Thanks! What was my first question?",
]
if HAVE_LLM:
    sizes = PromptSizes(agent.counter)
    for turn, text in enumerate(TOPICS, 1):
        sizes.turn = turn
        result = agent.invoke(
            {"input": text},
            {"configurable": {"session_id": LONG_SESSION}, "callbacks": [sizes]},
        )
        print(f"turn {turn:2d} [{result['stop_reason']}] {result['output'].strip()[:90]!r}")
    snapshot = agent.memory.load(LONG_SESSION)
    print(f"\\n{snapshot.total_turns} turns stored, {len(snapshot.turns)} kept verbatim")
    print(f"stored summary:\\n{snapshot.summary}")
else:
    sizes = None
    print("skipped: no LLM backend")""",
    ),
    (
        "code",
        """\
import matplotlib.pyplot as plt

if sizes is not None and sizes.calls:
    turns = sorted({turn for turn, _ in sizes.calls})
    per_turn = {t: [tokens for turn, tokens in sizes.calls if turn == t] for t in turns}
    show_table(
        ["turn", "model calls", "largest prompt", "tokens sent"],
        [[t, len(per_turn[t]), max(per_turn[t]), sum(per_turn[t])] for t in turns],
    )
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.bar(turns, [sum(per_turn[t]) for t in turns], color="C0", alpha=0.35,
           label="tokens sent in the turn (all calls)")
    ax.bar(turns, [max(per_turn[t]) for t in turns], color="C0", label="largest prompt")
    ax.axhline(agent.budget.limit, color="red", linestyle="--", label="prompt limit")
    ax.set_xlabel("turn")
    ax.set_ylabel("tokens")
    ax.set_xticks(turns)
    ax.set_title("Tokens sent per turn")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    plt.show()
    print(f"largest prompt: {max(t for _, t in sizes.calls)} tokens; limit {agent.budget.limit}")
else:
    print("skipped: no LLM backend")""",
    ),
]

NOTEBOOKS: dict[str, list[Cell]] = {
    "01_compose_chains.ipynb": NB01,
    "02_rag_pdf_tables.ipynb": NB02,
    "03_agent_chat.ipynb": NB03,
}


def build(cells: list[Cell]) -> nbformat.NotebookNode:
    """A notebook (no outputs) from (kind, source) pairs."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for kind, source in cells:
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    for n, cell in enumerate(nb.cells):
        cell.id = f"cell-{n:02d}"  # stable ids: rebuilding gives the same file
    return nb


def main() -> int:
    """Write every notebook next to this script."""
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), HERE / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
