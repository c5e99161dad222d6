"""`kuzet detect` and `kuzet watchlist` end to end: real models, real broker, real files."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import cv2
import pytest
import typer
from typer.testing import CliRunner

from domain.detection import parse_detection
from domain.health import HealthStatus, parse_health
from domain.kinds import Kind
from domain.topics import DETECTIONS, HEALTH
from kuzet.broker import EmbeddedBroker
from kuzet.commands import detect
from tests.fixtures.detector_fixtures import astronaut, consume, shipped_testimg, write_video

pytestmark = pytest.mark.broker


@pytest.fixture
def cli() -> typer.Typer:
    """Only this area's commands, registered exactly as `kuzet.cli` does."""
    app = typer.Typer()
    detect.register(app)
    return app


def _env(tmp_path: Path, broker: EmbeddedBroker | None = None) -> dict[str, str]:
    env = {"KUZET_DATA_DIR": str(tmp_path / "data")}
    if broker is not None:
        env["KUZET_KAFKA_URL"] = broker.bootstrap_servers
    return env


def test_detect_on_a_generated_video_publishes_valid_records(
    cli: typer.Typer, tmp_path: Path, broker: EmbeddedBroker
) -> None:
    video = write_video(tmp_path / "clip.avi", frames=10, fps=5.0)
    camera = f"cam-e2e-{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(cli, [
        "detect", "--source", str(video), "--camera", camera, "--site", "square-1",
        "--detectors", "objects", "--sample-fps", "2", "--snapshots",
    ], env=_env(tmp_path, broker))
    assert result.exit_code == 0, result.output
    raw = asyncio.run(consume(broker.bootstrap_servers, DETECTIONS, 10_000, timeout=5))
    mine = [d for d in map(parse_detection, raw) if d.source_id == camera]
    assert len(mine) == 2  # 2 s of video, one person record per second (throttle)
    assert all(d.kind is Kind.PERSON and d.attributes["count"] >= 2 for d in mine)
    assert all(d.site_id == "square-1" and d.snapshot is not None for d in mine)
    assert mine[0].snapshot is not None
    assert Path(mine[0].snapshot.uri.removeprefix("file://")).is_file()
    beats = [parse_health(v) for v in asyncio.run(consume(broker.bootstrap_servers, HEALTH,
                                                          10_000, timeout=3))]
    [beat] = [h for h in beats if h.source_id == camera]
    assert beat.status is HealthStatus.HEARTBEAT
    assert beat.frames == 4
    assert beat.detections == 2


def test_detect_once_prints_json(cli: typer.Typer, tmp_path: Path) -> None:
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), shipped_testimg())
    result = CliRunner().invoke(cli, ["detect", "--once", str(image), "--detectors", "objects"],
                                env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["kind"] for r in records] == ["person"]
    assert records[0]["attributes"]["count"] >= 2
    assert parse_detection(json.dumps(records[0]))


def test_watchlist_enrol_list_remove_then_once_matches(cli: typer.Typer, tmp_path: Path) -> None:
    runner, env = CliRunner(), _env(tmp_path)
    scene, other = tmp_path / "scene.png", tmp_path / "other.png"
    cv2.imwrite(str(scene), shipped_testimg())
    cv2.imwrite(str(other), astronaut())
    enrolled = runner.invoke(cli, ["watchlist", "enrol", "astro-1", str(other)], env=env)
    assert enrolled.exit_code == 0, enrolled.output
    listed = runner.invoke(cli, ["watchlist", "list"], env=env)
    assert json.loads(listed.stdout)["subject_id"] == "astro-1"
    assert not list((tmp_path / "data").rglob("*.png"))  # embeddings only, never photos
    once = runner.invoke(cli, ["detect", "--once", str(other), "--detectors", "faces"], env=env)
    [match] = json.loads(once.stdout)
    assert match["kind"] == "face_match"
    assert match["attributes"]["subject_id"] == "astro-1"
    none = runner.invoke(cli, ["detect", "--once", str(scene), "--detectors", "faces"], env=env)
    assert json.loads(none.stdout) == []
    assert runner.invoke(cli, ["watchlist", "remove", "astro-1"], env=env).exit_code == 0
    assert runner.invoke(cli, ["watchlist", "list"], env=env).stdout == ""
    missing = runner.invoke(cli, ["watchlist", "remove", "astro-1"], env=env)
    assert missing.exit_code != 0
    assert "not on the watch-list" in str(missing.exception)
