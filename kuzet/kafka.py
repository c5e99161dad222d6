"""Kafka plumbing for the composition root: topic creation, a reachability check, and what
the broker supports (idempotent producers).

Durability on a cluster comes from the topics' settings, which `ensure_topics` sets when it
creates a topic: replication factor min(3, brokers), and with 3 replicas `min.insync.replicas`
2 and no unclean leader election, so that a write acknowledged with `acks=all` (every Kuzet
producer) is on two brokers before the producer hears "done", and a broker that lost its disk
never becomes leader with a shorter log. The embedded broker (one broker, memory only) gets
replication 1 and none of these settings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ, HEALTH

if TYPE_CHECKING:
    from kuzet.settings import Settings

__all__ = ["MIN_INSYNC_REPLICAS", "TRANSIENT_RETENTION_MS", "KafkaUnreachable", "client_options",
           "delete_topics",
           "describe_topics", "ensure_topics", "read_topic", "replication_for",
           "supports_idempotence", "topic_partitions"]

_DAY_MS = 24 * 3600 * 1000
TRANSIENT_RETENTION_MS = {
    DETECTIONS: 3 * _DAY_MS,
    CORRELATION: 1 * _DAY_MS,
    HEALTH: 1 * _DAY_MS,
    DETECTIONS_DLQ: 30 * _DAY_MS,
}
"""`retention.ms` of the raw work queues Kuzet creates. They hold detections in the clear
(plates, subject ids, snapshot URIs) and are never rewritten on a shred, so their retention
bounds how long a shredded subject's raw detections survive there; keep each at or below the
shortest personal-data retention (KUZET_RETENTION_DAYS_*). Topics that already exist keep
their configuration: set it with the cluster's tools."""


MIN_INSYNC_REPLICAS = 2
"""`min.insync.replicas` of topics with 3 replicas: an `acks=all` write survives one broker's
loss, and writes stop (NotEnoughReplicas, retried) rather than land on one disk only."""


class KafkaUnreachable(Exception):
    """Raised when no broker answers at the configured bootstrap servers."""


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for the cluster's security settings (KUZET_KAFKA_SECURITY_
    PROTOCOL, _SASL_*, _SSL_*): empty for PLAINTEXT. Pass them to every client."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        def path(p: Path | None) -> str | None:
            return None if p is None else str(p)

        options["ssl_context"] = create_ssl_context(
            cafile=path(settings.kafka_ssl_cafile), certfile=path(settings.kafka_ssl_certfile),
            keyfile=path(settings.kafka_ssl_keyfile))
    if protocol.startswith("SASL"):
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                       sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password)
    return options


def replication_for(brokers: int) -> int:
    """The replication factor of topics Kuzet creates on a cluster of `brokers` brokers."""
    return max(1, min(3, brokers))


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int, *,
                        timeout_s: float = 5.0, replication: int | None = None,
                        options: Mapping[str, Any] | None = None) -> list[str]:
    """Create `topics` with `partitions` partitions where they do not exist yet, replicated
    `replication` times (default min(3, brokers): the module docstring says why); returns
    the topics it created. An unreachable bootstrap fails within `timeout_s` naming each
    server and why (`kuzet.connect`)."""
    from kuzet.connect import check_kafka

    await check_kafka(bootstrap, timeout_s)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000,
                                **(options or {}))
    try:
        await asyncio.wait_for(admin.start(), timeout=timeout_s)
    except (TimeoutError, KafkaConnectionError, KafkaError, OSError):
        with contextlib.suppress(Exception):
            await admin.close()
        raise KafkaUnreachable(f"no Kafka broker answers at {bootstrap} within {timeout_s:g} s"
                               ) from None
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return []
        if replication is None:
            replication = replication_for(len((await admin.describe_cluster())["brokers"]))
        wanted = [NewTopic(t, num_partitions=partitions, replication_factor=replication,
                           topic_configs=_configs(t, replication))
                  for t in missing]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(wanted)
        return missing
    finally:
        await admin.close()


def _configs(topic: str, replication: int) -> dict[str, str]:
    configs: dict[str, str] = {}
    retention = TRANSIENT_RETENTION_MS.get(topic)
    if retention is not None:
        configs["retention.ms"] = str(retention)
    if replication >= 3:
        configs["min.insync.replicas"] = str(MIN_INSYNC_REPLICAS)
        configs["unclean.leader.election.enable"] = "false"
    return configs


async def supports_idempotence(bootstrap: str, timeout_s: float = 10.0) -> bool:
    """Whether the broker grants producer ids (`InitProducerId`), which idempotent producers
    need. Apache Kafka does (after a retriable "not ready yet" while it starts); the embedded
    Tansu broker answers with an error. `KafkaUnreachable` when nobody answers in `timeout_s`."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import for_code
    from aiokafka.protocol.transaction import InitProducerIdRequest

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=timeout_s)
        while True:
            request = InitProducerIdRequest(transactional_id=None,
                                            transaction_timeout_ms=60_000)
            response = await asyncio.wait_for(client.send(client.get_random_node(), request),
                                              timeout=timeout_s)
            code = int(response.error_code)
            left = deadline - asyncio.get_running_loop().time()
            if code == 0 or not for_code(code).retriable or left <= 0:
                return code == 0
            await asyncio.sleep(min(0.2, left))
    except (TimeoutError, KafkaConnectionError, KafkaError, OSError):
        raise KafkaUnreachable(f"no Kafka broker answers at {bootstrap}") from None
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def delete_topics(bootstrap: str, topics: Iterable[str], timeout_s: float = 30) -> None:
    """Delete those of `topics` that exist and wait until the cluster no longer lists them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        doomed = set(topics) & set(await admin.list_topics())
        if doomed:
            await admin.delete_topics(sorted(doomed), timeout_ms=int(timeout_s * 1000))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while set(await admin.list_topics()) & doomed:
            if asyncio.get_running_loop().time() > deadline:
                raise KafkaError(f"topics still listed {timeout_s:.0f} s after deletion")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def describe_topics(bootstrap: str, topics: Iterable[str],
                          options: Mapping[str, Any] | None = None, wait_s: float = 15,
                          ) -> dict[str, tuple[int, int, dict[str, str]]]:
    """topic -> (partitions, replicas of partition 0, configs) for those of `topics` that
    exist (what `kuzet topics create` prints). A topic the cluster does not describe yet (just
    created: its metadata reaches the brokers a moment later) is asked again for `wait_s`."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000,
                                **(options or {}))
    await admin.start()
    try:
        out: dict[str, tuple[int, int, dict[str, str]]] = {}
        deadline = asyncio.get_running_loop().time() + wait_s
        for topic in topics:
            while True:
                [described] = await admin.describe_topics([topic])
                parts = sorted(described["partitions"], key=lambda p: int(p["partition"]))
                ready = not described["error_code"] and parts and all(
                    int(p["leader"]) >= 0 for p in parts)
                if ready or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.2)
            if not ready:
                continue
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)])
            configs = {str(e[0]): str(e[1]) for e in response.resources[0][4]}
            out[topic] = (len(parts), len(parts[0]["replicas"]), configs)
        return out
    finally:
        await admin.close()


async def topic_partitions(bootstrap: str, topic: str) -> list[int]:
    """The partition ids of `topic` (empty if it does not exist), from the cluster's metadata.

    (A consumer's `partitions_for_topic` knows only topics it tracks; on Apache Kafka a bare
    consumer tracks none.)"""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        if described["error_code"]:
            return []
        return sorted(int(p["partition"]) for p in described["partitions"])
    finally:
        await admin.close()


async def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record value of `topic`, partition by partition, read up to its end offsets.

    (Reading, not `end - beginning`: Tansu's answer to a ListOffsets "earliest" request is not
    always the log start, so subtracting offsets undercounts.)
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
        if not tps:
            return []
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        values: list[bytes] = []

        def end(tp: TopicPartition) -> int:  # Tansu's "latest" can be the last batch's base + 1
            return int(max(ends[tp], consumer.highwater(tp) or 0))

        while [tp for tp in tps if await consumer.position(tp) < end(tp)]:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                values += [m.value for m in msgs]
        return values
    finally:
        await consumer.stop()
