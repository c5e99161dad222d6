"""Merge, split and silences in GraphQL (issue 14 items 4-5): supervisors' mutations with typed
results, and the list of silences.

Merging and splitting are supervisors' (and admins') commands on incidents the caller may see
(both of them, for a merge); an incident outside the caller's agencies reads as not found.
Silences are created and ended by supervisors and admins and listed for the situation centre
(any role that sees every agency); agencies do not see them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.auth import Principal, Role
from api.schema.audit import note_states
from api.schema.context import Context, principal_of
from api.schema.fields import described
from api.schema.types import (
    Forbidden,
    IllegalTransition,
    Incident,
    InvalidInput,
    NotFound,
    VersionConflict,
    incident_type,
)
from api.state import state_of
from domain import errors
from domain.application import IncidentApp
from domain.commands import Merge, Split
from domain.incident import Incident as IncidentAggregate
from domain.silences import InvalidSilence, Silence, SilenceAlreadyEnded, SilenceNotFound

__all__ = ["CaseMutations", "CaseQueries", "SilenceType"]

SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})


@strawberry.type(description="A merge: the incident that took the other's evidence and "
                             "routing, and the merged one (status MERGED).")
class Merged:
    incident: Incident
    merged: Incident


@strawberry.type(description="A split: the incident the evidence left and the new incident.")
class SplitOff:
    incident: Incident
    created: Incident


_ERRORS = IllegalTransition | VersionConflict | NotFound | Forbidden | InvalidInput
MergeResult = Annotated[Merged | _ERRORS, strawberry.union("MergeResult")]
SplitResult = Annotated[SplitOff | _ERRORS, strawberry.union("SplitResult")]


@strawberry.type
class KindCount:
    kind: str
    count: int


@strawberry.type(name="Silence", description="A silence or maintenance window: detections it "
                                              "covers open no incident and are counted here.")
class SilenceType:
    id: strawberry.ID
    scope: str = strawberry.field(description="camera, site, district or kind.")
    value: str
    starts_at: datetime
    ends_at: datetime
    author: str
    reason: str
    state: str = strawberry.field(description="pending, active, expired or ended (early).")
    ended_at: datetime | None
    ended_by: str | None
    silenced_count: int = strawberry.field(description="Detections it held back.")
    silenced_by_kind: list[KindCount]


SilenceResult = Annotated[SilenceType | IllegalTransition | NotFound | Forbidden | InvalidInput,
                          strawberry.union("SilenceResult")]


def silence_type(s: Silence, now: datetime) -> SilenceType:
    return SilenceType(
        id=strawberry.ID(str(s.id)), scope=s.scope.value, value=s.value, starts_at=s.starts_at,
        ends_at=s.ends_at, author=s.author, reason=s.reason, state=s.state(now),
        ended_at=s.ended_at, ended_by=s.ended_by, silenced_count=s.count,
        silenced_by_kind=[KindCount(kind=k, count=n) for k, n in sorted(s.by_kind.items())])


def parse_incident_id(value: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError(f"incident id {value!r} is not a UUID") from None


def _supervisor(who: Principal, what: str) -> Forbidden | None:
    if who.role not in SUPERVISORS:
        return Forbidden(message=f"role {who.role.value} may not {what}")
    return None


def _guard(who: Principal) -> partial[None]:
    return partial(_visible, who)


def _visible(who: Principal, incident: IncidentAggregate) -> None:
    if not who.may_see(incident.agencies):
        raise errors.IncidentNotFound(incident.id)


def _both(info: Info[Context, None], first: IncidentAggregate, second: IncidentAggregate
          ) -> tuple[Incident, Incident]:
    """The two incidents a merge or split wrote, as the caller may see them (noted for the
    access log)."""
    states = [state_of(first), state_of(second)]
    note_states(info, states)
    reveal = info.context.reveal
    return incident_type(states[0], reveal), incident_type(states[1], reveal)


def _incident_error(exc: Exception) -> _ERRORS:
    if isinstance(exc, errors.IncidentNotFound):
        return NotFound(message=str(exc))
    if isinstance(exc, errors.IllegalTransition):
        return IllegalTransition(message=str(exc), status=exc.status)
    if isinstance(exc, errors.VersionConflict):
        return VersionConflict(message=str(exc), current_version=exc.current)
    return InvalidInput(message=str(exc))


_EXPECTED = (errors.IncidentError, ValueError)


@strawberry.type
class CaseMutations:
    @described("A supervisor merges incident `mergedId` into incident `id`: `id` takes its "
               "evidence and routing, the merged one becomes MERGED and its correlation key "
               "sends later detections to `id`.")
    async def merge_incidents(self, info: Info[Context, None], id: strawberry.ID,
                              merged_id: strawberry.ID, expected_version: int,
                              reason: str = "") -> MergeResult:
        who = principal_of(info)
        refused = _supervisor(who, "merge incidents")
        if refused:
            return refused
        app: IncidentApp = info.context.services.app
        try:
            command = Merge(parse_incident_id(merged_id), reason)
            target, merged = await asyncio.to_thread(partial(
                app.merge, parse_incident_id(id), command, by=who.subject,
                at=datetime.now(UTC), expected_version=expected_version, guard=_guard(who)))
        except _EXPECTED as exc:
            return _incident_error(exc)
        into, gone = _both(info, target, merged)
        return Merged(incident=into, merged=gone)

    @described("A supervisor moves evidence (`detectionIds`) out of incident `id` into a new "
               "incident (its id derives from `id` and the moved ids).")
    async def split_incident(self, info: Info[Context, None], id: strawberry.ID,
                             detection_ids: list[str], expected_version: int,
                             reason: str = "") -> SplitResult:
        who = principal_of(info)
        refused = _supervisor(who, "split incidents")
        if refused:
            return refused
        app: IncidentApp = info.context.services.app
        try:
            source, created = await asyncio.to_thread(partial(
                app.split, parse_incident_id(id), Split(tuple(detection_ids), reason),
                by=who.subject, at=datetime.now(UTC), expected_version=expected_version,
                guard=_guard(who)))
        except _EXPECTED as exc:
            return _incident_error(exc)
        kept, new = _both(info, source, created)
        return SplitOff(incident=kept, created=new)

    @described("A supervisor silences a camera, site, district or kind for [startsAt, endsAt) "
               "(startsAt: now when omitted); retrying the same request gives the same "
               "silence.")
    async def create_silence(self, info: Info[Context, None], scope: str, value: str,
                             ends_at: datetime, reason: str,
                             starts_at: datetime | None = None) -> SilenceResult:
        who = principal_of(info)
        refused = _supervisor(who, "create silences")
        if refused:
            return refused
        now = datetime.now(UTC)
        if any(t is not None and t.tzinfo is None for t in (starts_at, ends_at)):
            return InvalidInput(message="startsAt and endsAt need a UTC offset")
        app: IncidentApp = info.context.services.app
        try:
            silence = await asyncio.to_thread(partial(
                app.create_silence, scope=scope, value=value, starts_at=starts_at or now,
                ends_at=ends_at, by=who.subject, reason=reason, at=now))
        except (InvalidSilence, ValueError) as exc:
            return InvalidInput(message=str(exc))
        return silence_type(silence, now)

    @described("A supervisor ends a silence early.")
    async def end_silence(self, info: Info[Context, None], id: strawberry.ID,
                          reason: str = "") -> SilenceResult:
        who = principal_of(info)
        refused = _supervisor(who, "end silences")
        if refused:
            return refused
        now = datetime.now(UTC)
        app: IncidentApp = info.context.services.app
        try:
            silence = await asyncio.to_thread(partial(
                app.end_silence, UUID(str(id)), by=who.subject, reason=reason, at=now))
        except (SilenceNotFound, ValueError) as exc:
            return NotFound(message=str(exc))
        except SilenceAlreadyEnded as exc:
            return IllegalTransition(message=str(exc), status="ended")
        except InvalidSilence as exc:
            return InvalidInput(message=str(exc))
        return silence_type(silence, now)


@strawberry.type
class CaseQueries:
    @described("Silences not over yet (with `includePast`: every silence), earliest first; "
               "the situation centre's, not agencies'.")
    async def silences(self, info: Info[Context, None],
                       include_past: bool = False) -> list[SilenceType]:
        who = principal_of(info)
        if who.scope is not None:
            return []
        now = datetime.now(UTC)
        app: IncidentApp = info.context.services.app
        found = await asyncio.to_thread(partial(app.silences, now, past=include_past))
        return [silence_type(s, now) for s in found]
