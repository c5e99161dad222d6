"""The cluster tier: a real 3-broker Apache Kafka cluster (KRaft) on loopback, one per session.

`.ci/kafka/fetch` fetches the jars from Maven Central once (cached under ~/.cache/kuzet). Where
Java, Maven or the jars are missing the tier skips with the reason, except under CI=true,
where it fails: CI must run it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuzet.kafka import delete_topics
from kuzet.settings import Settings, load_settings
from kuzet.stack import LocalStack
from tests.cluster.kafka_cluster import ClusterUnavailable, KafkaCluster, fetch_kafka

PEPPER = "cluster-tier-pepper-0123456789"


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three Kafka nodes (broker + controller each), shared by the whole session."""
    try:
        home = fetch_kafka()
    except ClusterUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the cluster tier cannot run under CI: {exc}")
        pytest.skip(f"no Apache Kafka here: {exc}")
    with KafkaCluster(home, tmp_path_factory.mktemp("kafka")) as cluster:
        yield cluster


@pytest.fixture
def cluster(kafka_cluster: KafkaCluster) -> KafkaCluster:
    """The session's cluster with all 3 brokers up and no topic left from an earlier test
    (the worker's topic names are fixed, so each test starts from empty topics)."""
    for node in kafka_cluster.nodes:
        if node.proc is None or node.proc.poll() is not None:
            kafka_cluster.restart(node.id)
    kafka_cluster.wait_brokers(len(kafka_cluster.nodes))
    asyncio.run(_delete_all_topics(kafka_cluster.bootstrap_servers))
    return kafka_cluster


async def _delete_all_topics(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
    finally:
        await admin.close()
    await delete_topics(bootstrap, topics)


def cluster_settings(cluster: KafkaCluster, postgres_url: str, tmp_path: Path,
                     **overrides: object) -> Settings:
    """Settings for processes on the cluster and a PostgreSQL event store."""
    values: dict[str, object] = dict(
        data_dir=str(tmp_path / "data"), kafka_url=cluster.bootstrap_servers,
        event_store_url=postgres_url, privacy_pepper=PEPPER,
        consumer_group=f"g-{uuid.uuid4().hex[:8]}", evidence_interval_s=0.5,
        tick_interval_s=0.5)
    values.update(overrides)
    return load_settings(environ={}, **values)


@pytest.fixture
def cluster_stack(cluster: KafkaCluster, postgres_url: str,
                  tmp_path: Path) -> Iterator[LocalStack]:
    """Kuzet's topics on the cluster (created by Kuzet), workers spawned by the test."""
    with LocalStack(cluster_settings(cluster, postgres_url, tmp_path)) as running:
        yield running



