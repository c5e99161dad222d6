"""GraphQL object types and their builders from neutral state (masking applied here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from api.auth import Audience
from api.fanout import Update
from api.policy import Reveal, reveal_for
from api.schema.broadcast import Shared
from api.state import EventRecord, IncidentState

__all__ = [
    "Forbidden", "HistoryEntry", "IllegalTransition", "Incident", "IncidentConnection",
    "IncidentEdge", "IncidentHistory", "IncidentUpdate", "InvalidInput", "Me", "MutationResult",
    "NotFound", "PageInfo", "Success", "VersionConflict", "build_update", "history_entry",
    "incident_type", "json_value",
]


@strawberry.type(description="An incident as the caller may see it.")
class Incident:
    id: strawberry.ID
    key: str = strawberry.field(description="Correlation key; a subject or plate in it is "
                                            "masked or withheld unless the caller may see "
                                            "personal data.")
    kind: str
    status: str
    severity: int
    level: int
    site_id: str | None
    location: JSON | None
    agencies: list[str]
    sources: list[str]
    evidence_count: int
    opened_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    sla_due_at: datetime
    sla_breached: bool = strawberry.field(description="Unacknowledged past its SLA deadline.")
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    assigned_to: str | None
    notes: int
    rule: str
    version: int
    subject: JSON | None = strawberry.field(
        description="Face subject / plate: in the clear for police and auditors, a pseudonym "
                    "(`masked:...`) for the situation centre, null for other agencies.")
    personal_masked: bool


def json_value(value: Any) -> JSON:
    """`value` typed as the JSON scalar (Strawberry's `JSON` is a NewType mypy cannot infer)."""
    return cast(JSON, value)


def incident_type(s: IncidentState, reveal: Reveal, now: datetime | None = None) -> Incident:
    """The incident as `reveal`'s audience may see it (personal fields by the privacy policy)."""
    return Incident(
        id=strawberry.ID(str(s.id)), key=reveal.key(s.key), kind=s.kind,
        status=s.status, severity=s.severity, level=s.level, site_id=s.site_id,
        location=json_value(s.location), agencies=list(s.agencies), sources=list(s.sources),
        evidence_count=s.evidence_count, opened_at=s.opened_at, first_seen_at=s.first_seen_at,
        last_seen_at=s.last_seen_at, sla_due_at=s.sla_due_at,
        sla_breached=s.sla_breached(now or datetime.now(UTC)),
        acknowledged_at=s.acknowledged_at, resolved_at=s.resolved_at,
        assigned_to=s.assigned_to, notes=s.notes, rule=s.rule, version=s.version,
        subject=json_value(reveal.subject(s.subject)),
        personal_masked=not reveal.sees_personal,
    )


@strawberry.type(description="One stored event: what happened, who did it, and why.")
class HistoryEntry:
    type: str
    version: int
    at: datetime
    actor: str
    detection_ids: list[str] = strawberry.field(description="Provenance: causing detections.")
    rule: str | None = strawberry.field(description="Provenance: the rule that acted, if any.")
    details: JSON


def history_entry(r: EventRecord, reveal: Reveal) -> HistoryEntry:
    """One event with its fields minimised by the event's field tags (free text included)."""
    return HistoryEntry(type=r.type, version=r.version, at=r.at, actor=r.actor,
                        detection_ids=list(r.detection_ids), rule=r.rule,
                        details=json_value(reveal.details(r)))


@strawberry.type
class IncidentHistory:
    incident: Incident
    events: list[HistoryEntry]


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class IncidentEdge:
    cursor: str
    node: Incident


@strawberry.type
class IncidentConnection:
    edges: list[IncidentEdge]
    page_info: PageInfo
    total_count: int
    log_position: str = strawberry.field(
        description="Notification-log cursor read before this page: pass it as "
                    "`incidentUpdates(after:)` to follow changes without a gap.")


@strawberry.type
class Me:
    subject: str
    role: str
    agency: str
    sees_all_agencies: bool
    sees_personal_data: bool
    read_only: bool
    views: list[str] = strawberry.field(description="The agency views this caller may read.")
    expires_at: datetime


@strawberry.type(description="One incident event delivered live, with the state after it.")
class IncidentUpdate(Shared):
    cursor: str = strawberry.field(description="Resume after this with `after:`.")
    event_type: str
    incident_id: strawberry.ID
    version: int
    at: datetime
    actor: str
    incident: Incident


def build_update(update: Update, audience: Audience) -> IncidentUpdate:
    """The payload for one audience (a privacy policy); called once per event and audience."""
    r = update.record
    return IncidentUpdate(cursor=str(update.position), event_type=r.type,
                          incident_id=strawberry.ID(str(r.incident_id)), version=r.version,
                          at=r.at, actor=r.actor,
                          incident=incident_type(update.state, reveal_for(audience)))


# --- mutation results ---------------------------------------------------------------------

@strawberry.type
class Success:
    incident: Incident


@strawberry.type
class IllegalTransition:
    message: str
    status: str


@strawberry.type
class VersionConflict:
    message: str
    current_version: int


@strawberry.type
class NotFound:
    message: str


@strawberry.type
class Forbidden:
    message: str


@strawberry.type
class InvalidInput:
    message: str


MutationResult = Annotated[
    Success | IllegalTransition | VersionConflict | NotFound | Forbidden | InvalidInput,
    strawberry.union("MutationResult"),
]
