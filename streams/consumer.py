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

import base64
import hashlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from domain.correlation import shard_key
from domain.detection import (
    MAX_RECORD_BYTES,
    Detection,
    parse_detection,
    revalidated_detection,
    validate_detection_dict,
)
from domain.errors import FieldError, InvalidDetection
from domain.rules import RuleSet
from domain.topics import CORRELATION, DETECTIONS_DLQ

__all__ = ["CorrelateHop", "OffsetTracker", "Record", "RouteHop", "Token", "dead_letter",
           "dlq_record"]

log = logging.getLogger("kuzet.streams")

Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]
"""`producer.send`-like: enqueue (topic, key, value); the awaited result resolves when durable."""


class Token(NamedTuple):
    """What the engine settles for one detection: where it came from."""

    partition: int
    offset: int


class OffsetTracker:
    """Per partition: offsets handed to the engine, those settled, and what may be committed.

    Offsets arrive in order per partition but settle in any order (a detection held by a
    candidate settles later than ones after it); the committable offset is the first one not
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


def dlq_record(raw: bytes | None, reason: str, errors: list[dict[str, str]],
               source: dict[str, Any]) -> bytes:
    """The DLQ value: why, every field error, where it came from, and the original bytes
    (cut at `DLQ_ORIGINAL_MAX`; its size and sha256 identify the whole record)."""
    raw = raw or b""
    return json.dumps({
        "reason": reason,
        "errors": errors,
        "source": source,
        "original": base64.b64encode(raw[:DLQ_ORIGINAL_MAX]).decode(),
        "original_size": len(raw),
        "original_sha256": hashlib.sha256(raw).hexdigest(),
    }).encode()


def dead_letter(raw: bytes | None, exc: InvalidDetection, topic: str, partition: int,
                offset: int) -> bytes:
    """The DLQ value for a record that failed validation (reason, field errors, origin, bytes)."""
    errors = [{"field": e.field, "value": e.value, "reason": e.reason} for e in exc.errors]
    return dlq_record(raw, str(exc), errors,
                      {"topic": topic, "partition": partition, "offset": offset})


def _parse(msg: Any) -> tuple[Detection | None, InvalidDetection | None]:
    """Decode (orjson, ~10x the standard library) and validate one record from the edge."""
    raw = msg.value if msg.value is not None else b""
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
        return validate_detection_dict(rec), None
    except InvalidDetection as exc:
        return None, exc


def _not_json(size: int, why: str) -> InvalidDetection:
    return InvalidDetection((FieldError("<record>", f"{size} bytes", f"not JSON: {why}"),))


def _reparse(msg: Any) -> tuple[Detection | None, InvalidDetection | None]:
    """A record the route hop validated: rebuild it without re-checking every field."""
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
class RouteHop:
    """Validate, dead-letter the invalid, re-key the rest by correlation shard."""

    rules: RuleSet

    def route(self, batches: dict[Any, Sequence[Any]]) -> tuple[list[Record], dict[Any, int]]:
        """What one `getmany` result becomes, and the offsets to commit once it is durable."""
        out: list[Record] = []
        for tp, msgs in batches.items():
            for msg in msgs:
                det, bad = _parse(msg)
                if bad is not None:
                    value = dead_letter(msg.value, bad, tp.topic, tp.partition, msg.offset)
                    out.append(Record(DETECTIONS_DLQ, msg.key, value))
                else:
                    assert det is not None
                    out.append(Record(CORRELATION, shard_key(det, self.rules).encode(),
                                      msg.value))
        return out, {tp: msgs[-1].offset + 1 for tp, msgs in batches.items() if msgs}


@dataclass
class CorrelateHop:
    """Feed the engine per partition; commit only what the engine has settled."""

    engine: Any  # streams.engine.CorrelationEngine[Token]
    send: Send
    clock: Callable[[], datetime]
    tracker: OffsetTracker

    async def handle(self, batches: dict[Any, Sequence[Any]]) -> None:
        """Feed one fetch; partitions revoked meanwhile are left to their next owner."""
        epoch = self.tracker.epoch
        for tp, msgs in batches.items():
            items = await self._take(tp, msgs, epoch)
            if items and not self.tracker.revoked_since(tp.partition, epoch):
                settled = await self.engine.process(tp.partition, items, self.clock())
                self.tracker.settle(settled, since=epoch)

    async def _take(self, tp: Any, msgs: Sequence[Any], epoch: int
                    ) -> list[tuple[Detection, Token]]:
        """Hand out and decode one partition's records (dead-lettering the undecodable)."""
        items: list[tuple[Detection, Token]] = []
        for msg in msgs:
            if self.tracker.revoked_since(tp.partition, epoch):
                return []
            self.tracker.handed_out(tp.partition, msg.offset)
            det, bad = _reparse(msg)
            if bad is not None:  # cannot happen after routing, but never stop on it
                value = dead_letter(msg.value, bad, tp.topic, tp.partition, msg.offset)
                await (await self.send(DETECTIONS_DLQ, msg.key, value))
                self.tracker.settle([Token(tp.partition, msg.offset)], since=epoch)
                continue
            assert det is not None
            items.append((det, Token(tp.partition, msg.offset)))
        return items

    async def tick(self) -> None:
        epoch = self.tracker.epoch
        self.tracker.settle(await self.engine.tick(self.clock()), since=epoch)

    def revoke(self, partitions: Sequence[int]) -> None:
        self.engine.revoke(partitions)
        self.tracker.forget(partitions)
