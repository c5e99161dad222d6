"""The Faust app: two thin agents and a timer around the correlation engine.

    kuzet.detections.v1 ──route_detections──► kuzet.correlation.v1 ──correlate_detections──► store
         (key: source)        │ validate         (key: shard: site,        │ CorrelationEngine
                              └──► kuzet.detections.dlq.v1  subject, plate, cell)

`route_detections` validates each record (an invalid one goes to the DLQ with the reason and
the original bytes; the stream goes on) and re-keys it by its correlation shard, so that every
detection that can join one incident — cameras of a site, a subject across the city — reaches
the same partition and the same worker. `correlate_detections` batches with `noack_take` and
acks each event only when the engine reports it settled (durable in the event store).
Kafka delivery is at-least-once (the Tansu broker has no transactions); the store
de-duplicates.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import faust
from faust.types import EventT

from domain.correlation import shard_key
from domain.detection import Detection, parse_detection
from domain.errors import InvalidDetection
from domain.rules import RuleSet
from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from streams.engine import CorrelationEngine

__all__ = ["StreamConfig", "create_app", "dlq_record"]

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


def dlq_record(raw: bytes | None, reason: str, errors: list[dict[str, str]],
               source: dict[str, Any]) -> bytes:
    """The DLQ value: why, every field error, where it came from, and the original bytes."""
    return json.dumps({
        "reason": reason,
        "errors": errors,
        "source": source,
        "original": base64.b64encode(raw or b"").decode(),
    }).encode()


def _validate(event: EventT[Any], rules: RuleSet) -> tuple[Detection | None, bytes | None]:
    raw = event.value
    try:
        det = parse_detection(raw if isinstance(raw, bytes | str) else b"")
    except InvalidDetection as exc:
        msg = event.message
        errors = [{"field": e.field, "value": e.value, "reason": e.reason} for e in exc.errors]
        source = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        return None, dlq_record(raw if isinstance(raw, bytes) else None, str(exc), errors, source)
    return det, None


def _batches(stream: faust.StreamT[Any], config: StreamConfig) -> AsyncIterator[Sequence[Any]]:
    """Batches of events that stay unacked until we ack them (`StreamT` lacks the method)."""
    real = cast(faust.Stream[Any], stream)
    return real.noack_take(config.batch_size, within=config.batch_within_s)


def create_app(config: StreamConfig, engine: CorrelationEngine[Any], rules: RuleSet,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> faust.App:
    """Build the Faust app. `clock` is the only source of "now" (tests pass their own)."""
    app = faust.App(
        config.group_id,
        broker=[f"kafka://{h}" for h in config.bootstrap_servers.split(",")],
        store="memory://",
        topic_partitions=config.partitions,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=config.session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=config.session_timeout_s,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=max(4096, config.batch_size * 2),
        web_enabled=config.web_port is not None,
        web_port=config.web_port or 6066,
        datadir=f"{config.data_dir}/faust-{config.group_id}",
        producer_acks=-1,
        producer_linger=0.02,  # batch the re-keyed records: one produce request per batch
        producer_max_batch_size=1 << 20,
        topic_allow_declare=True,
        topic_disable_leader=True,
    )
    raw: dict[str, Any] = {"value_serializer": "raw", "key_serializer": "raw"}
    detections = app.topic(DETECTIONS, partitions=config.partitions, **raw)
    correlation = app.topic(CORRELATION, partitions=config.partitions, internal=True, **raw)
    dlq = app.topic(DETECTIONS_DLQ, partitions=1, **raw)

    @app.agent(detections, name="route_detections")
    async def route_detections(stream: faust.StreamT[Any]) -> None:
        """Validate, dead-letter the invalid, re-key the rest by correlation shard."""
        async for events in _batches(stream, config):
            sent = []
            for event in events:
                det, dead = _validate(event, rules)
                if det is None:
                    sent.append(await dlq.send(key=event.key, value=dead))
                else:
                    shard = shard_key(det, rules).encode()
                    # the producer directly: Topic.send's per-message machinery was ~20% of CPU
                    sent.append(await app.producer.send(CORRELATION, shard, event.value,
                                                        None, None, None))
            for fut in sent:
                await fut
            for event in events:
                event.ack()

    @app.agent(correlation, name="correlate_detections")
    async def correlate_detections(stream: faust.StreamT[Any]) -> None:
        """Correlate per partition; ack only what the engine says is durable."""
        async for events in _batches(stream, config):
            by_partition: dict[int, list[tuple[Detection, EventT[Any]]]] = {}
            for event in events:
                det, dead = _validate(event, rules)
                if det is None:  # cannot happen after routing, but never crash on it
                    await dlq.send(key=event.key, value=dead)
                    event.ack()
                    continue
                by_partition.setdefault(event.message.partition, []).append((det, event))
            for partition, items in by_partition.items():
                for event in await engine.process(partition, items, clock()):
                    event.ack()

    @app.timer(interval=config.tick_interval_s, name="run_timers")  # type: ignore[untyped-decorator]
    async def run_timers() -> None:
        """Auto-resolve, SLA escalation, candidate expiry, evidence flushes, schedules."""
        for event in await engine.tick(clock()):
            event.ack()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's stub wants sync
    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", ())
        engine.revoke(tp.partition for tp in revoked if tp.topic == CORRELATION)

    return app
