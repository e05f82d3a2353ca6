"""Horizontal rules of a page: the lines that mark header blocks and spanning headers.

Report tables without a full grid still draw a few rules: one under the caption, a
short one under each spanning header ("Grade" over its columns), one under the header
block. They are read from the page's edges (lines and the edges of thin rectangles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Rule", "horizontal_rules", "rule_below", "rules_between"]


@dataclass(frozen=True)
class Rule:
    """A horizontal rule from ``x0`` to ``x1`` at height ``y`` (top-based points)."""

    x0: float
    x1: float
    y: float

    @property
    def width(self) -> float:
        """Length of the rule in points."""
        return self.x1 - self.x0


def horizontal_rules(page: Any, min_length: float = 8.0) -> list[Rule]:
    """The page's horizontal rules, collinear pieces joined, sorted top to bottom.

    A filled rectangle taller than 3 pt (a shaded band) is not a rule.
    """
    pieces: list[tuple[float, float, float]] = []
    for edge in page.edges:
        if edge.get("orientation") != "h":
            continue
        if edge.get("object_type") == "rect_edge" and float(edge.get("height") or 0) > 3.0:
            continue
        x0, x1 = float(edge["x0"]), float(edge["x1"])
        pieces.append((round(float(edge["top"]), 0), x0, x1))
    pieces.sort()
    rules: list[Rule] = []
    for y, x0, x1 in pieces:
        last = rules[-1] if rules else None
        if last is not None and abs(last.y - y) <= 1.0 and x0 <= last.x1 + 2.0:
            rules[-1] = Rule(last.x0, max(last.x1, x1), last.y)
            continue
        rules.append(Rule(x0, x1, y))
    return [r for r in rules if r.width >= min_length]


def rule_below(
    x0: float, x1: float, bottom: float, rules: list[Rule], max_gap: float
) -> Rule | None:
    """The first rule under text spanning ``x0..x1`` whose top edge is at ``bottom``,
    at most ``max_gap`` below it, that covers the text's middle."""
    middle = (x0 + x1) / 2
    for rule in rules:
        if bottom - 1.0 <= rule.y <= bottom + max_gap and rule.x0 - 2 <= middle <= rule.x1 + 2:
            return rule
    return None


def rules_between(top: float, bottom: float, rules: list[Rule]) -> list[Rule]:
    """Rules strictly between two heights."""
    return [r for r in rules if top < r.y < bottom]
