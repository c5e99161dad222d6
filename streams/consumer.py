"""The hot path on aiokafka batches, hosted by the Faust worker.

A Faust agent costs ~150 µs of framework per event here (event objects, stream queues, ack
bookkeeping): two hops of it capped the correlator near 4,000 detections/s on 2 cores while a
raw aiokafka consumer reads 200,000+/s. So both hops read `getmany` batches straight from
aiokafka and commit offsets themselves; Faust still runs the worker (lifecycle, timers,
signals, web). Each hop has its own consumer group, so partitions spread over workers as before.

Offsets: the route hop commits a batch once all its re-keyed records are acknowledged by the
broker. The correlate hop commits per partition only up to the first detection the engine has
not settled (`OffsetTracker`), so a crash redelivers exactly the unsettled tail and the store
de-duplicates it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, NamedTuple

import orjson
from structlog.contextvars import bind_contextvars, unbind_contextvars

from domain.correlation import shard_key
from domain.detection import (
    MAX_RECORD_BYTES,
    Detection,
    Skew,
    check_skew,
    encode_detection,
    parse_detection,
    revalidated_detection,
    validate_detection_dict,
)
from domain.errors import FieldError, InvalidDetection
from domain.rules import RuleSet
from domain.topics import CORRELATION, DETECTIONS_DLQ
from streams.errors import is_infrastructure
from streams.fastdecode import fast_detection
from streams.metrics import DEAD_LETTERS, DURABLE_SECONDS

__all__ = ["CorrelateHop", "OffsetTracker", "Record", "RouteHop", "Token", "dead_letter",
           "dlq_record", "failure_letter"]

log = logging.getLogger("kuzet.streams")

Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]
"""`producer.send`-like: enqueue (topic, key, value); the awaited result resolves when durable."""


class Token(NamedTuple):
    """What the engine settles for one detection: where it came from."""

    partition: int
    offset: int


class OffsetTracker:
    """Per partition: offsets handed to the engine, those settled, and what may be committed.

    Offsets arrive in order per partition but settle in any order (a detection in a
    coalescing evidence buffer settles at its flush, after ones behind it that opened an
    incident; a candidate hit settles once written to the ledger, so it never waits for its
    window); the committable offset is the first one not
    yet settled. Settlements for partitions no longer owned are ignored, and so is work begun
    before a partition was revoked (`epoch`, `revoked_since`): a rebalance may land while the
    hop awaits the store, and the rest of that fetch belongs to the partition's next owner,
    which reads it again from the committed offset.
    """

    def __init__(self) -> None:
        self._pending: dict[int, deque[int]] = {}
        self._settled: dict[int, set[int]] = {}
        self._next: dict[int, int] = {}
        self._committed: dict[int, int] = {}
        self.epoch = 0
        """Counts `forget` calls; taken before work that awaits."""
        self._revoked: dict[int, int] = {}

    def handed_out(self, partition: int, offset: int) -> None:
        self._pending.setdefault(partition, deque()).append(offset)
        self._settled.setdefault(partition, set())
        self._next[partition] = offset + 1

    def revoked_since(self, partition: int, epoch: int) -> bool:
        """Whether `partition` was revoked after `epoch` was taken."""
        return self._revoked.get(partition, -1) >= epoch

    def settle(self, tokens: Iterable[Token], since: int | None = None) -> None:
        """Mark tokens settled; with `since` (an `epoch`), not those of partitions revoked
        after it, whose work was begun under the previous assignment."""
        for partition, offset in tokens:
            settled = self._settled.get(partition)
            if settled is not None and not (since is not None
                                            and self.revoked_since(partition, since)):
                settled.add(offset)

    def due(self) -> dict[int, int]:
        """Partitions whose committable offset moved since the last `committed` call."""
        out: dict[int, int] = {}
        for partition, pending in self._pending.items():
            settled = self._settled[partition]
            while pending and pending[0] in settled:
                settled.discard(pending.popleft())
            position = pending[0] if pending else self._next[partition]
            if position > self._committed.get(partition, -1):
                out[partition] = position
        return out

    def committed(self, offsets: dict[int, int]) -> None:
        self._committed.update(offsets)

    def forget(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            for table in (self._pending, self._settled, self._next, self._committed):
                table.pop(p, None)
            self._revoked[p] = self.epoch
        self.epoch += 1


DLQ_ORIGINAL_MAX = MAX_RECORD_BYTES
"""At most this much of the original is embedded: a record near the broker's message limit
must not make a dead letter over it (that one would be refused, and the hop retried for ever)."""


def _as_bytes(raw: object) -> bytes:
    """The original as bytes, whatever a transport handed over (None: empty)."""
    if raw is None:
        return b""
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    return repr(raw).encode("utf-8", "backslashreplace")


def dlq_record(raw: object, reason: str, errors: list[dict[str, str]],
               source: dict[str, Any], *, stage: str = "route",
               error_type: str = "InvalidDetection") -> bytes:
    """The DLQ value (docs/contract.md): why, every field error, where it came from, which
    stage refused it with which exception type, and the original bytes (cut at
    `DLQ_ORIGINAL_MAX`; its size and sha256 identify the whole record).

    JSON with ASCII escapes, so a reason quoting a lone surrogate still encodes."""
    raw = _as_bytes(raw)
    return json.dumps({
        "reason": reason,
        "errors": errors,
        "source": source,
        "stage": stage,
        "error_type": error_type,
        "original": base64.b64encode(raw[:DLQ_ORIGINAL_MAX]).decode(),
        "original_size": len(raw),
        "original_sha256": hashlib.sha256(raw).hexdigest(),
    }).encode()


def _category(exc: BaseException) -> str:
    """The metric's `reason` label: a small fixed set, never the message."""
    if isinstance(exc, InvalidDetection):
        return "skew" if any("processing time" in e.reason for e in exc.errors) else "invalid"
    return "exception"


def dead_letter(raw: object, exc: InvalidDetection, topic: str, partition: int,
                offset: int, *, stage: str = "route") -> bytes:
    """The DLQ value for a record that failed validation (reason, field errors, origin, bytes)."""
    errors = [{"field": e.field, "value": e.value, "reason": e.reason} for e in exc.errors]
    DEAD_LETTERS.labels(stage=stage, reason=_category(exc)).inc()
    return dlq_record(raw, str(exc), errors,
                      {"topic": topic, "partition": partition, "offset": offset}, stage=stage)


def failure_letter(raw: object, exc: BaseException, source: dict[str, Any], *,
                   stage: str, reason: str = "exception") -> bytes:
    """The DLQ value for a record whose handling raised an unexpected exception: that record
    is at fault, not the stream (logged with its origin, counted, never re-raised)."""
    log.warning("%s: dead-lettering the record at %s: %s: %s", stage, source,
                type(exc).__name__, exc, extra=dict(source))
    DEAD_LETTERS.labels(stage=stage, reason=reason).inc()
    message = f"{stage} failed on this record: {type(exc).__name__}: {exc}"
    return dlq_record(raw, message, [], source, stage=stage, error_type=type(exc).__name__)


def _parse(msg: Any) -> tuple[Detection | None, InvalidDetection | None]:
    """Decode and validate one record from the edge: the fast decoder for a plain record
    (`streams.fastdecode`), the domain's validator for the rest."""
    raw = msg.value
    if type(raw) is bytes:
        det = fast_detection(raw)
        if det is not None:
            return det, None
    return _parse_full(raw if raw is not None else b"")


def _parse_full(raw: Any) -> tuple[Detection | None, InvalidDetection | None]:
    """Decode (orjson, ~10x the standard library) and validate with the domain's validator."""
    try:
        if len(raw) > MAX_RECORD_BYTES:
            return parse_detection(raw), None  # raises, naming the size
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                return parse_detection(raw), None  # raises the contract's "not JSON" error
            except RecursionError:  # nested past the stdlib decoder's depth: a poison pill
                return None, _not_json(len(raw), str(exc))
        return validate_detection_dict(rec, strict_json=True), None
    except InvalidDetection as exc:
        return None, exc


def _not_json(size: int, why: str) -> InvalidDetection:
    return InvalidDetection((FieldError("<record>", f"{size} bytes", f"not JSON: {why}"),))


def _reparse(msg: Any) -> tuple[Detection | None, InvalidDetection | None]:
    """A record the route hop validated: rebuild it without re-checking every field."""
    if type(msg.value) is bytes:
        det = fast_detection(msg.value)
        if det is not None:
            return det, None
    try:
        return revalidated_detection(orjson.loads(msg.value)), None
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError,
            IndexError):
        return _parse(msg)


class Record(NamedTuple):
    """One record to produce: where, under which key, what."""

    topic: str
    key: bytes | None
    value: bytes


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RouteHop:
    """Validate, dead-letter the invalid, re-key the rest by correlation shard.

    Any exception while handling one record dead-letters that record (stage `route`); only
    infrastructure errors (`streams.errors.is_infrastructure`) propagate."""

    rules: RuleSet
    skew: Skew = field(default_factory=Skew)
    clock: Callable[[], datetime] = _utc_now

    def route(self, batches: dict[Any, Sequence[Any]]) -> tuple[list[Record], dict[Any, int]]:
        """What one `getmany` result becomes, and the offsets to commit once it is durable."""
        out: list[Record] = []
        now = self.clock()
        for tp, msgs in batches.items():
            for msg in msgs:
                try:
                    out.append(self._one(tp, msg, now))
                except Exception as exc:
                    if is_infrastructure(exc):
                        raise
                    source = {"topic": tp.topic, "partition": tp.partition,
                              "offset": msg.offset}
                    out.append(Record(DETECTIONS_DLQ, _safe_key(msg.key),
                                      failure_letter(msg.value, exc, source, stage="route")))
        return out, {tp: msgs[-1].offset + 1 for tp, msgs in batches.items() if msgs}

    def _one(self, tp: Any, msg: Any, now: datetime) -> Record:
        det, bad = _parse(msg)
        if bad is None:
            assert det is not None
            try:
                check_skew(det, now, self.skew)
            except InvalidDetection as exc:
                bad = exc
        if bad is not None:
            value = dead_letter(msg.value, bad, tp.topic, tp.partition, msg.offset)
            return Record(DETECTIONS_DLQ, _safe_key(msg.key), value)
        assert det is not None
        return Record(CORRELATION, shard_key(det, self.rules).encode(), msg.value)


def _safe_key(key: Any) -> bytes | None:
    return key if isinstance(key, bytes | None) else None


@dataclass
class CorrelateHop:
    """Feed the engine per partition; commit only what the engine has settled.

    A record the engine rejects (a reused `detection_id` with other content, or any exception
    while correlating or storing it) is dead-lettered with its stage, then settled. If the
    engine raises on a whole batch, its records are retried one by one and only those that
    still fail are dead-lettered; infrastructure errors propagate (the worker stops or
    retries, and the uncommitted records are read again)."""

    engine: Any  # streams.engine.CorrelationEngine[Token]
    send: Send
    clock: Callable[[], datetime]
    tracker: OffsetTracker
    _raw: dict[Token, tuple[str, bytes | None, bytes | None]] = field(default_factory=dict)
    _observed: dict[Token, float] = field(default_factory=dict)
    """Each handed-out detection's observed_at (epoch seconds) until it settles: the
    observed → durable histogram."""

    async def handle(self, batches: dict[Any, Sequence[Any]]) -> None:
        """Feed one fetch; partitions revoked meanwhile are left to their next owner."""
        epoch = self.tracker.epoch
        try:
            for tp, msgs in batches.items():
                bind_contextvars(partition=tp.partition)  # on any line logged meanwhile
                items = await self._take(tp, msgs, epoch)
                if items and not self.tracker.revoked_since(tp.partition, epoch):
                    settled = await self._process(tp.partition, items)
                    settled += await self._dead_letter_rejected()
                    self._settle(settled, epoch)
        finally:
            self._raw.clear()
            unbind_contextvars("partition")

    def _settle(self, tokens: list[Token], epoch: int) -> None:
        """Settle `tokens` (`OffsetTracker.settle`) and observe their observed → durable
        latency."""
        self.tracker.settle(tokens, since=epoch)
        if tokens:
            now, pop = time.time(), self._observed.pop
            DURABLE_SECONDS.observe_many([now - at for at in map(pop, tokens, repeat(None))
                                          if at is not None])

    async def _process(self, partition: int, items: list[tuple[Detection, Token]]
                       ) -> list[Token]:
        now = self.clock()
        try:
            settled: list[Token] = await self.engine.process(partition, items, now)
            return settled
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            log.warning("correlate: a batch of %d failed (%s: %s); retrying one by one",
                        len(items), type(exc).__name__, exc, extra={"partition": partition})
        settled = []
        for item in items:
            try:
                settled += await self.engine.process(partition, [item], now)
            except Exception as exc:
                if is_infrastructure(exc):
                    raise
                await (await self._letter(item[1], item[0], exc, "exception"))
                settled.append(item[1])
        return settled

    async def _dead_letter_rejected(self) -> list[Token]:
        """Dead-letter what the engine rejected (all sent, then all acknowledged); returns
        their tokens, to settle."""
        tokens, acks = [], []
        for rejected in self.engine.take_rejected():
            acks.append(await self._letter(rejected.token, rejected.detection, rejected.error,
                                           rejected.reason))
            tokens.append(rejected.token)
        await asyncio.gather(*acks)
        return tokens

    async def _letter(self, token: Token, det: Detection, exc: BaseException,
                      reason: str) -> Awaitable[Any]:
        """Send one dead letter; returns its acknowledgement to await."""
        topic, key, raw = self._raw.get(token, ("", det.source_id.encode(), None))
        source: dict[str, Any] = {"topic": topic, "partition": token.partition,
                                  "offset": token.offset}
        if raw is None:  # from an earlier fetch (a coalescing buffer): the parsed content
            raw, source["reencoded"] = encode_detection(det), True
        value = failure_letter(raw, exc, source, stage="correlate", reason=reason)
        return await self.send(DETECTIONS_DLQ, key, value)

    async def _take(self, tp: Any, msgs: Sequence[Any], epoch: int
                    ) -> list[tuple[Detection, Token]]:
        """Hand out and decode one partition's records (dead-lettering the undecodable)."""
        items: list[tuple[Detection, Token]] = []
        for msg in msgs:
            if self.tracker.revoked_since(tp.partition, epoch):
                return []
            self.tracker.handed_out(tp.partition, msg.offset)
            token = Token(tp.partition, msg.offset)
            bad: Exception | None
            try:
                det, bad = _reparse(msg)
            except Exception as exc:  # never stop on one record
                if is_infrastructure(exc):
                    raise
                det, bad = None, exc
            if bad is not None:  # cannot happen after routing, but never stop on it
                source = {"topic": tp.topic, "partition": tp.partition, "offset": msg.offset}
                value = (dead_letter(msg.value, bad, tp.topic, tp.partition, msg.offset,
                                     stage="correlate")
                         if isinstance(bad, InvalidDetection)
                         else failure_letter(msg.value, bad, source, stage="correlate"))
                await (await self.send(DETECTIONS_DLQ, _safe_key(msg.key), value))
                self.tracker.settle([token], since=epoch)
                continue
            assert det is not None
            self._raw[token] = (tp.topic, _safe_key(msg.key), msg.value)
            self._observed[token] = det.observed_at.timestamp()
            items.append((det, token))
        return items

    async def tick(self) -> None:
        epoch = self.tracker.epoch
        settled = await self.engine.tick(self.clock())
        settled += await self._dead_letter_rejected()
        self._settle(settled, epoch)

    async def drain(self) -> None:
        """Write every coalescing buffer now (before a clean stop: then commit `due`)."""
        epoch = self.tracker.epoch
        settled = await self.engine.drain(self.clock())
        settled += await self._dead_letter_rejected()
        self._settle(settled, epoch)

    def revoke(self, partitions: Sequence[int]) -> None:
        self.engine.revoke(partitions)
        self.tracker.forget(partitions)
        gone = set(partitions)
        self._observed = {t: at for t, at in self._observed.items() if t.partition not in gone}
