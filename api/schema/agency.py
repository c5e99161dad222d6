"""Agency views as queries: the operator board, the police view, ZhKKh work orders, and
education's canteen attendance and school-safety incidents, read from the projection store.

Who reads which view is `Principal.may_read_view` (`api.auth.VIEWS` narrowed by agency: a
principal scoped to one agency reads the board and that agency's view only; a forbidden view
is a `ViewForbidden` error naming role and view); personal fields of the police view (subject,
sightings, snapshots) follow the privacy policy (`api.policy`); board rows are scoped to the
caller's agency like `incidents`.
Every list is cursor-paginated and bounded by `max_page_size`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from api.auth import Role
from api.errors import ViewForbidden, ViewUnavailable
from api.schema.agency_types import (
    BoardRow,
    CanteenAttendance,
    PoliceRow,
    SchoolSafetyIncident,
    ViewConnection,
    ViewEdge,
    WorkOrder,
    board_row,
    canteen,
    police_row,
    school_safety,
    work_order,
)
from api.schema.audit import note_rows
from api.schema.context import Context, principal_of
from api.schema.fields import described
from api.schema.filters import IncidentFilter, check_first, filter_spec, statuses
from api.schema.types import PageInfo
from api.views import (
    BOARD,
    CANTEEN,
    POLICE,
    SCHOOL_SAFETY,
    WORK_ORDERS,
    Listing,
    Row,
    Snapshot,
    decode_view_cursor,
    encode_view_cursor,
    page_of,
)
from projections.asof import view_as_of
from projections.views import Doc

__all__ = ["AgencyViews"]

T = TypeVar("T")
TIME_TRAVELLERS = frozenset({Role.AUDITOR, Role.ADMIN})
"""Who may ask what the board showed at a past instant."""
Criteria = dict[str, frozenset[Any] | None]


@strawberry.input
class PoliceFilter:
    status: list[str] | None = None
    kinds: list[str] | None = None
    site: str | None = None


@strawberry.input
class WorkOrderFilter:
    status: list[str] | None = None
    kinds: list[str] | None = None
    district: str | None = None
    contractor: str | None = None
    site: str | None = None


@strawberry.input
class CanteenFilter:
    site: str | None = None
    district: str | None = None
    day: date | None = None
    meal: str | None = None


@strawberry.input
class SchoolSafetyFilter:
    status: list[str] | None = None
    kinds: list[str] | None = None
    district: str | None = None


def _one(value: Any) -> frozenset[Any] | None:
    return None if value is None else frozenset({value})


def _matcher(criteria: Criteria) -> Callable[[Doc], bool]:
    """Documents whose every named field holds one of the allowed values (None: any)."""
    wanted = [(k, v) for k, v in criteria.items() if v is not None]
    return lambda doc: all(doc.get(k) in allowed for k, allowed in wanted)


def _kinds(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values else None


async def _list(info: Info[Context, None], listing: Listing, match: Callable[[Doc], bool],
                first: int, after: str | None, node: Callable[[Doc], T],
                at: datetime | None = None) -> ViewConnection[T]:
    """A page of `listing`: live from the read model, or as known at instant `at`."""
    who = principal_of(info)
    if not who.may_read_view(listing.view):
        raise ViewForbidden(who.role.value, listing.view)
    check_first(info, first)
    cursor = decode_view_cursor(listing, after) if after else None
    if at is not None:
        snap = await _as_of(info, listing, at)
        return _connection(listing, snap, match, first, cursor, node)
    views = info.context.services.views
    if views is None:
        raise ViewUnavailable("agency views are not configured: the API was started "
                              "without a read-model store")
    return _connection(listing, await views.snapshot(listing), match, first, cursor, node)


async def _as_of(info: Info[Context, None], listing: Listing, at: datetime) -> Snapshot:
    """`listing`'s rows as the system knew them at `at` (auditors and admins only): the view
    folded over the log up to the last event recorded by then."""
    who = principal_of(info)
    if who.role not in TIME_TRAVELLERS:
        raise ViewForbidden(who.role.value, f"past {listing.view}")
    services = info.context.services
    view = services.as_of_views.get(listing.view)
    if services.history is None or view is None:
        raise ViewUnavailable("time travel needs the event store's audit chain (recorded "
                              "times) and the view's configuration; this API has neither")
    if at.tzinfo is None:
        raise ViewUnavailable("`at` needs a UTC offset")
    as_of = await asyncio.to_thread(view_as_of, services.history, view, at)
    rows = sorted((Row((*listing.order(doc), key), doc) for key, doc in as_of.rows.items()
                   if listing.keep(doc)), key=lambda r: r.order)
    return Snapshot(as_of.position, rows, [r.order for r in rows])


def _connection(listing: Listing, snap: Snapshot, match: Callable[[Doc], bool], first: int,
                cursor: Any, node: Callable[[Doc], T]) -> ViewConnection[T]:
    page = page_of(snap, match, first, cursor)
    edges = [ViewEdge(cursor=encode_view_cursor(listing, r.order), node=node(r.doc))
             for r in page.rows]
    return ViewConnection(edges=edges, total_count=page.total, log_position=str(page.position),
                          page_info=PageInfo(has_next_page=page.has_next,
                                             end_cursor=edges[-1].cursor if edges else None))


@strawberry.type
class AgencyViews:
    """The agency-view fields of `Query` (a base type: Strawberry merges its fields)."""

    @described("The operator board: incidents not yet closed (situation centre, auditors). "
               "Every view takes `at` (auditors, admins): the view as known at that instant.")
    async def board(self, info: Info[Context, None], filter: IncidentFilter | None = None,
                    first: int = 50, after: str | None = None,
                    at: datetime | None = None) -> ViewConnection[BoardRow]:
        spec = filter_spec(filter, principal_of(info))
        now = datetime.now(UTC)
        return await _list(info, BOARD, spec.matches_row, first, after,
                           lambda doc: board_row(doc, at or now), at)

    @described("Auditors: the operator board as the system knew it at instant `at` (folded "
               "from the event store's log up to the last event recorded by then).")
    async def board_at(self, info: Info[Context, None], at: datetime,
                       filter: IncidentFilter | None = None, first: int = 50,
                       after: str | None = None) -> ViewConnection[BoardRow]:
        who = principal_of(info)
        if who.role not in TIME_TRAVELLERS:
            raise ViewForbidden(who.role.value, "boardAt")
        return await _list(info, BOARD, filter_spec(filter, who).matches_row, first, after,
                           lambda doc: board_row(doc, at), at)

    @described("Face/plate matches, weapons, fights and crowds (police, situation centre, "
               "auditors); subject, sightings and snapshots for police and auditors only.")
    async def police_view(self, info: Info[Context, None], filter: PoliceFilter | None = None,
                          first: int = 50, after: str | None = None, at: datetime | None = None
                          ) -> ViewConnection[PoliceRow]:
        f = filter or PoliceFilter()
        match = _matcher({"status": statuses(f.status), "kind": _kinds(f.kinds),
                          "site_id": _one(f.site)})
        reveal = info.context.reveal

        def node(doc: Doc) -> PoliceRow:
            note_rows(info, [doc])
            return police_row(doc, reveal)

        return await _list(info, POLICE, match, first, after, node, at)

    @described("ZhKKh work orders: waste and road incidents per district and contractor.")
    async def work_orders(self, info: Info[Context, None],
                          filter: WorkOrderFilter | None = None, first: int = 50,
                          after: str | None = None,
                          at: datetime | None = None) -> ViewConnection[WorkOrder]:
        f = filter or WorkOrderFilter()
        match = _matcher({"status": statuses(f.status), "kind": _kinds(f.kinds),
                          "district": _one(f.district), "contractor": _one(f.contractor),
                          "site_id": _one(f.site)})
        return await _list(info, WORK_ORDERS, match, first, after, work_order, at)

    @described("School canteen attendance per school, day and meal (education).")
    async def canteen_attendance(self, info: Info[Context, None],
                                 filter: CanteenFilter | None = None, first: int = 50,
                                 after: str | None = None, at: datetime | None = None
                                 ) -> ViewConnection[CanteenAttendance]:
        f = filter or CanteenFilter()
        match = _matcher({"site_id": _one(f.site), "district": _one(f.district),
                          "day": _one(f.day.isoformat() if f.day else None),
                          "meal": _one(f.meal)})
        return await _list(info, CANTEEN, match, first, after, canteen, at)

    @described("Fires, fights, weapons and crowds at schools (education).")
    async def school_safety(self, info: Info[Context, None],
                            filter: SchoolSafetyFilter | None = None, first: int = 50,
                            after: str | None = None, at: datetime | None = None
                            ) -> ViewConnection[SchoolSafetyIncident]:
        f = filter or SchoolSafetyFilter()
        match = _matcher({"status": statuses(f.status), "kind": _kinds(f.kinds),
                          "district": _one(f.district)})
        return await _list(info, SCHOOL_SAFETY, match, first, after, school_safety, at)
