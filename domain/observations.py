"""Observations that are not incidents: canteen attendance tallies and waste pickups seen.

`CanteenTally` aggregates `canteen_count` detections per school (site), local day and meal into
counts only — no ids of children, no images. `PickupLog` records that a `waste_pickup` was seen
at a site on a day, which "expected but absent" schedules check.

Both are idempotent under redelivery: they keep the detection ids they folded in and ignore a
detection they have seen (a redelivered count is never counted twice). Writers that lose a race
retry on a fresh load (`domain.application`), and say so after a bound (`ObservationConflict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

__all__ = ["BelowRuleTally", "CanteenTally", "ObservationConflict", "PickupLog",
           "below_rule_tally_id", "canteen_tally_id", "pickup_log_id"]


class ObservationConflict(DomainError):
    """Raised when an observation aggregate could not be saved after several fresh loads
    (other writers kept winning): the detections are not recorded and must be retried."""

    def __init__(self, aggregate_id: UUID, attempts: int) -> None:
        self.aggregate_id = aggregate_id
        super().__init__(f"observation {aggregate_id} not saved after {attempts} attempts "
                         "(concurrent writers)")

_NAMESPACE = uuid5(NAMESPACE_URL, "https://kuzet.dev/ns/observation")


def canteen_tally_id(site_id: str, day: date | str, meal: str) -> UUID:
    return uuid5(_NAMESPACE, f"canteen:{site_id}:{_iso(day)}:{meal}")


def pickup_log_id(site_id: str, day: date | str) -> UUID:
    return uuid5(_NAMESPACE, f"pickup:{site_id}:{_iso(day)}")


def below_rule_tally_id(kind: str, day: date | str) -> UUID:
    return uuid5(_NAMESPACE, f"below-rule:{kind}:{_iso(day)}")


def _iso(day: date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()


class CanteenTally(Aggregate):
    """Children counted at one school's meal on one day. Events: Started, Counted (v2)."""

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
        self.detection_ids: set[str] = set()

    def count(self, *, samples: Sequence[tuple[str, int, datetime]], at: datetime) -> bool:
        """Fold (detection id, head-count, observed at) samples in; those already folded are
        ignored. Records nothing if no sample is new."""
        fresh = {i: (n, t) for i, n, t in samples if i not in self.detection_ids}
        if not fresh:
            return False
        peak = max(self.peak, *(n for n, _ in fresh.values()))
        seen = max(t for _, t in fresh.values())
        self.trigger_event(self.Counted, timestamp=at, peak=peak, samples=len(fresh),
                           last_seen_at=max(seen, self.last_seen_at or seen),
                           detection_ids=sorted(fresh))
        return True

    class Counted(Aggregate.Event):
        """Counted: the peak head-count so far and the samples (detection ids) this batch
        added. v2 added `detection_ids` (v1 events read back with none)."""

        class_version = 2
        peak: int
        samples: int
        last_seen_at: datetime
        detection_ids: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["detection_ids"] = []

        def apply(self, aggregate: Aggregate) -> None:
            if not isinstance(aggregate, CanteenTally):
                raise TypeError(f"Counted applies to a CanteenTally, not {aggregate!r}")
            aggregate.peak = self.peak
            aggregate.samples += self.samples
            aggregate.last_seen_at = self.last_seen_at
            aggregate.detection_ids.update(self.detection_ids)


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
        self.detection_ids: set[str] = set()

    def seen(self, *, observed_at: list[datetime], detection_ids: list[str], at: datetime
             ) -> bool:
        """Record pickups seen (one time per detection id); False if every id was known."""
        fresh = {i: t for t, i in zip(observed_at, detection_ids, strict=True)
                 if i not in self.detection_ids}
        if not fresh:
            return False
        self._pickup_seen(observed_at=list(fresh.values()), detection_ids=list(fresh),
                          timestamp=at)
        return True

    @event("PickupSeen")
    def _pickup_seen(self, observed_at: list[datetime], detection_ids: list[str],
                     timestamp: datetime) -> None:
        for when, detection_id in zip(observed_at, detection_ids, strict=True):
            if detection_id not in self.detection_ids:  # stored duplicates from before v2
                self.detection_ids.add(detection_id)
                self.seen_at.append(when)


class BelowRuleTally(Aggregate):
    """Watch-list matches (faces, plates) a detector published that scored below the rules'
    `min_score`, per kind and local day: counted, never an incident, never silently lost.
    Holds no subject or plate: counts, the best score, and the detection ids (idempotence).
    Events: Started, Counted (v1)."""

    @staticmethod
    def create_id(kind: str, day: str) -> UUID:
        return below_rule_tally_id(kind, day)

    @event("Started")
    def __init__(self, *, kind: str, day: str, timestamp: datetime) -> None:
        """Started: the first below-rule match of this kind on this local day."""
        self.kind = kind
        self.day = day
        self.count = 0
        self.best = 0.0
        self.detection_ids: set[str] = set()

    def count_matches(self, *, matches: Sequence[tuple[str, float]], at: datetime) -> bool:
        """Fold (detection id, score) in, once per id; False if none was new."""
        fresh = {i: score for i, score in matches if i not in self.detection_ids}
        if not fresh:
            return False
        self._counted(count=len(fresh), best=max(self.best, *fresh.values()),
                      detection_ids=sorted(fresh), timestamp=at)
        return True

    @event("Counted")
    def _counted(self, count: int, best: float, detection_ids: list[str],
                 timestamp: datetime) -> None:
        """Counted: `count` more below-rule matches (ids listed); `best` is the day's best."""
        self.count += count
        self.best = best
        self.detection_ids.update(detection_ids)
