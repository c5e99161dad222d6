"""The personal-data access log in the schema: resolvers note what they reveal, auditors ask.

`note_states` / `note_rows` / `note_records` record (through `api.access.AccessLog`) every
personal field an answer carries in the clear, when the operation selects a personal field at
all (`subject`, `key`, `snapshots`, `sightings`, `details`): a list of ids reveals nothing.
`personalDataAccess` (auditors only) answers "who looked at whom": by subject
(`plate:A777AA02`, `face:S7`), incident or principal, within a time window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import FieldNode, Node, Visitor, visit
from strawberry.types import Info

from api.access import AccessFilter, read_access, subject_pseudonym, subjects_of
from api.auth import Role
from api.errors import InvalidFilter, ViewForbidden
from api.schema.context import Context, principal_of
from api.schema.fields import described
from api.state import EventRecord, IncidentState
from domain.erasure import InvalidErasure

__all__ = ["AccessEntry", "AuditQueries", "note_records", "note_rows", "note_states",
           "state_noter"]

PERSONAL_FIELDS = frozenset({"subject", "key", "snapshots", "sightings", "details"})
"""GraphQL field names that can carry personal data."""


class _Names(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        if node.name.value in PERSONAL_FIELDS:
            self.found = True
            return Visitor.BREAK
        return None


def _selects_personal(info: Info[Context, None]) -> bool:
    nodes: list[Node] = [info.operation, *info._raw_info.fragments.values()]
    names = _Names()
    for node in nodes:
        visit(node, names)
    return names.found


def _via(info: Info[Context, None]) -> str:
    return f"graphql:{info.path.key}"


def note_states(info: Info[Context, None], states: Iterable[IncidentState]) -> None:
    """Logs the personal fields of incident states the answer shows in the clear."""
    ctx = info.context
    if not _selects_personal(info):
        return
    who, reveal = ctx.check(), ctx.reveal
    for s in states:
        fields = reveal.revealed_in_state(s)
        if fields:
            ctx.services.access.note(who, str(s.id), fields, subjects_of(s.subject), _via(info))


def state_noter(info: Info[Context, None]) -> Callable[[IncidentState], None] | None:
    """For subscriptions: a note per delivered state (None when nothing personal is selected
    or the caller's policy reveals nothing in the clear)."""
    ctx = info.context
    reveal = ctx.reveal
    if not reveal.keeps_any or not _selects_personal(info):
        return None
    who, via = ctx.check(), _via(info)

    def note(s: IncidentState) -> None:
        fields = reveal.revealed_in_state(s)
        if fields:
            ctx.services.access.note(who, str(s.id), fields, subjects_of(s.subject), via)
    return note


def note_rows(info: Info[Context, None], docs: Iterable[Mapping[str, Any]]) -> None:
    """Logs the personal fields of police-view rows shown in the clear."""
    ctx = info.context
    if not _selects_personal(info):
        return
    who, reveal = ctx.check(), ctx.reveal
    for doc in docs:
        fields = reveal.revealed_in_row(doc)
        if fields:
            found = doc.get("subject")
            subject: Mapping[str, Any] = found if isinstance(found, dict) else {}
            ctx.services.access.note(who, str(doc["id"]), fields, subjects_of(subject),
                                     _via(info))


def note_records(info: Info[Context, None], state: IncidentState,
                 records: Iterable[EventRecord]) -> None:
    """Logs the personal fields of history entries shown in the clear (one note per incident)."""
    ctx = info.context
    if not _selects_personal(info):
        return
    reveal = ctx.reveal
    fields = {f for r in records for f in reveal.revealed_in_record(r)}
    fields.update(reveal.revealed_in_state(state))
    if fields:
        ctx.services.access.note(ctx.check(), str(state.id), sorted(fields),
                                 subjects_of(state.subject), _via(info))


@strawberry.type(description="Personal fields of one incident revealed to one principal.")
class AccessEntry:
    at: datetime
    principal: str
    role: str
    agency: str
    token: str = strawberry.field(description="The token id (jti) the principal used.")
    incident: strawberry.ID
    fields: list[str]
    via: str
    log_position: str = strawberry.field(description="The batch's position in the event log.")


def _entry(position: int, e: Mapping[str, Any]) -> AccessEntry:
    return AccessEntry(at=datetime.fromisoformat(e["at"]), principal=e["principal"],
                       role=e["role"], agency=e["agency"], token=e["token"],
                       incident=strawberry.ID(e["incident"]), fields=list(e["fields"]),
                       via=e["via"], log_position=str(position))


def access_filter(subject: str | None, incident: str | None, principal: str | None,
                  since: datetime | None, until: datetime | None) -> AccessFilter:
    """The filter, with the subject as its pseudonym (`InvalidFilter` for a bad subject)."""
    try:
        pseudonym = subject_pseudonym(subject) if subject is not None else None
    except InvalidErasure as exc:
        raise InvalidFilter(str(exc)) from None
    if (since and since.tzinfo is None) or (until and until.tzinfo is None):
        raise InvalidFilter("`from` and `to` need a UTC offset")
    return AccessFilter(pseudonym, incident, principal, since, until)


def _read(app: Any, f: AccessFilter, first: int) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for found in read_access(app, f):
        out.append(found)
        if len(out) >= first:
            break
    return out


@strawberry.type
class AuditQueries:
    """The auditors' fields of `Query` (a base type: Strawberry merges its fields)."""

    @described("Auditors: who saw which personal fields of which incident, and when; by "
               "subject (`plate:<PLATE>` or `face:<SUBJECT ID>`), incident or principal, "
               "within [from, to). Oldest first; `first` at most the maximum page size.")
    async def personal_data_access(
        self, info: Info[Context, None], subject: str | None = None,
        incident: strawberry.ID | None = None, principal: str | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None, first: int = 100,
    ) -> list[AccessEntry]:
        who = principal_of(info)
        if who.role is not Role.AUDITOR:
            raise ViewForbidden(who.role.value, "personal-data access log")
        limit = info.context.services.config.max_page_size
        if not 1 <= first <= limit:
            raise InvalidFilter(f"first={first}: must be between 1 and {limit}")
        f = access_filter(subject, str(incident) if incident else None, principal, from_, to)
        services = info.context.services
        await services.access.flush()  # what was revealed until now is in the answer
        found = await asyncio.to_thread(partial(_read, services.app, f, first))
        return [_entry(p, e) for p, e in found]
