"""`kuzet cameras watch`: camera health records in, `camera_offline` detections out.

    kuzet.health.v1 ──► CameraWatch (domain.camera_watch) ──► kuzet.detections.v1
    (key: source_id)     silence per source                   kind camera_offline

The correlator then treats an outage like any other detection: one incident per outage (key =
source, routed by the routing policy), auto-resolved once frames return and the records stop.
The watcher's state is a fold of the health topic: on every assignment it reads its partitions
from the beginning (the topic keeps a day), so it needs no store and commits no offsets, and a
restarted or rebalanced watcher publishes the same records again (same ids: the correlator
drops the repeats). A record that fails the health contract is counted and skipped.

Planned outages: silences by camera (`domain.silences`, `kuzet silence create camera ID`) are
the watch's `PlannedSilence`s; the watcher reloads them every `silence_refresh_s` (through
`load_silences`, which reads the event store) so a silenced camera's outage publishes nothing
while the silence lasts (the correlator would count it on the silence anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.structs import TopicPartition
from prometheus_client import Counter, Gauge

from domain.camera_watch import CameraWatch, PlannedSilence
from domain.detection import encode_detection
from domain.errors import InvalidHealthRecord
from domain.health import parse_health
from domain.silences import SilenceScope, SilenceWindow
from domain.topics import DETECTIONS, HEALTH

__all__ = ["CameraWatcher", "WatchStats", "camera_silences"]

log = logging.getLogger("kuzet.cameras")

HEALTH_RECORDS = Counter("kuzet_camera_health_records_total",
                         "Health records read by the camera watcher", ["outcome"])
SOURCES_DOWN = Gauge("kuzet_camera_sources_down", "Sources without frames past the threshold")
OFFLINE_PUBLISHED = Counter("kuzet_camera_offline_records_total",
                            "camera_offline detections published")


def camera_silences(windows: Sequence[SilenceWindow]) -> tuple[PlannedSilence, ...]:
    """The silences by camera as the watch's planned silences (other scopes do not apply)."""
    return tuple(PlannedSilence(w.value, w.starts_at, w.ends_at) for w in windows
                 if w.scope is SilenceScope.CAMERA)


@dataclass
class WatchStats:
    """What the watcher did (tests and /readyz read it)."""

    records: int = 0
    invalid: int = 0
    published: int = 0
    assigned: set[int] = field(default_factory=set)


class _Rewind(ConsumerRebalanceListener):  # type: ignore[misc]
    """Reads newly assigned partitions from their start; forgets revoked partitions' sources."""

    def __init__(self, watcher: CameraWatcher) -> None:
        self.watcher = watcher

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.watcher.forget({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.watcher.stats.assigned = {tp.partition for tp in assigned}
        if assigned:
            await self.watcher.consumer_seek_to_beginning(assigned)


class CameraWatcher:
    """Folds `kuzet.health.v1` into a `CameraWatch` and publishes what is due every tick."""

    def __init__(self, bootstrap_servers: str, make_watch: Callable[[], CameraWatch],
                 clock: Callable[[], datetime], *, group_id: str = "kuzet-cameras",
                 tick_s: float = 1.0, client_options: Mapping[str, Any] | None = None,
                 load_silences: Callable[[datetime], Sequence[PlannedSilence]] | None = None,
                 silence_refresh_s: float = 5.0) -> None:
        self.bootstrap, self.group_id, self.tick_s = bootstrap_servers, group_id, tick_s
        self.client_options = dict(client_options or {})
        self.make_watch, self.clock = make_watch, clock
        self.watch = make_watch()
        self.stats = WatchStats()
        self._partition_of: dict[str, int] = {}
        self._published: dict[str, str] = {}
        """Per source: the id of the last record sent (a new repeat has a new id)."""
        self._consumer: AIOKafkaConsumer | None = None
        self.load_silences, self.silence_refresh_s = load_silences, silence_refresh_s
        self._silences_at: datetime | None = None

    async def refresh_silences(self) -> None:
        """Reload the planned silences when due (a store that refuses keeps the old ones)."""
        now = self.clock()
        if self.load_silences is None or (
                self._silences_at is not None
                and (now - self._silences_at).total_seconds() < self.silence_refresh_s):
            return
        self._silences_at = now
        try:
            self.watch.silences = tuple(await asyncio.to_thread(self.load_silences, now))
        except Exception as exc:  # the store is down: keep watching with what we knew
            log.warning("planned silences not reloaded: %s: %s", type(exc).__name__, exc)

    async def consumer_seek_to_beginning(self, partitions: Iterable[TopicPartition]) -> None:
        assert self._consumer is not None
        await self._consumer.seek_to_beginning(*partitions)

    def forget(self, partitions: set[int]) -> None:
        """Drop the sources of `partitions` (their new owner rebuilds them from the topic)."""
        kept = [s for s, p in self._partition_of.items() if p not in partitions]
        fresh = self.make_watch()
        fresh.silences = self.watch.silences
        for source in kept:
            seen = self.watch.sources.get(source)
            if seen is not None:
                fresh.adopt(seen)
        self.watch = fresh
        self._partition_of = {s: self._partition_of[s] for s in kept}
        self._published = {s: i for s, i in self._published.items() if s in self._partition_of}

    def take(self, partition: int, value: bytes | None) -> None:
        """One health record from `partition`; an invalid one is counted and skipped."""
        self.stats.records += 1
        try:
            record = parse_health(value or b"")
        except InvalidHealthRecord as exc:
            self.stats.invalid += 1
            HEALTH_RECORDS.labels("invalid").inc()
            log.warning("health record skipped: %s", exc)
            return
        HEALTH_RECORDS.labels("valid").inc()
        self._partition_of[record.source_id] = partition
        self.watch.observe(record)

    async def publish_due(self, producer: Any) -> int:
        """Send each down source's current record once; returns how many were sent."""
        await self.refresh_silences()
        due = [d for d in self.watch.due(self.clock())
               if self._published.get(d.source_id) != d.detection_id]
        SOURCES_DOWN.set(len(self.watch.due(self.clock())))
        acks = [await producer.send(DETECTIONS, encode_detection(d), key=d.source_id.encode())
                for d in due]
        await asyncio.gather(*acks)
        for d in due:
            self._published[d.source_id] = d.detection_id
            log.warning("camera %s offline since %s (%s)", d.source_id,
                        d.attributes["silent_since"], d.attributes["reason"])
        self.stats.published += len(due)
        OFFLINE_PUBLISHED.inc(len(due))
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: fold health records as they come, and publish what is due
        every tick — on its own timer, so a consumer busy rejoining its group never holds up
        the repeats that keep an outage's incident open."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group_id,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    session_timeout_ms=10_000, heartbeat_interval_ms=1000,
                                    **self.client_options)
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                                    **self.client_options)
        self._consumer = consumer
        consumer.subscribe([HEALTH], listener=_Rewind(self))
        await producer.start()
        await consumer.start()
        folding = asyncio.create_task(self._fold(consumer, stop))
        try:
            while not stop.is_set() and not folding.done():
                await self.publish_due(producer)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.tick_s)
            if folding.done():
                folding.result()  # a consumer failure surfaces, it is not swallowed
        finally:
            folding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await folding
            await consumer.stop()
            await producer.stop()

    async def _fold(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=int(self.tick_s * 1000))
            for tp, records in batches.items():
                for r in records:
                    self.take(tp.partition, r.value)
