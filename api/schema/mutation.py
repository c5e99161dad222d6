"""Mutations: operator lifecycle commands through `IncidentApp`, with typed results.

Expected failures (forbidden, not found, illegal transition, version conflict, invalid input)
are union members; anything else stays a GraphQL error and is logged by Strawberry.
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
from api.revocations import revoke
from api.schema.audit import note_states
from api.schema.cases import CaseMutations
from api.schema.context import Context, principal_of
from api.schema.query import parse_incident_id
from api.schema.types import (
    Forbidden,
    IllegalTransition,
    InvalidInput,
    MutationResult,
    NotFound,
    ProcedureIncomplete,
    Success,
    VerificationRefused,
    VersionConflict,
    incident_type,
)
from api.state import state_of
from domain import errors
from domain.access import InvalidAccessRecord
from domain.application import IncidentApp
from domain.commands import (
    Acknowledge,
    AddNote,
    Assign,
    Close,
    CompleteStep,
    Dispatch,
    Escalate,
    MarkFalseAlarm,
    OperatorCommand,
    RejectVerification,
    Reopen,
    Resolve,
    Route,
    SkipStep,
    Verify,
)
from domain.incident import Incident
from domain.procedures import ProcedureIncomplete as StepsOutstanding
from domain.procedures import VerificationRefused as Refused

__all__ = ["Mutation", "RevokeResult", "Revoked"]

SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
"""Who may widen an incident's routing, escalate it by hand and close it."""
DESK = frozenset({Role.OPERATOR, Role.SUPERVISOR})
"""Who works an incident's checklist and is the second pair of eyes of two-person
verification: situation-centre people (not narrowed to one agency), not administrators,
auditors or agencies' staff."""


def _command(app: IncidentApp, command: OperatorCommand, incident_id: UUID, expected: int,
             who: Principal) -> Incident:
    """Runs in a worker thread: the typed domain command, with the caller's visibility checked
    on the same load (an incident outside the caller's agencies is reported as not found)."""
    def visible(incident: Incident) -> None:
        if not who.may_see(incident.agencies):
            raise errors.IncidentNotFound(incident.id)

    return app.execute(incident_id, command, by=who.subject, at=datetime.now(UTC),
                       expected_version=expected, guard=visible)


async def _run(info: Info[Context, None], command: OperatorCommand, incident_id: strawberry.ID,
               expected_version: int) -> MutationResult:
    who = principal_of(info)
    if not who.can_write:
        return Forbidden(message=f"role {who.role.value} is read-only")
    try:
        iid = parse_incident_id(incident_id)
        incident = await asyncio.to_thread(partial(
            _command, info.context.services.app, command, iid, expected_version, who))
    except errors.IncidentNotFound as exc:
        return NotFound(message=str(exc))
    except errors.IllegalTransition as exc:
        return IllegalTransition(message=str(exc), status=exc.status)
    except errors.VersionConflict as exc:
        return VersionConflict(message=str(exc), current_version=exc.current)
    except StepsOutstanding as exc:
        return ProcedureIncomplete(message=str(exc), steps=list(exc.steps))
    except Refused as exc:
        return VerificationRefused(message=str(exc), code=exc.code)
    except (errors.InvalidCommand, ValueError) as exc:
        return InvalidInput(message=str(exc))
    state = state_of(incident)
    note_states(info, [state])
    return Success(incident=incident_type(state, info.context.reveal))


def _desk(info: Info[Context, None], what: str) -> Forbidden | None:
    who = principal_of(info)
    if who.role not in DESK or who.scope is not None:
        return Forbidden(message=f"role {who.role.value} of {who.agency} may not {what}")
    return None


def _supervisor(info: Info[Context, None], what: str) -> Forbidden | None:
    who = principal_of(info)
    if who.role not in SUPERVISORS:
        return Forbidden(message=f"role {who.role.value} may not {what}")
    return None


@strawberry.type
class Revoked:
    token_id: str


RevokeResult = Annotated[Revoked | Forbidden | InvalidInput, strawberry.union("RevokeResult")]


@strawberry.type
class Mutation(CaseMutations):
    @strawberry.mutation
    async def acknowledge_incident(self, info: Info[Context, None], id: strawberry.ID,
                                   expected_version: int) -> MutationResult:
        return await _run(info, Acknowledge(), id, expected_version)

    @strawberry.mutation
    async def assign_incident(self, info: Info[Context, None], id: strawberry.ID,
                              expected_version: int, assignee: str) -> MutationResult:
        return await _run(info, Assign(assignee), id, expected_version)

    @strawberry.mutation
    async def dispatch_incident(self, info: Info[Context, None], id: strawberry.ID,
                                expected_version: int, unit: str) -> MutationResult:
        return await _run(info, Dispatch(unit), id, expected_version)

    @strawberry.mutation
    async def resolve_incident(self, info: Info[Context, None], id: strawberry.ID,
                               expected_version: int, resolution: str) -> MutationResult:
        return await _run(info, Resolve(resolution), id, expected_version)

    @strawberry.mutation
    async def mark_false_alarm(self, info: Info[Context, None], id: strawberry.ID,
                               expected_version: int, reason: str) -> MutationResult:
        return await _run(info, MarkFalseAlarm(reason), id, expected_version)

    @strawberry.mutation
    async def reopen_incident(self, info: Info[Context, None], id: strawberry.ID,
                              expected_version: int, reason: str) -> MutationResult:
        return await _run(info, Reopen(reason), id, expected_version)

    @strawberry.mutation
    async def route_incident(self, info: Info[Context, None], id: strawberry.ID,
                             expected_version: int, agencies: list[str]) -> MutationResult:
        """Supervisors and admins widen the routing; the new agencies' feeds get the history."""
        refused = _supervisor(info, "route incidents")
        return refused or await _run(info, Route(agencies), id, expected_version)

    @strawberry.mutation
    async def add_note(self, info: Info[Context, None], id: strawberry.ID,
                       expected_version: int, text: str) -> MutationResult:
        return await _run(info, AddNote(text), id, expected_version)

    @strawberry.mutation
    async def escalate_incident(self, info: Info[Context, None], id: strawberry.ID,
                                expected_version: int, reason: str,
                                level: int | None = None) -> MutationResult:
        """A supervisor's manual escalation: one level up (or to `level`), severity + 1,
        status unchanged."""
        refused = _supervisor(info, "escalate incidents")
        if refused:
            return refused
        if level is None:
            try:
                current = await asyncio.to_thread(
                    info.context.services.app.incident, parse_incident_id(id))
            except (errors.IncidentNotFound, ValueError) as exc:
                return NotFound(message=str(exc))
            level = current.level + 1
        return await _run(info, Escalate(level, reason), id, expected_version)

    @strawberry.mutation
    async def close_incident(self, info: Info[Context, None], id: strawberry.ID,
                             expected_version: int,
                             override_reason: str | None = None) -> MutationResult:
        """A supervisor closes a resolved, auto-resolved or false-alarm incident; with
        mandatory checklist steps still open, only with `overrideReason`."""
        refused = _supervisor(info, "close incidents")
        return refused or await _run(info, Close(override_reason), id, expected_version)

    @strawberry.mutation
    async def complete_step(self, info: Info[Context, None], id: strawberry.ID,
                            expected_version: int, step: str) -> MutationResult:
        """Operators and supervisors tick a checklist step of the incident's procedure."""
        refused = _desk(info, "work checklists")
        return refused or await _run(info, CompleteStep(step), id, expected_version)

    @strawberry.mutation
    async def skip_step(self, info: Info[Context, None], id: strawberry.ID,
                        expected_version: int, step: str, reason: str) -> MutationResult:
        """A checklist step is not needed here: closing accepts it skipped with a reason."""
        refused = _desk(info, "work checklists")
        return refused or await _run(info, SkipStep(step, reason), id, expected_version)

    @strawberry.mutation
    async def verify_incident(self, info: Info[Context, None], id: strawberry.ID,
                              expected_version: int) -> MutationResult:
        """Two-person verification: a second operator (not the one who acknowledged)
        confirms the incident, so it may be dispatched."""
        refused = _desk(info, "verify incidents")
        return refused or await _run(info, Verify(), id, expected_version)

    @strawberry.mutation
    async def reject_verification(self, info: Info[Context, None], id: strawberry.ID,
                                  expected_version: int, reason: str) -> MutationResult:
        """The second operator disagrees: a false alarm naming both people."""
        refused = _desk(info, "verify incidents")
        return refused or await _run(info, RejectVerification(reason), id, expected_version)

    @strawberry.mutation
    async def revoke_token(self, info: Info[Context, None], token_id: str | None = None,
                           reason: str = "") -> RevokeResult:
        """Revokes a token by its id (`jti`): admins any token, anyone their own (no
        `tokenId`: the token in use); refused on every request and socket from then on."""
        who = principal_of(info)
        jti = token_id or who.token_id
        if jti != who.token_id and who.role is not Role.ADMIN:
            return Forbidden(message=f"role {who.role.value} may revoke its own token only")
        services = info.context.services
        try:
            await asyncio.to_thread(partial(
                revoke, services.app, jti=jti, by=f"{who.role.value}:{who.subject}",
                reason=reason, expires_at=who.expires_at if jti == who.token_id else 0,
                at=datetime.now(UTC)))
        except InvalidAccessRecord as exc:
            return InvalidInput(message=str(exc))
        await services.revocations.refresh(force=True)
        return Revoked(token_id=jti)
