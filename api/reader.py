"""Read side used by queries: filtering and cursor pagination over incidents (synchronous).

Two sources for `incidents(...)`, one order and one cursor format: the operator board
(projection rows filtered here, then only the page's incidents loaded from the event store)
when the query's caller found it usable, else a fold of every incident in the event store.
The board holds no CLOSED incidents, so both sources leave CLOSED out unless the filter asks
for it (and a filter that asks for it is always folded). Methods block; the schema calls them
in a worker thread. `incident(id, asOf)` and history always read the event store.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from api.errors import BadCursor
from api.state import EventRecord, IncidentState, record_of, state_of
from api.views import Order, Snapshot, instant
from domain.application import IncidentApp
from domain.kinds import Status
from projections.views import Doc

__all__ = ["IncidentFilterSpec", "IncidentReader", "Page", "decode_cursor", "encode_cursor"]

_CLOSED = Status.CLOSED.value


@dataclass(frozen=True, slots=True)
class IncidentFilterSpec:
    """A query's filter plus the caller's agency scope (None: every agency).

    `opened_after` / `opened_before` are `instant()` texts; no `statuses` means every status
    but CLOSED.
    """

    statuses: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    agency: str | None = None
    site: str | None = None
    opened_after: str | None = None
    opened_before: str | None = None
    scope: str | None = None

    @property
    def wants_closed(self) -> bool:
        return self.statuses is not None and _CLOSED in self.statuses

    def _matches(self, status: str, kind: str, agencies: Sequence[str], site: str | None,
                 opened: str) -> bool:
        return ((status != _CLOSED if self.statuses is None else status in self.statuses)
                and (self.kinds is None or kind in self.kinds)
                and (self.agency is None or self.agency in agencies)
                and (self.scope is None or self.scope in agencies)
                and (self.site is None or site == self.site)
                and (self.opened_after is None or opened > self.opened_after)
                and (self.opened_before is None or opened < self.opened_before))

    def matches(self, s: IncidentState) -> bool:
        return self._matches(s.status, s.kind, s.agencies, s.site_id, instant(s.opened_at))

    def matches_row(self, doc: Doc) -> bool:
        """The same test on an operator-board row."""
        return self._matches(doc["status"], doc["kind"], doc["agencies"], doc["site_id"],
                             instant(doc["opened_at"]))


@dataclass(frozen=True, slots=True)
class Page:
    items: list[IncidentState]
    has_next: bool
    total: int
    log_position: int


def _order(s: IncidentState) -> Order:
    return (instant(s.opened_at), str(s.id))


def encode_cursor(s: IncidentState) -> str:
    """The cursor after `s`: its place in the (opened at, id) order, valid on either source."""
    opened, iid = _order(s)
    return base64.urlsafe_b64encode(f"i:{opened}|{iid}".encode()).decode()


def decode_cursor(cursor: str) -> Order:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        opened, sep, iid = text.removeprefix("i:").partition("|")
        if not text.startswith("i:") or not sep:
            raise ValueError(text)
        return instant(opened), str(UUID(iid))
    except (binascii.Error, ValueError):
        raise BadCursor(cursor) from None


def _window(orders: list[Order], after: str | None, first: int) -> tuple[int, int]:
    start = bisect_right(orders, decode_cursor(after)) if after else 0
    return start, min(start + first, len(orders))


class IncidentReader:
    """Blocking reads over the incident application (and a board snapshot, when given)."""

    def __init__(self, app: IncidentApp) -> None:
        self.app = app

    def head(self) -> int:
        """The notification log's last position."""
        return int(self.app.recorder.max_notification_id() or 0)

    def page(self, spec: IncidentFilterSpec, first: int, after: str | None) -> Page:
        """Matching incidents by (opened at, id), folded from the event store."""
        log_position = self.head()
        matching = sorted((s for s in map(state_of, self.app.incidents()) if spec.matches(s)),
                          key=_order)
        start, end = _window([_order(s) for s in matching], after, first)
        return Page(matching[start:end], end < len(matching), len(matching), log_position)

    def page_from_board(self, board: Snapshot, spec: IncidentFilterSpec, first: int,
                        after: str | None) -> Page:
        """The same page chosen from board rows; only its incidents are loaded in full."""
        rows = [r for r in board.rows if spec.matches_row(r.doc)]
        start, end = _window([r.order for r in rows], after, first)
        items = [state_of(self.app.incident(UUID(r.doc["id"]))) for r in rows[start:end]]
        return Page(items, end < len(rows), len(rows), board.position)

    def state(self, incident_id: UUID, as_of: datetime | None) -> IncidentState | None:
        """The incident now, or as of `as_of`; `IncidentNotFound` if it never existed."""
        if as_of is None:
            return state_of(self.app.incident(incident_id))
        found = self.app.incident_at(incident_id, as_of)
        return state_of(found) if found is not None else None

    def history(self, incident_id: UUID) -> tuple[IncidentState, list[EventRecord]]:
        events = self.app.history(incident_id)
        return state_of(self.app.incident(incident_id)), [record_of(e) for e in events]
