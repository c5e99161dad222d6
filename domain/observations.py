"""Observations that are not incidents: canteen attendance tallies and waste pickups seen.

`CanteenTally` aggregates `canteen_count` detections per school (site), local day and meal into
counts only — no ids of children, no images. `PickupLog` records that a `waste_pickup` was seen
at a site on a day, which "expected but absent" schedules check.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

__all__ = ["CanteenTally", "PickupLog", "canteen_tally_id", "pickup_log_id"]

_NAMESPACE = uuid5(NAMESPACE_URL, "https://kuzet.dev/ns/observation")


def canteen_tally_id(site_id: str, day: date | str, meal: str) -> UUID:
    return uuid5(_NAMESPACE, f"canteen:{site_id}:{_iso(day)}:{meal}")


def pickup_log_id(site_id: str, day: date | str) -> UUID:
    return uuid5(_NAMESPACE, f"pickup:{site_id}:{_iso(day)}")


def _iso(day: date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()


class CanteenTally(Aggregate):
    """Children counted at one school's meal on one day. Events: Started, Counted (v1)."""

    @staticmethod
    def create_id(site_id: str, day: str, meal: str) -> UUID:
        return canteen_tally_id(site_id, day, meal)

    @event("Started")
    def __init__(self, *, site_id: str, day: str, meal: str, timestamp: datetime) -> None:
        """Started: the first count for this school, local day (ISO date) and meal."""
        self.site_id = site_id
        self.day = day
        self.meal = meal
        self.peak = 0
        self.samples = 0
        self.last_seen_at: datetime | None = None

    def count(self, *, peak: int, samples: int, last_seen_at: datetime, at: datetime) -> bool:
        """Fold a batch of samples in; records nothing if neither peak nor samples changed."""
        if peak <= self.peak and samples == 0:
            return False
        self._counted(peak=max(peak, self.peak), samples=samples, last_seen_at=last_seen_at,
                      timestamp=at)
        return True

    @event("Counted")
    def _counted(self, peak: int, samples: int, last_seen_at: datetime,
                 timestamp: datetime) -> None:
        """Counted: the peak head-count so far and how many samples this batch carried."""
        self.peak = peak
        self.samples += samples
        self.last_seen_at = last_seen_at


class PickupLog(Aggregate):
    """Waste pickups seen at one site on one local day. Events: Started, PickupSeen (v1)."""

    @staticmethod
    def create_id(site_id: str, day: str) -> UUID:
        return pickup_log_id(site_id, day)

    @event("Started")
    def __init__(self, *, site_id: str, day: str, timestamp: datetime) -> None:
        """Started: the first pickup seen at this site on this local day (ISO date)."""
        self.site_id = site_id
        self.day = day
        self.seen_at: list[datetime] = []

    def seen(self, *, observed_at: list[datetime], detection_ids: list[str], at: datetime) -> None:
        self._pickup_seen(observed_at=observed_at, detection_ids=detection_ids, timestamp=at)

    @event("PickupSeen")
    def _pickup_seen(self, observed_at: list[datetime], detection_ids: list[str],
                     timestamp: datetime) -> None:
        self.seen_at.extend(observed_at)
