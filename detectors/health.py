"""Per-source health bookkeeping: heartbeats, `source_offline` and `source_online` records.

Records follow the contract in `domain.health` and go to `kuzet.health.v1` (key = source id).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from detectors.config import CameraConfig
from domain.health import HealthRecord, HealthStatus

__all__ = ["HealthBook", "health_record"]


def health_record(cam: CameraConfig, status: HealthStatus, *, node: str,
                  reason: str | None = None, frames: int = 0, detections: int = 0,
                  now: datetime | None = None) -> HealthRecord:
    return HealthRecord(
        source_id=cam.id, source_kind=cam.source_kind, status=status,
        observed_at=now or datetime.now(UTC), site_id=cam.site_id, frames=frames,
        detections=detections, reason=reason, detector=node,
    )


class HealthBook:
    """Counts frames and detections per camera between heartbeats (thread-safe)."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._frames: dict[str, int] = {}
        self._detections: dict[str, int] = {}
        self._offline: set[str] = set()

    def frame(self, camera_id: str) -> None:
        with self._lock:
            self._frames[camera_id] = self._frames.get(camera_id, 0) + 1

    def detections(self, camera_id: str, n: int) -> None:
        with self._lock:
            self._detections[camera_id] = self._detections.get(camera_id, 0) + n

    def offline(self, camera_id: str, offline: bool) -> None:
        with self._lock:
            (self._offline.add if offline else self._offline.discard)(camera_id)

    def heartbeat(self, cam: CameraConfig, now: datetime | None = None) -> HealthRecord:
        """The heartbeat (or repeated `source_offline`) for `cam`, resetting its counters."""
        with self._lock:
            frames = self._frames.pop(cam.id, 0)
            detections = self._detections.pop(cam.id, 0)
            offline = cam.id in self._offline
        status = HealthStatus.SOURCE_OFFLINE if offline else HealthStatus.HEARTBEAT
        reason = "no frames from the source" if offline else None
        return health_record(cam, status, node=self.node, reason=reason, frames=frames,
                             detections=detections, now=now)
