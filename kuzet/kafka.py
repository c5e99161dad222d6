"""Kafka plumbing for the composition root: topic creation and a reachability check."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ, HEALTH

__all__ = ["TRANSIENT_RETENTION_MS", "KafkaUnreachable", "ensure_topics", "read_topic"]

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


class KafkaUnreachable(Exception):
    """Raised when no broker answers at the configured bootstrap servers."""


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int) -> None:
    """Create `topics` with `partitions` partitions where they do not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await asyncio.wait_for(admin.start(), timeout=15)
    except (TimeoutError, KafkaConnectionError, KafkaError, OSError):
        with contextlib.suppress(Exception):
            await admin.close()
        raise KafkaUnreachable(f"no Kafka broker answers at {bootstrap}") from None
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(t, num_partitions=partitions, replication_factor=1,
                           topic_configs=_configs(t))
                  for t in topics if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()


def _configs(topic: str) -> dict[str, str]:
    retention = TRANSIENT_RETENTION_MS.get(topic)
    return {} if retention is None else {"retention.ms": str(retention)}


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
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
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
