"""The hot path on aiokafka batches, hosted by the Faust worker.

A Faust agent costs ~150 µs of framework per event here (event objects, stream queues, ack
bookkeeping): two hops of it capped the correlator near 4,000 detections/s on 2 cores while a
raw aiokafka consumer reads 200,000+/s. So both hops read `getmany` batches straight from
aiokafka and commit offsets themselves; Faust still runs the worker (lifecycle, timers,
signals, web). Each hop has its own consumer group, so partitions spread over workers as before.

Detections whose correlation key lives in their source's partition (shard `source=<source_id>`
on a record keyed by that source: source-keyed kinds, and site-keyed kinds without a site) skip
the second hop: the route hop hands them to the engine itself (`RouteHop.triage`,
`CorrelateHop.feed`), in their own engine shards (`shard_id`: the topic and partition), so a
detection is decoded once and never produced and fetched again. The rest (site, subject, plate
and cell keys, which join detections of many sources) are re-keyed as before.

Offsets: both hops commit per partition only up to the first record not yet settled
(`OffsetTracker`), so a crash redelivers exactly the unsettled tail and the store de-duplicates
it. A record settles when the broker acknowledged its re-keyed copy or its dead letter, or when
the engine reports its detection durable in the event store.
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
from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from streams.errors import is_infrastructure
from streams.fastdecode import fast_detection
from streams.metrics import DEAD_LETTERS, DURABLE_SECONDS

__all__ = ["CorrelateHop", "Lane", "OffsetTracker", "Record", "RouteHop", "Token", "Triage",
           "dead_letter", "dlq_record", "failure_letter", "shard_id"]

log = logging.getLogger("kuzet.streams")

Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]
"""`producer.send`-like: enqueue (topic, key, value); the awaited result resolves when durable."""


class Token(NamedTuple):
    """What the engine settles for one detection: where it came from (the correlation topic,
    or the detections topic for one the route hop correlated directly)."""

    partition: int
    offset: int
    topic: str = CORRELATION


def shard_id(topic: str, partition: int) -> tuple[str, int]:
    """The engine shard of a consumed partition: partitions of the two topics never share a
    cache (both topics number their partitions from 0)."""
    return (topic, partition)


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
        for token in tokens:
            partition, offset = token[0], token[1]
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


@dataclass
class Triage:
    """What the route hop makes of one fetch (`RouteHop.triage`)."""

    produce: list[tuple[Record, Token]] = field(default_factory=list)
    """Re-keyed records and dead letters, each with the detections-topic record it settles."""
    local: dict[Any, list[tuple[Detection, Any]]] = field(default_factory=dict)
    """Per topic partition, detections to correlate here (with their records): their
    correlation key lives in their source's partition."""


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
        """What one `getmany` result becomes when every valid record is re-keyed (none
        correlated here), and the offsets to commit once it is durable."""
        out = [record for record, _ in self.triage(batches, direct=False).produce]
        return out, {tp: msgs[-1].offset + 1 for tp, msgs in batches.items() if msgs}

    def triage(self, batches: dict[Any, Sequence[Any]], *, direct: bool = True) -> Triage:
        """Sort one fetch: dead letters and re-keyed records to produce, and (`direct`)
        detections whose shard is their own source's, to correlate without a second hop.

        A detection goes direct only if its record is keyed by its `source_id` (the
        contract): then every detection of that shard is in this partition. A record keyed
        otherwise is re-keyed, as before."""
        out = Triage()
        now = self.clock()
        for tp, msgs in batches.items():
            local: list[tuple[Detection, Any]] = []
            for msg in msgs:
                token = Token(tp.partition, msg.offset, tp.topic)
                try:
                    det, key, record = self._one(tp, msg, now)
                    if (direct and record is None and type(msg.key) is bytes
                            and key == b"source=" + msg.key):
                        local.append((det, msg))
                    else:
                        out.produce.append((record or Record(CORRELATION, key, msg.value),
                                            token))
                except Exception as exc:
                    if is_infrastructure(exc):
                        raise
                    source = {"topic": tp.topic, "partition": tp.partition,
                              "offset": msg.offset}
                    out.produce.append((Record(DETECTIONS_DLQ, _safe_key(msg.key),
                                               failure_letter(msg.value, exc, source,
                                                              stage="route")), token))
            if local:
                out.local[tp] = local
        return out

    def _one(self, tp: Any, msg: Any, now: datetime) -> tuple[Any, bytes, Record | None]:
        """(detection, shard key, None), or (None, b"", its dead letter)."""
        det, bad = _parse(msg)
        if bad is None:
            assert det is not None
            try:
                check_skew(det, now, self.skew)
            except InvalidDetection as exc:
                bad = exc
        if bad is not None:
            value = dead_letter(msg.value, bad, tp.topic, tp.partition, msg.offset)
            return None, b"", Record(DETECTIONS_DLQ, _safe_key(msg.key), value)
        assert det is not None
        return det, shard_key(det, self.rules).encode(), None


def _safe_key(key: Any) -> bytes | None:
    return key if isinstance(key, bytes | None) else None


@dataclass(frozen=True)
class Lane:
    """One consumed topic as its committer sees it: the offsets, and how to forget
    partitions that were revoked (`CorrelateHop.lane`)."""

    topic: str
    tracker: OffsetTracker
    revoke: Callable[[Sequence[int]], None]


@dataclass
class CorrelateHop:
    """Feed the engine per partition; commit only what the engine has settled.

    Two lanes feed the one engine: the correlation topic's records (`handle`, offsets in
    `tracker`) and the detections the route hop correlates directly (`feed`, offsets in
    `direct`, which the route hop shares for its re-keyed records and dead letters). Tokens
    name their topic, so whatever settles them (a fetch, a timer) settles the right lane.

    A record the engine rejects (a reused `detection_id` with other content, or any exception
    while correlating or storing it) is dead-lettered with its stage, then settled. If the
    engine raises on a whole batch, its records are retried one by one and only those that
    still fail are dead-lettered; infrastructure errors propagate (the worker stops or
    retries, and the uncommitted records are read again)."""

    engine: Any  # streams.engine.CorrelationEngine[Token]
    send: Send
    clock: Callable[[], datetime]
    tracker: OffsetTracker
    direct: OffsetTracker = field(default_factory=OffsetTracker)
    """The route hop's offsets of the detections topic (`feed`)."""
    _raw: dict[Token, tuple[str, bytes | None, bytes | None]] = field(default_factory=dict)
    _observed: dict[Token, float] = field(default_factory=dict)
    """Each handed-out detection's observed_at (epoch seconds) until it settles: the
    observed → durable histogram."""

    def lane(self, topic: str) -> Lane:
        """The lane of `topic` (CORRELATION or DETECTIONS), for its committer."""
        return Lane(topic, self._tracker(topic),
                    lambda partitions: self.revoke(partitions, topic))

    def _tracker(self, topic: str) -> OffsetTracker:
        return self.tracker if topic == CORRELATION else self.direct

    def _epochs(self) -> dict[str, int]:
        """Both lanes' epochs, taken before work that awaits."""
        return {CORRELATION: self.tracker.epoch, DETECTIONS: self.direct.epoch}

    async def handle(self, batches: dict[Any, Sequence[Any]]) -> None:
        """Feed one fetch; partitions revoked meanwhile are left to their next owner."""
        epochs = self._epochs()
        epoch = epochs[CORRELATION]
        try:
            for tp, msgs in batches.items():
                bind_contextvars(partition=tp.partition)  # on any line logged meanwhile
                items = await self._take(tp, msgs, epoch)
                if items and not self.tracker.revoked_since(tp.partition, epoch):
                    settled = await self._process(shard_id(CORRELATION, tp.partition), items)
                    settled += await self._dead_letter_rejected()
                    self._settle(settled, epochs)
        finally:
            self._forget_raw(CORRELATION)
            unbind_contextvars("partition")

    def _forget_raw(self, topic: str) -> None:
        """Drop one lane's original records once its call is done (the other lane's call may
        still be awaiting the store with its own)."""
        self._raw = {t: raw for t, raw in self._raw.items() if t.topic != topic}

    async def feed(self, local: dict[Any, list[tuple[Detection, Any]]], epoch: int) -> None:
        """Correlate detections the route hop decoded and kept (`Triage.local`): their
        offsets were handed out to `direct` before `epoch`; partitions revoked since are
        left to their next owner."""
        epochs = {**self._epochs(), DETECTIONS: epoch}
        try:
            for tp, pairs in local.items():
                if self.direct.revoked_since(tp.partition, epoch):
                    continue
                bind_contextvars(partition=tp.partition)
                items = []
                for det, msg in pairs:
                    token = Token(tp.partition, msg.offset, tp.topic)
                    self._raw[token] = (tp.topic, _safe_key(msg.key), msg.value)
                    self._observed[token] = det.observed_at.timestamp()
                    items.append((det, token))
                settled = await self._process(shard_id(tp.topic, tp.partition), items)
                settled += await self._dead_letter_rejected()
                self._settle(settled, epochs)
        finally:
            self._forget_raw(DETECTIONS)
            unbind_contextvars("partition")

    def _settle(self, tokens: list[Token], epochs: dict[str, int]) -> None:
        """Settle `tokens` in their lanes (`OffsetTracker.settle`, work begun at `epochs`)
        and observe their observed → durable latency."""
        if not tokens:
            return
        direct = [t for t in tokens if t.topic != CORRELATION]
        if direct:
            self.direct.settle(direct, since=epochs[DETECTIONS])
            tokens = [t for t in tokens if t.topic == CORRELATION]
        self.tracker.settle(tokens, since=epochs[CORRELATION])
        now, pop = time.time(), self._observed.pop
        DURABLE_SECONDS.observe_many([now - at for at in map(pop, tokens, repeat(None))
                                      if at is not None] + [
            now - at for at in map(pop, direct, repeat(None)) if at is not None])

    async def _process(self, shard: Any, items: list[tuple[Detection, Token]]
                       ) -> list[Token]:
        now = self.clock()
        try:
            settled: list[Token] = await self.engine.process(shard, items, now)
            return settled
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            log.warning("correlate: a batch of %d failed (%s: %s); retrying one by one",
                        len(items), type(exc).__name__, exc, extra={"partition": shard[1]})
        settled = []
        for item in items:
            try:
                settled += await self.engine.process(shard, [item], now)
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
        topic, key, raw = self._raw.get(token, (token.topic, det.source_id.encode(), None))
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
        """The engine's timers, for both lanes' shards."""
        epochs = self._epochs()
        settled = await self.engine.tick(self.clock())
        settled += await self._dead_letter_rejected()
        self._settle(settled, epochs)

    async def drain(self) -> None:
        """Write every coalescing buffer now (before a clean stop: then commit `due`)."""
        epochs = self._epochs()
        settled = await self.engine.drain(self.clock())
        settled += await self._dead_letter_rejected()
        self._settle(settled, epochs)

    def revoke(self, partitions: Sequence[int], topic: str = CORRELATION) -> None:
        """Forget `topic`'s revoked partitions: their engine shards, offsets and timings."""
        self.engine.revoke([shard_id(topic, p) for p in partitions])
        self._tracker(topic).forget(partitions)
        gone = set(partitions)
        self._observed = {t: at for t, at in self._observed.items()
                          if t.partition not in gone or t.topic != topic}
