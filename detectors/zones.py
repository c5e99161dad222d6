"""Zones: which normalised polygon a box's foot point falls in, and per-zone counting."""

from __future__ import annotations

from collections.abc import Sequence

from detectors.config import Zone

__all__ = ["contains", "foot_point", "zones_of"]


def contains(polygon: Sequence[tuple[float, float]], x: float, y: float) -> bool:
    """Even-odd ray casting; points on the frame edge of a whole-frame zone count as inside."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross:
                inside = not inside
    return inside


def foot_point(bbox: Sequence[float]) -> tuple[float, float]:
    """Where a person or vehicle stands: bottom centre of [x, y, w, h], nudged inside the frame."""
    x, y, w, h = bbox
    return min(x + w / 2, 0.999999), min(y + h, 0.999999)


def zones_of(bbox: Sequence[float], zones: Sequence[Zone]) -> list[Zone]:
    """The zones whose polygon holds the box's foot point."""
    px, py = foot_point(bbox)
    return [z for z in zones if contains(z.polygon, px, py)]
