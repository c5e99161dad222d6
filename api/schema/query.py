"""Queries: incidents (filtered, paginated), one incident as of any instant, history, me,
and the agency views (`api.schema.agency`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.auth import Principal
from api.errors import ViewUnavailable
from api.reader import IncidentFilterSpec, Page, encode_cursor
from api.schema.agency import AgencyViews
from api.schema.audit import AuditQueries, note_records, note_states
from api.schema.cameras import CameraQueries
from api.schema.cases import CaseQueries
from api.schema.context import Context, principal_of
from api.schema.fields import described
from api.schema.filters import IncidentFilter, check_first, filter_spec
from api.schema.search import SearchQueries
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
from api.views import BOARD, Snapshot
from domain.errors import IncidentNotFound

__all__ = ["IncidentFilter", "Query", "parse_incident_id"]

log = logging.getLogger("kuzet.api")


async def _usable_board(info: Info[Context, None]) -> Snapshot | None:
    """The operator board, if configured, reachable, built with agencies and not lagging."""
    services = info.context.services
    if services.views is None:
        return None
    try:
        board = await services.views.snapshot(BOARD)
    except ViewUnavailable as exc:
        log.warning("incidents folded from the event store: %s", exc)
        return None
    head = await asyncio.to_thread(services.reader.head)
    if head - board.position > services.config.max_view_lag:
        log.warning("incidents folded from the event store: board at %d, log at %d",
                    board.position, head)
        return None
    if not all("agencies" in r.doc for r in board.rows):  # built before rows had agencies
        log.warning("incidents folded from the event store: rebuild the board view")
        return None
    return board


async def _page(info: Info[Context, None], spec: IncidentFilterSpec, first: int,
                after: str | None) -> Page:
    reader = info.context.services.reader
    board = None if spec.wants_closed else await _usable_board(info)
    if board is None:
        return await asyncio.to_thread(reader.page, spec, first, after)
    return await asyncio.to_thread(reader.page_from_board, board, spec, first, after)


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
    note_states(info, [state])
    return who, incident_type(state, info.context.reveal, as_of)


def parse_incident_id(value: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError(f"incident id {value!r} is not a UUID") from None


@strawberry.type
class Query(AgencyViews, AuditQueries, SearchQueries, CaseQueries, CameraQueries):
    @described("Incidents the caller may see, by opening time. Without a `status` filter "
               "CLOSED incidents are left out; served from the operator board when the "
               "projections keep it, else folded from the event store.")
    async def incidents(self, info: Info[Context, None], filter: IncidentFilter | None = None,
                        first: int = 50, after: str | None = None) -> IncidentConnection:
        who = principal_of(info)
        check_first(info, first)
        page = await _page(info, filter_spec(filter, who), first, after)
        now, reveal = datetime.now(UTC), info.context.reveal
        note_states(info, page.items)
        edges = [IncidentEdge(cursor=encode_cursor(s), node=incident_type(s, reveal, now))
                 for s in page.items]
        return IncidentConnection(
            edges=edges, total_count=page.total, log_position=str(page.log_position),
            page_info=PageInfo(has_next_page=page.has_next,
                               end_cursor=edges[-1].cursor if edges else None))

    @described("The incident now, or its state at the instant `asOf`.")
    async def incident(self, info: Info[Context, None], id: strawberry.ID,
                       as_of: datetime | None = None) -> Incident | None:
        return (await _visible(info, id, as_of))[1]

    @described("Every event of the incident with actor, time, provenance.")
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
        reveal = info.context.reveal
        note_records(info, state, records)
        return IncidentHistory(incident=incident_type(state, reveal),
                               events=[history_entry(r, reveal) for r in records])

    @described("The caller's identity and what it may see and do.")
    def me(self, info: Info[Context, None]) -> Me:
        who = principal_of(info)
        return Me(subject=who.subject, role=who.role.value, agency=who.agency,
                  sees_all_agencies=who.scope is None, sees_personal_data=who.sees_personal,
                  read_only=not who.can_write, views=who.views,
                  expires_at=datetime.fromtimestamp(who.expires_at, UTC))
