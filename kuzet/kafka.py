"""Kafka plumbing for the composition root: topic creation and a reachability check."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

__all__ = ["KafkaUnreachable", "ensure_topics"]


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
        wanted = [NewTopic(t, num_partitions=partitions, replication_factor=1)
                  for t in topics if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()
