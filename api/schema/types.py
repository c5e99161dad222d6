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
from api.schema.fields import described
from api.state import EventRecord, IncidentState
from domain.privacy import READER_POLICIES, Action, Tag, action_for

_FREE_TEXT = frozenset({Tag.FREE_TEXT})

__all__ = [
    "ChecklistStep", "Forbidden", "HistoryEntry", "IllegalTransition", "Incident",
    "IncidentConnection", "IncidentEdge", "IncidentHistory", "IncidentUpdate", "InvalidInput",
    "Me", "MutationResult", "NotFound", "PageInfo", "ProcedureIncomplete", "Success",
    "Verification", "VerificationRefused", "VersionConflict", "build_update", "history_entry",
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
    procedure: str | None = strawberry.field(
        default=None, description="`id@version` of the procedure in force when it opened.")
    checklist: list[ChecklistStep] = strawberry.field(
        default_factory=list, description="The procedure's steps and what became of them.")
    verification: Verification | None = strawberry.field(
        default=None, description="Two-person verification, for kinds that need it.")
    merged_into: str | None = strawberry.field(
        default=None, description="Status MERGED: the incident this one was merged into.")
    merged_from: list[str] = strawberry.field(
        default_factory=list, description="Incidents merged into this one.")
    split_into: list[str] = strawberry.field(
        default_factory=list, description="Incidents evidence was split off into.")
    linked_to: str | None = strawberry.field(
        default=None, description="The earlier incident this one follows or was split from.")


@strawberry.type(description="One step of an incident's procedure (checklist).")
class ChecklistStep:
    key: str
    labels: JSON = strawberry.field(description="The label in every language (en, ru, kk).")
    mandatory: bool
    due_at: datetime | None = strawberry.field(description="Deadline (opening + deadline_s).")
    outcome: str | None = strawberry.field(description="`done`, `skipped` or null (pending).")
    actor: str | None
    at: datetime | None
    reason: str | None = strawberry.field(description="Why it was skipped (free text: null "
                                                      "for audiences that may not read it).")
    overdue: bool = strawberry.field(description="Escalated for missing its deadline.")

    @described("The label in `lang` (en, ru, kk; else English).")
    def label(self, lang: str = "en") -> str:
        labels = cast(dict[str, str], self.labels)
        return labels.get(lang) or labels.get("en") or self.key


@strawberry.type(description="Dispatch needs a second operator's verification.")
class Verification:
    acknowledged_by: str | None
    verified_by: str | None


def _checklist(s: IncidentState, reveal: Reveal) -> list[ChecklistStep]:
    keep_text = action_for(reveal.name, _FREE_TEXT, READER_POLICIES) is Action.KEEP
    return [ChecklistStep(
        key=c["key"], labels=json_value(c["labels"]), mandatory=c["mandatory"],
        due_at=c["due_at"], outcome=c["outcome"], actor=c["actor"], at=c["at"],
        reason=c["reason"] if keep_text else None, overdue=c["overdue"],
    ) for c in s.checklist]


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
        personal_masked=not reveal.sees_personal, procedure=s.procedure,
        checklist=_checklist(s, reveal),
        verification=Verification(acknowledged_by=s.acknowledged_by,
                                  verified_by=s.verified_by)
        if s.verification_required else None,
        merged_into=s.merged_into, merged_from=list(s.merged_from),
        split_into=list(s.split_into), linked_to=s.linked_to,
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


@strawberry.type(description="Closing refused: mandatory steps are neither done nor skipped "
                             "(a supervisor may close with `overrideReason`).")
class ProcedureIncomplete:
    message: str
    steps: list[str]


@strawberry.type(description="A two-person verification path refused: `code` is NOT_VERIFIED "
                             "(dispatch before a second operator verified) or SAME_PERSON "
                             "(the one who acknowledged cannot verify).")
class VerificationRefused:
    message: str
    code: str


MutationResult = Annotated[
    Success | IllegalTransition | VersionConflict | NotFound | Forbidden | InvalidInput
    | ProcedureIncomplete | VerificationRefused,
    strawberry.union("MutationResult"),
]
