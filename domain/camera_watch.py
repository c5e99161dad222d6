"""Camera health as incidents: which sources have gone silent, as pure state over health records.

Detector processes publish, per source, a `heartbeat` every few seconds while frames arrive,
`source_offline` when a source cannot be read and `source_online` when it is back
(`domain.health`). A source is *down* once nothing has shown a frame from it for
`silent_after` — heartbeats stopped (the detector or its network died) or they report zero
frames or `source_offline` — unless it is under a planned silence.

While a source is down, `due(now)` yields one `camera_offline` detection per `repeat_every`, so
the ordinary correlation rules open one incident per outage (key = source) and auto-resolve it
once frames return and the detections stop. Detection ids and observed times derive from
(source, start of the silence, repeat number): a restarted watcher that reads the same health
records again publishes the same records, which the correlator de-duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from domain.detection import Detection, DetectionId
from domain.health import HealthRecord, HealthStatus
from domain.kinds import Kind, SourceKind

__all__ = ["CameraWatch", "PlannedSilence", "SourceHealth", "by_district",
           "offline_detection_id"]

_NAMESPACE = uuid.UUID("5b0f3a4e-8f0c-4c8e-9a61-6b1d0c2f7e19")


def offline_detection_id(source_id: str, silent_since: datetime, repeat: int) -> DetectionId:
    """The id of the `repeat`-th offline detection of the silence that began at `silent_since`."""
    return DetectionId(str(uuid.uuid5(_NAMESPACE,
                                      f"{source_id}|{silent_since.isoformat()}|{repeat}")))


@dataclass(frozen=True, slots=True)
class PlannedSilence:
    """Maintenance: `source_id` may be silent in [start, end) without an incident."""

    source_id: str
    start: datetime
    end: datetime

    def covers(self, source_id: str, at: datetime) -> bool:
        return source_id == self.source_id and self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What the watcher knows of one source (the per-camera view shows this)."""

    source_id: str
    source_kind: str
    site_id: str | None
    last_record_at: datetime
    last_frame_at: datetime | None
    last_detection_at: datetime | None
    offline_reason: str | None
    silent_since: datetime
    """When frames stopped (the last frame, or the first record if none was ever seen)."""

    def down(self, now: datetime, silent_after: timedelta) -> bool:
        """No frame for `silent_after` or longer (whatever the records said)."""
        return now - self.silent_since >= silent_after


class CameraWatch:
    """Folds health records (any order, any redelivery) and says which sources are down."""

    def __init__(self, *, silent_after: timedelta, repeat_every: timedelta,
                 silences: Iterable[PlannedSilence] = ()) -> None:
        if silent_after <= timedelta(0) or repeat_every <= timedelta(0):
            raise ValueError("silent_after and repeat_every must be positive")
        self.silent_after, self.repeat_every = silent_after, repeat_every
        self.silences = tuple(silences)
        self._sources: dict[str, SourceHealth] = {}

    @property
    def sources(self) -> Mapping[str, SourceHealth]:
        return MappingProxyType(self._sources)

    def observe(self, record: HealthRecord) -> None:
        """Take one health record into the state (older records than the newest known are
        still used for the last frame and detection times; they never end a silence late)."""
        seen = self._sources.get(record.source_id)
        frames = record.status is not HealthStatus.SOURCE_OFFLINE and record.frames > 0
        at = record.observed_at
        if seen is None:
            seen = SourceHealth(record.source_id, record.source_kind.value, record.site_id,
                                at, at if frames else None,
                                at if record.detections > 0 else None, None, at)
        last_frame = _latest(seen.last_frame_at, at if frames else None)
        newest = at >= seen.last_record_at
        reason = seen.offline_reason
        if newest:
            reason = (record.reason or "source_offline") \
                if record.status is HealthStatus.SOURCE_OFFLINE else None
        self._sources[record.source_id] = replace(
            seen, site_id=record.site_id or seen.site_id,
            last_record_at=max(seen.last_record_at, at), last_frame_at=last_frame,
            last_detection_at=_latest(seen.last_detection_at,
                                      at if record.detections > 0 else None),
            offline_reason=reason,
            silent_since=last_frame if last_frame is not None else min(seen.silent_since, at))

    def adopt(self, seen: SourceHealth) -> None:
        """Keep a source's state as another watch folded it (after a rebalance)."""
        self._sources[seen.source_id] = seen

    def is_down(self, source_id: str, now: datetime) -> bool:
        seen = self._sources.get(source_id)
        return seen is not None and seen.down(now, self.silent_after)

    def due(self, now: datetime) -> list[Detection]:
        """One `camera_offline` detection for each down source not under a planned silence:
        the latest repeat at or before `now` (the same id until the next repeat is due)."""
        out = []
        for _, seen in sorted(self._sources.items()):
            start = seen.silent_since + self.silent_after
            if now < start or any(s.covers(seen.source_id, now) for s in self.silences):
                continue
            repeat = (now - start) // self.repeat_every
            out.append(self._detection(seen, repeat, start + repeat * self.repeat_every))
        return out

    def _detection(self, seen: SourceHealth, repeat: int, at: datetime) -> Detection:
        silent_s = int((at - seen.silent_since).total_seconds())
        attributes = {"silent_s": silent_s, "silent_since": seen.silent_since.isoformat(),
                      "reason": seen.offline_reason or "no frames"}
        return Detection(
            detection_id=offline_detection_id(seen.source_id, seen.silent_since, repeat),
            source_id=seen.source_id, source_kind=SourceKind(seen.source_kind),
            kind=Kind.CAMERA_OFFLINE, confidence=1.0, observed_at=at, site_id=seen.site_id,
            attributes=MappingProxyType(attributes))


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def by_district(watch: CameraWatch, now: datetime,
                district_of: Callable[[str | None], str | None]) -> dict[str, dict[str, int]]:
    """Sources online and down per district (`district_of(site_id)`; "-" when unknown)."""
    out: dict[str, dict[str, int]] = {}
    for seen in watch.sources.values():
        row = out.setdefault(district_of(seen.site_id) or "-", {"online": 0, "down": 0})
        row["down" if seen.down(now, watch.silent_after) else "online"] += 1
    return dict(sorted(out.items()))
