"""GraphQL types of the agency views and their builders from projection documents.

Masking happens here, by field, through the caller's `api.policy.Reveal`: `police_row` shows
subject, sightings and snapshots in the clear, as a pseudonym, or not at all (null).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.scalars import JSON

from api.policy import Reveal
from api.schema.types import PageInfo, json_value
from projections.views import Doc
from projections.views.board import sla_breached

__all__ = [
    "BoardRow", "CanteenAttendance", "PoliceRow", "SchoolSafetyIncident", "Sighting",
    "ViewConnection", "ViewEdge", "ViewIncident", "WorkOrder", "board_row", "canteen",
    "police_row", "school_safety", "work_order",
]

T = TypeVar("T")


@strawberry.type
class ViewEdge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class ViewConnection(Generic[T]):
    edges: list[ViewEdge[T]]
    page_info: PageInfo
    total_count: int
    log_position: str = strawberry.field(
        description="The view's notification-log position: pass it as "
                    "`incidentUpdates(after:)` to follow changes from there.")


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@strawberry.interface(description="Lifecycle fields every incident row of a view carries.")
class ViewIncident:
    id: strawberry.ID
    kind: str
    status: str
    severity: int
    level: int
    site_id: str | None
    opened_at: datetime
    sla_due_at: datetime
    acknowledged_at: datetime | None
    cleared_at: datetime | None
    version: int
    updated_at: datetime


def _lifecycle(doc: Doc) -> dict[str, Any]:
    return dict(id=strawberry.ID(doc["id"]), kind=doc["kind"], status=doc["status"],
                severity=doc["severity"], level=doc["level"], site_id=doc["site_id"],
                opened_at=_at(doc["opened_at"]), sla_due_at=_at(doc["sla_due_at"]),
                acknowledged_at=_at(doc["acknowledged_at"]), cleared_at=_at(doc["cleared_at"]),
                version=doc["version"], updated_at=_at(doc["updated_at"]))


@strawberry.type(description="An operator-board row: an incident not yet closed.")
class BoardRow(ViewIncident):
    agencies: list[str]
    sources: list[str]
    evidence_count: int
    assignee: str | None
    sla_breached: bool = strawberry.field(
        description="Acknowledged after its SLA deadline, or still unacknowledged past it.")


@strawberry.type
class Sighting:
    source_id: str
    first_seen_at: datetime
    last_seen_at: datetime


@strawberry.type(description="A police-view row; personal fields follow the privacy policy: "
                             "in the clear (police, auditors), a pseudonym subject (situation "
                             "centre), or null.")
class PoliceRow(ViewIncident):
    subject: JSON | None
    sightings: list[Sighting] | None
    snapshots: list[str] | None
    personal_masked: bool


@strawberry.type(description="A ZhKKh work order: waste or road incident with its contractor.")
class WorkOrder(ViewIncident):
    district: str | None
    contractor: str | None
    location: JSON | None
    missed_pickup: bool
    sla_met: bool | None
    time_to_clear_s: float | None


@strawberry.type(description="A school's head count for one meal and day; counts under the "
                             "deployment's minimum are suppressed (null).")
class CanteenAttendance:
    site_id: str | None
    school: str | None
    district: str | None
    day: date
    meal: str
    attendance: int | None
    suppressed: bool
    samples: int


@strawberry.type(description="A safety incident (fire, fight, weapon, crowd) at a school.")
class SchoolSafetyIncident(ViewIncident):
    school: str | None
    district: str | None


def board_row(doc: Doc, now: datetime) -> BoardRow:
    return BoardRow(**_lifecycle(doc), agencies=doc["agencies"], sources=doc["sources"],
                    evidence_count=doc["evidence_count"], assignee=doc["assignee"],
                    sla_breached=sla_breached(doc, now))


def police_row(doc: Doc, reveal: Reveal) -> PoliceRow:
    seen = [Sighting(source_id=k, first_seen_at=datetime.fromisoformat(v["first_seen_at"]),
                     last_seen_at=datetime.fromisoformat(v["last_seen_at"]))
            for k, v in sorted(doc["sightings"].items())]
    return PoliceRow(**_lifecycle(doc), subject=json_value(reveal.subject(doc["subject"])),
                     sightings=reveal.listed("sightings", seen),
                     snapshots=reveal.listed("snapshots", list(doc["snapshots"])),
                     personal_masked=not reveal.sees_personal)


def work_order(doc: Doc) -> WorkOrder:
    return WorkOrder(**_lifecycle(doc), district=doc["district"], contractor=doc["contractor"],
                     location=json_value(doc["location"]), missed_pickup=doc["missed_pickup"],
                     sla_met=doc["sla_met"], time_to_clear_s=doc["time_to_clear_s"])


def canteen(doc: Doc) -> CanteenAttendance:
    return CanteenAttendance(site_id=doc["site_id"], school=doc["school"],
                             district=doc["district"], day=date.fromisoformat(doc["day"]),
                             meal=doc["meal"], attendance=doc["attendance"],
                             suppressed=doc["suppressed"], samples=doc["samples"])


def school_safety(doc: Doc) -> SchoolSafetyIncident:
    return SchoolSafetyIncident(**_lifecycle(doc), school=doc["school"],
                                district=doc["district"])
