"""The agency topic through aiokafka, positioned by the adapter's own checkpoints.

No consumer group: partitions are assigned by hand and offsets live in the adapter's state
store, committed in the same transaction as the receipt, so the broker's offset storage (and a
rebalance) never decides what counts as delivered. One adapter process per agency endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from adapters.errors import FeedError

__all__ = ["Feed", "Record", "read_all"]


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes


def _record(message: Any) -> Record:
    return Record(message.topic, message.partition, message.offset, message.value or b"")


class Feed:
    """All partitions of `topic`, each read from its checkpoint (or from the beginning)."""

    def __init__(self, bootstrap_servers: str, topic: str,
                 client_options: Mapping[str, Any] | None = None) -> None:
        self.topic = topic
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                          enable_auto_commit=False,
                                          auto_offset_reset="earliest",
                                          **(client_options or {}))
        self._partitions: list[TopicPartition] = []

    async def start(self, checkpoints: Mapping[int, int]) -> list[int]:
        """Connect, assign every partition and seek; returns the partition numbers."""
        try:
            await self._consumer.start()
            parts = await self._partitions_of_topic()
        except KafkaError as exc:
            await self._consumer.stop()
            raise FeedError(f"topic {self.topic!r}: {exc!r}") from None
        self._partitions = [TopicPartition(self.topic, p) for p in parts]
        self._consumer.assign(self._partitions)
        for tp in self._partitions:
            if tp.partition in checkpoints:
                self._consumer.seek(tp, checkpoints[tp.partition])
            else:
                await self._consumer.seek_to_beginning(tp)
        return parts

    async def _partitions_of_topic(self) -> list[int]:
        parts = self._consumer.partitions_for_topic(self.topic)
        if not parts:  # a consumer without subscriptions tracks no topic (so on Apache Kafka
            # its metadata never lists this one): ask for every topic's metadata once
            metadata = await self._consumer._client.fetch_all_metadata()
            parts = metadata.partitions_for_topic(self.topic)
        if not parts:
            await self._consumer.stop()
            raise FeedError(f"topic {self.topic!r} does not exist")
        return sorted(parts)

    async def fetch(self, timeout_ms: int = 500, max_records: int = 500
                    ) -> dict[int, list[Record]]:
        """The next records, per partition, in offset order."""
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return {tp.partition: [_record(m) for m in msgs] for tp, msgs in batch.items() if msgs}

    async def read_to_end(self) -> list[Record]:
        """From the current positions up to the end of every partition (not following).

        The end is the larger of ListOffsets' answer and the high watermark the fetches
        report: Tansu answers ListOffsets "latest" with the last batch's base offset + 1,
        which is short by the rest of that batch.
        """
        ends = await self._consumer.end_offsets(self._partitions)
        pending = {tp for tp in self._partitions if ends[tp] > 0}
        records: list[Record] = []
        while pending:
            for batch in (await self.fetch()).values():
                records += batch
            for tp in list(pending):
                end = max(ends[tp], self._consumer.highwater(tp) or 0)
                if await self._consumer.position(tp) >= end:
                    pending.discard(tp)
        return sorted(records, key=lambda r: (r.partition, r.offset))

    async def stop(self) -> None:
        await self._consumer.stop()


async def read_all(bootstrap_servers: str, topic: str) -> list[Record]:
    """Every record of `topic` up to its current end offsets, by partition and offset."""
    feed = Feed(bootstrap_servers, topic)
    await feed.start({})
    try:
        return await feed.read_to_end()
    finally:
        await feed.stop()
