"""The appeal portal's feed: each status change of an incident that holds citizens' appeals.

    kuzet.appeals.status.v1 (key: appeal id)
    {"appeal_id", "incident_id", "status", "event_type", "event_id", "at", "sequence"}

The relay calls `AppealFeed.messages` for every incident event it publishes; an incident's
appeals and status are folded from its own events (`AppealAttached`, the lifecycle events), so
the feed is as complete and as ordered as the log, and a re-sent page repeats the same
`event_id`s (the portal drops duplicates by it). When an appeal joins an incident, the portal
is told the incident's current status at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from domain.kinds import Status
from domain.log import LogEvent
from domain.topics import APPEAL_STATUS

__all__ = ["STATUS_AFTER", "AppealFeed", "appeal_status"]

STATUS_AFTER = {
    "Opened": Status.OPEN, "Acknowledged": Status.ACKNOWLEDGED,
    "Dispatched": Status.DISPATCHED, "Resolved": Status.RESOLVED,
    "AutoResolved": Status.AUTO_RESOLVED, "MarkedFalseAlarm": Status.FALSE_ALARM,
    "Reopened": Status.REOPENED, "Closed": Status.CLOSED,
}
"""The incident's status after each lifecycle event."""

History = Callable[[str, int], list[LogEvent]]
"""(incident id, up to version) → the incident's events, oldest first."""


def appeal_status(events: Sequence[LogEvent]) -> tuple[list[str], str | None]:
    """An incident's appeals (in the order they joined) and its status after `events`."""
    appeals: list[str] = []
    status = None
    for e in events:
        if e.name == "AppealAttached" and e.data["appeal_id"] not in appeals:
            appeals.append(e.data["appeal_id"])
        elif e.name in STATUS_AFTER:
            status = STATUS_AFTER[e.name].value
    return appeals, status


class AppealFeed:
    """Per incident: (version, appeals, status) cached, folded from its history on a miss."""

    def __init__(self, history: History, topic: str = APPEAL_STATUS) -> None:
        self.history, self.topic = history, topic
        self._known: dict[str, tuple[int, list[str], str | None]] = {}

    def _before(self, event: LogEvent) -> tuple[list[str], str | None]:
        known = self._known.get(event.originator_id)
        if known is not None and known[0] == event.version - 1:
            return known[1], known[2]
        if event.version <= 1:
            return [], None
        return appeal_status(self.history(event.originator_id, event.version - 1))

    def messages(self, event: LogEvent, event_id: str, at: str
                 ) -> list[tuple[str, bytes, bytes]]:
        """(topic, key, value) for each appeal this event tells about."""
        appeals, status = self._before(event)
        after, status_after = appeal_status([event])
        joined = [a for a in after if a not in appeals]
        appeals = [*appeals, *joined]
        status = status_after or status
        if event.name == "Closed":
            self._known.pop(event.originator_id, None)
        else:
            self._known[event.originator_id] = (event.version, appeals, status)
        told = appeals if status_after else joined
        return [(self.topic, a.encode(), _value(a, event, status, event_id, at)) for a in told]


def _value(appeal_id: str, event: LogEvent, status: str | None, event_id: str,
           at: str) -> bytes:
    body: dict[str, Any] = {
        "appeal_id": appeal_id, "incident_id": event.originator_id, "status": status,
        "event_type": event.name, "event_id": event_id, "at": at,
        "sequence": str(event.position),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
