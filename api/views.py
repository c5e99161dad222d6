"""Agency views read from the projection store that `projections run` keeps (read-only here).

A `Listing` is one paginated list over a projection view: which of its documents, in which
order. `ViewReader` holds one store connection per process (opened on first use; an asyncpg
connection serves one operation at a time, hence the lock) and caches each listing's parsed,
sorted rows by the view's log position, so a request whose view has not moved costs one
position read. `page_of` cuts a page after an opaque cursor that encodes the sort key, so a
page boundary survives rows appearing or leaving between requests.

Honest reads: given the event store's log head (`head`), `ViewReader` checks each view's
freshness (`projections.store.Freshness`: its position, and the age of the projections
runner's heartbeat) before serving it, and raises `ViewUnavailable` saying why when the view
is absent (never set up), ahead of the log (built from another store), behind the log
while no runner reports (stopped, killed, or silent
for more than `max_staleness_s`), or more than `max_lag` positions behind. A view at the head
is current whoever keeps it, so it is served even while the runner is down. The reader never
creates tables: a store nobody set up reads as absent, not as empty.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import sqlite3
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from api.errors import BadCursor, ViewUnavailable
from projections.errors import ProjectionError
from projections.sqlite_store import SqliteStore
from projections.store import Freshness, ViewStore
from projections.views import Doc

__all__ = [
    "BOARD", "CANTEEN", "POLICE", "SCHOOL_SAFETY", "VIEW_NAMES", "WORK_ORDERS", "Listing",
    "Order", "Row", "Snapshot", "ViewPage", "ViewReader", "decode_view_cursor",
    "encode_view_cursor", "instant", "page_of",
]

_STORE_ERRORS = (ProjectionError, OSError, sqlite3.Error, asyncpg.PostgresError,
                 asyncpg.InterfaceError)
Order = tuple[str, ...]


def instant(value: str | datetime) -> str:
    """An instant as fixed-width UTC text, so that texts sort and compare like the instants."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _opened(doc: Doc) -> Order:
    return (instant(doc["opened_at"]),)


def _canteen_order(doc: Doc) -> Order:
    return (doc["day"], doc["site_id"] or "", doc["meal"])


def _of_type(kind: str) -> Callable[[Doc], bool]:
    return lambda doc: doc.get("type") == kind


def _any(_: Doc) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Listing:
    """A paginated list over the projection view `view`: documents `keep` keeps, by `order`."""

    name: str
    view: str
    order: Callable[[Doc], Order]
    keep: Callable[[Doc], bool] = _any


BOARD = Listing("board", "board", _opened)
POLICE = Listing("police", "police", _opened)
WORK_ORDERS = Listing("work_orders", "zhkkh", _opened)
CANTEEN = Listing("canteen", "education", _canteen_order, _of_type("canteen"))
SCHOOL_SAFETY = Listing("school_safety", "education", _opened, _of_type("safety"))
VIEW_NAMES = ("board", "police", "zhkkh", "education")


@dataclass(frozen=True, slots=True)
class Row:
    """One document with its sort key (the listing's order, then the document's key)."""

    order: Order
    doc: Doc


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A listing's rows, sorted, as of the view's log `position`."""

    position: int
    rows: list[Row]
    orders: list[Order]


@dataclass(frozen=True, slots=True)
class ViewPage:
    rows: list[Row]
    has_next: bool
    total: int
    position: int


def _snapshot(listing: Listing, position: int, texts: dict[str, str]) -> Snapshot:
    rows = []
    for key, text in texts.items():
        doc = json.loads(text)
        if listing.keep(doc):
            rows.append(Row((*listing.order(doc), key), doc))
    rows.sort(key=lambda r: r.order)
    return Snapshot(position, rows, [r.order for r in rows])


def page_of(snap: Snapshot, match: Callable[[Doc], bool], first: int,
            after: Order | None) -> ViewPage:
    """The first `first` matching rows after the cursor's sort key; counts every match."""
    start = bisect_right(snap.orders, after) if after is not None else 0
    items: list[Row] = []
    total, has_next = 0, False
    for i, row in enumerate(snap.rows):
        if not match(row.doc):
            continue
        total += 1
        if i >= start:
            if len(items) < first:
                items.append(row)
            else:
                has_next = True
    return ViewPage(items, has_next, total, snap.position)


def encode_view_cursor(listing: Listing, order: Order) -> str:
    return base64.urlsafe_b64encode(json.dumps([listing.name, *order]).encode()).decode()


def decode_view_cursor(listing: Listing, cursor: str) -> Order:
    """The sort key a cursor of `listing` encodes; `BadCursor` for anything else."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError):
        raise BadCursor(cursor) from None
    if not (isinstance(value, list) and len(value) > 1 and value[0] == listing.name
            and all(isinstance(v, str) for v in value)):
        raise BadCursor(cursor)
    return tuple(value[1:])


def judge(view: str, fresh: Freshness, head: int, *, max_lag: int,
          max_staleness_s: float) -> str | None:
    """Why `view` may not be served as current (None: it may), given the log's `head`."""
    if fresh.position is None:
        return (f"the {view} view has not been set up: run `kuzet db migrate` and "
                "`kuzet projections run`")
    behind = head - fresh.position
    if behind < 0:  # the head is read after the position, so this is no race
        return (f"the {view} view is at log position {fresh.position}, ahead of the event "
                f"store ({head}): it was built from another store; run `kuzet projections "
                f"rebuild {view}`")
    if behind == 0:
        return None
    where = (f"the {view} view is at log position {fresh.position}, {behind} behind the "
             f"event store ({head})")
    age = fresh.heartbeat_age_s
    if age is None:
        what = "has not been built yet" if fresh.position == 0 else "is behind"
        return (f"the {view} view {what} ({behind} events behind the event store) and no "
                "projections process has ever reported: start `kuzet projections run`")
    if fresh.stopped:
        return f"{where}, and its projections process stopped {age:.0f} s ago"
    if age > max_staleness_s:
        return (f"{where}, and its projections process last reported {age:.0f} s ago "
                f"(KUZET_VIEW_MAX_STALENESS_S={max_staleness_s:g}): stopped or stuck")
    if behind > max_lag:
        return f"{where}: lagging by more than {max_lag} positions"
    return None


def _missing(exc: BaseException) -> bool:
    """A store whose tables nobody created."""
    return isinstance(exc, asyncpg.UndefinedTableError) or (
        isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc))


class ViewReader:
    """Reads listings from the read-model store at `location` (`postgresql://` URL or path).

    With `head` (the event store's log head; blocking, run in a thread) each read first
    checks the view's freshness (`judge`); without it views are served as they stand.
    `connect_timeout_s` bounds opening a PostgreSQL store.
    """

    def __init__(self, location: str, *, head: Callable[[], int] | None = None,
                 max_lag: int = 10_000, max_staleness_s: float = 15.0,
                 connect_timeout_s: float = 5.0) -> None:
        self.location = location
        self.head = head
        self.max_lag = max_lag
        self.max_staleness_s = max_staleness_s
        self.connect_timeout_s = connect_timeout_s
        self._store: ViewStore | None = None
        self._lock = asyncio.Lock()
        self._cache: dict[str, Snapshot] = {}

    async def snapshot(self, listing: Listing) -> Snapshot:
        """The listing as of the view's current position (cached while the view stands);
        `ViewUnavailable` saying why if the store is unreachable or the view not current."""
        async with self._lock:
            try:
                store = await self._open()
                fresh = await store.freshness(listing.view)
                head = 0 if self.head is None else await asyncio.to_thread(self.head)
                why = judge(listing.view, fresh, head, max_lag=self.max_lag,
                            max_staleness_s=self.max_staleness_s)
                if why is not None:
                    raise ViewUnavailable(why)
                position = fresh.position
                cached = self._cache.get(listing.name)
                if cached is not None and cached.position == position:
                    return cached
                position, texts = await store.texts(listing.view)
            except _STORE_ERRORS as exc:
                if _missing(exc):
                    raise ViewUnavailable(f"the {listing.view} view has not been set up "
                                          f"({exc}): run `kuzet db migrate` and `kuzet "
                                          "projections run`") from None
                await self._forget()
                raise ViewUnavailable(f"agency views unavailable: {exc}") from None
        snap = await asyncio.to_thread(_snapshot, listing, position, texts)
        self._cache[listing.name] = snap
        return snap

    async def documents(self, view: str) -> list[Doc]:
        """Every document of a view not fed from the incident log (`cameras`), as stored:
        no log-freshness check applies; `ViewUnavailable` if the store or view is absent."""
        async with self._lock:
            try:
                store = await self._open()
                _, texts = await store.texts(view)
            except _STORE_ERRORS as exc:
                if not _missing(exc):
                    await self._forget()
                raise ViewUnavailable(f"the {view} view is unavailable ({exc}): is `kuzet "
                                      "cameras watch` running?") from None
        return [json.loads(t) for _, t in sorted(texts.items())]

    async def _open(self) -> ViewStore:
        if self._store is None:
            store: ViewStore
            if self.location.startswith(("postgresql://", "postgres://")):
                from projections.postgres_store import PostgresStore

                store = await PostgresStore.connect(self.location,
                                                    timeout_s=self.connect_timeout_s)
            else:
                store = SqliteStore(self.location)
            self._store = store  # read-only: never creates tables (absent is not empty)
        return self._store

    async def _forget(self) -> None:
        """Drop a failed connection; the next request opens a fresh one."""
        store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(*_STORE_ERRORS):  # already broken: nothing to release
                await store.close()

    async def close(self) -> None:
        async with self._lock:
            await self._forget()
