"""The built-in demo scenario: ~20 cameras, sensors and a citizen's appeal, every case once.

`demo_records(now)` returns the raw records to publish (bytes, some deliberately malformed) and
`EXPECTED` names the incidents the default rules must make of them: one per case, none for the
noise, none extra for the redelivered batch.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

__all__ = ["EXPECTED", "EXPECTED_DLQ", "EXPECTED_HEALTH", "demo_health", "demo_records"]

_NS = uuid.UUID("6b1f0a52-6d54-4f0c-9a55-5e2f8c0d7a11")

EXPECTED: dict[str, dict[str, Any]] = {
    "fire:site=market-7": {"kind": "fire", "sources": 2, "status": "OPEN"},
    "fire:site=school-12": {"kind": "fire", "sources": 2, "status": "OPEN"},
    "crowd:source=cam-08": {"kind": "crowd", "sources": 1, "status": "AUTO_RESOLVED"},
    "face_match:subject=W-1042": {"kind": "face_match", "sources": 3, "status": "OPEN"},
    "plate_match:plate=A123BC02": {"kind": "plate_match", "sources": 1, "status": "OPEN"},
    "illegal_dump:site=yard-3": {"kind": "illegal_dump", "sources": 2, "status": "OPEN"},
}
EXPECTED_DLQ = 3
EXPECTED_HEALTH: dict[str, dict[str, Any]] = {
    "camera_offline:source=cam-23": {"kind": "camera_offline", "sources": 1, "status": "OPEN"},
}
"""What `kuzet cameras watch` makes of `demo_health`: the camera that went dark."""


def _det(case: str, n: int, source: str, kind: str, conf: float, at: datetime,
         **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "detection_id": str(uuid.uuid5(_NS, f"{case}:{n}")),
        "source_id": source,
        "source_kind": ("sensor" if source.startswith("alarm") else
                        "citizen" if source.startswith("appeal") else "camera"),
        "kind": kind,
        "confidence": conf,
        "observed_at": at.isoformat(),
        "model": {"name": "demo", "version": "1"},
    }
    rec.update(extra)
    return rec


def _cases(now: datetime) -> Iterator[dict[str, Any]]:
    s = timedelta(seconds=1)
    for i in range(6):  # a fire burst on two cameras of one market
        yield _det("fire", i, f"cam-0{1 + i % 2}", "fire", 0.8 + i * 0.02, now - 20 * s + i * s,
                   site_id="market-7", location={"lat": 43.2389, "lon": 76.8897})
    for i in range(3):  # smoke at a school, then its fire-alarm panel: one incident
        yield _det("smoke", i, "cam-05", "smoke", 0.7, now - 15 * s + i * s, site_id="school-12")
    yield _det("alarm", 0, "alarm-12", "fire_alarm", 1.0, now - 10 * s, site_id="school-12",
               attributes={"panel": "zone-3"})
    for i in range(4):  # a crowd 20 minutes ago that dispersed: auto-resolves
        yield _det("crowd", i, "cam-08", "crowd", 0.75, now - 20 * 60 * s + i * 5 * s,
                   site_id="square-1", attributes={"count": 60 + i})
    for i, cam in enumerate(["cam-10", "cam-11", "cam-12"]):  # a wanted subject, 3 cameras
        yield _det("face", i, cam, "face_match", 0.9, now - 30 * s + i * 10 * s,
                   site_id=f"metro-{i}", attributes={"subject_id": "W-1042", "similarity": 0.82})
    yield _det("plate", 0, "cam-14", "plate_match", 0.88, now - 5 * s, site_id="ring-road-3",
               attributes={"plate": "A 123 BC 02"})
    yield _det("appeal", 0, "appeal-A-118734", "citizen_report", 1.0, now - 40 * s,
               site_id="yard-3", attributes={"appeal_id": "A-118734",
                                             "category": "illegal_dump",
                                             "text": "Dump behind house 12 for a week"})
    for i in range(3):  # ...and a camera sees the dump: the appeal joins its incident
        yield _det("dump", i, "cam-21", "illegal_dump", 0.8, now - 25 * s + i * 5 * s,
                   site_id="yard-3")
    yield from _noise(now)
    for i in range(3):  # canteen head-counts at a school: an observation, not an incident
        yield _det("canteen", i, "cam-18", "canteen_count", 0.9, now - 60 * s + i * 20 * s,
                   site_id="school-12", attributes={"count": 120 + i, "meal": "lunch"})


def _noise(now: datetime) -> Iterator[dict[str, Any]]:
    s = timedelta(seconds=1)
    for i in range(3):
        yield _det("noise-fight", i, "cam-15", "fight", 0.3, now - i * s, site_id="park-2")
    yield _det("noise-crowd", 0, "cam-16", "crowd", 0.7, now, site_id="park-2",
               attributes={"count": 30})
    yield _det("noise-smoke", 0, "cam-17", "smoke", 0.45, now, site_id="depot-4")
    yield _det("noise-person", 0, "cam-19", "person", 0.9, now, site_id="depot-4",
               attributes={"count": 2})


def demo_records(now: datetime) -> list[tuple[bytes | None, bytes]]:
    """(key, value) pairs in publish order, including a redelivered batch and bad records."""
    good = list(_cases(now))
    out = [(r["source_id"].encode(), json.dumps(r).encode()) for r in good]
    out += out[:6]  # the fire burst again: at-least-once redelivery
    bad = [
        (b"cam-20", b"{not json"),
        (b"cam-20", json.dumps({**good[0], "detection_id": str(uuid.uuid5(_NS, "bad:1")),
                                "kind": "unicorn"}).encode()),
        (b"cam-20", json.dumps({**good[0], "detection_id": str(uuid.uuid5(_NS, "bad:2")),
                                "observed_at": "2026-11-26T10:00:00"}).encode()),
    ]
    return out + bad


def demo_health(now: datetime) -> list[tuple[bytes | None, bytes]]:
    """Camera health on kuzet.health.v1: cam-22 sends frames, cam-23 sent its last frame five
    minutes ago and then nothing (past the default 120 s: one camera_offline incident)."""
    def beat(source: str, seconds_ago: int) -> tuple[bytes | None, bytes]:
        record = {"source_id": source, "source_kind": "camera", "status": "heartbeat",
                  "observed_at": (now - timedelta(seconds=seconds_ago)).isoformat(),
                  "site_id": "yard-3", "frames": 25, "detections": 0}
        return source.encode(), json.dumps(record).encode()
    return [beat("cam-23", 300), beat("cam-22", 10), beat("cam-22", 0)]
