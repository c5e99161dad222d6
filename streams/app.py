"""The worker: two aiokafka hops and a timer around the correlation engine.

    kuzet.detections.v1 ──route──► kuzet.correlation.v1 ──correlate──► event store
         (key: source)     │ validate    (key: shard: site,        │ CorrelationEngine
                           │             subject, plate, cell)     │
                           ├──► kuzet.detections.dlq.v1            │
                           └── shard source=<source_id> ───────────┘ (no second hop)

The route hop validates each record (an invalid one goes to the DLQ with the reason and the
original bytes; the stream goes on) and re-keys it by its correlation shard, so that every
detection that can join one incident — cameras of a site, a subject across the city — reaches
the same partition and the same worker. A detection whose shard is its own source (the topic's
key) is already in the right partition: the route hop hands it to the engine itself. Each hop
commits an offset only when everything before it is settled: re-keyed copies and dead letters
acknowledged by the broker, detections durable in the event store (`streams.consumer`). Both
hops read aiokafka batches directly (`streams.consumer` says why); `mode` (Faust's service
library) runs the worker around them (`create_service`).
Kafka delivery is at-least-once (the Tansu broker has no transactions); the store
de-duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mode
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import TopicPartition

from domain.detection import Skew
from domain.rules import RuleSet
from domain.topics import CORRELATION, DETECTIONS
from streams.consumer import CorrelateHop, Lane, OffsetTracker, Record, RouteHop, dlq_record
from streams.engine import CorrelationEngine
from streams.metrics import CONSUMED, CONSUMER_LAG, RECORDS_CONSUMED
from streams.producer import start_producer
from streams.relay import keyed_partition
from streams.session import BrokerFault, HopHealth, batch_lag, check_positions, commit_within

__all__ = ["Correlator", "StreamConfig", "create_service", "dlq_record"]

log = logging.getLogger("kuzet.streams")


@dataclass(frozen=True)
class StreamConfig:
    """What the composition root passes in (the streams package reads no environment)."""

    bootstrap_servers: str
    group_id: str = "kuzet-correlator"
    partitions: int = 4
    batch_size: int = 2000
    batch_within_s: float = 0.2
    tick_interval_s: float = 1.0
    data_dir: str = ".kuzet"
    session_timeout_s: float = 10.0
    web_port: int | None = None
    offset_reset: str = "earliest"
    """What a hop does with a partition whose position lies beyond its end (`streams.session`);
    also aiokafka's `auto_offset_reset` for a group without committed offsets."""
    commit_timeout_s: float = 10.0
    """An offset commit that takes longer is a broker fault: the hop restarts its consumer."""
    restart_backoff_cap_s: float = 10.0
    """A hop whose consumer failed waits 0.5 s, doubling up to this, before starting again."""
    fetch_wait_ms: int = 500
    """How long a fetch may wait at the broker (`fetch.max.wait.ms`; the composition root
    passes 10 ms for the embedded broker, which answers a fetch only when its wait ends)."""
    client_options: Mapping[str, Any] = field(default_factory=dict)
    """aiokafka security options (security_protocol, ssl_context, sasl_*) for every client."""
    skew: Skew = field(default_factory=Skew)
    """How far `observed_at` may lie from the worker's clock (the route hop dead-letters the
    rest: `domain.detection.check_skew`)."""


STOP_STEP_S = 3.0
"""The last commit and the consumer's stop each get at most this long when a hop ends."""


def _consumer(config: StreamConfig, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=config.bootstrap_servers, group_id=group,
        enable_auto_commit=False, auto_offset_reset=config.offset_reset,
        session_timeout_ms=int(config.session_timeout_s * 1000), heartbeat_interval_ms=1000,
        rebalance_timeout_ms=int(config.session_timeout_s * 1000),
        max_poll_interval_ms=300_000, fetch_max_bytes=16 << 20,
        fetch_max_wait_ms=config.fetch_wait_ms,
        max_partition_fetch_bytes=4 << 20, **config.client_options,
    )


class _Committer(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits settled offsets; on a rebalance, commits first, then forgets the partitions."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str, config: StreamConfig,
                 health: HopHealth, hop: Lane | None = None) -> None:
        self.consumer, self.topic, self.hop = consumer, topic, hop
        self.config, self.health = config, health

    async def commit(self, offsets: dict[int, int], timeout_s: float | None = None) -> None:
        """Commit `offsets` (partition → next offset); `BrokerFault` when it hangs."""
        if not offsets:
            return
        try:
            await commit_within(self.consumer, {TopicPartition(self.topic, p): o
                                                for p, o in offsets.items()},
                                timeout_s or self.config.commit_timeout_s)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # a rebalance took the partition: its new owner redelivers; the store de-duplicates
            log.warning("offset commit skipped (%s): %s", type(exc).__name__, exc)
            return
        if self.hop is not None:
            self.hop.tracker.committed(offsets)

    async def check(self) -> None:
        """Reset partitions whose position lies beyond their end (`streams.session`)."""
        reset = await check_positions(self.consumer, self.config.offset_reset)
        if reset:
            self.health.resets += len(reset)
            if self.hop is not None:  # work begun under the old topic is void
                self.hop.revoke(reset)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.health.assigned -= {tp.partition for tp in revoked}
        if self.hop is None:
            return
        try:
            await self.commit(self.hop.tracker.due())
        except BrokerFault as exc:  # the next owner redelivers from the last commit
            log.warning("commit before rebalance skipped: %s", exc)
        self.hop.revoke([tp.partition for tp in revoked if tp.topic == self.topic])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.health.assigned |= {tp.partition for tp in assigned if tp.topic == self.topic}
        log.info("%s hop: group joined, partitions %s", self.topic, sorted(self.health.assigned))


class Correlator:
    """Both hops' consumers, the shared producer, and the commits (one per worker)."""

    def __init__(self, config: StreamConfig, engine: CorrelationEngine[Any], rules: RuleSet,
                 clock: Callable[[], datetime]) -> None:
        self.config = config
        self.producer: AIOKafkaProducer | None = None
        self.route = RouteHop(rules, config.skew, clock)
        self.correlate = CorrelateHop(engine, self._send, clock, OffsetTracker())
        self._committers: dict[str, _Committer] = {}
        """Per hop (its topic), the committer of its current session (the timer commits
        what ticks settled)."""
        self.health: dict[str, HopHealth] = {}
        """Per consumed topic, what `/readyz` reports."""

    async def start(self) -> None:
        """Start the producer (aiokafka objects must be made inside the running loop)."""
        self.producer = await start_producer(self.config.bootstrap_servers, linger_ms=20,
                                             max_batch_size=1 << 20, **self.config.client_options)

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def _send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        assert self.producer is not None, "Correlator.start() first"
        ack: Awaitable[Any] = await self.producer.send(topic, value=value, key=key)
        return ack

    async def _consume(self, topic: str, group: str,
                       handle: Callable[[Any, _Committer], Awaitable[None]],
                       hop: Lane | None = None) -> None:
        """Consume `topic` for ever: one consumer session after another.

        A broker fault (connection lost, a commit that hangs, the broker's errors during a
        rebalance, fetch or commit) ends the session with one WARNING line; its unsettled work
        is forgotten (redelivered from the committed offsets) and a new session starts after a
        capped backoff. The process never stops on a broker error.
        """
        health = self.health.setdefault(topic, HopHealth(topic))
        backoff = 0.5
        while True:
            fetched_before = health.last_fetch
            try:
                await self._session(topic, group, handle, hop, health)
            except (KafkaError, BrokerFault, OSError) as exc:
                if health.last_fetch != fetched_before:  # that session worked for a while
                    backoff = 0.5
                health.faults += 1
                log.warning("%s consumer: broker fault (%s: %s); new session in %.1fs",
                            topic, type(exc).__name__, exc, backoff)
            health.connected = False
            if hop is not None:
                hop.revoke(sorted(set(range(self.config.partitions)) | health.assigned))
            health.assigned.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.config.restart_backoff_cap_s)

    async def _session(self, topic: str, group: str,
                       handle: Callable[[Any, _Committer], Awaitable[None]],
                       hop: Lane | None, health: HopHealth) -> None:
        consumer = _consumer(self.config, topic, group)
        committer = _Committer(consumer, topic, self.config, health, hop)
        if hop is not None:
            self._committers[topic] = committer
        consumer.subscribe([topic], listener=committer)
        consumed = CONSUMED.get(topic) or RECORDS_CONSUMED.labels(topic)
        try:
            await consumer.start()
            while True:
                batches = await consumer.getmany(
                    timeout_ms=int(self.config.batch_within_s * 1000),
                    max_records=self.config.batch_size)
                health.fetched(batch_lag(consumer, batches, CONSUMER_LAG.set))
                await committer.check()
                if batches:
                    consumed.inc(sum(map(len, batches.values())))
                    await handle(batches, committer)
        finally:
            if self._committers.get(topic) is committer:
                del self._committers[topic]
            # a stop (or a fault): commit what is settled, each step bounded so that the
            # process exits within its stop bound even with the broker gone
            last = min(STOP_STEP_S, self.config.commit_timeout_s)
            if hop is not None and health.connected:
                with contextlib.suppress(BrokerFault, KafkaError, OSError):
                    await committer.commit(hop.tracker.due(), last)
            try:
                await asyncio.wait_for(consumer.stop(), last)
            except (TimeoutError, KafkaError, OSError) as exc:
                log.warning("%s consumer did not stop cleanly: %s", topic, exc)

    async def _enqueue(self, records: Sequence[Record]) -> list[Awaitable[Any]]:
        """Hand `records` to the producer; returns the acknowledgements to await.

        Records are packed into one aiokafka batch per topic partition (partitioned exactly
        like aiokafka's default partitioner) instead of one `send` each: per-message futures
        and loop lookups were a sixth of the route hop.
        """
        assert self.producer is not None, "Correlator.start() first"
        producer = self.producer
        parts: dict[str, list[int]] = {}
        open_batches: dict[tuple[str, int], Any] = {}
        acks = []
        for topic, key, value in records:
            if topic not in parts:
                parts[topic] = sorted(await producer.partitions_for(topic))
            partition = keyed_partition(key, parts[topic], parts[topic])
            batch = open_batches.get((topic, partition))
            if batch is None or batch.append(key=key, value=value, timestamp=None) is None:
                if batch is not None:  # full, so closed by its append
                    acks.append(await producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[(topic, partition)] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for (topic, partition), batch in open_batches.items():
            batch.close()  # complete: no linger (an open batch waits `linger_ms` for more)
            acks.append(await producer.send_batch(batch, topic, partition=partition))
        return acks

    async def run_route(self) -> None:
        lane = self.correlate.lane(DETECTIONS)

        async def handle(batches: Any, committer: _Committer) -> None:
            tracker, epoch = lane.tracker, lane.tracker.epoch
            for tp, msgs in batches.items():
                for msg in msgs:
                    tracker.handed_out(tp.partition, msg.offset)
            triage = self.route.triage(batches)
            # the broker acknowledges the re-keyed records while the store works
            acks = await self._enqueue([r for r, _ in triage.produce])
            try:
                await self.correlate.feed(triage.local, epoch)
            finally:
                acked = await asyncio.gather(*acks, return_exceptions=True)
            for ack in acked:
                if isinstance(ack, BaseException):
                    raise ack
            tracker.settle([token for _, token in triage.produce], since=epoch)
            await committer.commit(tracker.due())

        await self._consume(DETECTIONS, f"{self.config.group_id}.route", handle, lane)

    async def run_correlate(self) -> None:
        async def handle(batches: Any, committer: _Committer) -> None:
            await self.correlate.handle(batches)
            await committer.commit(self.correlate.tracker.due())

        await self._consume(CORRELATION, f"{self.config.group_id}.correlate", handle,
                            self.correlate.lane(CORRELATION))

    async def tick(self) -> None:
        """Timers for both hops' engine shards, then commit what they settled."""
        await self.correlate.tick()
        for committer in list(self._committers.values()):
            if committer.hop is None:
                continue
            try:
                await committer.commit(committer.hop.tracker.due())
            except BrokerFault as exc:  # the hop's own loop restarts its session
                log.warning("timer commit skipped: %s", exc)

    def ready(self, max_lag: int) -> tuple[bool, dict[str, Any]]:
        """(ready, detail): both hops fetched from the broker and are within `max_lag`."""
        hops = [h.as_dict() for h in self.health.values()]
        ok = len(hops) == 2 and all(h["connected"] and h["lag"] <= max_lag for h in hops)
        return ok, {"hops": hops}


def create_service(config: StreamConfig, engine: CorrelationEngine[Any], rules: RuleSet,
                   clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                   on_correlator: Callable[[Correlator], None] | None = None) -> mode.Service:
    """The worker's one service: both hops and the timer. `clock` is the only source of
    "now" (tests pass their own); `on_correlator` receives the hops' owner (the worker's
    `/readyz` reads its health).

    A `mode.Service` run by `mode.Worker` (signals, logging, clean stop), without a Faust app:
    the hops consume with their own aiokafka consumers, so Faust's consumer, its leader
    topic and its own consumer-group join (~5 s of every start on the embedded broker, before
    the hops could even begin to join theirs) did nothing but delay the start.
    """
    correlator = Correlator(config, engine, rules, clock)
    if on_correlator is not None:
        on_correlator(correlator)

    class CorrelatorService(mode.Service):
        """Runs both hops for as long as the worker runs; stops the producer last."""

        async def on_start(self) -> None:
            log.info("worker: service started, starting the hops")
            await correlator.start()

        async def on_stop(self) -> None:
            await correlator.stop()

        @mode.Service.task
        async def _route(self) -> None:
            await correlator.run_route()

        @mode.Service.task
        async def _correlate(self) -> None:
            await correlator.run_correlate()

        @mode.Service.timer(config.tick_interval_s)
        async def _run_timers(self) -> None:
            """Auto-resolve, SLA escalation, candidate expiry, evidence flushes, schedules."""
            await correlator.tick()

    return CorrelatorService()
