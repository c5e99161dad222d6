"""Queries: incidents (filtered, paginated), one incident as of any instant, history, me."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.auth import Principal
from api.reader import IncidentFilterSpec, encode_cursor
from api.schema.context import Context, principal_of
from api.schema.types import (
    Incident,
    IncidentConnection,
    IncidentEdge,
    IncidentHistory,
    Me,
    PageInfo,
    history_entry,
    incident_type,
)
from domain.errors import IncidentNotFound
from domain.kinds import Status

__all__ = ["IncidentFilter", "Query", "parse_incident_id"]


@strawberry.input
class IncidentFilter:
    status: list[str] | None = None
    kinds: list[str] | None = None
    agency: str | None = None
    site: str | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None


def _spec(f: IncidentFilter | None, who: Principal) -> IncidentFilterSpec:
    f = f or IncidentFilter()
    if f.status:
        bad = [s for s in f.status if s not in Status.__members__]
        if bad:
            raise ValueError(f"unknown status {bad[0]!r}; one of {', '.join(Status.__members__)}")
    return IncidentFilterSpec(
        statuses=frozenset(f.status) if f.status else None,
        kinds=frozenset(f.kinds) if f.kinds else None, agency=f.agency, site=f.site,
        opened_after=f.opened_after, opened_before=f.opened_before, scope=who.scope)


async def _visible(info: Info[Context, None], incident_id: strawberry.ID,
                   as_of: datetime | None = None) -> tuple[Principal, Incident | None]:
    who = principal_of(info)
    reader = info.context.services.reader
    try:
        state = await asyncio.to_thread(reader.state, parse_incident_id(incident_id), as_of)
    except IncidentNotFound:
        return who, None
    if state is None or not who.may_see(state.agencies):
        return who, None
    return who, incident_type(state, who.sees_personal, as_of)


def parse_incident_id(value: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError(f"incident id {value!r} is not a UUID") from None


@strawberry.type
class Query:
    @strawberry.field(description="Incidents the caller may see, oldest first.")
    async def incidents(self, info: Info[Context, None], filter: IncidentFilter | None = None,
                        first: int = 50, after: str | None = None) -> IncidentConnection:
        who = principal_of(info)
        limit = info.context.services.config.max_page_size
        if not 1 <= first <= limit:
            raise ValueError(f"first={first}: must be between 1 and the maximum page size {limit}")
        page = await asyncio.to_thread(info.context.services.reader.page,
                                       _spec(filter, who), first, after)
        now = datetime.now(UTC)
        edges = [IncidentEdge(cursor=encode_cursor(s.id),
                              node=incident_type(s, who.sees_personal, now)) for s in page.items]
        return IncidentConnection(
            edges=edges, total_count=page.total, log_position=str(page.log_position),
            page_info=PageInfo(has_next_page=page.has_next,
                               end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="The incident now, or its state at the instant `asOf`.")
    async def incident(self, info: Info[Context, None], id: strawberry.ID,
                       as_of: datetime | None = None) -> Incident | None:
        return (await _visible(info, id, as_of))[1]

    @strawberry.field(description="Every event of the incident with actor, time, provenance.")
    async def incident_history(self, info: Info[Context, None],
                               id: strawberry.ID) -> IncidentHistory | None:
        who = principal_of(info)
        try:
            state, records = await asyncio.to_thread(info.context.services.reader.history,
                                                     parse_incident_id(id))
        except IncidentNotFound:
            return None
        if not who.may_see(state.agencies):
            return None
        return IncidentHistory(incident=incident_type(state, who.sees_personal),
                               events=[history_entry(r, who.sees_personal) for r in records])

    @strawberry.field(description="The caller's identity and what it may see and do.")
    def me(self, info: Info[Context, None]) -> Me:
        who = principal_of(info)
        return Me(subject=who.subject, role=who.role.value, agency=who.agency,
                  sees_all_agencies=who.scope is None, sees_personal_data=who.sees_personal,
                  read_only=not who.can_write,
                  expires_at=datetime.fromtimestamp(who.expires_at, UTC))
