"""Use case: people act on one incident (operators, supervisors, legal officers, agencies).

`execute` is the one path: load → the caller's guard → expected version → the command's
aggregate method → save; a concurrent write surfaces as `VersionConflict`. The named methods
(`acknowledge`, `dispatch`, …) are the same commands spelled as calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.commands import (
    Acknowledge,
    AddNote,
    Assign,
    Close,
    Dispatch,
    Escalate,
    MarkFalseAlarm,
    Merge,
    OperatorCommand,
    PlaceLegalHold,
    ReleaseLegalHold,
    Reopen,
    Resolve,
    Route,
    Split,
)
from domain.errors import VersionConflict
from domain.incident import Incident, agency_actor, operator
from domain.loading import IncidentStore
from domain.track import CorrelationTrack, track_id_for

__all__ = ["Guard", "OperatorCommands"]

Guard = Callable[[Incident], None]
"""Sees the loaded incident before an operator command runs and refuses by raising a domain
error; the API checks the caller's agencies this way, on the one load the command uses."""


class OperatorCommands(IncidentStore):
    """Lifecycle commands by people, each with optimistic concurrency (`expected_version`)."""

    def execute(self, incident_id: UUID, command: OperatorCommand, *, by: str, at: datetime,
                expected_version: int | None = None, guard: Guard | None = None) -> Incident:
        """Carry out `command` as operator `by` at `at`; the saved incident is returned."""
        incident = self.incident(incident_id)
        if guard is not None:
            guard(incident)
        if expected_version is not None and incident.version != expected_version:
            raise VersionConflict(incident_id, expected_version, incident.version)
        command.apply(incident, operator(by), at)
        try:
            self.save(incident)
        except IntegrityError:
            current = self.incident(incident_id).version
            raise VersionConflict(incident_id, expected_version or incident.version,
                                  current) from None
        return incident

    def acknowledge(self, incident_id: UUID, *, by: str, at: datetime,
                    expected_version: int | None = None, guard: Guard | None = None) -> Incident:
        return self.execute(incident_id, Acknowledge(), by=by, at=at,
                            expected_version=expected_version, guard=guard)

    def assign(self, incident_id: UUID, *, assignee: str, by: str, at: datetime,
               expected_version: int | None = None, guard: Guard | None = None) -> Incident:
        return self.execute(incident_id, Assign(assignee), by=by, at=at,
                            expected_version=expected_version, guard=guard)

    def dispatch(self, incident_id: UUID, *, unit: str, by: str, at: datetime,
                 expected_version: int | None = None, guard: Guard | None = None) -> Incident:
        return self.execute(incident_id, Dispatch(unit), by=by, at=at,
                            expected_version=expected_version, guard=guard)

    def resolve(self, incident_id: UUID, *, resolution: str, by: str, at: datetime,
                expected_version: int | None = None, guard: Guard | None = None) -> Incident:
        return self.execute(incident_id, Resolve(resolution), by=by, at=at,
                            expected_version=expected_version, guard=guard)

    def mark_false_alarm(self, incident_id: UUID, *, reason: str, by: str, at: datetime,
                         expected_version: int | None = None,
                         guard: Guard | None = None) -> Incident:
        return self.execute(incident_id, MarkFalseAlarm(reason), by=by, at=at,
                            expected_version=expected_version, guard=guard)

    def reopen(self, incident_id: UUID, *, reason: str, by: str, at: datetime,
               expected_version: int | None = None, guard: Guard | None = None) -> Incident:
        return self.execute(incident_id, Reopen(reason), by=by, at=at,
                            expected_version=expected_version, guard=guard)

    def close_incident(self, incident_id: UUID, *, by: str, at: datetime,
                       expected_version: int | None = None,
                       override: str | None = None) -> Incident:
        return self.execute(incident_id, Close(override), by=by, at=at,
                            expected_version=expected_version)

    def add_note(self, incident_id: UUID, *, text: str, by: str, at: datetime,
                 expected_version: int | None = None, guard: Guard | None = None) -> Incident:
        return self.execute(incident_id, AddNote(text), by=by, at=at,
                            expected_version=expected_version, guard=guard)

    def route(self, incident_id: UUID, *, agencies: Sequence[str], by: str, at: datetime,
              expected_version: int | None = None, guard: Guard | None = None) -> Incident:
        return self.execute(incident_id, Route(agencies), by=by, at=at,
                            expected_version=expected_version, guard=guard)

    def escalate(self, incident_id: UUID, *, level: int, reason: str, by: str, at: datetime,
                 expected_version: int | None = None) -> Incident:
        """A supervisor's manual escalation (rules escalate through `run_timer`)."""
        return self.execute(incident_id, Escalate(level, reason), by=by, at=at,
                            expected_version=expected_version)

    def place_legal_hold(self, incident_id: UUID, *, reason: str, by: str, at: datetime,
                         expected_version: int | None = None) -> Incident:
        return self.execute(incident_id, PlaceLegalHold(reason), by=by, at=at,
                            expected_version=expected_version)

    def release_legal_hold(self, incident_id: UUID, *, reason: str, by: str, at: datetime,
                           expected_version: int | None = None) -> Incident:
        return self.execute(incident_id, ReleaseLegalHold(reason), by=by, at=at,
                            expected_version=expected_version)

    def record_agency_response(self, incident_id: UUID, *, agency: str, response: str,
                               reason: str | None, report_id: str, person: str | None,
                               at: datetime) -> bool:
        """Record an agency's report-back; False when the report id was already recorded.

        Agencies report without knowing the incident's version, so a concurrent write is
        retried on a fresh load rather than surfaced as a `VersionConflict`.
        """
        actor = agency_actor(agency, person)
        for _ in range(3):
            incident = self.incident(incident_id)
            if not incident.record_agency_response(agency=agency, response=response,
                                                   reason=reason, report_id=report_id,
                                                   actor=actor, at=at):
                return False
            try:
                self.save(incident)
            except IntegrityError:
                continue
            return True
        raise VersionConflict(incident_id, incident.version, self.incident(incident_id).version)

    # --- merge and split (issue 14): one transaction over both incidents --------------------

    def merge(self, into_id: UUID, command: Merge, *, by: str, at: datetime,
              expected_version: int | None = None,
              guard: Guard | None = None) -> tuple[Incident, Incident]:
        """Merge `command.merged_id` into `into_id` (both guarded; `expected_version` is the
        target's). One transaction saves both incidents and, where the merged incident is its
        key's latest, the redirect of its correlation track. Returns (target, merged)."""
        target = self.incident(into_id)
        merged = self.incident(command.merged_id)
        if guard is not None:
            guard(target)
            guard(merged)
        if expected_version is not None and target.version != expected_version:
            raise VersionConflict(into_id, expected_version, target.version)
        target.absorb(merged, reason=command.reason, actor=operator(by), at=at)
        track = self._get(track_id_for(merged.incident_key), CorrelationTrack)
        staged: list[Any] = [target, merged]
        if track is not None and track.redirect(merged_id=merged.id, into_id=target.id, at=at):
            staged.append(track)
        self._save_both(into_id, expected_version or target.version - 1, *staged)
        return target, merged

    def split(self, incident_id: UUID, command: Split, *, by: str, at: datetime,
              expected_version: int | None = None,
              guard: Guard | None = None) -> tuple[Incident, Incident]:
        """Move `command.detection_ids` into a new incident; returns (source, new)."""
        incident = self.incident(incident_id)
        if guard is not None:
            guard(incident)
        if expected_version is not None and incident.version != expected_version:
            raise VersionConflict(incident_id, expected_version, incident.version)
        new = incident.split(detection_ids=command.detection_ids, reason=command.reason,
                             actor=operator(by), at=at)
        self._save_both(incident_id, expected_version or incident.version - 1, incident, new)
        return incident, new

    def _save_both(self, incident_id: UUID, expected: int, *aggregates: Any) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise VersionConflict(incident_id, expected,
                                  self.incident(incident_id).version) from None
