"""Broker faults around a hop's consumer: positions past a partition's end, bounded commits.

A memory-only broker (the embedded Tansu) forgets every topic when it restarts, and a Kafka
cluster can lose a partition's tail in an unclean leader election. Either way a consumer may
sit at an offset beyond the partition's end: Tansu answers such a fetch with nothing (no
OffsetOutOfRange), so aiokafka's own reset never fires and every record written after the
restart would be skipped for ever. `check_positions` compares each assigned partition's
position with the high watermark of the last fetch (a healthy partition never has position >
high watermark) and applies the configured policy, with one WARNING line per partition.

Commits are bounded (`commit_within`): aiokafka retries an OffsetCommit on a topic the broker
no longer knows without end, so a commit that does not finish in time raises `BrokerFault`,
and the hop restarts its consumer session instead of stalling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import IllegalStateError
from aiokafka.structs import TopicPartition

__all__ = ["OFFSET_RESET_POLICIES", "BrokerFault", "HopHealth", "check_positions",
           "commit_within"]

log = logging.getLogger("kuzet.streams")

OFFSET_RESET_POLICIES = ("earliest", "latest")
"""earliest: read the recreated partition from its start (redelivery is harmless: the store
de-duplicates); latest: skip to its end (records already there are not processed)."""


class BrokerFault(Exception):
    """Raised inside a hop when the broker misbehaves (a commit that does not finish in time,
    a partition that vanished); the hop restarts its consumer session, never the process."""


@dataclass
class HopHealth:
    """One hop's state for `/readyz`: written by the event loop, read by the health thread."""

    topic: str
    connected: bool = False
    last_fetch: float = 0.0
    """`time.monotonic()` of the last completed fetch."""
    lag: int = 0
    """Records behind the high watermarks at the last fetch (0 when a fetch came back empty)."""
    faults: int = 0
    resets: int = 0
    assigned: set[int] = field(default_factory=set)

    def fetched(self, lag: int) -> None:
        self.connected, self.last_fetch, self.lag = True, time.monotonic(), lag

    def as_dict(self) -> dict[str, Any]:
        age = time.monotonic() - self.last_fetch if self.last_fetch else None
        return {"topic": self.topic, "connected": self.connected, "lag": self.lag,
                "last_fetch_age_s": None if age is None else round(age, 3),
                "faults": self.faults, "offset_resets": self.resets,
                "partitions": sorted(self.assigned)}


def batch_lag(consumer: Any, batches: dict[Any, Any],
              each: Callable[[str, int, int], None] | None = None) -> int:
    """Records left behind the high watermark after this fetch (its partitions only);
    `each(topic, partition, lag)` is told every partition's own (the lag gauge)."""
    lag = 0
    for tp, msgs in batches.items():
        high = consumer.highwater(tp)
        if msgs and high is not None:
            behind = max(0, high - (msgs[-1].offset + 1))
            lag += behind
            if each is not None:
                each(tp.topic, tp.partition, behind)
    return lag


async def check_positions(consumer: Any, policy: str,
                          partitions: Iterable[TopicPartition] | None = None) -> list[int]:
    """Reset every assigned partition whose position lies beyond its end; returns them.

    Logs one WARNING per partition naming topic, partition, the offset it was at (the
    committed offset, or the next one to read) and the partition's end.
    """
    reset: list[int] = []
    for tp in sorted(partitions if partitions is not None else consumer.assignment()):
        end = consumer.highwater(tp)
        if end is None:
            continue  # no fetch answered yet for this assignment
        try:
            position = await consumer.position(tp)
        except IllegalStateError:  # revoked meanwhile (a rebalance): its next owner checks
            continue
        if position <= end:
            continue
        log.warning("offset reset: topic %s partition %d: committed/next offset %d is beyond "
                    "the partition's end %d (topic recreated: broker restart with memory "
                    "storage, or unclean loss); KUZET_OFFSET_RESET=%s", tp.topic, tp.partition,
                    position, end, policy)
        if policy == "latest":
            consumer.seek(tp, end)
        else:
            await consumer.seek_to_beginning(tp)
        reset.append(tp.partition)
    return reset


async def commit_within(consumer: Any, offsets: dict[TopicPartition, int],
                        timeout_s: float) -> None:
    """`consumer.commit(offsets)`, or `BrokerFault` when it has not finished in `timeout_s`."""
    try:
        await asyncio.wait_for(consumer.commit(offsets), timeout_s)
    except TimeoutError:
        raise BrokerFault(f"offset commit to {sorted({tp.topic for tp in offsets})} did not "
                          f"finish within {timeout_s:.0f}s") from None
