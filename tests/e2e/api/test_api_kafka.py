"""End to end: detections published on Kafka reach a GraphQL subscriber through a real
correlation worker (`kuzet worker` subprocess), the event store and the API's log follower.
About 15 s here, most of it the worker joining its consumer group."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.topics import DETECTIONS
from kuzet.broker import free_port
from kuzet.commands.core import publish_records
from kuzet.settings import load_settings
from kuzet.stack import LocalStack
from tests.e2e.api.harness import Server, Subscription, running_server, until
from tests.helpers import record

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SUB = """subscription { incidentUpdates(kinds: ["weapon"]) {
  eventType incidentId incident { kind sources status } } }"""


async def _follow(server: Server, bootstrap: str) -> dict:
    sub = await Subscription.open(server.ws_url, server.token(), SUB)
    try:
        await until(lambda: server.subscribers >= 1, "subscribed")
        now = datetime.now(UTC)
        dets = [record("weapon", source="cam-kafka-1", site="square-1", conf=0.95, at=now,
                       seconds=-i) for i in range(3)]
        await publish_records(bootstrap, [(d["source_id"].encode(), json.dumps(d).encode())
                                          for d in dets], DETECTIONS)
        return (await sub.next(timeout=90))["incidentUpdates"]  # type: ignore[no-any-return]
    finally:
        await sub.close()


def test_detection_on_kafka_reaches_a_subscriber(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                             consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                             evidence_interval_s=0.5, tick_interval_s=0.5)
    with LocalStack(settings, broker_port=free_port()) as stack:
        stack.spawn("worker-0", ["worker"])
        with running_server(settings.event_store_env()) as server:
            update = asyncio.run(_follow(server, stack.bootstrap))
    assert update["eventType"] == "Opened"
    assert update["incident"]["kind"] == "weapon"
    assert update["incident"]["sources"] == ["cam-kafka-1"]
