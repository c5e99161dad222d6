"""`kuzet worker --shadow CANDIDATE.toml`: a candidate rule set run beside live traffic.

Reads `kuzet.detections.v1` in its own consumer group (`<KUZET_CONSUMER_GROUP>.shadow`) and
runs the pure correlator (`domain.backtest.Correlator`) under the candidate rules, at the wall
clock, in memory. What it would open goes to `shadow_incidents` in the archive database, and
nowhere else: it has no producer (no topic, no dead letters), never touches the event store
(so no relay, projection, view or subscription can see it). `kuzet rules diff-shadow` compares
it with the live incidents. Its state is memory: a restart forgets candidates and open
episodes, so a shadow is compared over periods it ran through. Invalid records are skipped (the
live route hop dead-letters them). Stops on `stop`, after the batch in hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer

from archive.store import ArchiveStore
from domain.backtest import Correlator, Opened
from domain.detection import parse_detection
from domain.errors import InvalidDetection
from domain.rules import RuleSet
from domain.topics import DETECTIONS

__all__ = ["ShadowWorker"]

log = logging.getLogger("kuzet.shadow")


class ShadowWorker:
    def __init__(self, bootstrap: str, store: ArchiveStore, rules: RuleSet,
                 clock: Callable[[], datetime], *, group_id: str,
                 client_options: Mapping[str, Any] | None = None) -> None:
        self.bootstrap, self.store, self.rules, self.clock = bootstrap, store, rules, clock
        self.group_id = group_id
        self.client_options = dict(client_options or {})
        self.correlator = Correlator(rules)
        self.records = self.invalid = self.opened = 0
        self.connected = False

    def take(self, values: list[bytes | None]) -> list[Opened]:
        opened: list[Opened] = []
        now = self.clock()
        for value in values:
            self.records += 1
            try:
                detection = parse_detection(value or b"")
            except InvalidDetection:
                self.invalid += 1
                continue
            opened += self.correlator.take(detection, now)
        self.opened += self.store.record_shadow(opened, self.rules.version)
        return opened

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset="latest", session_timeout_ms=10_000, heartbeat_interval_ms=1000,
            **self.client_options)
        consumer.subscribe([DETECTIONS])
        await consumer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                self.connected = bool(consumer.assignment())
                if not batches:
                    continue
                values = [r.value for rs in batches.values() for r in rs]
                await asyncio.to_thread(self.take, values)
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
        finally:
            await consumer.stop()
