"""Cameras in GraphQL (issue 15 item 6): each camera's state and the counts by district, from
the `cameras` view that `kuzet cameras watch` keeps (`projections.views.cameras`).

For the situation centre (any role that sees every agency); agencies get empty lists, as for
silences. The state is judged at the time of the request (`camera_state`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from api.schema.context import Context, principal_of
from api.schema.fields import described
from projections.views.base import Doc
from projections.views.cameras import CAMERAS, camera_state, district_counts

__all__ = ["CameraQueries", "CameraType", "DistrictCameras"]


@strawberry.type(name="Camera", description="One camera as its health records tell it.")
class CameraType:
    source_id: str
    source_kind: str
    site_id: str | None
    district: str | None
    state: str = strawberry.field(description="online, offline (the detector said why) or "
                                              "silent (no frames, nothing said why)")
    last_record_at: datetime | None
    last_frame_at: datetime | None
    last_detection_at: datetime | None
    silent_since: datetime | None
    offline_reason: str | None


@strawberry.type(description="Cameras of one district by state (district `-`: unknown).")
class DistrictCameras:
    district: str
    online: int
    offline: int
    silent: int


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def camera_type(doc: Doc, now: datetime) -> CameraType:
    return CameraType(
        source_id=doc["source_id"], source_kind=doc["source_kind"], site_id=doc.get("site_id"),
        district=doc.get("district"), state=camera_state(doc, now),
        last_record_at=_at(doc.get("last_record_at")), last_frame_at=_at(doc.get("last_frame_at")),
        last_detection_at=_at(doc.get("last_detection_at")),
        silent_since=_at(doc.get("silent_since")), offline_reason=doc.get("offline_reason"))


async def _documents(info: Info[Context, None]) -> list[Doc]:
    who = principal_of(info)
    views = info.context.services.views
    if who.scope is not None or views is None:
        return []
    return await views.documents(CAMERAS)


@strawberry.type
class CameraQueries:
    @described("Cameras and their state (optionally one district's), by id; the situation "
               "centre's, not agencies'.")
    async def cameras(self, info: Info[Context, None], district: str | None = None,
                      state: str | None = None) -> list[CameraType]:
        now = datetime.now(UTC)
        out = [camera_type(d, now) for d in await _documents(info)
               if district is None or (d.get("district") or "-") == district]
        return [c for c in out if state is None or c.state == state]

    @described("Cameras online, offline and silent per district, for the board.")
    async def camera_counts(self, info: Info[Context, None]) -> list[DistrictCameras]:
        counts = district_counts(await _documents(info), datetime.now(UTC))
        return [DistrictCameras(district=name, **row) for name, row in counts.items()]
