"""Camera health end to end: `kuzet cameras watch` + `kuzet worker` on the real broker and store.

Two cameras send heartbeats; one stops. The watcher publishes `camera_offline` records for it,
the worker opens exactly one incident for the outage (none for the healthy camera), and once
frames return the records stop and the incident auto-resolves. Waits poll the event store and
stop early if a process dies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domain.application import IncidentApp
from domain.health import HealthRecord, HealthStatus, encode_health
from domain.incident import Incident
from domain.kinds import SourceKind, Status
from domain.topics import HEALTH
from kuzet.cli import app as kuzet_cli
from kuzet.commands.core import publish_records
from kuzet.stack import LocalStack, settings_env
from kuzet.wiring import load_rule_set
from tests.integration.stack_helpers import local_stack, start_worker, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    rules = resources.files("domain").joinpath("rules.toml").read_text()
    rules = rules.replace("auto_resolve_after_s = 150        # resolved once",
                          "auto_resolve_after_s = 4          # resolved once")
    (tmp_path / "rules.toml").write_text(rules)
    monkeypatch.setenv("KUZET_CAMERA_SILENT_AFTER_S", "2")
    monkeypatch.setenv("KUZET_CAMERA_REPEAT_S", "1")
    with local_stack(tmp_path, rules_path=str(tmp_path / "rules.toml")) as running:
        yield running


def _beat(source: str, frames: int) -> tuple[bytes, bytes]:
    record = HealthRecord(source, SourceKind.CAMERA, HealthStatus.HEARTBEAT,
                          datetime.now(UTC), site_id=f"site-{source}", frames=frames)
    return source.encode(), encode_health(record)


def _offline_incidents(stack: LocalStack) -> list[Incident]:
    app = IncidentApp(stack.settings.event_store_env(), load_rule_set(stack.settings))
    try:
        return [i for i in app.incidents() if i.kind == "camera_offline"]
    finally:
        app.close()


def _until(stack: LocalStack, done: Callable[[], bool], what: str,
           healthy: tuple[str, ...]) -> None:
    """Feeds heartbeats with frames for `healthy` sources until `done()` holds."""
    wait_for(stack, done, what, between=lambda: asyncio.run(publish_records(
        stack.bootstrap, [_beat(s, 25) for s in healthy], HEALTH)))


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


def _camera_view(stack: LocalStack) -> dict[str, str]:
    """The `cameras` view the watcher keeps in the read-model store: camera → state now."""
    import sqlite3

    from projections.sqlite_store import SqliteStore
    from projections.views.cameras import CAMERAS, camera_state

    async def read() -> dict[str, str]:
        store = SqliteStore(stack.settings.data_dir / "views.sqlite")
        try:
            _, texts = await store.texts(CAMERAS)
        except sqlite3.OperationalError:  # the watcher has not created the view yet
            return {}
        finally:
            await store.close()
        now = datetime.now(UTC)
        return {k: camera_state(json.loads(t), now) for k, t in texts.items()}

    return asyncio.run(read())


def test_an_outage_opens_one_incident_and_returning_frames_resolve_it(
        stack: LocalStack, tmp_path: Path) -> None:
    start_worker(stack)
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
    _until(stack, lambda: _camera_view(stack) == {"cam-down": "silent", "cam-ok": "online"},
           "the cameras view the API serves, kept by the watcher", healthy=("cam-ok",))

    _until(stack, lambda: _offline_incidents(stack)[0].status is Status.AUTO_RESOLVED,
           "auto-resolution after frames returned", healthy=("cam-ok", "cam-down"))
    incidents = _offline_incidents(stack)
    assert len(incidents) == 1
