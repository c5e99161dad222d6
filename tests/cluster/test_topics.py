"""Topics Kuzet creates on a 3-broker cluster are replicated for durability, and producers
there are idempotent (the broker grants producer ids; the embedded broker does not)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from domain.topics import DETECTIONS, INCIDENT_EVENTS
from kuzet.broker import EmbeddedBroker
from kuzet.kafka import ensure_topics, supports_idempotence
from tests.cluster.kafka_cluster import KafkaCluster

pytestmark = pytest.mark.cluster


async def _describe(bootstrap: str, topic: str) -> tuple[list[int], dict[str, str]]:
    """Replicas per partition and the topic's configs, once every broker knows the topic
    (metadata reaches the brokers a moment after CreateTopics answers)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(100):
            [described] = await admin.describe_topics([topic])
            if described["error_code"] == 0 and described["partitions"]:
                break
            await asyncio.sleep(0.1)
        [configs] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                                 topic)])
        entries = {name: value for name, value, *_ in configs.resources[0][4]}
        return [len(p["replicas"]) for p in described["partitions"]], entries
    finally:
        await admin.close()


def test_kuzet_topics_get_three_replicas_and_two_in_sync(cluster: KafkaCluster) -> None:
    bootstrap = cluster.bootstrap_servers
    asyncio.run(ensure_topics(bootstrap, [DETECTIONS, INCIDENT_EVENTS], 6))
    for topic in (DETECTIONS, INCIDENT_EVENTS):
        replicas, configs = asyncio.run(_describe(bootstrap, topic))
        assert replicas == [3] * 6, topic
        assert configs["min.insync.replicas"] == "2", topic
        assert configs["unclean.leader.election.enable"] == "false", topic
    assert asyncio.run(_describe(bootstrap, DETECTIONS))[1]["retention.ms"] == str(3 * 86400000)


@pytest.mark.broker
def test_idempotence_is_detected_per_broker(cluster: KafkaCluster,
                                            broker: EmbeddedBroker) -> None:
    assert asyncio.run(supports_idempotence(cluster.bootstrap_servers)) is True
    assert asyncio.run(supports_idempotence(broker.bootstrap_servers)) is False


async def _produce_once(bootstrap: str, topic: str) -> bool:
    """Start Kuzet's producer, send one record; whether it runs idempotent."""
    from streams.producer import start_producer

    await ensure_topics(bootstrap, [topic], 1)
    producer = await start_producer(bootstrap)
    try:
        await producer.send_and_wait(topic, b"x")
        return producer._txn_manager is not None  # aiokafka keeps producer ids there
    finally:
        await producer.stop()


@pytest.mark.broker
def test_producers_are_idempotent_on_the_cluster_and_still_work_on_tansu(
        cluster: KafkaCluster, broker: EmbeddedBroker) -> None:
    assert asyncio.run(_produce_once(cluster.bootstrap_servers, "kuzet.test.idem")) is True
    assert asyncio.run(_produce_once(broker.bootstrap_servers, "kuzet.test.idem")) is False


def test_kuzet_topics_create_on_an_existing_cluster(cluster: KafkaCluster, tmp_path) -> None:
    """The operator's command: every topic, partitions from the settings, 3 replicas, 2 in
    sync; a second run leaves them as they are and says so."""
    import os
    import subprocess
    import sys

    from kuzet.broker import kuzet_topics

    env = {**os.environ, "KUZET_KAFKA_URL": cluster.bootstrap_servers,
           "KUZET_KAFKA_PARTITIONS": "6", "KUZET_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    cli = [sys.executable, "-m", "kuzet", "topics", "create"]
    first = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120,
                           check=False)
    assert first.returncode == 0, first.stderr
    for topic in kuzet_topics():
        replicas, configs = asyncio.run(_describe(cluster.bootstrap_servers, topic))
        assert (replicas, configs["min.insync.replicas"]) == ([3] * 6, "2"), topic
        assert f"{topic} " in first.stdout
    second = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120,
                           check=False)
    assert second.returncode == 0, second.stderr
    assert "created" in first.stdout
    assert "created" not in second.stdout
    assert second.stdout.count("exists") == len(kuzet_topics())
