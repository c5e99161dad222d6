"""GPS sidecars (GPX, JSON lines) and the dash-cam source attaching locations to frames."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.config import build_config
from detectors.errors import GpsError
from detectors.frames import Frame
from detectors.gps import load_track
from detectors.sources import SourceRunner
from domain.health import HealthRecord
from tests.fixtures.detector_fixtures import write_video

T0 = datetime(2025, 5, 5, 8, 0, tzinfo=UTC)
GPX = """<?xml version="1.0"?>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lat="43.2000" lon="76.9000"><time>2025-05-05T08:00:00Z</time></trkpt>
<trkpt lat="43.2010" lon="76.9020"><time>2025-05-05T08:00:10Z</time></trkpt>
</trkseg></trk></gpx>"""


def _jsonl(path: Path) -> Path:
    rows = [{"time": (T0 + timedelta(seconds=s)).isoformat(), "lat": 43.2 + s * 1e-4,
             "lon": 76.9 + s * 2e-4} for s in (0, 10)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_gpx_and_jsonl_interpolate_the_same(tmp_path: Path) -> None:
    gpx = tmp_path / "trip.gpx"
    gpx.write_text(GPX)
    for track in (load_track(gpx), load_track(_jsonl(tmp_path / "trip.jsonl"))):
        assert track.at(T0 + timedelta(seconds=5)) == pytest.approx((43.2005, 76.901))
        assert track.at(T0 - timedelta(seconds=5)) == pytest.approx((43.2, 76.9))
        assert track.at(T0 + timedelta(minutes=5)) is None  # too far from any fix


def test_bad_sidecar_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"time": "yesterday", "lat": 1, "lon": 2}\n')
    with pytest.raises(GpsError, match=r"bad.jsonl:1: bad time 'yesterday'"):
        load_track(bad)


def test_dashcam_source_attaches_gps_to_every_frame(tmp_path: Path) -> None:
    video = write_video(tmp_path / "bus.avi", frames=10, fps=5.0, scale=0.25)
    cam = {"id": "bus-7", "url": str(video), "kind": "dashcam", "sample_fps": 2.0,
           "gps": str(_jsonl(tmp_path / "bus.jsonl"))}
    config = build_config({"cameras": [cam]}, data_dir=tmp_path, base_dir=tmp_path)
    frames: list[Frame] = []
    health: list[HealthRecord] = []
    runner = SourceRunner(config.cameras[0], config, lambda f, _: frames.append(f),
                          health.append, threading.Event())
    runner.run()
    assert len(frames) == 4  # 2 s of video sampled at 2 fps
    # timestamps come from the container (5 fps: a frame every 0.2 s, sampled at 2 fps)
    offsets = [(f.observed_at - T0).total_seconds() for f in frames]
    assert offsets == pytest.approx([0.0, 0.6, 1.0, 1.6])
    assert frames[2].location == pytest.approx((43.2001, 76.9002))
    assert all(f.location is not None for f in frames)
    assert health == []
