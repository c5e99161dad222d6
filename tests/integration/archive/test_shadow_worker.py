"""`kuzet worker --shadow` beside a live worker and relay on the real broker: the candidate
(fire min_hits 1) opens an incident the live rules (min_hits 3) do not; it lands in the shadow
store only — not in the event store (so no view, replay or subscription can see it), not on any
topic — and `kuzet rules diff-shadow` counts it as gained, with the incident both opened
matched."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archive.store import open_archive
from domain.application import IncidentApp
from domain.incident import incident_id_for
from domain.topics import DETECTIONS, INCIDENT_EVENTS
from kuzet.broker import kuzet_topics
from kuzet.cli import app as kuzet_cli
from kuzet.commands.core import publish_records
from kuzet.kafka import read_topic
from kuzet.stack import settings_env
from kuzet.wiring import load_rule_set
from tests.integration.stack_helpers import local_stack, ready, start_worker, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _fire(site: str, seconds: int) -> tuple[bytes, bytes]:
    value = {"detection_id": str(uuid.uuid4()), "source_id": f"cam-{site}",
             "source_kind": "camera", "kind": "fire", "confidence": 0.95, "site_id": site,
             "observed_at": (datetime.now(UTC) - timedelta(seconds=30 - seconds)).isoformat()}
    return value["source_id"].encode(), json.dumps(value).encode()


def test_shadow_worker_is_isolated_and_diffed(tmp_path: Path) -> None:
    shipped = resources.files("domain").joinpath("rules.toml").read_text()
    candidate = shipped.replace("version = 1\n", "version = 2\n", 1).replace(
        'min_hits = 3\nwindow_s = 30\nseverity = "critical"',
        'min_hits = 1\nwindow_s = 30\nseverity = "critical"', 1)
    (tmp_path / "candidate.toml").write_text(candidate)
    shadow_only = str(incident_id_for("fire:site=depot-1", 0))
    both = str(incident_id_for("fire:site=depot-2", 0))
    start = datetime.now(UTC) - timedelta(minutes=1)
    with local_stack(tmp_path) as stack:
        stack.spawn("shadow", ["worker", "--shadow", str(tmp_path / "candidate.toml")])
        wait_for(stack, lambda: ready(stack, "shadow"), "the shadow worker's partitions")
        start_worker(stack)
        stack.spawn("relay", ["relay"])
        asyncio.run(publish_records(stack.bootstrap, [_fire("depot-1", 0)] +
                                    [_fire("depot-2", s) for s in (0, 2, 4)], DETECTIONS))
        settings = stack.settings

        def shadow_ids() -> set[str]:
            store = open_archive(settings.archive_location)
            try:
                return {str(o.incident_id) for o in store.shadow_between(
                    start, start + timedelta(hours=1))}
            finally:
                store.close()

        wait_for(stack, lambda: shadow_ids() == {shadow_only, both}, "two shadow incidents")
        wait_for(stack, lambda: any(both.encode() in v for v in asyncio.run(
            read_topic(stack.bootstrap, INCIDENT_EVENTS))), "the live incident relayed")
        app = IncidentApp(settings.event_store_env(), load_rule_set(settings))
        try:
            assert {str(i.id) for i in app.incidents()} == {both}
        finally:
            app.close()
        for topic in kuzet_topics():
            for value in asyncio.run(read_topic(stack.bootstrap, topic)):
                assert shadow_only.encode() not in value, topic
        env = settings_env(settings, stack.bootstrap)
        result = CliRunner().invoke(kuzet_cli, [
            "rules", "diff-shadow", "--from", start.isoformat(),
            "--to", (start + timedelta(hours=1)).isoformat(), "--json"], env=env)
        assert result.exit_code == 0, result.output
        fire = json.loads(result.output)["kinds"]["fire"]
        assert (fire["active"], fire["candidate"], fire["gained"], fire["lost"]) == (1, 2, 1, 0)
        assert fire["examples"]["gained"] == [shadow_only]
        assert stack.stop()["shadow"] == 0
