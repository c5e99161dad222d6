"""Operators' commands on one incident: typed values, each carried out by one aggregate method.

A command says what a person asked for; `IncidentApp.execute` loads the incident, checks the
caller's guard and the expected version, calls the aggregate and saves (domain/operations.py).
The actor and the instant are passed beside the command, never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.incident import Incident

__all__ = [
    "Acknowledge", "AddNote", "Assign", "Close", "CompleteStep", "Dispatch", "Escalate",
    "MarkFalseAlarm", "Merge", "OperatorCommand", "PlaceLegalHold", "RejectVerification",
    "ReleaseLegalHold", "Reopen", "Resolve", "Route", "SkipStep", "Split", "Verify",
]


@dataclass(frozen=True, slots=True)
class Acknowledge:
    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.acknowledge(actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class Assign:
    assignee: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.assign(assignee=self.assignee, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class Dispatch:
    unit: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.dispatch(unit=self.unit, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class Resolve:
    resolution: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.resolve(resolution=self.resolution, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class MarkFalseAlarm:
    reason: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.mark_false_alarm(reason=self.reason, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class Reopen:
    reason: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.reopen(reason=self.reason, detection_ids=[], actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class Close:
    """Close; with mandatory procedure steps unsettled only with a supervisor's `override`."""

    override: str | None = None

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.close(actor=actor, at=at, override=self.override)


@dataclass(frozen=True, slots=True)
class AddNote:
    text: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.add_note(text=self.text, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class Route:
    """A supervisor routes the incident to more agencies (their feeds get its history)."""

    agencies: Sequence[str]

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.route(agencies=self.agencies, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class Escalate:
    """A supervisor's manual escalation: one level up, severity +1 (at most 4)."""

    level: int
    reason: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.escalate(level=self.level, severity=min(incident.severity + 1, 4),
                          reason=self.reason, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class PlaceLegalHold:
    """Preserve the incident's personal data: retention skips it, shredding is refused."""

    reason: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.place_legal_hold(reason=self.reason, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class ReleaseLegalHold:
    reason: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.release_legal_hold(reason=self.reason, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class CompleteStep:
    """A checklist step of the incident's procedure is done."""

    step: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.complete_step(step=self.step, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class SkipStep:
    """A checklist step is not needed here, and why (closing accepts a skipped step)."""

    step: str
    reason: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.skip_step(step=self.step, reason=self.reason, actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class Verify:
    """A second operator confirms an acknowledged incident of a two-person kind."""

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.verify(actor=actor, at=at)


@dataclass(frozen=True, slots=True)
class RejectVerification:
    """A second operator disagrees: the incident becomes a false alarm naming both."""

    reason: str

    def apply(self, incident: Incident, actor: str, at: datetime) -> None:
        incident.reject_verification(reason=self.reason, actor=actor, at=at)


OperatorCommand = (Acknowledge | Assign | Dispatch | Resolve | MarkFalseAlarm | Reopen | Close
                   | AddNote | Route | Escalate | PlaceLegalHold | ReleaseLegalHold
                   | CompleteStep | SkipStep | Verify | RejectVerification)
"""Every command an operator, supervisor or legal officer runs on one incident."""


# --- merge and split (issue 14): commands on two incidents -------------------------------


@dataclass(frozen=True, slots=True)
class Merge:
    """A supervisor merges incident `merged_id` into the incident the command runs on; that
    one takes its evidence and routing, and the merged one's correlation key points to it."""

    merged_id: UUID
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Split:
    """A supervisor moves evidence (`detection_ids`) out of an incident into a new one."""

    detection_ids: tuple[str, ...]
    reason: str = ""
