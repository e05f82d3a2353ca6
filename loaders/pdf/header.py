"""The header block of an unruled table: which column each header text belongs to.

Column *zones* for header text come from the widest white strip between two columns'
body text (so stacked, right-aligned multi-line headers stay whole), else from the
columns' alignment. A header line that names a group of columns (few fragments, a short
rule under it, or a short text centred over its own sub-headers) is a *spanning* row
(one rule under several group names: each takes its share of it),
unless its words are the lines of neighbouring multi-line cells set close; the other
header fragments of a column are one multi-line cell; every column gets its path from
the top ("Grade · PK"). Used by :mod:`.stream`.
"""

from __future__ import annotations

import bisect
import itertools
import statistics

from .rulings import Rule, rule_below
from .structure import fill_up, is_units_line, strip_leaders
from .words import Line, join_words

__all__ = ["centers", "header_grid", "zone_cuts"]


def _cells(line: Line, cuts: list[float]) -> list[list[dict]]:
    cells: list[list[dict]] = [[] for _ in range(len(cuts) + 1)]
    for word in line.words:
        center = (word["x0"] + word["x1"]) / 2
        cells[bisect.bisect_left(cuts, center)].append(word)
    return cells


def zone_cuts(body: list[Line], cuts: list[float], head: list[Line]) -> list[float]:
    """Boundaries between columns for header text.

    Between two columns' body centres, the widest vertical strip that no header word
    of a multi-fragment header line crosses; where there is none, the columns'
    alignment decides (a right-aligned column's header ends at its right edge).
    """
    n = len(cuts) + 1
    lefts: list[list[float]] = [[] for _ in range(n)]
    rights: list[list[float]] = [[] for _ in range(n)]
    for line in body:
        for j, words in enumerate(_cells(line, cuts)):
            if words:
                lefts[j].append(min(w["x0"] for w in words))
                rights[j].append(max(w["x1"] for w in words))
    spans = sorted(
        (w["x0"], w["x1"])
        for line in head
        if len(line.segments) * 2 >= max(2, n - 1)
        for w in line.words
    )
    zones: list[float] = []
    for j in range(n - 1):
        if not rights[j] or not lefts[j + 1]:
            zones.append(cuts[j])
            continue
        center = (statistics.median(lefts[j]) + statistics.median(rights[j])) / 2
        center_next = (statistics.median(lefts[j + 1]) + statistics.median(rights[j + 1])) / 2
        gap = _widest_gap(spans, center, center_next)
        if gap is not None:
            zones.append(gap)
            continue
        right_j, left_next = max(rights[j]), min(lefts[j + 1])
        align_j, align_next = (
            _alignment(lefts[j], rights[j]),
            _alignment(lefts[j + 1], rights[j + 1]),
        )
        if align_j == "r" and align_next != "l":
            zones.append(right_j + 2.0)
        elif align_next == "l" and align_j != "r":
            zones.append(left_next - 2.0)
        else:
            zones.append((right_j + left_next) / 2)
    for j in range(1, len(zones)):  # keep them ordered
        zones[j] = max(zones[j], zones[j - 1] + 0.5)
    return zones


def _alignment(lefts: list[float], rights: list[float]) -> str:
    if len(lefts) < 2:
        return "c"
    spread_l = max(lefts) - min(lefts)
    spread_r = max(rights) - min(rights)
    if spread_r + 1.0 < spread_l and spread_r <= 3.0:
        return "r"
    if spread_l + 1.0 < spread_r and spread_l <= 3.0:
        return "l"
    return "c"


def _widest_gap(spans: list[tuple[float, float]], lo: float, hi: float) -> float | None:
    """Middle of the widest strip in ``lo..hi`` that no span covers (None: none 1.5 pt wide)."""
    best: tuple[float, float] | None = None
    cursor = lo
    for x0, x1 in spans:
        if x1 <= cursor:
            continue
        if x0 >= hi:
            break
        if x0 > cursor and (best is None or x0 - cursor > best[1] - best[0]):
            best = (cursor, x0)
        cursor = max(cursor, x1)
        if cursor >= hi:
            break
    if cursor < hi and (best is None or hi - cursor > best[1] - best[0]):
        best = (cursor, hi)
    if best is None or best[1] - best[0] < 1.5:
        return None
    return (best[0] + best[1]) / 2


def _centred_over(
    x0: float, x1: float, cols: list[int], below: Line | None, zones: list[float]
) -> bool:
    """A header text over the sub-headers of ``cols`` on the line below: each of those
    columns has its own text there, and this text is centred over them."""
    if below is None:
        return False
    parts: dict[int, list[dict]] = {}
    for word in below.words:
        col = bisect.bisect_left(zones, (word["x0"] + word["x1"]) / 2)
        if col in cols:
            parts.setdefault(col, []).append(word)
    if len(parts) != len(cols):
        return False
    lo = min(w["x0"] for ws in parts.values() for w in ws)
    hi = max(w["x1"] for ws in parts.values() for w in ws)
    return abs((x0 + x1) / 2 - (lo + hi) / 2) <= 0.1 * max(hi - lo, 1.0)


def centers(body: list[Line], cuts: list[float]) -> list[float]:
    """The middle of each column's body text (its widest extent)."""
    n = len(cuts) + 1
    lo = [float("inf")] * n
    hi = [float("-inf")] * n
    for line in body:
        for j, words in enumerate(_cells(line, cuts)):
            if words:
                lo[j] = min(lo[j], min(w["x0"] for w in words))
                hi[j] = max(hi[j], max(w["x1"] for w in words))
    edges = [-1e9, *cuts, 1e9]
    return [
        (lo[j] + hi[j]) / 2 if hi[j] > lo[j] else (max(edges[j], 0.0) + min(edges[j + 1], 1e4)) / 2
        for j in range(n)
    ]


def _middle(seg: list[dict]) -> float:
    return (min(w["x0"] for w in seg) + max(w["x1"] for w in seg)) / 2


def _share_of_rule(
    seg: list[dict], sharing: list[list[dict]], rule: Rule, centers: list[float]
) -> list[int]:
    """The columns of ``seg`` when one rule runs under it and other group names.

    Group names are centred over their columns, and the groups tile the rule: from the
    rule's left end, each group ends as far past its name's middle as it began before
    it. When the last group so found is not centred under its name either (within a
    tenth of its width), the names are not centred and ``seg`` keeps the columns under
    its own text ([] when that is fewer than two).
    """
    names = sorted([seg, *sharing], key=_middle)
    bounds = [rule.x0]
    for name in names:
        bounds.append(2 * _middle(name) - bounds[-1])
    last = names[-1]
    if abs((bounds[-2] + rule.x1) / 2 - _middle(last)) > 0.1 * (rule.x1 - bounds[-2]) or any(
        b1 <= b0 for b0, b1 in itertools.pairwise(bounds)
    ):
        return []
    bounds[-1] = rule.x1
    i = next(i for i, name in enumerate(names) if name is seg)
    return [
        j
        for j, c in enumerate(centers)
        if bounds[i] <= c < bounds[i + 1] or (i == len(names) - 1 and c == bounds[-1])
    ]


def _columns_under(x0: float, x1: float, zones: list[float]) -> list[int]:
    first = bisect.bisect_left(zones, x0 + 1.0)
    last = bisect.bisect_left(zones, x1 - 1.0)
    return list(range(first, last + 1))


def _glued_cells(seg: list[dict], zones: list[float]) -> bool:
    """A header segment under a spanning level that is really the lines of two or more
    neighbouring cells set close ("Weight Controls": lines of "Body Weight" and "Relative
    to Controls"): every word lies (four fifths of it or more) inside one column zone,
    and the words fall into two or more columns."""
    cols = set()
    edges = [float("-inf"), *zones, float("inf")]
    for word in seg:
        col = bisect.bisect_left(zones, (word["x0"] + word["x1"]) / 2)
        inside = min(word["x1"], edges[col + 1]) - max(word["x0"], edges[col])
        if inside < 0.8 * (word["x1"] - word["x0"]):  # the word runs across a boundary
            return False
        cols.add(col)
    return len(cols) >= 2


def header_grid(
    lines: list[Line],
    zones: list[float],
    centers: list[float],
    rules: list[Rule],
) -> tuple[list[list[str]], list[str]]:
    """Header lines -> expanded header grid (spanning rows, then the leaf row) and the
    units lines found among them."""
    n = len(zones) + 1
    levels: list[tuple[list[tuple[list[int], str]], Line]] = []
    leaf: list[list[str]] = [[] for _ in range(n)]
    units: list[str] = []
    for index, line in enumerate(lines):
        below = lines[index + 1] if index + 1 < len(lines) else None
        if len(line.segments) == 1 and is_units_line(line.text):
            units.append(line.text)
            continue
        sparse = len(line.segments) * 2 <= max(2, n - 1)
        height = max(line.bottom - line.top, 1.0)
        spanners: list[tuple[list[int], str]] = []
        for seg in line.segments:
            sx0, sx1 = min(w["x0"] for w in seg), max(w["x1"] for w in seg)
            cols = _columns_under(sx0, sx1, zones)
            sbottom = max(w["bottom"] for w in seg)
            rule = rule_below(sx0, sx1, sbottom, rules, max_gap=1.2 * height)
            others = [o for o in line.segments if o is not seg]
            sharing = [o for o in others if rule is not None and rule.x0 <= _middle(o) <= rule.x1]
            if (
                rule is not None
                and rule.x0 > centers[0]  # a rule that starts past the row labels
                and (not sharing or sparse)
            ):
                ruled = [j for j, c in enumerate(centers) if rule.x0 - 1 <= c <= rule.x1 + 1]
                if sharing:  # one rule under several group names: each takes its share
                    ruled = _share_of_rule(seg, sharing, rule, centers)
                if len(ruled) >= 2:
                    spanners.append((ruled, join_words(seg)))
                    continue
            if (
                len(cols) >= 2
                and 0 not in cols
                and (sparse or (len(seg) <= 5 and _centred_over(sx0, sx1, cols, below, zones)))
                and not (levels and _glued_cells(seg, zones))
            ):
                spanners.append((cols, join_words(seg)))
                continue
            by_col: dict[int, list[dict]] = {}
            for word in seg:
                col = bisect.bisect_left(zones, (word["x0"] + word["x1"]) / 2)
                by_col.setdefault(col, []).append(word)
            for col, words in by_col.items():
                leaf[col].append(join_words(words))
        if spanners:
            previous = levels[-1] if levels else None
            if (
                previous is not None
                and [c for c, _ in previous[0]] == [c for c, _ in spanners]
                and line.top - previous[1].bottom <= 0.6 * height
            ):  # a spanning header wrapped onto a second line
                joined = [
                    (c, f"{a} {b}") for (c, a), (_, b) in zip(previous[0], spanners, strict=True)
                ]
                levels[-1] = (joined, line)
            else:
                levels.append((spanners, line))
    grid_rows: list[list[str]] = []
    for spanners, _line in levels:
        row = [""] * n
        for cols, text in spanners:
            for col in cols:
                if 0 <= col < n:
                    row[col] = text
        grid_rows.append(row)
    leaf_row = [" ".join(parts) for parts in leaf]
    if any(leaf_row) or not grid_rows:
        grid_rows.append(leaf_row)
    return fill_up([[strip_leaders(c) for c in r] for r in grid_rows]), units
