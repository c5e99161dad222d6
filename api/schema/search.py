"""`searchDetections`: the detection archive for police and auditors only.

The archive lives outside the API's packages (`archive/`, wired by the composition root), so
the API sees it through one port, `Services.search`: a `DetectionSearchPort` called with the
caller and a `SearchRequest` of plain values, answering a plain page (hits as mappings, end
cursor, whether more follow). The port records the search (`DetectionSearch.Recorded`) and
the personal-data access log entries itself, in the same call, so no answer escapes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

import strawberry
from strawberry.types import Info

from api.auth import Principal, Role
from api.errors import ApiError, InvalidFilter, ViewForbidden, ViewUnavailable
from api.schema.context import Context, principal_of
from api.schema.fields import described
from api.schema.types import PageInfo

__all__ = ["DetectionSearchPort", "SearchQueries", "SearchRefused", "SearchRequest"]

SEARCHERS = frozenset({Role.POLICE, Role.AUDITOR})


class SearchRefused(ApiError):
    """Raised by a `DetectionSearchPort` for a malformed filter or cursor (message says which)."""


@dataclass(frozen=True)
class SearchRequest:
    kinds: tuple[str, ...] = ()
    vehicle_type: str | None = None
    colours: tuple[str, ...] = ()
    upper_colour: str | None = None
    lower_colour: str | None = None
    plate: str | None = None
    plate_fuzzy: bool = False
    cameras: tuple[str, ...] = ()
    district: str | None = None
    polygon: tuple[tuple[float, float], ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    first: int = 50
    after: str | None = None


class DetectionSearchPort(Protocol):
    def __call__(self, who: Principal, request: SearchRequest) -> Mapping[str, Any]: ...


@strawberry.input(description="Every given criterion must hold; times are [from, to).")
class DetectionFilter:
    kinds: list[str] | None = None
    vehicle_type: str | None = None
    colours: list[str] | None = None
    upper_colour: str | None = None
    lower_colour: str | None = None
    plate: str | None = None
    plate_fuzzy: bool = strawberry.field(
        default=False, description="One edit away, Cyrillic/Latin look-alikes folded.")
    cameras: list[str] | None = None
    district: str | None = None
    polygon: list[list[float]] | None = strawberry.field(
        default=None, description="[lat, lon] vertices, at least 3.")
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None


@strawberry.type
class DetectionLocation:
    lat: float
    lon: float


@strawberry.type(description="One archived detection.")
class DetectionHit:
    detection_id: strawberry.ID
    observed_at: datetime
    camera: str
    kind: str
    confidence: float
    site_id: str | None
    location: DetectionLocation | None
    vehicle_type: str | None
    colour: str | None
    upper_colour: str | None
    lower_colour: str | None
    plate: str | None
    subject_id: str | None
    snapshot: str | None = strawberry.field(description="The snapshot's URI.")
    incident_id: strawberry.ID | None


@strawberry.type
class DetectionConnection:
    hits: list[DetectionHit]
    page_info: PageInfo


def _request(f: DetectionFilter | None, first: int, after: str | None) -> SearchRequest:
    f = f or DetectionFilter()
    polygon = tuple(f.polygon or ())
    if any(len(p) != 2 for p in polygon):
        raise InvalidFilter("polygon: each vertex is [lat, lon]")
    return SearchRequest(
        kinds=tuple(f.kinds or ()), vehicle_type=f.vehicle_type, colours=tuple(f.colours or ()),
        upper_colour=f.upper_colour, lower_colour=f.lower_colour, plate=f.plate,
        plate_fuzzy=f.plate_fuzzy, cameras=tuple(f.cameras or ()), district=f.district,
        polygon=tuple((p[0], p[1]) for p in polygon), start=f.from_, end=f.to, first=first,
        after=after)


def _hit(h: Mapping[str, Any]) -> DetectionHit:
    at = None if h["lat"] is None else DetectionLocation(lat=h["lat"], lon=h["lon"])
    return DetectionHit(
        detection_id=strawberry.ID(h["detection_id"]), observed_at=h["observed_at"],
        camera=h["source_id"], kind=h["kind"], confidence=h["confidence"], site_id=h["site_id"],
        location=at, vehicle_type=h["vehicle_type"], colour=h["colour"],
        upper_colour=h["upper_colour"], lower_colour=h["lower_colour"], plate=h["plate"],
        subject_id=h["subject_id"], snapshot=h["snapshot_uri"],
        incident_id=strawberry.ID(h["incident_id"]) if h["incident_id"] else None)


@strawberry.type
class SearchQueries:
    """The search field of `Query` (a base type: Strawberry merges its fields)."""

    @described("Police and auditors: archived detections by kind, vehicle type, colours, "
               "plate (exact or fuzzy), cameras, district, polygon and time; newest first. "
               "Every search is recorded, with who asked, the criteria and the hits.")
    async def search_detections(
        self, info: Info[Context, None], filter: DetectionFilter | None = None,
        first: int = 50, after: str | None = None,
    ) -> DetectionConnection:
        who = principal_of(info)
        if who.role not in SEARCHERS:
            raise ViewForbidden(who.role.value, "detection search")
        port: DetectionSearchPort | None = getattr(info.context.services, "search", None)
        if port is None:
            raise ViewUnavailable("no detection archive is configured for this API")
        page = await asyncio.to_thread(partial(port, who, _request(filter, first, after)))
        return DetectionConnection(
            hits=[_hit(h) for h in page["hits"]],
            page_info=PageInfo(has_next_page=page["has_next"], end_cursor=page["end_cursor"]))

