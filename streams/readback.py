"""Read back the records a producer wrote past known offsets (the relay's start-up check).

`read_past(bootstrap, options, topics, since)` lists each topic's partitions, reads every
record from `since["topic:partition"]` (0 for a partition not named) up to the partition's
end offset, and returns the records with each partition's end. A topic that does not exist
yet holds nothing. (The end is the larger of ListOffsets "latest" and the fetch's high
watermark: the embedded broker's "latest" can fall short of the last record's offset + 1.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = ["read_past"]


async def _partitions(bootstrap: str, options: Mapping[str, Any],
                      topics: Sequence[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000,
                                **options)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return [TopicPartition(d["topic"], int(p["partition"]))
            for d in described if not d["error_code"] for p in d["partitions"]]


async def read_past(bootstrap: str, options: Mapping[str, Any], topics: Sequence[str],
                    since: Mapping[str, int]
                    ) -> tuple[list[tuple[str, bytes, bytes]], dict[str, int]]:
    tps = await _partitions(bootstrap, options, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest", **options)
    await consumer.start()
    try:
        found: list[tuple[str, bytes, bytes]] = []
        if not tps:
            return found, {}
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, since.get(f"{tp.topic}:{tp.partition}", 0))

        def end(tp: TopicPartition) -> int:
            return int(max(ends[tp], consumer.highwater(tp) or 0))

        while [tp for tp in tps if await consumer.position(tp) < end(tp)]:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                found += [(m.topic, m.key or b"", m.value or b"") for m in msgs]
        return found, {f"{tp.topic}:{tp.partition}": end(tp) for tp in tps}
    finally:
        await consumer.stop()
