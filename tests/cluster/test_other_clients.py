"""Clients other than aiokafka publish detections that Kuzet consumes: confluent-kafka
(librdkafka 2.16 in its wheel) and Debian's `kcat` (librdkafka 2.0.2), on the 3-broker
cluster and on the embedded broker.

Debian 12's kcat cannot talk to the embedded Tansu broker (its ApiVersions request fails with
"Read underflow"); that case is an expected failure, strict, so a kcat that starts working
there turns it into a failure that says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.topics import DETECTIONS
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.kafka import ensure_topics, read_topic
from kuzet.settings import load_settings
from kuzet.stack import LocalStack
from tests.cluster.conftest import PEPPER, cluster_settings
from tests.cluster.kafka_cluster import KafkaCluster
from tests.integration.stack_helpers import drained
from tests.integration.test_streams import (
    _evidence,
    _load,
    _no_duplicate_evidence_events,
    _reference,
    _wait,
)

Records = list[tuple[bytes | None, bytes]]
KCAT_ON_TANSU = ("Debian 12's kcat (librdkafka 2.0.2) cannot talk to the embedded Tansu broker: "
                 "ApiVersionRequest failed: Local: Read underflow")


@pytest.fixture
def kcat() -> str:
    """Debian's kcat (a fixture, so that a missing kcat is an error, never an expected
    failure)."""
    path = shutil.which("kcat")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("kcat is not installed (.ci/services installs it)")
        pytest.skip("kcat is not installed (apt-get install kcat)")
    return path


def publish_with_confluent(bootstrap: str, records: Records, *, idempotent: bool) -> None:
    """librdkafka's producer: acks=all, Java-compatible key partitioning (murmur2)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": idempotent, "partitioner": "murmur2_random",
                         "message.timeout.ms": 60000})
    errors: list[object] = []
    for key, value in records:
        producer.produce(DETECTIONS, value, key,
                         on_delivery=lambda err, _msg: errors.append(err) if err else None)
        producer.poll(0)
    assert producer.flush(90) == 0, "records left undelivered"
    assert not errors, errors


def publish_with_kcat(kcat: str, bootstrap: str, records: Records,
                      topic: str = DETECTIONS) -> None:
    """`kcat -P`, one `key<TAB>value` line per record, acks=all."""
    lines = b"".join((key or b"") + b"\t" + value + b"\n" for key, value in records)
    done = subprocess.run([kcat, "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
                           "-X", "acks=all", "-X", "partitioner=murmur2_random",
                           "-X", "message.timeout.ms=60000"],
                          input=lines, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-500:]


@pytest.mark.cluster
@pytest.mark.postgres
@pytest.mark.slow
def test_confluent_kafka_and_kcat_records_become_incidents_on_the_cluster(
        cluster: KafkaCluster, postgres_url: str, tmp_path: Path, kcat: str) -> None:
    now = datetime.now(UTC)
    records = _load(24, 10, now)
    expected = asyncio.run(_reference(records, now))
    half = len(records) // 2
    with LocalStack(cluster_settings(cluster, postgres_url, tmp_path)) as stack:
        stack.spawn("worker-0", ["worker"])
        publish_with_confluent(stack.bootstrap, records[:half], idempotent=True)
        publish_with_kcat(kcat, stack.bootstrap, records[half:])
        _wait(lambda: _evidence(stack.settings) == expected, "the reference incidents",
              stack.procs)
        _wait(lambda: drained(stack.bootstrap, stack.settings.consumer_group),
              "the worker's commits", stack.procs)
        assert _evidence(stack.settings) == expected
        assert _no_duplicate_evidence_events(stack.settings)


@pytest.fixture
def embedded_stack(tmp_path: Path, postgres_url: str) -> Iterator[LocalStack]:
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                                 kafka_url=broker.bootstrap_servers, event_store_url=postgres_url,
                                 privacy_pepper=PEPPER, consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                                 evidence_interval_s=0.5, tick_interval_s=0.5)
        with LocalStack(settings) as running:
            yield running


@pytest.mark.broker
@pytest.mark.postgres
@pytest.mark.slow
def test_confluent_kafka_records_become_incidents_on_the_embedded_broker(
        embedded_stack: LocalStack) -> None:
    stack = embedded_stack
    now = datetime.now(UTC)
    records = _load(12, 10, now)
    expected = asyncio.run(_reference(records, now))
    stack.spawn("worker-0", ["worker"])
    publish_with_confluent(stack.bootstrap, records, idempotent=False)  # Tansu: no producer ids
    _wait(lambda: _evidence(stack.settings) == expected, "the reference incidents", stack.procs)
    assert _no_duplicate_evidence_events(stack.settings)


@pytest.mark.broker
@pytest.mark.xfail(strict=True, reason=KCAT_ON_TANSU)
def test_kcat_publishes_to_the_embedded_broker(broker: EmbeddedBroker, kcat: str) -> None:
    topic = f"kuzet.test.kcat.{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(broker.bootstrap_servers, [topic], 2))
    records = [(b"cam-1", json.dumps({"n": n}).encode()) for n in range(5)]
    publish_with_kcat(kcat, broker.bootstrap_servers, records, topic)
    assert sorted(asyncio.run(read_topic(broker.bootstrap_servers, topic))) == sorted(
        v for _, v in records)
