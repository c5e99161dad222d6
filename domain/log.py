"""The notification log as plain, JSON-safe records (`LogEvent`), for readers that follow it.

Projections and the relay both follow the event store's notification log (ordered, gap-free
positions from 1). `LogReader` wraps an eventsourcing `Application`'s recorder and mapper and
turns each notification into a `LogEvent`: its position, aggregate name, event name, originator
id and version, timestamp and the event's own fields made JSON-safe (datetimes as RFC 3339,
UUIDs as strings, mappings and sequences as dicts and lists). Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol
from uuid import UUID

__all__ = ["ENVELOPE_FIELDS", "LogEvent", "LogReader", "NotificationSource", "json_safe"]

ENVELOPE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp",
                             "originator_topic"})
"""Event attributes carried by the envelope, not in `LogEvent.data`."""


_PLAIN = frozenset({str, int, float, bool, type(None)})
"""Types that are JSON-safe as they are (exact types: an `Enum` on `str` is not plain)."""


def json_safe(value: Any) -> Any:
    """`value` with datetimes, UUIDs, enums, mappings and sequences made JSON-serialisable."""
    kind = type(value)  # exact-type dispatch first: this runs for every field of every event
    if kind in _PLAIN:
        return value
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else json_safe(v) for v in value]
    if kind is dict:
        return {str(k): v if type(v) in _PLAIN else json_safe(v) for k, v in value.items()}
    if kind is datetime:
        return value.isoformat()
    return _json_safe_other(value)


def _json_safe_other(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, str | bytes):
        return [json_safe(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One stored event at notification-log `position`, e.g. aggregate "Incident", name "Opened"."""

    position: int
    aggregate: str
    name: str
    originator_id: str
    version: int
    timestamp: str
    data: Mapping[str, Any]

    @property
    def topic(self) -> str:
        return f"{self.aggregate}.{self.name}"


class NotificationSource(Protocol):
    """What a log follower needs: the head position and a page of events from `start`."""

    def head(self) -> int: ...

    def read(self, start: int, limit: int) -> list[LogEvent]: ...


class LogReader:
    """A `NotificationSource` over an eventsourcing application's recorder and mapper."""

    def __init__(self, app: Any) -> None:
        self._app = app  # keeps the application (and its connection pool) alive
        self._recorder = app.recorder
        self._mapper = app.mapper

    def head(self) -> int:
        return int(self._recorder.max_notification_id() or 0)

    def read(self, start: int, limit: int) -> list[LogEvent]:
        """Up to `limit` events at positions >= `start`, in log order."""
        page = self._recorder.select_notifications(start, limit)
        return [self.decode(n) for n in page]

    def events_of(self, originator_id: str, up_to_version: int) -> list[LogEvent]:
        """One aggregate's events with versions <= `up_to_version` (position 0: not paged)."""
        stored = self._recorder.select_events(UUID(originator_id), lte=up_to_version)
        return [self.decode(s, 0) for s in stored]

    def decode(self, notification: Any, position: int | None = None) -> LogEvent:
        """One stored event (a notification, or `position`) through the mapper: the reference
        decoding, which faster readers fall back to for anything they do not handle."""
        event = self._mapper.to_domain_event(notification)
        qualname = type(event).__qualname__
        aggregate, _, name = qualname.rpartition(".")
        fields = {k: json_safe(v) for k, v in vars(event).items() if k not in ENVELOPE_FIELDS}
        return LogEvent(
            position=int(notification.id) if position is None else position,
            aggregate=aggregate, name=name, originator_id=str(event.originator_id),
            version=int(event.originator_version), timestamp=event.timestamp.isoformat(),
            data=fields,
        )
