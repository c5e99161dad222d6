"""Camera health end to end: `kuzet cameras watch` + `kuzet worker` on the real broker and store.

Two cameras send heartbeats; one stops. The watcher publishes `camera_offline` records for it,
the worker opens exactly one incident for the outage (none for the healthy camera), and once
frames return the records stop and the incident auto-resolves. Waits poll the event store and
stop early if a process dies.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from domain.application import IncidentApp
from domain.health import HealthRecord, HealthStatus, encode_health
from domain.incident import Incident
from domain.kinds import SourceKind, Status
from domain.topics import HEALTH
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.cli import app as kuzet_cli
from kuzet.commands.core import publish_records
from kuzet.settings import load_settings
from kuzet.stack import LocalStack, settings_env
from kuzet.wiring import load_rule_set

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TIMEOUT = 90


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    rules = resources.files("domain").joinpath("rules.toml").read_text()
    rules = rules.replace("auto_resolve_after_s = 150        # resolved once",
                          "auto_resolve_after_s = 4          # resolved once")
    (tmp_path / "rules.toml").write_text(rules)
    monkeypatch.setenv("KUZET_CAMERA_SILENT_AFTER_S", "2")
    monkeypatch.setenv("KUZET_CAMERA_REPEAT_S", "1")
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                                 kafka_url=broker.bootstrap_servers,
                                 rules_path=str(tmp_path / "rules.toml"),
                                 consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                                 evidence_interval_s=0.5, tick_interval_s=0.5)
        with LocalStack(settings) as running:
            yield running


def _beat(source: str, frames: int) -> tuple[bytes, bytes]:
    record = HealthRecord(source, SourceKind.CAMERA, HealthStatus.HEARTBEAT,
                          datetime.now(UTC), site_id=f"site-{source}", frames=frames)
    return source.encode(), encode_health(record)


def _ready(stack: LocalStack, name: str) -> bool:
    try:
        return httpx.get(stack.health_url(name, "/readyz"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _offline_incidents(stack: LocalStack) -> list[Incident]:
    app = IncidentApp(stack.settings.event_store_env(), load_rule_set(stack.settings))
    try:
        return [i for i in app.incidents() if i.kind == "camera_offline"]
    finally:
        app.close()


def _until(stack: LocalStack, done: Callable[[], bool], what: str,
           healthy: tuple[str, ...]) -> None:
    """Feeds heartbeats with frames for `healthy` sources until `done()` holds."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        asyncio.run(publish_records(stack.bootstrap, [_beat(s, 25) for s in healthy], HEALTH))
        if done():
            return
        for name, proc in stack.procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode}"
        time.sleep(0.5)  # the heartbeat period of this test's cameras
    pytest.fail(f"timed out waiting for {what}")


def _camera_list(stack: LocalStack, tmp_path: Path) -> dict[str, Any]:
    """`kuzet cameras list --json`, districts from a sites file."""
    sites = tmp_path / "sites.toml"
    sites.write_text('[sites."site-cam-down"]\ndistrict = "almaly"\n'
                     '[sites."site-cam-ok"]\ndistrict = "bostandyk"\n')
    env = {**settings_env(stack.settings, stack.bootstrap), "KUZET_SITES_PATH": str(sites)}
    result = CliRunner().invoke(kuzet_cli, ["cameras", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    listed: dict[str, Any] = json.loads(result.output)
    return listed


def test_an_outage_opens_one_incident_and_returning_frames_resolve_it(
        stack: LocalStack, tmp_path: Path) -> None:
    stack.spawn("worker-0", ["worker"])
    _until(stack, lambda: _ready(stack, "worker-0"), "the worker's /readyz", healthy=())
    stack.spawn("cameras", ["cameras", "watch"])
    asyncio.run(publish_records(stack.bootstrap, [_beat("cam-ok", 25), _beat("cam-down", 25)],
                                HEALTH))
    _until(stack, lambda: [i.evidence_count >= 2 for i in _offline_incidents(stack)] == [True],
           "the outage's incident, kept open by repeats", healthy=("cam-ok",))
    [incident] = _offline_incidents(stack)
    assert incident.sources == ["cam-down"] and incident.site_id == "site-cam-down"
    assert incident.status is Status.OPEN and "situation_centre" in incident.agencies
    cameras = _camera_list(stack, tmp_path)
    assert {c["source_id"]: c["state"] for c in cameras["cameras"]} == {
        "cam-down": "down", "cam-ok": "online"}
    assert cameras["by_district"] == {"almaly": {"online": 0, "down": 1},
                                      "bostandyk": {"online": 1, "down": 0}}

    _until(stack, lambda: _offline_incidents(stack)[0].status is Status.AUTO_RESOLVED,
           "auto-resolution after frames returned", healthy=("cam-ok", "cam-down"))
    incidents = _offline_incidents(stack)
    assert len(incidents) == 1
