"""Shared folding of Incident events into the lifecycle fields every view needs."""

from __future__ import annotations

from domain.kinds import Status
from domain.log import LogEvent
from projections.views.base import Doc

__all__ = ["INCIDENT", "STATUS_AFTER", "lifecycle"]

INCIDENT = "Incident"

STATUS_AFTER = {
    "Acknowledged": Status.ACKNOWLEDGED, "Dispatched": Status.DISPATCHED,
    "Resolved": Status.RESOLVED, "AutoResolved": Status.AUTO_RESOLVED,
    "MarkedFalseAlarm": Status.FALSE_ALARM, "Reopened": Status.REOPENED,
    "Closed": Status.CLOSED, "MergedInto": Status.MERGED,
}
_FINISHED = {"Resolved", "AutoResolved", "MarkedFalseAlarm"}


def lifecycle(doc: Doc, event: LogEvent) -> Doc:
    """`doc` (a copy) with status, severity, level and lifecycle times after `event`."""
    new = dict(doc)
    new["version"] = event.version
    new["updated_at"] = event.timestamp
    if event.name in STATUS_AFTER:
        new["status"] = STATUS_AFTER[event.name].value
    if event.name == "Acknowledged":
        new["acknowledged_at"] = event.timestamp
    elif event.name in _FINISHED:
        new["cleared_at"] = event.timestamp
    elif event.name == "Reopened":
        new["cleared_at"] = None
    elif event.name == "MergedInto":  # its evidence and routing now live in `into_id`
        new["merged_into"] = event.data["into_id"]
    elif event.name == "Escalated":
        new["level"] = event.data["level"]
        new["severity"] = event.data["severity"]
    elif event.name == "OriginAmended" and event.data["site_id"] is not None \
            and "site_id" in new:  # earlier evidence arrived: the site of the earliest sighting
        new["site_id"] = event.data["site_id"]
    return new


def opened_fields(event: LogEvent) -> Doc:
    """The lifecycle fields of a fresh incident document (no personal data)."""
    d = event.data
    return {
        "id": event.originator_id, "kind": d["kind"], "status": Status.OPEN.value,
        "severity": d["severity"], "level": 0, "site_id": d["site_id"],
        "opened_at": event.timestamp, "sla_due_at": d["sla_due_at"],
        "acknowledged_at": None, "cleared_at": None, "version": event.version,
        "updated_at": event.timestamp,
    }
