"""The closed vocabularies of the domain: detection kinds, sources, agencies, statuses."""

from __future__ import annotations

from enum import Enum

__all__ = ["ACTIVE_STATUSES", "CLOSED_OR_MERGED", "TERMINALISH_STATUSES", "Agency", "Kind",
           "SourceKind", "Status"]


class Kind(str, Enum):
    """What a detector saw. Part of the public detection contract (kuzet.detections.v1)."""

    FIRE = "fire"
    SMOKE = "smoke"
    FIRE_ALARM = "fire_alarm"
    CROWD = "crowd"
    FIGHT = "fight"
    WEAPON = "weapon"
    FACE_MATCH = "face_match"
    PLATE_MATCH = "plate_match"
    PERSON = "person"
    VEHICLE = "vehicle"
    GARBAGE_OVERFLOW = "garbage_overflow"
    ILLEGAL_DUMP = "illegal_dump"
    WASTE_PICKUP = "waste_pickup"
    ROAD_DEFECT = "road_defect"
    CANTEEN_COUNT = "canteen_count"
    CAMERA_OFFLINE = "camera_offline"
    CITIZEN_REPORT = "citizen_report"
    """A citizen's appeal (`kuzet appeals`); `attributes.category` says what it is about."""
    """Published by `kuzet cameras watch` while a source shows no frames (domain.camera_watch)."""


class SourceKind(str, Enum):
    CAMERA = "camera"
    DASHCAM = "dashcam"
    SENSOR = "sensor"
    CITIZEN = "citizen"
    """An appeal portal (a person reported it): `kuzet appeals`."""


class Agency(str, Enum):
    """Who is told. The situation centre sees everything; the others see their share."""

    SITUATION_CENTRE = "situation_centre"
    POLICE = "police"
    EMERGENCY = "emergency"
    ZHKKH = "zhkkh"
    EDUCATION = "education"


class Status(str, Enum):
    """Incident lifecycle status (DESIGN.md): escalation changes severity, not status."""

    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    DISPATCHED = "DISPATCHED"
    RESOLVED = "RESOLVED"
    AUTO_RESOLVED = "AUTO_RESOLVED"
    FALSE_ALARM = "FALSE_ALARM"
    REOPENED = "REOPENED"
    CLOSED = "CLOSED"
    MERGED = "MERGED"
    """Merged into another incident (`MergedInto`): its evidence and routing live there."""


ACTIVE_STATUSES = frozenset(
    {Status.OPEN, Status.REOPENED, Status.ACKNOWLEDGED, Status.DISPATCHED}
)
"""Statuses in which the incident is still being handled and gathers evidence."""

TERMINALISH_STATUSES = frozenset({Status.RESOLVED, Status.AUTO_RESOLVED, Status.FALSE_ALARM})
"""Finished but reopenable: a new detection within `reopen_within` reopens the incident."""

CLOSED_OR_MERGED = frozenset({Status.CLOSED, Status.MERGED})
"""Final statuses: nothing merges into or out of them, nothing splits from them."""
