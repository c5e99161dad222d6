"""GPS sidecars for dash-cam recordings: GPX tracks or JSON lines, interpolated per frame.

JSON lines: one object per line, `{"time": "<RFC 3339>", "lat": .., "lon": ..}` (`t`/`ts` are
accepted for `time`). GPX: every `<trkpt lat lon><time>` of every track segment. A frame
between two fixes gets the linear interpolation; before the first or after the last fix it gets
the nearest fix if it is within `max_gap_s`, else no location.
"""

from __future__ import annotations

import bisect
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from detectors.errors import GpsError

__all__ = ["Fix", "GpsTrack", "load_track"]


@dataclass(frozen=True, slots=True)
class Fix:
    t: float
    lat: float
    lon: float


def _when(text: str, where: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise GpsError(f"{where}: bad time {text!r}") from None
    if parsed.tzinfo is None:
        raise GpsError(f"{where}: time {text!r} has no UTC offset")
    return parsed.timestamp()


def _fix(t: float, lat: object, lon: object, where: str) -> Fix:
    try:
        la, lo = float(lat), float(lon)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GpsError(f"{where}: bad coordinates lat={lat!r} lon={lon!r}") from None
    if not (-90 <= la <= 90 and -180 <= lo <= 180):
        raise GpsError(f"{where}: coordinates out of range lat={la} lon={lo}")
    return Fix(t, la, lo)


def _jsonl(path: Path) -> list[Fix]:
    fixes = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            rec = json.loads(line)
        except ValueError:
            raise GpsError(f"{where}: not JSON") from None
        when = rec.get("time", rec.get("t", rec.get("ts"))) if isinstance(rec, dict) else None
        if not isinstance(when, str):
            raise GpsError(f"{where}: expected an object with time, lat, lon")
        fixes.append(_fix(_when(when, where), rec.get("lat"), rec.get("lon"), where))
    return fixes


def _gpx(path: Path) -> list[Fix]:
    try:
        # GPX sidecars come from the operator's own recorders; expat does not fetch entities.
        root = ET.parse(path).getroot()  # noqa: S314
    except ET.ParseError as exc:
        raise GpsError(f"{path}: not GPX: {exc}") from None
    fixes = []
    for point in root.iter():
        if not point.tag.endswith("trkpt"):
            continue
        when = next((c.text for c in point if c.tag.endswith("time")), None)
        if when is None:
            continue
        fixes.append(_fix(_when(when, str(path)), point.get("lat"), point.get("lon"), str(path)))
    return fixes


@dataclass(frozen=True, slots=True)
class GpsTrack:
    """Time-ordered fixes with interpolation."""

    fixes: tuple[Fix, ...]
    max_gap_s: float = 30.0

    @property
    def start(self) -> float:
        return self.fixes[0].t

    def at(self, when: datetime) -> tuple[float, float] | None:
        """(lat, lon) at `when`, or None when no fix is near enough."""
        t = when.timestamp()
        i = bisect.bisect_left(self.fixes, t, key=lambda f: f.t)
        if i == 0 or i == len(self.fixes):
            near = self.fixes[0] if i == 0 else self.fixes[-1]
            return (near.lat, near.lon) if abs(near.t - t) <= self.max_gap_s else None
        a, b = self.fixes[i - 1], self.fixes[i]
        if b.t - a.t > 2 * self.max_gap_s:
            return None
        k = (t - a.t) / (b.t - a.t) if b.t > a.t else 0.0
        return (round(a.lat + k * (b.lat - a.lat), 7), round(a.lon + k * (b.lon - a.lon), 7))


def load_track(path: Path, max_gap_s: float = 30.0) -> GpsTrack:
    """Read a `.gpx` file or JSON lines (any other suffix) into a `GpsTrack`."""
    try:
        fixes = _gpx(path) if path.suffix.lower() == ".gpx" else _jsonl(path)
    except OSError as exc:
        raise GpsError(f"GPS sidecar {path}: {exc}") from None
    if not fixes:
        raise GpsError(f"GPS sidecar {path}: no fixes with a time")
    return GpsTrack(tuple(sorted(fixes, key=lambda f: f.t)), max_gap_s)
