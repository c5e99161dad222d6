"""Neutral, audience-independent snapshots of incidents and their events.

`IncidentState` is built once from an aggregate (or an aggregate after an event) and then
masked per audience by the schema layer through `api.policy.Reveal`, which applies the one
privacy policy (`domain.privacy`); `EventRecord` is one stored event with its provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.incident import Incident
from domain.kinds import Status

__all__ = [
    "INCIDENT_TOPIC_PREFIX", "EventRecord", "IncidentState", "checklist_of", "jsonable",
    "record_of", "state_of",
]

INCIDENT_TOPIC_PREFIX = "domain.incident:Incident."
_META_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
_WAITING = frozenset({Status.OPEN, Status.REOPENED})


@dataclass(frozen=True, slots=True)
class IncidentState:
    """An incident as of one version, with every field (masking happens later)."""

    id: UUID
    key: str
    kind: str
    status: str
    severity: int
    level: int
    site_id: str | None
    location: dict[str, float] | None
    agencies: tuple[str, ...]
    sources: tuple[str, ...]
    evidence_count: int
    opened_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    sla_due_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    assigned_to: str | None
    notes: int
    rule: str
    version: int
    subject: dict[str, Any] = field(default_factory=dict)
    procedure: str | None = None
    checklist: tuple[dict[str, Any], ...] = ()
    """The procedure's steps: key, labels, mandatory, due_at, outcome, actor, at, reason,
    overdue (`checklist_of`)."""
    verification_required: bool = False
    verified_by: str | None = None
    acknowledged_by: str | None = None
    merged_into: str | None = None
    """Status MERGED: the incident this one was merged into."""
    merged_from: tuple[str, ...] = ()
    split_into: tuple[str, ...] = ()
    linked_to: str | None = None

    def sla_breached(self, now: datetime) -> bool:
        """Still waiting for acknowledgement past its SLA deadline at `now`."""
        return Status(self.status) in _WAITING and now > self.sla_due_at


def state_of(incident: Incident) -> IncidentState:
    return IncidentState(
        id=incident.id, key=incident.incident_key, kind=incident.kind,
        status=Status(incident.status).value, severity=incident.severity, level=incident.level,
        site_id=incident.site_id, location=incident.location,
        agencies=tuple(incident.agencies), sources=tuple(incident.sources),
        evidence_count=incident.evidence_count, opened_at=incident.opened_at,
        first_seen_at=incident.first_seen_at, last_seen_at=incident.last_seen_at,
        sla_due_at=incident.sla_due_at, acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at, assigned_to=incident.assigned_to,
        notes=incident.notes, rule=incident.rule, version=incident.version,
        subject=dict(incident.subject), procedure=incident.procedure,
        checklist=checklist_of(incident),
        verification_required=incident.verification_required,
        verified_by=incident.verified_by, acknowledged_by=incident.acknowledged_by,
        merged_into=incident.merged_into, merged_from=incident.merged_from,
        split_into=incident.split_into, linked_to=incident.linked_to,
    )


def checklist_of(incident: Incident) -> tuple[dict[str, Any], ...]:
    """Each step of the incident's procedure with its outcome so far (None: pending)."""
    out = []
    for step in incident.steps:
        done = incident.step_outcomes.get(step["key"], {})
        out.append({"key": step["key"], "labels": dict(step["labels"]),
                    "mandatory": step["mandatory"], "due_at": incident.step_due_at(step["key"]),
                    "outcome": done.get("outcome"), "actor": done.get("actor"),
                    "at": done.get("at"), "reason": done.get("reason"),
                    "overdue": step["key"] in incident.overdue_steps})
    return tuple(out)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One stored incident event: what happened, who did it, and why (provenance)."""

    incident_id: UUID
    type: str
    version: int
    at: datetime
    actor: str
    detection_ids: tuple[str, ...]
    rule: str | None
    fields: dict[str, Any]


def record_of(event: Any) -> EventRecord:
    fields = {k: v for k, v in vars(event).items() if k not in _META_FIELDS}
    actor = str(fields.pop("actor", ""))
    rule = fields.get("rule") or (actor if actor.startswith("rule:") else None)
    return EventRecord(
        incident_id=event.originator_id, type=type(event).__qualname__.rsplit(".", 1)[-1],
        version=event.originator_version, at=event.timestamp, actor=actor,
        detection_ids=tuple(fields.get("detection_ids") or ()), rule=rule, fields=fields,
    )


def jsonable(value: Any) -> Any:
    """`value` with datetimes, UUIDs and collections turned into JSON-ready values."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value
