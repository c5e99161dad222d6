"""Health records: the domain contract round trip and the per-camera book."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detectors.config import CameraConfig
from detectors.health import HealthBook
from domain.health import HealthStatus, InvalidHealthRecord, encode_health, parse_health

NOW = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


def test_heartbeat_counts_and_offline_status_round_trip() -> None:
    cam = CameraConfig(id="cam-1", url="x", site_id="s-1")
    book = HealthBook("node-a")
    book.frame("cam-1")
    book.frame("cam-1")
    book.detections("cam-1", 3)
    beat = book.heartbeat(cam, NOW)
    assert (beat.status, beat.frames, beat.detections) == (HealthStatus.HEARTBEAT, 2, 3)
    assert parse_health(encode_health(beat)) == beat
    book.offline("cam-1", True)
    again = book.heartbeat(cam, NOW)
    assert again.status is HealthStatus.SOURCE_OFFLINE
    assert again.frames == 0


def test_invalid_health_record_names_fields() -> None:
    with pytest.raises(InvalidHealthRecord, match=r"status='asleep'.*frames=-1"):
        parse_health(b'{"source_id": "c", "source_kind": "camera", "status": "asleep",'
                     b' "observed_at": "2025-05-05T10:00:00+00:00", "frames": -1}')
