"""Search filters, cursors and hits: what `searchDetections` and `kuzet search` ask the archive.

A `SearchFilter` is validated once (`SearchFilter.checked`); the plate in it is turned into
search tags here (`archive.plates`), so the plate itself never reaches SQL. Hits come newest
first; the cursor is the last hit's (observed_at, detection_id), opaque to callers.
A polygon is applied as its bounding box in SQL, then exactly (ray casting) on the rows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from archive.errors import InvalidSearch
from archive.plates import fold_plate, one_edit, plate_tag
from domain.kinds import Kind

__all__ = ["MAX_PAGE", "PALETTE", "Hit", "SearchFilter", "decode_cursor", "encode_cursor",
           "inside"]

MAX_PAGE = 500
PALETTE = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple",
           "pink", "brown")
"""The named colours `detectors.attributes` maps a crop's histogram to."""
VEHICLE_TYPES = ("car", "bus", "truck", "motorcycle", "bicycle")
_KINDS = {k.value for k in Kind}


@dataclass(frozen=True)
class SearchFilter:
    kinds: tuple[str, ...] = ()
    vehicle_type: str | None = None
    colours: tuple[str, ...] = ()
    upper_colour: str | None = None
    lower_colour: str | None = None
    plate: str | None = None
    fuzzy: bool = False
    cameras: tuple[str, ...] = ()
    sites: tuple[str, ...] | None = None
    """Sites of the district asked for (None: no district filter)."""
    polygon: tuple[tuple[float, float], ...] = ()
    """(lat, lon) vertices, at least 3."""
    start: datetime | None = None
    end: datetime | None = None
    plate_tags: tuple[str, ...] = field(default=(), compare=False)

    def checked(self, pepper: bytes) -> SearchFilter:
        """This filter validated, with the plate's search tags filled in."""
        for kind in self.kinds:
            if kind not in _KINDS:
                raise InvalidSearch(f"kinds: unknown kind {kind!r}")
        if self.vehicle_type is not None and self.vehicle_type not in VEHICLE_TYPES:
            raise InvalidSearch(f"vehicleType: {self.vehicle_type!r} is not one of "
                                f"{', '.join(VEHICLE_TYPES)}")
        for name, colour in [*(("colours", c) for c in self.colours),
                             ("upperColour", self.upper_colour),
                             ("lowerColour", self.lower_colour)]:
            if colour is not None and colour not in PALETTE:
                raise InvalidSearch(f"{name}: {colour!r} is not one of {', '.join(PALETTE)}")
        for name, instant in (("from", self.start), ("to", self.end)):
            if instant is not None and instant.tzinfo is None:
                raise InvalidSearch(f"{name}: a time needs a UTC offset")
        if self.start and self.end and self.start > self.end:
            raise InvalidSearch("from is after to")
        if self.polygon and (len(self.polygon) < 3 or any(
                not (-90 <= lat <= 90 and -180 <= lon <= 180) for lat, lon in self.polygon)):
            raise InvalidSearch("polygon: at least 3 (lat, lon) vertices within range")
        tags: tuple[str, ...] = ()
        if self.plate is not None:
            folded = fold_plate(self.plate)
            if not 2 <= len(folded) <= 16:
                raise InvalidSearch("plate: 2..16 letters or digits")
            plates = one_edit(folded) if self.fuzzy else {folded}
            tags = tuple(sorted(plate_tag(pepper, p) for p in plates))
        return _replace(self, plate_tags=tags)

    def criteria(self) -> dict[str, Any]:
        """What was asked, for the search's audit record: the plate appears only as whether
        one was given and how (the record must not hold it in the clear)."""
        return {"kinds": list(self.kinds), "vehicle_type": self.vehicle_type,
                "colours": list(self.colours), "upper_colour": self.upper_colour,
                "lower_colour": self.lower_colour,
                "plate": None if self.plate is None else ("fuzzy" if self.fuzzy else "exact"),
                "cameras": list(self.cameras), "district_sites": None if self.sites is None
                else len(self.sites), "polygon": [list(p) for p in self.polygon],
                "from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}

    def bbox(self) -> tuple[float, float, float, float] | None:
        if not self.polygon:
            return None
        lats, lons = [p[0] for p in self.polygon], [p[1] for p in self.polygon]
        return min(lats), max(lats), min(lons), max(lons)


def _replace(f: SearchFilter, **changes: Any) -> SearchFilter:
    from dataclasses import replace

    return replace(f, **changes)


@dataclass(frozen=True)
class Hit:
    """One archived detection as a search answers it (personal values opened or shredded)."""

    detection_id: str
    observed_at: datetime
    source_id: str
    kind: str
    confidence: float
    site_id: str | None
    lat: float | None
    lon: float | None
    vehicle_type: str | None
    colour: str | None
    upper_colour: str | None
    lower_colour: str | None
    plate: str | None
    subject_id: str | None
    snapshot_uri: str | None
    incident_id: str | None


def encode_cursor(observed_at: datetime, detection_id: str) -> str:
    raw = f"{observed_at.astimezone(UTC).isoformat()}|{detection_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, detection_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        instant = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidSearch(f"after: {cursor[:60]!r} is not a cursor of this search") from None
    if instant.tzinfo is None or len(detection_id) != 36:
        raise InvalidSearch(f"after: {cursor[:60]!r} is not a cursor of this search")
    return instant, detection_id


def inside(lat: float, lon: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Ray casting: whether (lat, lon) lies inside the polygon."""
    hit = False
    j = len(polygon) - 1
    for i, (yi, xi) in enumerate(polygon):
        yj, xj = polygon[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            hit = not hit
        j = i
    return hit
