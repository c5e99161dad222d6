"""Read side used by queries: filtering and cursor pagination over incidents (synchronous).

Folds incidents from the event store through `IncidentApp`; its methods are blocking and are
called in a worker thread by the schema. A projection-backed reader (issue 4) can replace
this behind the same `IncidentReader` methods once the operator-board read model lands.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from api.errors import BadCursor
from api.state import EventRecord, IncidentState, record_of, state_of
from domain.application import IncidentApp

__all__ = ["IncidentFilterSpec", "IncidentReader", "Page", "decode_cursor", "encode_cursor"]


@dataclass(frozen=True, slots=True)
class IncidentFilterSpec:
    """A query's filter plus the caller's agency scope (None: every agency)."""

    statuses: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    agency: str | None = None
    site: str | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None
    scope: str | None = None

    def matches(self, s: IncidentState) -> bool:
        return ((self.statuses is None or s.status in self.statuses)
                and (self.kinds is None or s.kind in self.kinds)
                and (self.agency is None or self.agency in s.agencies)
                and (self.scope is None or self.scope in s.agencies)
                and (self.site is None or s.site_id == self.site)
                and (self.opened_after is None or s.opened_at > self.opened_after)
                and (self.opened_before is None or s.opened_at < self.opened_before))


@dataclass(frozen=True, slots=True)
class Page:
    items: list[IncidentState]
    has_next: bool
    total: int
    log_position: int


def encode_cursor(incident_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"i:{incident_id}".encode()).decode()


def decode_cursor(cursor: str) -> UUID:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith("i:"):
            raise ValueError(text)
        return UUID(text[2:])
    except ValueError:
        raise BadCursor(cursor) from None


class IncidentReader:
    """Blocking reads over the incident application."""

    def __init__(self, app: IncidentApp) -> None:
        self.app = app

    def page(self, spec: IncidentFilterSpec, first: int, after: str | None) -> Page:
        """Incidents in the order they were opened, `first` after the `after` cursor."""
        log_position = self.app.recorder.max_notification_id() or 0
        start_after = decode_cursor(after) if after else None
        matching = [s for s in map(state_of, self.app.incidents()) if spec.matches(s)]
        index = 0
        if start_after is not None:
            ids = [s.id for s in matching]
            index = ids.index(start_after) + 1 if start_after in ids else len(ids)
        items = matching[index:index + first]
        return Page(items, index + first < len(matching), len(matching), log_position)

    def state(self, incident_id: UUID, as_of: datetime | None) -> IncidentState | None:
        """The incident now, or as of `as_of`; `IncidentNotFound` if it never existed."""
        if as_of is None:
            return state_of(self.app.incident(incident_id))
        found = self.app.incident_at(incident_id, as_of)
        return state_of(found) if found is not None else None

    def history(self, incident_id: UUID) -> tuple[IncidentState, list[EventRecord]]:
        events = self.app.history(incident_id)
        return state_of(self.app.incident(incident_id)), [record_of(e) for e in events]
