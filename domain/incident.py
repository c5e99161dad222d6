"""The Incident aggregate: one situation the city reacts to, from opening to closing.

Lifecycle (DESIGN.md): OPEN → ACKNOWLEDGED → DISPATCHED → RESOLVED → CLOSED, plus FALSE_ALARM,
AUTO_RESOLVED and REOPENED; escalation raises level and severity without changing status.
Public command methods guard transitions and raise `IllegalTransition`; the private `@event`
methods only apply facts. Every event records its `actor` ("operator:<id>" or
"rule:<group>@<version>") and its `timestamp`, which the caller passes in: nothing here reads
a clock, so replay is stable.

Event history (version 1 unless noted):
    Opened (v2), EvidenceAdded (v2), Escalated, Acknowledged, Assigned, Dispatched, Resolved,
    AutoResolved, MarkedFalseAlarm, Reopened (v2), Closed, NoteAdded, RoutedTo,
    AgencyResponded, OriginAmended, LateEvidenceAdded (v2), AppealAttached.

Evidence images: `Opened`, `EvidenceAdded`, `LateEvidenceAdded` and `Reopened` (v2) carry the
snapshot references of their detections as `{"ref": uri, "sha256": hex digest or None}`,
coalesced (one per image: de-duplicated by sha256, or by ref when a detector sent no digest)
and never capped: every image stays referenced. v1 events read back through upcasters: v1
`Opened` and `Reopened` stored none, v1 evidence events stored at most 5 bare URIs (read as
refs without a digest). The ref is personal data (sealed under the incident's snapshot key);
the digest is not, so it stays readable after a shred as proof that the image existed.

Facts about what was seen do not depend on the order detections arrive in: first and last seen
are the minimum and maximum observed times over all evidence, and the incident's site and
primary source are those of its earliest observation (`Origin`, ties broken by detection id);
when older evidence arrives later, `OriginAmended` moves them. Detections observed before the
incident was resolved that arrive after it are kept as `LateEvidenceAdded` (no status change).

Procedures and two-person verification (`domain.procedures`): right after `Opened` the
opening rule records `ProcedureAssigned` (the checklist as it was: step keys, labels,
mandatory flags, deadlines after opening) and, for two-person kinds, `VerificationRequired`.
People record `StepCompleted` / `StepSkipped` (with a reason) in any status but CLOSED or
MERGED; a mandatory step past its deadline gets `StepOverdue` from the timers, with an
`Escalated` while below `MAX_LEVEL`; `close` refuses unsettled mandatory steps
(`ProcedureIncomplete`) unless given an override reason (`ProcedureOverridden`, then
`Closed`). Dispatch of a two-person incident needs `Verified` by an actor other than the one
who acknowledged (`NotVerified`, `SamePerson`); `VerificationRejected` is followed by
`MarkedFalseAlarm` naming both. All version 1.

Merge and split (all version 1): a supervisor merges incident B into A — A records `Merged`
(B's evidence not yet on A, its images, sources, appeals and the agencies A was not routed to)
and B `MergedInto` (status `MERGED`, final: nothing merges into or out of it, and it takes no
lifecycle command). Both histories stay; the correlator sends B's key to A through its track
(`domain.track`, `Redirected`). `split` moves chosen detections out of an incident
(`EvidenceSplitOff`) into a new incident opened by the supervisor (its `Opened` has rule
`split:<id>` and `linked_to` the source; its id derives from the source and the moved ids).
A merge copies B's image refs into A's `Merged` (sealed under A's snapshot key): an erasure of
B's images alone leaves A's copies.

`AgencyResponded` records an agency's report-back (accepted, declined with a reason, done) as
a fact about the incident; it changes no lifecycle status (DESIGN.md names no rule that would).

`LegalHoldPlaced` / `LegalHoldReleased` (any status) preserve the incident's personal data:
retention skips the keys it references and a shred that would touch it is refused.
`PersonalDataErased` records that keys its personal values were sealed under were shredded
(`domain.erasure`): the named data classes read as `[shredded]` from then on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.erasure import redact_key, redact_snapshots, redact_subject
from domain.errors import IllegalTransition, InvalidCommand, MergeRefused
from domain.kinds import ACTIVE_STATUSES, CLOSED_OR_MERGED, TERMINALISH_STATUSES, Agency, Status
from domain.procedures import NotVerified, ProcedureIncomplete, SamePerson

__all__ = ["AGENCY_RESPONSES", "MAX_LEVEL", "NAMESPACE", "Incident", "Origin", "SnapshotRef",
           "agency_actor", "coalesce_snapshots", "incident_id_for", "operator", "rule_actor",
           "snapshot_key", "split_key_for"]

NAMESPACE = uuid5(NAMESPACE_URL, "https://kuzet.dev/ns/incident")
MAX_LEVEL = 3
MAX_NOTE = 4000
AGENCY_RESPONSES = frozenset({"accepted", "declined", "done"})
"""What an agency may report back about an incident routed to it."""
MAX_REASON = 2000
MAX_REPORT_ID = 200

SnapshotRef = dict[str, Any]
"""One evidence image: `{"ref": uri, "sha256": 64 hex digits or None}` (as stored)."""


def snapshot_key(snapshot: Mapping[str, Any]) -> str:
    """What makes two references one image: the digest, else (no digest sent) the ref."""
    digest = snapshot.get("sha256")
    if isinstance(digest, str) and digest:
        return f"sha256:{digest}"
    return f"ref:{snapshot.get('ref')}"


def coalesce_snapshots(snapshots: Iterable[Mapping[str, Any]],
                       known: Iterable[str] = ()) -> list[SnapshotRef]:
    """`snapshots` de-duplicated by `snapshot_key`, in first-seen order, without those whose
    key is in `known` (already on the incident). Nothing else is dropped."""
    seen = set(known)
    out: list[SnapshotRef] = []
    for snap in snapshots:
        key = snapshot_key(snap)
        if key not in seen:
            seen.add(key)
            out.append({"ref": snap.get("ref"), "sha256": snap.get("sha256") or None})
    return out


def _v1_snapshots(state: dict[str, Any]) -> None:
    """Upcast v1 bare refs (strings, or sealed markers of strings) to refs without a digest."""
    state["snapshots"] = [{"ref": s, "sha256": None} for s in state.get("snapshots") or ()]


@dataclass(frozen=True, slots=True)
class Origin:
    """The earliest observation among some evidence: it gives an incident its site, primary
    source and first-seen time. Earlier means (observed_at, detection_id) is smaller."""

    observed_at: datetime
    detection_id: str
    source_id: str
    site_id: str | None
    location: Mapping[str, float] | None

    def precedes(self, at: datetime, detection_id: str) -> bool:
        return (self.observed_at, self.detection_id) < (at, detection_id)


def incident_id_for(key: str, episode: int) -> UUID:
    """The incident id of the `episode`-th incident of correlation `key` (deterministic)."""
    return uuid5(NAMESPACE, f"incident:{key}#{episode}")


def operator(operator_id: str) -> str:
    """The actor string for a human operator."""
    if not operator_id or len(operator_id) > 200:
        raise ValueError(f"operator id {operator_id!r} must be 1..200 characters")
    return f"operator:{operator_id}"


def agency_actor(agency: str, person: str | None = None) -> str:
    """The actor string for an agency (and optionally its officer or unit): `agency:police/p-17`."""
    if not agency or (person is not None and not 0 < len(person) <= 200):
        raise ValueError(f"agency {agency!r} / person {person!r} must be non-empty (person <= 200)")
    return f"agency:{agency}" + (f"/{person}" if person else "")


def split_key_for(incident_id: UUID, detection_ids: Iterable[str]) -> str:
    """The incident key of evidence `detection_ids` split off incident `incident_id`: no
    correlation key (nothing correlates into a split), and deterministic."""
    digest = uuid5(NAMESPACE, ",".join(sorted(detection_ids))).hex[:16]
    return f"split:{incident_id}:{digest}"


def rule_actor(rule_ref: str) -> str:
    return rule_ref if rule_ref.startswith("rule:") else f"rule:{rule_ref}"


class Incident(Aggregate):
    """An incident; its id is derived from (`incident_key`, `episode`) by `incident_id_for`."""

    @staticmethod
    def create_id(incident_key: str, episode: int) -> UUID:
        return incident_id_for(incident_key, episode)

    class Opened(Aggregate.Created):
        """Opened: a rule saw enough evidence for a new incident. v2 added `snapshots` (the
        opening detections' images; v1 events read back with none)."""

        class_version = 2
        incident_key: str
        episode: int
        kind: str
        severity: int
        site_id: str | None
        location: Mapping[str, float] | None
        source_ids: Sequence[str]
        detection_ids: Sequence[str]
        first_seen_at: datetime
        last_seen_at: datetime
        sla_due_at: datetime
        agencies: Sequence[str]
        subject: Mapping[str, Any]
        linked_to: str | None
        rule: str
        actor: str
        snapshots: Sequence[Mapping[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["snapshots"] = []

    @event(Opened)
    def __init__(
        self,
        *,
        incident_key: str,
        episode: int,
        kind: str,
        severity: int,
        site_id: str | None,
        location: Mapping[str, float] | None,
        source_ids: Sequence[str],
        detection_ids: Sequence[str],
        first_seen_at: datetime,
        last_seen_at: datetime,
        sla_due_at: datetime,
        agencies: Sequence[str],
        subject: Mapping[str, Any],
        linked_to: str | None,
        rule: str,
        actor: str,
        timestamp: datetime,
        snapshots: Sequence[Mapping[str, Any]],
    ) -> None:
        """Opened: a rule saw enough evidence (`detection_ids`) for a new incident."""
        self.incident_key = incident_key
        self.episode = episode
        self.kind = kind
        self.severity = severity
        self.level = 0
        self.status = Status.OPEN
        self.site_id = site_id
        self.location = dict(location) if location else None
        self.sources = list(dict.fromkeys(source_ids))
        self.evidence_ids: set[str] = set(detection_ids)
        self.evidence_count = len(self.evidence_ids)
        self.opening_detection_ids = list(detection_ids)
        self.snapshots: list[SnapshotRef] = []
        """Every evidence image referenced by this incident's events (coalesced)."""
        self._snapshot_keys: set[str] = set()
        self._take_snapshots(snapshots)
        self.first_seen_at = first_seen_at
        self.last_seen_at = last_seen_at
        self.origin_at = first_seen_at
        self.origin_detection_id = detection_ids[0] if detection_ids else ""
        """The earliest observation's detection id (Opened lists it first)."""
        self.late_evidence = 0
        """Detections recorded after the incident was resolved (observed before that)."""
        self.appeals: dict[str, str] = {}
        """Citizens' appeals that are part of this incident: appeal id → category."""
        self.opened_at = timestamp
        self.sla_due_at = sla_due_at
        self.acknowledged_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.agencies = list(agencies)
        self.subject = dict(subject)
        self.linked_to = linked_to
        self.rule = rule
        self.assigned_to: str | None = None
        self.notes = 0
        self.legal_hold = False
        self.agency_reports: dict[str, tuple[str, str | None]] = {}
        """`agency:report_id` → (response, reason): makes report-backs idempotent."""
        self.agency_responses: dict[str, str] = {}
        """Each agency's latest response."""
        self._no_procedure_yet()

    # --- guards ---------------------------------------------------------------------------

    def _require(self, command: str, allowed: Iterable[Status]) -> None:
        if self.status not in allowed:
            raise IllegalTransition(self.id, command, self.status.value)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def new_snapshots(self, snapshots: Iterable[Mapping[str, Any]]) -> list[SnapshotRef]:
        """The images not yet referenced by this incident, coalesced."""
        return coalesce_snapshots(snapshots, self._snapshot_keys)

    def snapshot(self, sha256: str) -> SnapshotRef | None:
        """The reference of this incident's image with digest `sha256`, if it has one."""
        return next((s for s in self.snapshots if s.get("sha256") == sha256), None)

    def _take_snapshots(self, snapshots: Iterable[Mapping[str, Any]]) -> None:
        """Events carry coalesced refs (the commands coalesce): each is kept as recorded."""
        for snap in snapshots:
            self._snapshot_keys.add(snapshot_key(snap))
            self.snapshots.append(dict(snap))

    def new_evidence(self, detection_ids: Iterable[str]) -> list[str]:
        """The ids not yet recorded on this incident, in first-seen order (dedup)."""
        return [d for d in dict.fromkeys(detection_ids) if d not in self.evidence_ids]

    # --- commands -------------------------------------------------------------------------

    def add_evidence(
        self, *, detection_ids: Sequence[str], source_ids: Sequence[str], count: int,
        first_seen_at: datetime, last_seen_at: datetime, max_confidence: float,
        snapshots: Sequence[Mapping[str, Any]], suppressed: bool, actor: str, at: datetime,
        origin: Origin | None = None,
    ) -> bool:
        """Record new detections; ids already recorded are dropped. False if nothing new.
        `origin` (the earliest of them) amends the incident's origin if it precedes it."""
        self._require("add evidence to", ACTIVE_STATUSES)
        fresh = self.new_evidence(detection_ids)
        if not fresh:
            return False
        self._evidence_added(
            detection_ids=fresh, source_ids=[s for s in source_ids if s not in self.sources],
            count=count, first_seen_at=first_seen_at, last_seen_at=last_seen_at,
            max_confidence=max_confidence, snapshots=self.new_snapshots(snapshots),
            suppressed=suppressed, actor=actor, timestamp=at,
        )
        self._amend_origin(origin, actor, at)
        return True

    def add_late_evidence(
        self, *, detection_ids: Sequence[str], source_ids: Sequence[str], count: int,
        first_seen_at: datetime, last_seen_at: datetime, max_confidence: float,
        snapshots: Sequence[Mapping[str, Any]], actor: str, at: datetime,
        origin: Origin | None = None,
    ) -> bool:
        """Record detections that arrived after the incident was resolved, closed or marked a
        false alarm (observed before that): flagged late, the status stays. False if none new."""
        self._require("add late evidence to", set(Status) - ACTIVE_STATUSES)
        fresh = self.new_evidence(detection_ids)
        if not fresh:
            return False
        self._late_evidence_added(
            detection_ids=fresh, source_ids=[s for s in source_ids if s not in self.sources],
            count=count, first_seen_at=first_seen_at, last_seen_at=last_seen_at,
            max_confidence=max_confidence, snapshots=self.new_snapshots(snapshots), actor=actor,
            timestamp=at,
        )
        self._amend_origin(origin, actor, at)
        return True

    def attach_appeal(self, *, appeal_id: str, category: str, text: str | None, actor: str,
                      at: datetime) -> bool:
        """A citizen's appeal is part of this incident (any status); False if it already is."""
        if appeal_id in self.appeals:
            return False
        if not appeal_id or not category:
            raise InvalidCommand(self.id, "an appeal needs its id and category")
        self._appeal_attached(appeal_id=appeal_id, category=category, text=text or "",
                              actor=actor, timestamp=at)
        return True

    def _amend_origin(self, origin: Origin | None, actor: str, at: datetime) -> None:
        if origin is not None and origin.precedes(self.origin_at, self.origin_detection_id):
            self._origin_amended(
                observed_at=origin.observed_at, detection_id=origin.detection_id,
                source_id=origin.source_id, site_id=origin.site_id,
                location=dict(origin.location) if origin.location else None, actor=actor,
                timestamp=at)

    def escalate(self, *, level: int, severity: int, reason: str, actor: str,
                 at: datetime) -> None:
        self._require("escalate", ACTIVE_STATUSES)
        if not self.level < level <= MAX_LEVEL:
            raise InvalidCommand(self.id, f"level {level} must be in ({self.level}, {MAX_LEVEL}]")
        self._escalated(level=level, severity=max(severity, self.severity), reason=reason,
                        actor=actor, timestamp=at)

    def acknowledge(self, *, actor: str, at: datetime) -> None:
        self._require("acknowledge", {Status.OPEN, Status.REOPENED})
        self._acknowledged(actor=actor, timestamp=at)

    def assign(self, *, assignee: str, actor: str, at: datetime) -> None:
        self._require("assign", ACTIVE_STATUSES)
        if not assignee:
            raise InvalidCommand(self.id, "assignee must not be empty")
        self._assigned(assignee=assignee, actor=actor, timestamp=at)

    def dispatch(self, *, unit: str, actor: str, at: datetime) -> None:
        self._require("dispatch", {Status.ACKNOWLEDGED})
        if self.verification_required and self.verified_by is None:
            raise NotVerified(self.id)
        self._dispatched(unit=unit, actor=actor, timestamp=at)

    def resolve(self, *, resolution: str, actor: str, at: datetime) -> None:
        self._require("resolve", {Status.ACKNOWLEDGED, Status.DISPATCHED})
        self._resolved(resolution=resolution, actor=actor, timestamp=at)

    def auto_resolve(self, *, reason: str, actor: str, at: datetime) -> None:
        """Inactivity: only before dispatch (a crew on its way is never auto-resolved)."""
        self._require("auto-resolve", {Status.OPEN, Status.REOPENED, Status.ACKNOWLEDGED})
        self._auto_resolved(reason=reason, last_seen_at=self.last_seen_at, actor=actor,
                            timestamp=at)

    def mark_false_alarm(self, *, reason: str, actor: str, at: datetime) -> None:
        self._require("mark as false alarm", ACTIVE_STATUSES)
        self._marked_false_alarm(reason=reason, actor=actor, timestamp=at)

    def reopen(self, *, reason: str, detection_ids: Sequence[str], actor: str,
               at: datetime, snapshots: Sequence[Mapping[str, Any]] = ()) -> None:
        self._require("reopen", TERMINALISH_STATUSES)
        self._reopened(reason=reason, detection_ids=self.new_evidence(detection_ids),
                       snapshots=self.new_snapshots(snapshots), actor=actor, timestamp=at)

    def close(self, *, actor: str, at: datetime, override: str | None = None) -> None:
        """Close; mandatory steps still open need a supervisor's `override` reason."""
        self._require("close", TERMINALISH_STATUSES)
        self._check_procedure_for_close(override, actor, at)
        self._closed(actor=actor, timestamp=at)

    def add_note(self, *, text: str, actor: str, at: datetime) -> None:
        if not text.strip() or len(text) > MAX_NOTE:
            raise InvalidCommand(self.id, f"a note must be 1..{MAX_NOTE} characters")
        self._note_added(text=text, actor=actor, timestamp=at)

    def route(self, *, agencies: Sequence[str], actor: str, at: datetime) -> bool:
        """Route to more agencies; False when it already went to all of them."""
        unknown = sorted(set(agencies) - {a.value for a in Agency})
        if unknown or not agencies:
            raise InvalidCommand(self.id, f"route to known agencies, not {unknown or 'none'}")
        added = [a for a in dict.fromkeys(agencies) if a not in self.agencies]
        if added:
            self._routed_to(agencies=added, actor=actor, timestamp=at)
        return bool(added)

    def record_agency_response(self, *, agency: str, response: str, reason: str | None,
                               report_id: str, actor: str, at: datetime) -> bool:
        """An agency's report-back; False when this report id was already recorded as is.

        Any status accepts it (an agency may report `done` after the incident was closed); only
        agencies the incident is routed to may report, and a report id is never reused.
        """
        seen = self.agency_reports.get(f"{agency}:{report_id}")
        if seen is not None:
            if seen != (response, reason):
                raise InvalidCommand(self.id, f"report {report_id!r} of {agency} was already "
                                              f"recorded with different content ({seen[0]})")
            return False
        self._check_agency_response(agency, response, reason, report_id)
        self._agency_responded(agency=agency, response=response, reason=reason,
                               report_id=report_id, actor=actor, timestamp=at)
        return True

    def _check_agency_response(self, agency: str, response: str, reason: str | None,
                               report_id: str) -> None:
        if agency not in self.agencies:
            raise InvalidCommand(self.id, f"incident {self.id} is not routed to {agency!r}")
        if response not in AGENCY_RESPONSES:
            raise InvalidCommand(self.id, f"response {response!r} must be one of "
                                          f"{', '.join(sorted(AGENCY_RESPONSES))}")
        if response == "declined" and not (reason or "").strip():
            raise InvalidCommand(self.id, "a declined response needs a reason")
        if reason is not None and len(reason) > MAX_REASON:
            raise InvalidCommand(self.id, f"a reason must be at most {MAX_REASON} characters")
        if not 0 < len(report_id) <= MAX_REPORT_ID:
            raise InvalidCommand(self.id, f"report id must be 1..{MAX_REPORT_ID} characters")

    def place_legal_hold(self, *, reason: str, actor: str, at: datetime) -> None:
        """Preserve the personal data: retention skips it and shredding its subject is refused."""
        self._check_hold_reason(reason)
        if self.legal_hold:
            raise InvalidCommand(self.id, f"incident {self.id} is already under legal hold")
        self._legal_hold_placed(reason=reason, actor=actor, timestamp=at)

    def release_legal_hold(self, *, reason: str, actor: str, at: datetime) -> None:
        self._check_hold_reason(reason)
        if not self.legal_hold:
            raise InvalidCommand(self.id, f"incident {self.id} is not under legal hold")
        self._legal_hold_released(reason=reason, actor=actor, timestamp=at)

    def _check_hold_reason(self, reason: str) -> None:
        if not reason.strip() or len(reason) > MAX_REASON:
            raise InvalidCommand(self.id, f"a legal-hold reason must be 1..{MAX_REASON} characters")

    def erase_personal_data(self, *, erasure_id: str, key_ids: Sequence[str],
                            data_classes: Sequence[str], actor: str, at: datetime) -> None:
        """Record a shred that already happened (no guard: the keys are gone either way)."""
        self._personal_data_erased(erasure_id=erasure_id, key_ids=list(key_ids),
                                   data_classes=sorted(set(data_classes)), actor=actor,
                                   timestamp=at)

    # --- procedures (checklists) and two-person verification --------------------------------

    def _no_procedure_yet(self) -> None:
        """Opened: no checklist and one operator may dispatch, until the events that follow
        Opened (`ProcedureAssigned`, `VerificationRequired`) say otherwise."""
        self.procedure: str | None = None
        """`id@version` of the procedure in force when it opened (`ProcedureAssigned`)."""
        self.steps: tuple[dict[str, Any], ...] = ()
        self.step_outcomes: dict[str, dict[str, Any]] = {}
        """Step key → {"outcome": "done" | "skipped", "actor", "at", "reason"}."""
        self.overdue_steps: set[str] = set()
        """Mandatory steps escalated for missing their deadline (each once)."""
        self.procedure_override: str | None = None
        self.verification_required = False
        self.verified_by: str | None = None
        self.acknowledged_by: str | None = None

    def assign_procedure(self, *, procedure: str, steps: Sequence[Mapping[str, Any]],
                         actor: str, at: datetime) -> None:
        """Copy the procedure in force onto the incident (once, when it opens)."""
        if self.procedure is not None:
            raise InvalidCommand(self.id, f"incident {self.id} already follows {self.procedure}")
        if not steps:
            raise InvalidCommand(self.id, f"procedure {procedure} has no steps")
        self._procedure_assigned(procedure=procedure, steps=[dict(s) for s in steps],
                                 actor=actor, timestamp=at)

    def require_verification(self, *, policy: str, actor: str, at: datetime) -> None:
        """Dispatch will need a second operator's `Verified` (two-person kinds)."""
        if not self.verification_required:
            self._verification_required(policy=policy, actor=actor, timestamp=at)

    def step(self, key: str) -> dict[str, Any]:
        found = next((s for s in self.steps if s["key"] == key), None)
        if found is None:
            raise InvalidCommand(self.id, f"incident {self.id} has no step {key!r} "
                                          f"(procedure {self.procedure or 'none'})")
        return found

    def step_due_at(self, key: str) -> datetime | None:
        deadline = self.step(key).get("deadline_s")
        return self.opened_at + timedelta(seconds=deadline) if deadline else None

    def outstanding_steps(self) -> list[str]:
        """Mandatory steps neither done nor skipped, in procedure order."""
        return [s["key"] for s in self.steps
                if s["mandatory"] and s["key"] not in self.step_outcomes]

    def next_step_due(self) -> tuple[str, datetime] | None:
        """The outstanding mandatory step whose deadline comes first and that was not yet
        escalated: (key, due), for the timers; None when nothing is pending."""
        due = [(d, k) for k in self.outstanding_steps() if k not in self.overdue_steps
               and (d := self.step_due_at(k)) is not None]
        return (min(due)[1], min(due)[0]) if due else None

    def _settle_step(self, command: str, key: str) -> None:
        self._require(command, ACTIVE_STATUSES | TERMINALISH_STATUSES)
        self.step(key)
        if key in self.step_outcomes:
            raise InvalidCommand(self.id, f"step {key!r} is already "
                                          f"{self.step_outcomes[key]['outcome']}")

    def complete_step(self, *, step: str, actor: str, at: datetime) -> None:
        self._settle_step("complete a step of", step)
        self._step_completed(step=step, actor=actor, timestamp=at)

    def skip_step(self, *, step: str, reason: str, actor: str, at: datetime) -> None:
        self._settle_step("skip a step of", step)
        if not reason.strip() or len(reason) > MAX_REASON:
            raise InvalidCommand(self.id, f"skipping a step needs a reason of 1..{MAX_REASON} "
                                          "characters")
        self._step_skipped(step=step, reason=reason, actor=actor, timestamp=at)

    def escalate_overdue_step(self, *, step: str, actor: str, at: datetime) -> bool:
        """A mandatory step past its deadline goes to the supervisor: `StepOverdue`, and one
        level up while below `MAX_LEVEL`. False (nothing recorded) when the step was settled
        or escalated meanwhile, is not yet due, or the incident is no longer active."""
        due = self.step_due_at(step)
        if (not self.is_active or due is None or at < due or step in self.overdue_steps
                or step in self.step_outcomes or not self.step(step)["mandatory"]):
            return False
        deadline = int((due - self.opened_at).total_seconds())
        self._step_overdue(step=step, due_at=due, actor=actor, timestamp=at)
        if self.level < MAX_LEVEL:
            self._escalated(level=self.level + 1, severity=self.severity,
                            reason=f"mandatory step {step} not done within {deadline}s",
                            actor=actor, timestamp=at)
        return True

    def _check_procedure_for_close(self, override: str | None, actor: str, at: datetime) -> None:
        """Closing needs every mandatory step settled, or a supervisor's override reason."""
        missing = self.outstanding_steps()
        if not missing:
            return
        if override is None or not override.strip():
            raise ProcedureIncomplete(self.id, missing)
        if len(override) > MAX_REASON:
            raise InvalidCommand(self.id, f"an override reason must be at most {MAX_REASON} "
                                          "characters")
        self._procedure_overridden(reason=override, steps=missing, actor=actor, timestamp=at)

    def _check_verifier(self, actor: str) -> None:
        self._require("verify", {Status.ACKNOWLEDGED})
        if not self.verification_required:
            raise InvalidCommand(self.id, f"incident {self.id} ({self.kind}) needs no "
                                          "two-person verification")
        if self.verified_by is not None:
            raise InvalidCommand(self.id, f"incident {self.id} was already verified by "
                                          f"{self.verified_by}")
        if actor == self.acknowledged_by:
            raise SamePerson(self.id, actor)

    def verify(self, *, actor: str, at: datetime) -> None:
        """A second operator confirms what the first acknowledged: dispatch may follow."""
        self._check_verifier(actor)
        self._verified(acknowledged_by=self.acknowledged_by or "", actor=actor, timestamp=at)

    def reject_verification(self, *, reason: str, actor: str, at: datetime) -> None:
        """A second operator disagrees: a false alarm that names both people."""
        self._check_verifier(actor)
        if not reason.strip() or len(reason) > MAX_REASON:
            raise InvalidCommand(self.id, f"a rejection needs a reason of 1..{MAX_REASON} "
                                          "characters")
        first = self.acknowledged_by or ""
        self._verification_rejected(reason=reason, acknowledged_by=first, actor=actor,
                                    timestamp=at)
        self._marked_false_alarm(
            reason=f"verification rejected by {actor}; acknowledged by {first}",
            actor=actor, timestamp=at)

    @event("ProcedureAssigned")
    def _procedure_assigned(self, procedure: str, steps: list[dict[str, Any]], actor: str,
                            timestamp: datetime) -> None:
        """ProcedureAssigned: the incident follows procedure `procedure` (`id@version`);
        `steps` are its steps as they were then (key, labels per language, mandatory,
        deadline_s after opening)."""
        self.procedure = procedure
        self.steps = tuple(dict(s) for s in steps)

    @event("VerificationRequired")
    def _verification_required(self, policy: str, actor: str, timestamp: datetime) -> None:
        """VerificationRequired: dispatch needs a second operator's verification (`policy`
        names the procedures version whose `two_person_kinds` listed this kind)."""
        self.verification_required = True

    @event("StepCompleted")
    def _step_completed(self, step: str, actor: str, timestamp: datetime) -> None:
        """StepCompleted: `actor` did checklist step `step`."""
        self.step_outcomes[step] = {"outcome": "done", "actor": actor, "at": timestamp,
                                    "reason": None}

    @event("StepSkipped")
    def _step_skipped(self, step: str, reason: str, actor: str, timestamp: datetime) -> None:
        """StepSkipped: `actor` skipped checklist step `step` because `reason` (free text)."""
        self.step_outcomes[step] = {"outcome": "skipped", "actor": actor, "at": timestamp,
                                    "reason": reason}

    @event("StepOverdue")
    def _step_overdue(self, step: str, due_at: datetime, actor: str,
                      timestamp: datetime) -> None:
        """StepOverdue: mandatory step `step` was neither done nor skipped by `due_at`; the
        incident went to the supervisor (an `Escalated` follows while below the top level)."""
        self.overdue_steps.add(step)

    @event("ProcedureOverridden")
    def _procedure_overridden(self, reason: str, steps: list[str], actor: str,
                              timestamp: datetime) -> None:
        """ProcedureOverridden: a supervisor closes with mandatory `steps` unsettled, because
        `reason` (free text); `Closed` follows."""
        self.procedure_override = reason

    @event("Verified")
    def _verified(self, acknowledged_by: str, actor: str, timestamp: datetime) -> None:
        """Verified: `actor`, a second operator, confirmed what `acknowledged_by` acknowledged."""
        self.verified_by = actor

    @event("VerificationRejected")
    def _verification_rejected(self, reason: str, acknowledged_by: str, actor: str,
                               timestamp: datetime) -> None:
        """VerificationRejected: `actor` disagreed with `acknowledged_by` because `reason`
        (free text); `MarkedFalseAlarm` follows, naming both."""

    # --- merge and split (issue 14): one situation recorded twice, or two in one ------------

    @property
    def merged_into(self) -> str | None:
        """The incident this one was merged into (`MergedInto`), if any."""
        value: str | None = self.__dict__.get("_merge_target")
        return value

    @property
    def merged_from(self) -> tuple[str, ...]:
        """The incidents merged into this one (`Merged`), in order."""
        value: tuple[str, ...] = self.__dict__.get("_merge_sources", ())
        return value

    @property
    def split_into(self) -> tuple[str, ...]:
        """The incidents evidence was split off into (`EvidenceSplitOff`), in order."""
        value: tuple[str, ...] = self.__dict__.get("_split_targets", ())
        return value

    def absorb(self, other: Incident, *, reason: str, actor: str, at: datetime) -> None:
        """A supervisor merges `other` into this incident: this one records `Merged` and takes
        its evidence, images, sources, appeals and routing; `other` records `MergedInto` and
        is `MERGED` from then on (its history stays; it takes no command but reads).

        Refused (nothing recorded on either): merging an incident into itself
        (`MergeRefused`), into or from a `CLOSED` or `MERGED` incident (`IllegalTransition`).
        Merging across kinds and agencies is allowed: the target takes the other's routing,
        so no agency that was told about either loses sight of the situation."""
        if other.id == self.id:
            raise MergeRefused(self.id, f"incident {self.id} cannot be merged into itself")
        self._require("merge into", set(Status) - CLOSED_OR_MERGED)
        other._require("merge", set(Status) - CLOSED_OR_MERGED)
        if len(reason) > MAX_REASON:
            raise InvalidCommand(self.id, f"a reason must be at most {MAX_REASON} characters")
        self._merged(
            merged_id=str(other.id), detection_ids=sorted(self.new_evidence(other.evidence_ids)),
            source_ids=[s for s in other.sources if s not in self.sources],
            snapshots=self.new_snapshots(other.snapshots),
            agencies=[a for a in other.agencies if a not in self.agencies],
            appeals={k: v for k, v in other.appeals.items() if k not in self.appeals},
            first_seen_at=other.first_seen_at, last_seen_at=other.last_seen_at,
            reason=reason, actor=actor, timestamp=at)
        other._merged_into(into_id=str(self.id), reason=reason, actor=actor, timestamp=at)

    def split(self, *, detection_ids: Sequence[str], reason: str, actor: str,
              at: datetime) -> Incident:
        """Move `detection_ids` out of this incident into a new one, returned unsaved.

        The new incident's id derives from this one's id and the moved ids (a repeated split
        request names the same incident); it opens `OPEN` with this incident's kind, severity,
        site, routing and subject, `linked_to` this one and rule `split:<this id>`. Its seen
        times are this incident's (evidence events record times per batch, not per detection).
        This incident records `EvidenceSplitOff`; both keep their histories."""
        self._require("split", set(Status) - CLOSED_OR_MERGED)
        moved = sorted(set(detection_ids))
        unknown = [d for d in moved if d not in self.evidence_ids]
        if not moved or unknown:
            raise InvalidCommand(self.id, f"split evidence of incident {self.id}, not "
                                          f"{unknown[:5] or 'nothing'}")
        if len(moved) >= len(self.evidence_ids):
            raise InvalidCommand(self.id, "a split must leave the incident some evidence")
        if len(reason) > MAX_REASON:
            raise InvalidCommand(self.id, f"a reason must be at most {MAX_REASON} characters")
        key = split_key_for(self.id, moved)
        new = Incident(
            incident_key=key, episode=0, kind=self.kind, severity=self.severity,
            site_id=self.site_id, location=self.location, source_ids=list(self.sources[:1]),
            detection_ids=moved, first_seen_at=self.first_seen_at,
            last_seen_at=self.last_seen_at, sla_due_at=at + (self.sla_due_at - self.opened_at),
            agencies=list(self.agencies), subject=self.subject, linked_to=str(self.id),
            rule=f"split:{self.id}", actor=actor, timestamp=at, snapshots=[])
        self._evidence_split_off(detection_ids=moved, into_id=str(new.id), reason=reason,
                                 actor=actor, timestamp=at)
        return new

    @event("Merged")
    def _merged(self, merged_id: str, detection_ids: list[str], source_ids: list[str],
                snapshots: list[SnapshotRef], agencies: list[str], appeals: dict[str, str],
                first_seen_at: datetime, last_seen_at: datetime, reason: str, actor: str,
                timestamp: datetime) -> None:
        """Merged: incident `merged_id` was merged into this one by `actor` (`reason`, free
        text); this one took its evidence not yet here (`detection_ids`, `source_ids`,
        `snapshots`), its `appeals` and its routing (`agencies` added)."""
        self._take_evidence(detection_ids, source_ids, first_seen_at, last_seen_at, snapshots)
        self.agencies.extend(agencies)
        self.appeals.update(appeals)
        self._merge_sources = (*self.merged_from, merged_id)

    @event("MergedInto")
    def _merged_into(self, into_id: str, reason: str, actor: str, timestamp: datetime) -> None:
        """MergedInto: this incident was merged into `into_id` by `actor`; status `MERGED`."""
        self.status = Status.MERGED
        self._merge_target = into_id

    @event("EvidenceSplitOff")
    def _evidence_split_off(self, detection_ids: list[str], into_id: str, reason: str,
                            actor: str, timestamp: datetime) -> None:
        """EvidenceSplitOff: `actor` moved `detection_ids` out of this incident into the new
        incident `into_id` (`reason`, free text)."""
        self.evidence_ids.difference_update(detection_ids)
        self.evidence_count = len(self.evidence_ids)
        self._split_targets = (*self.split_into, into_id)

    # --- events (facts only: no guards, no clocks) --------------------------------------

    class EvidenceAdded(Aggregate.Event):
        """EvidenceAdded: `count` detections (ids listed, deduplicated) since the last one and
        their images (`snapshots`, coalesced). v2: each image is `{ref, sha256}`, all of
        them; v1 stored at most 5 bare refs (read back as refs without a digest)."""

        class_version = 2
        detection_ids: list[str]
        source_ids: list[str]
        count: int
        first_seen_at: datetime
        last_seen_at: datetime
        max_confidence: float
        snapshots: list[SnapshotRef]
        suppressed: bool
        actor: str
        upcast_v1_v2 = staticmethod(_v1_snapshots)

    @event(EvidenceAdded)
    def _evidence_added(
        self, detection_ids: list[str], source_ids: list[str], count: int,
        first_seen_at: datetime, last_seen_at: datetime, max_confidence: float,
        snapshots: list[SnapshotRef], suppressed: bool, actor: str, timestamp: datetime,
    ) -> None:
        self._take_evidence(detection_ids, source_ids, first_seen_at, last_seen_at, snapshots)

    def _take_evidence(self, detection_ids: list[str], source_ids: list[str],
                       first_seen_at: datetime, last_seen_at: datetime,
                       snapshots: list[SnapshotRef]) -> None:
        self._take_snapshots(snapshots)
        self.evidence_ids.update(detection_ids)
        self.evidence_count = len(self.evidence_ids)
        self.sources.extend(s for s in source_ids if s not in self.sources)
        self.first_seen_at = min(self.first_seen_at, first_seen_at)
        self.last_seen_at = max(self.last_seen_at, last_seen_at)

    class LateEvidenceAdded(Aggregate.Event):
        """LateEvidenceAdded: `count` detections observed before the incident was resolved
        arrived after it (a camera's backlog, a delayed upload); the status stays. v2: images
        as `{ref, sha256}`, all of them; v1 stored at most 5 bare refs."""

        class_version = 2
        detection_ids: list[str]
        source_ids: list[str]
        count: int
        first_seen_at: datetime
        last_seen_at: datetime
        max_confidence: float
        snapshots: list[SnapshotRef]
        actor: str
        upcast_v1_v2 = staticmethod(_v1_snapshots)

    @event(LateEvidenceAdded)
    def _late_evidence_added(
        self, detection_ids: list[str], source_ids: list[str], count: int,
        first_seen_at: datetime, last_seen_at: datetime, max_confidence: float,
        snapshots: list[SnapshotRef], actor: str, timestamp: datetime,
    ) -> None:
        self._take_evidence(detection_ids, source_ids, first_seen_at, last_seen_at, snapshots)
        self.late_evidence += len(detection_ids)

    @event("AppealAttached")
    def _appeal_attached(self, appeal_id: str, category: str, text: str, actor: str,
                         timestamp: datetime) -> None:
        """AppealAttached: citizen's appeal `appeal_id` (the portal's id) about `category` is
        part of this incident; `text` is what the citizen wrote (free text: sealed, and shown
        only to whom the privacy policy lets see free text)."""
        self.appeals[appeal_id] = category

    @event("OriginAmended")
    def _origin_amended(self, observed_at: datetime, detection_id: str, source_id: str,
                        site_id: str | None, location: dict[str, float] | None, actor: str,
                        timestamp: datetime) -> None:
        """OriginAmended: evidence observed before the incident's earliest known observation
        arrived; the site (when the observation has one), location and primary source are now
        those of observation `detection_id`."""
        self.origin_at, self.origin_detection_id = observed_at, detection_id
        self.first_seen_at = min(self.first_seen_at, observed_at)
        if site_id is not None:
            self.site_id = site_id
        if location:
            self.location = dict(location)
        self.sources = [source_id, *(s for s in self.sources if s != source_id)]

    @event("Escalated")
    def _escalated(self, level: int, severity: int, reason: str, actor: str,
                   timestamp: datetime) -> None:
        self.level = level
        self.severity = severity

    @event("Acknowledged")
    def _acknowledged(self, actor: str, timestamp: datetime) -> None:
        self.status = Status.ACKNOWLEDGED
        self.acknowledged_at = timestamp
        self.acknowledged_by = actor

    @event("Assigned")
    def _assigned(self, assignee: str, actor: str, timestamp: datetime) -> None:
        self.assigned_to = assignee

    @event("Dispatched")
    def _dispatched(self, unit: str, actor: str, timestamp: datetime) -> None:
        self.status = Status.DISPATCHED

    @event("Resolved")
    def _resolved(self, resolution: str, actor: str, timestamp: datetime) -> None:
        self.status = Status.RESOLVED
        self.resolved_at = timestamp

    @event("AutoResolved")
    def _auto_resolved(self, reason: str, last_seen_at: datetime, actor: str,
                       timestamp: datetime) -> None:
        self.status = Status.AUTO_RESOLVED
        self.resolved_at = timestamp

    @event("MarkedFalseAlarm")
    def _marked_false_alarm(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.status = Status.FALSE_ALARM
        self.resolved_at = timestamp

    class Reopened(Aggregate.Event):
        """Reopened: detected again within the reopen window (`detection_ids`, their images in
        `snapshots`), or reopened by an operator (none). v2 added `snapshots` (v1: none)."""

        class_version = 2
        reason: str
        detection_ids: list[str]
        snapshots: list[SnapshotRef]
        actor: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["snapshots"] = []

    @event(Reopened)
    def _reopened(self, reason: str, detection_ids: list[str], snapshots: list[SnapshotRef],
                  actor: str, timestamp: datetime) -> None:
        self._take_snapshots(snapshots)
        self.status = Status.REOPENED
        self.resolved_at = None
        self.evidence_ids.update(detection_ids)
        self.evidence_count = len(self.evidence_ids)

    @event("Closed")
    def _closed(self, actor: str, timestamp: datetime) -> None:
        self.status = Status.CLOSED

    @event("NoteAdded")
    def _note_added(self, text: str, actor: str, timestamp: datetime) -> None:
        self.notes += 1

    @event("RoutedTo")
    def _routed_to(self, agencies: list[str], actor: str, timestamp: datetime) -> None:
        self.agencies.extend(agencies)

    @event("AgencyResponded")
    def _agency_responded(self, agency: str, response: str, reason: str | None, report_id: str,
                          actor: str, timestamp: datetime) -> None:
        """AgencyResponded: `agency` reported `response` (report `report_id`, by `actor`)."""
        self.agency_reports[f"{agency}:{report_id}"] = (response, reason)
        self.agency_responses[agency] = response

    @event("LegalHoldPlaced")
    def _legal_hold_placed(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.legal_hold = True

    @event("LegalHoldReleased")
    def _legal_hold_released(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.legal_hold = False

    @event("PersonalDataErased")
    def _personal_data_erased(self, erasure_id: str, key_ids: list[str],
                              data_classes: list[str], actor: str, timestamp: datetime) -> None:
        """PersonalDataErased: keys `key_ids` (erasure `erasure_id`) were shredded; values of
        `data_classes` read as `[shredded]` (redacted here too, as a replay would read them)."""
        self.incident_key = redact_key(self.incident_key, data_classes)
        self.subject = redact_subject(self.subject, data_classes)
        self.snapshots = redact_snapshots(self.snapshots, data_classes)
