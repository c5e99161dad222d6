"""`kuzet archive run`: the archive's own consumer of the detections and incident-event topics.

One consumer group of its own (`<KUZET_CONSUMER_GROUP>.archive`), so it reads every detection
whatever the correlator does, at its own pace. Each fetched batch (up to `batch` records) is
archived, then its offsets are committed: a crash redelivers at most the uncommitted batch and
the archive drops the repeats by detection_id. Between batches, on their own timers: search
tags of shredded keys are forgotten (`purge_s`), and days past retention are dropped
(`retention_check_s`). `run(stop)` returns once `stop` is set, after the batch in hand is
written and committed (SIGTERM sets it in the CLI).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer

from archive.ingest import Archiver
from domain.topics import DETECTIONS, INCIDENT_EVENTS
from eventstore.keystore import KeyStore

__all__ = ["ArchiveConsumer", "Upkeep"]

log = logging.getLogger("kuzet.archive")


@dataclass
class Upkeep:
    retention_days: float = 30.0
    retention_check_s: float = 3600.0
    purge_s: float = 30.0


class ArchiveConsumer:
    def __init__(self, bootstrap: str, archiver: Archiver, keys: KeyStore,
                 clock: Callable[[], datetime], *, group_id: str, upkeep: Upkeep | None = None,
                 batch: int = 5000, client_options: Mapping[str, Any] | None = None) -> None:
        self.bootstrap, self.archiver, self.keys, self.clock = bootstrap, archiver, keys, clock
        self.group_id, self.batch = group_id, batch
        self.upkeep = upkeep or Upkeep()
        self.client_options = dict(client_options or {})
        self._purged_to: datetime | None = None
        self._last_purge = self._last_retention = 0.0
        self.connected = False

    def forget_shredded(self) -> int:
        """Drop the search tags of plates whose keys were shredded since the last call (the
        first call looks back over the whole key table)."""
        now = self.clock()
        since = self._purged_to or datetime.fromtimestamp(0, now.tzinfo)
        key_ids = self.keys.shredded_since(since - timedelta(seconds=5))  # clock skew margin
        self._purged_to = now
        return self.archiver.store.forget_tags(key_ids) if key_ids else 0

    def apply_retention(self) -> int:
        cutoff = self.clock() - timedelta(days=self.upkeep.retention_days)
        return self.archiver.store.drop_before(cutoff)

    def _due(self) -> None:
        now = time.monotonic()
        if now - self._last_purge >= self.upkeep.purge_s:
            self._last_purge = now
            forgotten = self.forget_shredded()
            if forgotten:
                log.info("forgot the search tags of %d archived detections (shredded keys)",
                         forgotten)
        if now - self._last_retention >= self.upkeep.retention_check_s:
            self._last_retention = now
            dropped = self.apply_retention()
            if dropped:
                log.info("archive retention: dropped %d (days or rows)", dropped)

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=10_000, heartbeat_interval_ms=1000,
            max_partition_fetch_bytes=8 * 1024 * 1024, **self.client_options)
        consumer.subscribe([DETECTIONS, INCIDENT_EVENTS])
        await consumer.start()
        try:
            while not stop.is_set():
                await asyncio.to_thread(self._due)
                batches = await consumer.getmany(timeout_ms=500, max_records=self.batch)
                self.connected = True
                if not batches:
                    continue
                detections = [r.value for tp, rs in batches.items() if tp.topic == DETECTIONS
                              for r in rs]
                events = [r.value for tp, rs in batches.items() if tp.topic != DETECTIONS
                          for r in rs]
                await asyncio.to_thread(self._take, detections, events)
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
        finally:
            await consumer.stop()

    def _take(self, detections: list[bytes | None], events: list[bytes | None]) -> None:
        if detections:
            self.archiver.take(detections)
        if events:
            self.archiver.link(events)
