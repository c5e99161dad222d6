"""The publisher against the real embedded broker: delivery, and reconnect on broker loss."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.publisher import KafkaPublisher, PublisherOptions
from domain.detection import Detection, parse_detection, validate_detection_dict
from domain.health import HealthRecord, HealthStatus, parse_health
from domain.kinds import SourceKind
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.kafka import ensure_topics
from tests.fixtures.detector_fixtures import consume

pytestmark = pytest.mark.broker


def _detection(source: str, n: int) -> Detection:
    return validate_detection_dict({
        "detection_id": str(uuid.uuid4()), "source_id": source, "source_kind": "camera",
        "kind": "person", "confidence": 0.9, "observed_at": datetime.now(UTC).isoformat(),
        "attributes": {"count": n},
    })


def _options(tag: str) -> PublisherOptions:
    return PublisherOptions(detections_topic=f"kuzet.test.det.{tag}",
                            health_topic=f"kuzet.test.health.{tag}", request_timeout_ms=1500,
                            max_backoff_s=0.5)


async def test_records_and_heartbeats_reach_the_broker(broker: EmbeddedBroker) -> None:
    opts = _options(uuid.uuid4().hex[:8])
    await ensure_topics(broker.bootstrap_servers, [opts.detections_topic, opts.health_topic], 2)
    publisher = KafkaPublisher(broker.bootstrap_servers, opts).start()
    sent = [_detection("cam-b", i) for i in range(20)]
    for d in sent:
        publisher.publish_detection(d)
    beat = HealthRecord("cam-b", SourceKind.CAMERA, HealthStatus.HEARTBEAT,
                        datetime.now(UTC), frames=20)
    publisher.publish_health(beat)
    await asyncio.to_thread(publisher.close, 20)
    assert publisher.sent == 21
    assert publisher.dropped == 0
    got = [parse_detection(v) for v in await consume(broker.bootstrap_servers,
                                                     opts.detections_topic, 20)]
    assert {d.detection_id for d in got} == {d.detection_id for d in sent}
    [health] = await consume(broker.bootstrap_servers, opts.health_topic, 1)
    assert parse_health(health) == beat


async def test_queued_records_survive_losing_the_broker(tmp_path: Path) -> None:
    """The broker stops answering (SIGSTOP: connections hang, requests time out), records
    queue up, then it comes back (SIGCONT) and every queued record is delivered.

    A restart of the in-memory Tansu broker would lose its topics, and a publisher that
    reconnects before the test re-creates the topic has its records acknowledged into a topic
    Tansu then replaces: a race of the test, not of the publisher. Freezing keeps the topic.
    """
    opts = _options("restart")
    with EmbeddedBroker(free_port(), log_path=tmp_path / "a.log") as broker:
        await ensure_topics(broker.bootstrap_servers, [opts.detections_topic], 1)
        publisher = KafkaPublisher(broker.bootstrap_servers, opts).start()
        pid = broker.pid
        assert pid is not None, "the broker fixture runs a process"
        try:
            publisher.publish_detection(_detection("cam-r", 0))
            assert await asyncio.to_thread(publisher.flush, 20)
            os.kill(pid, signal.SIGSTOP)  # broker lost
            later = [_detection("cam-r", i) for i in range(1, 6)]
            for d in later:
                publisher.publish_detection(d)
            await asyncio.sleep(4.0)  # past the 1.5 s request timeout: the sender gives up
            assert publisher.pending == 5
            os.kill(pid, signal.SIGCONT)  # back
            assert await asyncio.to_thread(publisher.flush, 30)
            got = {parse_detection(v).detection_id
                   for v in await consume(broker.bootstrap_servers, opts.detections_topic, 6)}
            assert {d.detection_id for d in later} <= got
        finally:
            os.kill(pid, signal.SIGCONT)
            await asyncio.to_thread(publisher.close, 10)
