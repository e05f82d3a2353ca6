"""Where tables are on a page: ruled grids and blocks of aligned text lines.

* Ruled tables: pdfplumber's table finder with the ``lines`` strategy; each grid cell's
  text comes from the page's words (lines joined by newlines); unframed first/last
  columns next to the grid are added; a spanning cell is reported once with ``None``
  in the slots it covers.
* Unruled ("stream") tables: text lines whose words fall into two or more
  whitespace-separated segments, several in a row.
"""

from __future__ import annotations

from typing import Any

from .words import Line, group_lines, join_words

__all__ = [
    "COVERED_FROM_LEFT",
    "COVERED_FROM_TOP",
    "inside",
    "is_table_line",
    "over_plot",
    "plot_boxes",
    "prose_like",
    "ruled_tables",
    "stream_blocks",
]

#: Grid slots covered by a spanning cell, by where the cell lies (left, above).
COVERED_FROM_LEFT = "\x00<"
COVERED_FROM_TOP = "\x00^"


def is_table_line(line: Line) -> bool:
    """Two or more segments that are not two runs of prose side by side."""
    if len(line.segments) < 2:
        return False
    lengths = [sum(len(w["text"]) + 1 for w in seg) for seg in line.segments]
    # two long runs of prose side by side are a two-column layout, not a table row
    return not (len(lengths) == 2 and min(lengths) > 45)


def stream_blocks(lines: list[Line]) -> list[tuple[int, int]]:
    """Index ranges [start, end) of lines that form an unruled table."""
    blocks: list[tuple[int, int]] = []
    i = 0
    n = len(lines)
    while i < n:
        if not is_table_line(lines[i]):
            i += 1
            continue
        start = i
        end = i + 1
        multi = 1
        j = i + 1
        while j < n:
            height = max(lines[j - 1].bottom - lines[j - 1].top, 1.0)
            if lines[j].top - lines[j - 1].bottom > 2.5 * height:
                break
            if is_table_line(lines[j]):
                multi += 1
                end = j + 1
                j += 1
                continue
            # allow up to two single-segment lines inside a table (wrapped cells, labels)
            k = j
            while k < n and k < j + 2 and not is_table_line(lines[k]):
                k += 1
            if k < n and is_table_line(lines[k]) and k - j <= 2:
                h2 = max(lines[k - 1].bottom - lines[k - 1].top, 1.0)
                if lines[k].top - lines[k - 1].bottom <= 2.5 * h2:
                    j = k
                    continue
            break
        if multi >= 3:
            blocks.append((start, end))
        i = end
    return blocks


def _short(cell: str) -> bool:
    """A name or a label: at most four words, at least two letters (not a bullet)."""
    return len(cell.split()) <= 4 and len(cell) <= 40 and sum(ch.isalpha() for ch in cell) >= 2


def prose_like(rows: list[list[str]], header: list[list[str]] | None = None) -> bool:
    """Long runs of words in most cells of two or three columns: wrapped paragraphs side
    by side, not a table (four or more columns of text are a table of text). Sentences
    under a header row of short names, one per column, with short row labels ("Term |
    Definition | Example") are a table of text too."""
    cells = [c for row in rows for c in row if c]
    if not cells:
        return True
    if max(len(row) for row in rows) >= 4:
        return False
    if header and rows:
        names = header[-1]
        labelled = [row for row in rows if _short(row[0]) and any(row[1:])]
        if (
            len(names) >= 2
            and all(_short(name) for name in names)
            and len(set(names)) == len(names)
            and len(labelled) >= 3
            and len(labelled) * 3 >= len(rows) * 2
        ):
            return False
    words = sum(1 for c in cells for w in c.split() if sum(ch.isalnum() for ch in w) >= 2)
    return words / len(cells) > 5


def inside(word: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    """True when the word's centre lies in ``bbox`` (1 pt of slack)."""
    cx = (word["x0"] + word["x1"]) / 2
    cy = (word["top"] + word["bottom"]) / 2
    return bbox[0] - 1 <= cx <= bbox[2] + 1 and bbox[1] - 1 <= cy <= bbox[3] + 1


def ruled_tables(
    page: Any, words: list[dict[str, Any]]
) -> list[tuple[tuple[float, float, float, float], list[list[str | None]], set[int]]]:
    """Ruled grids: (bbox, rows of cell texts, ids of the words used) for each table."""
    settings = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}
    found = []
    tables = page.find_tables(table_settings=settings)
    boxes = [tuple(t.bbox) for t in tables]
    for index, table in enumerate(tables):
        # words inside another grid are that grid's: never a side column of this one
        others = [b for k, b in enumerate(boxes) if k != index]
        free = [w for w in words if not any(inside(w, b) for b in others)] if others else words
        rows, glued, assigned = _cell_texts(table, words)
        if len(rows) < 2 or max((len(r) for r in rows), default=0) < 2:
            continue
        filled = sum(1 for r in rows for c in r if c and c.strip() and c[0] != "\x00")
        if filled < 3:
            continue
        # background rectangles (shaded rows) look like rulings to the lines strategy but
        # give one "cell" per row that holds several columns: the text path does better
        if glued * 10 >= filled:
            continue
        rows, used = _side_columns(table, rows, free)
        split = _split_stacked_rows(rows)
        if len(split) >= len(rows) + 3:
            # a frame around rows without rulings between them: the grid says little
            # about the rows, the text lines say more (the unruled path takes them)
            continue
        found.append((tuple(table.bbox), split, used | assigned))
    return found


def _cell_texts(
    table: Any, words: list[dict[str, Any]]
) -> tuple[list[list[str | None]], int, set[int]]:
    """Text of each grid cell from the page's words (lines joined by newlines), the
    number of cells whose text falls into three or more whitespace-separated runs, and
    the ids of the words used.

    A slot covered by a merged neighbour is :data:`COVERED_FROM_LEFT` or
    :data:`COVERED_FROM_TOP` (pdfplumber reports it as ``None``).
    A word inside the table's box but in no cell (a ruling missing at the edge) joins
    the nearest cell of its row.
    """
    bbox = table.bbox  # a property that scans every cell: read it once
    within = [w for w in words if inside(w, bbox)]
    per_row: list[tuple[list[dict[str, Any]], list[list[dict[str, Any]] | None], Any]] = []
    placed: set[int] = set()
    # a word whose centre lies inside some row's band is read in that row only, not also
    # in the next row through the 1 pt of slack (it would be read twice)
    bands = [row.bbox for row in table.rows]
    strict: dict[int, set[int]] = {}
    for w in within:
        cy = (w["top"] + w["bottom"]) / 2
        strict[id(w)] = {i for i, b in enumerate(bands) if b[1] <= cy <= b[3]}
    for index, row in enumerate(table.rows):
        band = [
            w
            for w in within
            if row.bbox[1] - 1 <= (w["top"] + w["bottom"]) / 2 <= row.bbox[3] + 1
            and (not strict[id(w)] or index in strict[id(w)])
        ]
        groups: list[list[dict[str, Any]] | None] = [
            None if cell is None else [w for w in band if inside(w, cell) and id(w) not in placed]
            for cell in row.cells
        ]
        placed.update(id(w) for g in groups if g for w in g)
        per_row.append((band, groups, row))
    centers: dict[int, float] = {}
    for _band, _groups, row in per_row:
        for j, cell in enumerate(row.cells):
            if cell is not None and j not in centers:
                centers[j] = (cell[0] + cell[2]) / 2
    rows: list[list[str | None]] = []
    assigned: set[int] = set(placed)
    glued = 0
    for band, groups, row in per_row:
        boxes = [(i, c) for i, c in enumerate(row.cells) if c is not None]
        for word in band:
            if id(word) in assigned or not boxes:
                continue
            cx = (word["x0"] + word["x1"]) / 2
            index, _ = min(boxes, key=lambda ic: min(abs(cx - ic[1][0]), abs(cx - ic[1][2])))
            groups[index].append(word)  # type: ignore[union-attr]
            assigned.add(id(word))
        cells: list[str | None] = []
        for j, group in enumerate(groups):
            if group is None:
                left = next((c for c in reversed(row.cells[:j]) if c is not None), None)
                spans_left = left is not None and left[2] > centers.get(j, left[2] + 1)
                cells.append(COVERED_FROM_LEFT if spans_left else COVERED_FROM_TOP)
                continue
            if not group:
                cells.append("")
                continue
            lines = group_lines(group)
            if any(len(line.segments) >= 3 for line in lines):
                glued += 1
            cells.append("\n".join(line.text for line in lines))
        rows.append(cells)
    return rows, glued, assigned


def _side_columns(
    table: Any, rows: list[list[str | None]], words: list[dict[str, Any]]
) -> tuple[list[list[str | None]], set[int]]:
    """Add the unframed first/last column of a grid (row labels left of the rulings)."""
    x0, top, x1, bottom = table.bbox
    bands = [row.bbox for row in table.rows]
    if len(bands) != len(rows):
        return rows, set()
    left: list[list[dict[str, Any]]] = [[] for _ in rows]
    right: list[list[dict[str, Any]]] = [[] for _ in rows]
    for word in words:
        cy = (word["top"] + word["bottom"]) / 2
        if not top <= cy <= bottom:
            continue
        for index, band in enumerate(bands):
            if band[1] <= cy <= band[3]:
                if word["x1"] <= x0 + 1:
                    left[index].append(word)
                elif word["x0"] >= x1 - 1:
                    right[index].append(word)
                break
    # a side cell is the run of words next to the grid (within 150 pt of it), as far as
    # the words go on without a gap wider than about two ems: a long label stays whole
    left = [_run(cell, x0, toward_grid=True) for cell in left]
    right = [_run(cell, x1, toward_grid=False) for cell in right]
    need = max(2, len(rows) * 3 // 10)
    out = [list(r) for r in rows]
    used: set[int] = set()
    if sum(1 for cell in left if cell) >= need:
        out = [[join_words(cell), *row] for cell, row in zip(left, out, strict=True)]
        used.update(id(w) for cell in left for w in cell)
    # an unframed column on the right holds values (numbers); words there that are not
    # (a chart's legend, the labels of a table beside this one) stay out
    numeric_right = sum(
        1 for cell in right if cell and any(ch.isdigit() for ch in join_words(cell))
    )
    if sum(1 for cell in right if cell) >= need and numeric_right * 2 >= sum(1 for c in right if c):
        out = [[*row, join_words(cell)] for cell, row in zip(right, out, strict=True)]
        used.update(id(w) for cell in right for w in cell)
    return out, used


def _run(words: list[dict[str, Any]], edge: float, *, toward_grid: bool) -> list[dict[str, Any]]:
    """The words of one side cell: starting at the word nearest the grid's ``edge``
    (at most 150 pt away), away from the grid while the gaps stay under ~2 em."""
    if not words:
        return []
    ordered = sorted(words, key=lambda w: -w["x1"] if toward_grid else w["x0"])
    first = ordered[0]
    if (edge - first["x1"] if toward_grid else first["x0"] - edge) >= 150:
        return []
    kept = [first]
    for word in ordered[1:]:
        prev = kept[-1]
        gap = prev["x0"] - word["x1"] if toward_grid else word["x0"] - prev["x1"]
        if gap > 2.0 * max(float(prev.get("size") or 0.0), 4.0):
            break
        kept.append(word)
    return kept


def _numeric_line(text: str) -> bool:
    return any(ch.isdigit() for ch in text) and sum(ch.isalpha() for ch in text) <= 3


def _split_stacked_rows(rows: list[list[str | None]]) -> list[list[str | None]]:
    """Split a grid row whose cells each stack several lines (a grid with few horizontal
    rulings: one "cell" holds a whole column of values) into one row per line."""
    out: list[list[str | None]] = []
    for index, row in enumerate(rows):
        parts = [c.split("\n") if c and c[0] != "\x00" else [] for c in row]
        counts = [len(p) for p in parts if p]
        depth = max(counts, default=0)
        full = sum(1 for n in counts if n == depth)
        # a column of values stacked in one cell has numbers on its lines; cells whose
        # lines are all words are wrapped sentences of one row
        numeric_column = any(
            len(p) == depth and sum(1 for x in p if _numeric_line(x)) * 2 >= depth for p in parts
        )
        if index == 0 or depth < 3 or full < 2 or full * 2 < len(counts) or not numeric_column:
            out.append(row)
            continue
        for line in range(depth):
            out.append(
                [
                    (p[line] if len(p) == depth else ("\n".join(p) if line == 0 else ""))
                    for p in parts
                ]
            )
    return out


#: A drawn path with at least this many points is a plotted series (a chart's line).
PLOT_POINTS = 30


def plot_boxes(page: Any) -> list[tuple[float, float, float, float]]:
    """Boxes of the page's plotted series: paths of many points (a chart's lines), and
    framed plot areas with axis ticks. The labels around them (tick labels, legends) line
    up like a table but are not one."""
    out = []
    for curve in page.curves:
        if len(curve.get("pts") or ()) >= PLOT_POINTS:
            out.append((curve["x0"], curve["top"], curve["x1"], curve["bottom"]))
    # a framed plot area: a box with axis ticks (short strokes, at most 5 pt, standing out
    # from its left or bottom edge), whatever draws the data (an image, markers)
    short = [
        line
        for line in page.lines
        if max(line["x1"] - line["x0"], line["bottom"] - line["top"]) <= 5.0
    ]
    if len(short) >= 4:
        for rect in page.rects:
            x0, top, x1, bottom = rect["x0"], rect["top"], rect["x1"], rect["bottom"]
            if x1 - x0 < 40 or bottom - top < 30:
                continue
            ticks = sum(
                1
                for t in short
                if (abs(t["x1"] - x0) <= 1.0 and top - 1 <= t["top"] <= bottom + 1)
                or (abs(t["top"] - bottom) <= 1.0 and x0 - 1 <= t["x0"] <= x1 + 1)
            )
            if ticks >= 4:
                out.append((x0, top, x1, bottom))
    return out


def over_plot(block: list[Line], plots: list[tuple[float, float, float, float]]) -> bool:
    """True when half or more of the block's lines sit beside or across a plotted series
    (inside its box widened by 15% on each side: axis labels lie just outside it)."""
    if not plots:
        return False
    near = 0
    for line in block:
        cy = (line.top + line.bottom) / 2
        for x0, top, x1, bottom in plots:
            dx, dy = 0.15 * (x1 - x0) + 20, 0.15 * (bottom - top) + 12
            if x0 - dx <= line.x1 and line.x0 <= x1 + dx and top - dy <= cy <= bottom + dy:
                near += 1
                break
    return near * 2 >= len(block)
