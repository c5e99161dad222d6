"""The relay's topics on the 3-broker cluster, from a PostgreSQL event store: every incident
event once per topic, the same topics whether or not the relay dies mid-batch (reusing the
embedded-broker test's relay loop, tests/integration/projections/test_relay.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.application import IncidentApp
from domain.topics import APPEAL_STATUS, INCIDENT_EVENTS
from kuzet.kafka import ensure_topics, read_topic
from tests.cluster.conftest import cluster_settings
from tests.cluster.kafka_cluster import KafkaCluster
from tests.integration.projections.scenario import RULES, build
from tests.integration.projections.test_relay import _dedup, _relay, _topics

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


@pytest.fixture
async def pg_scenario_app(cluster: KafkaCluster, postgres_url: str,
                          tmp_path: Path) -> AsyncIterator[IncidentApp]:
    settings = cluster_settings(cluster, postgres_url, tmp_path)
    app = await asyncio.to_thread(IncidentApp, settings.event_store_env(), RULES)
    await build(app)
    yield app
    app.close()


async def test_relay_topics_on_the_cluster_survive_kills(pg_scenario_app: IncidentApp,
                                                         cluster: KafkaCluster,
                                                         tmp_path: Path) -> None:
    bootstrap = cluster.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    # the relay also writes appeal statuses; the cluster creates no topic on first use
    await ensure_topics(bootstrap, [f"{APPEAL_STATUS}.{kind}-{run}"
                                    for kind in ("steady", "crashy")], 2)
    await _relay(pg_scenario_app, bootstrap, f".steady-{run}", tmp_path, None)
    assert await _relay(pg_scenario_app, bootstrap, f".crashy-{run}", tmp_path, 7) >= 3
    for steady, crashy in zip(_topics(f".steady-{run}"), _topics(f".crashy-{run}"), strict=True):
        clean = await read_topic(bootstrap, steady)
        assert len(_dedup(clean)) == len(clean), steady  # no duplicates without crashes
        assert _dedup(await read_topic(bootstrap, crashy)) == _dedup(clean), steady
    full = [json.loads(v) for v in await read_topic(bootstrap, f"{INCIDENT_EVENTS}.steady-{run}")]
    incident_events = [n for n in pg_scenario_app.recorder.select_notifications(1, 1000)
                       if "Incident." in n.topic]
    assert incident_events
    assert sorted(int(e["sequence"]) for e in full) == [n.id for n in incident_events]
