"""Issue 3 end to end: `kuzet detect` on a short generated video -> Kafka -> the correlator.

A real `kuzet detect` process runs YOLO11n (the shipped model) on an MJPG clip that OpenCV
writes from the shipped test image (two people), with the camera's crowd threshold at 2, and
publishes to `kuzet.detections.v1` on the embedded broker. The records read back from the topic
go through the real correlation engine on the event store (SQLite and PostgreSQL): they must
make exactly one crowd incident for the camera, with every crowd record as its evidence, and
the person counts alone must make none.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from domain.application import IncidentApp
from domain.detection import Detection, parse_detection
from domain.incident import Status
from domain.kinds import Kind, SourceKind
from domain.topics import DETECTIONS
from kuzet.broker import EmbeddedBroker
from streams.engine import CorrelationEngine
from tests.fixtures.detector_fixtures import consume, write_video
from tests.helpers import default_rules

pytestmark = pytest.mark.broker

STARTED = datetime.fromisoformat("2026-11-26T10:00:00+00:00")
SECONDS = 4  # 20 frames at 5 fps, sampled at 2 fps: 8 frames, one record per kind a second


def _cameras_file(folder: Path, camera: str) -> Path:
    video = write_video(folder / "clip.avi", frames=SECONDS * 5, fps=5.0)
    path = folder / "cameras.toml"
    path.write_text(f"""
[[cameras]]
id = "{camera}"
url = "{video.name}"
site_id = "square-e2e"
detectors = ["objects"]
sample_fps = 2
crowd_threshold = 2
started_at = "{STARTED.isoformat()}"
""")
    return path


@pytest.fixture(scope="module")
def published(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[str, list[Detection]]:
    """Run `kuzet detect --cameras` once; the camera id and its records as read from Kafka."""
    folder = tmp_path_factory.mktemp("e2e")
    camera = f"cam-e2e-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "KUZET_DATA_DIR": str(folder / "data"),
           "KUZET_KAFKA_URL": broker.bootstrap_servers}
    done = subprocess.run(
        [sys.executable, "-m", "kuzet", "detect", "--cameras",
         str(_cameras_file(folder, camera))],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    raw = asyncio.run(consume(broker.bootstrap_servers, DETECTIONS, 10_000, timeout=5))
    return camera, [d for d in map(parse_detection, raw) if d.source_id == camera]


def test_detect_publishes_valid_crowd_and_person_records(
    published: tuple[str, list[Detection]]
) -> None:
    _, records = published
    by_kind = {k: [d for d in records if d.kind is k] for k in (Kind.CROWD, Kind.PERSON)}
    assert len(by_kind[Kind.CROWD]) == SECONDS
    assert len(by_kind[Kind.PERSON]) == SECONDS
    assert len(records) == 2 * SECONDS
    assert all(d.attributes["count"] == 2 and d.site_id == "square-e2e" for d in records)
    assert all(d.source_kind is SourceKind.CAMERA for d in records)
    assert min(d.observed_at for d in records) == STARTED  # the camera's clock, not ours


async def test_the_correlator_turns_them_into_one_crowd_incident(
    published: tuple[str, list[Detection]], store_env: dict[str, str]
) -> None:
    camera, records = published
    rules = default_rules()
    app = IncidentApp(store_env, rules)
    engine: CorrelationEngine[str] = CorrelationEngine(app, rules)
    now = max(d.observed_at for d in records) + timedelta(seconds=1)
    try:
        await engine.process(0, [(d, d.detection_id) for d in records], now)
        await engine.drain(now)
        incidents = list(app.incidents())
    finally:
        engine.close()
        app.close()
    [incident] = incidents  # the person counts alone open nothing
    assert incident.incident_key == f"crowd:source={camera}"
    assert incident.status is Status.OPEN
    assert incident.sources == [camera]
    crowd = {d.detection_id for d in records if d.kind is Kind.CROWD}
    assert incident.evidence_ids == crowd
