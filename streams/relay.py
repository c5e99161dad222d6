"""The event relay (outbox): the notification log's incident events onto Kafka.

Every `Incident` event goes to `kuzet.incident-events.v1` (key: incident id) as a CloudEvents
1.0 JSON envelope, and, minimised by `domain.privacy`, to `kuzet.agency.<agency>.v1` for each
agency the incident is routed to at that version (`Opened.agencies` plus `RoutedTo` and
`Merged`). A silence's events (`Created`, `Ended`, `SilencedDetections`; key: silence id) go to
`kuzet.incident-events.v1` only: silences are the situation centre's operational state, and no
agency's feed carries them (an agency sees incidents routed to it, and a silence opens none);
so do rules activations (`RuleActivation.RulesActivated`, key: activation id). Neither has a
personal field. The correlation track's events and search records are never relayed.
The relay is a `follow.Follower`: the position is stored only after the broker
acknowledged the whole batch, with the next offset of every topic partition the relay wrote
to (`marks`). An
instance that starts (a standby taking over from one killed mid-batch) first reads back what
was written past those offsets and does not send it again, so a crash neither loses nor
duplicates a message; should that read-back be unavailable (no marks yet), a re-sent event
carries the same CloudEvents `id` (uuid5 of incident id and version), which is how consumers
drop duplicates. Where the position lives is the caller's choice (`eventstore.positions` in
deployments, `FilePosition` in tests); which instance runs is the lease's (`follow.lead`).

One event that cannot be turned into messages (any exception that is not the broker's or the
store's) never stops the relay: it goes to `kuzet.detections.dlq.v1` (stage `relay`, the event
as read, the exception type) and the position moves on; a page the log reader cannot decode is
re-read one event at a time, and a position that still fails is dead-lettered the same way.

Personal values travel only sealed: the composition root hands the relay the log in stored form
(`eventstore.sealing.SealedLogReader`), so a subject's plate or id is the stored ciphertext marker,
byte-identical on every re-send, and unreadable once its key is shredded; agencies entitled to
it open it through their adapter. Masks (situation centre) are derived from the key id.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from uuid import NAMESPACE_URL, uuid5

from domain.kinds import Agency
from domain.log import LogEvent, NotificationSource
from domain.privacy import DEFAULT_POLICIES, Action, Tag, minimise
from domain.topics import APPEAL_STATUS, DETECTIONS_DLQ, INCIDENT_EVENTS, agency_topic
from follow import Follower, Page
from streams.appeal_feed import AppealFeed
from streams.consumer import failure_letter
from streams.errors import is_infrastructure

__all__ = ["FULL_STREAM_ONLY", "SILENCE_EVENTS", "AiokafkaPublisher", "FilePosition", "Message",
           "Publisher", "Relay", "RelayConfig", "RelayError", "RelayPosition", "cloud_event",
           "event_id", "event_type", "keyed_partition"]

EVENT_NAMESPACE = uuid5(NAMESPACE_URL, "https://kuzet.dev/ns/incident-event")
INCIDENT = "Incident"
SILENCE = "Silence"
SILENCE_EVENTS = ("Created", "Ended", "SilencedDetections")
"""The Silence events the relay publishes, on the full stream only (`SilenceBook`'s events
are its index of silences, not facts of their own)."""
RULE_ACTIVATION = "RuleActivation"
FULL_STREAM_ONLY: Mapping[str, tuple[str, ...]] = {
    SILENCE: SILENCE_EVENTS, RULE_ACTIVATION: ("RulesActivated",)}
"""Aggregate → its events relayed to the full stream alone: the situation centre's
operational facts (silences, which rules version is active), no agency's."""


class RelayError(Exception):
    """Raised when the relay's position file is unreadable or the broker refuses a batch."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes
    value: bytes


class Publisher(Protocol):
    async def publish(self, messages: Sequence[Message]) -> Mapping[str, int] | None:
        """Send every message and return once the broker acknowledged all of them; returns
        the next offset per `topic:partition` written to, where the publisher knows it."""


class RelayPosition(Protocol):
    """Where the relay keeps its position and marks (blocking calls: run in a thread)."""

    def load(self) -> int: ...

    def marks(self) -> dict[str, int]: ...

    def save(self, position: int, marks: Mapping[str, int] | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class _Unreadable:
    """A log position the reader could not decode, even alone."""

    position: int
    error: BaseException


class HistorySource(Protocol):
    def events_of(self, originator_id: str, up_to_version: int) -> list[LogEvent]: ...


@dataclass(frozen=True)
class RelayConfig:
    source: str = "urn:kuzet:incidents"
    """The CloudEvents `source` of every event (a deployment sets its own URI)."""
    batch: int = 1000
    policies: Mapping[str, Mapping[Tag, Action]] = field(default_factory=lambda: DEFAULT_POLICIES)
    topic_suffix: str = ""
    """Appended to every topic name (tests sharing one broker; empty in deployments)."""


def event_id(event: LogEvent) -> str:
    """Stable per stored event: the same on every re-send and every topic."""
    return str(uuid5(EVENT_NAMESPACE, f"{event.originator_id}:{event.version}"))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.cache  # a handful of names, asked for once per relayed message
def event_type(name: str, aggregate: str = INCIDENT) -> str:
    """`AutoResolved` → `kuzet.incident.auto_resolved.v1`; (`Ended`, `Silence`) →
    `kuzet.silence.ended.v1`."""
    return f"kuzet.{_snake(aggregate)}.{_snake(name)}.v1"


def cloud_event(event: LogEvent, source: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudEvents 1.0 envelope; `sequence` (extension, a decimal string) = log position."""
    return {
        "specversion": "1.0", "id": event_id(event),
        "type": event_type(event.name, event.aggregate), "source": source,
        "subject": event.originator_id, "time": event.timestamp,
        "sequence": str(event.position), "datacontenttype": "application/json",
        "kuzetversion": event.version, "data": dict(data),
    }


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _encode(envelope: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(envelope).encode()


class FilePosition:
    """The last relayed position (and marks) in a small file, replaced atomically. For tests
    and embedding; deployments keep it in the event store (`eventstore.positions`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            found = json.loads(self.path.read_text())
            int(found["position"])
            return dict(found)
        except FileNotFoundError:
            return {"position": 0}
        except (ValueError, KeyError, TypeError) as exc:
            raise RelayError(f"relay position file {str(self.path)!r} is unreadable: {exc}"
                             ) from None

    def load(self) -> int:
        return int(self._read()["position"])

    def marks(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in dict(self._read().get("marks", {})).items()}

    def save(self, position: int, marks: Mapping[str, int] | None = None) -> None:
        kept = dict(marks) if marks is not None else self.marks() if self.path.exists() else {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"position": position, "marks": kept}))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


class Relay:
    """Follows `source` from the stored position and publishes through `publisher`."""

    def __init__(self, source: NotificationSource, history: HistorySource, publisher: Publisher,
                 position: RelayPosition, config: RelayConfig | None = None) -> None:
        self.source = source
        self.history = history
        self.publisher = publisher
        self.position = position
        self.config = config or RelayConfig()
        self._agencies: dict[str, tuple[int, list[str]]] = {}
        self._careful_until = 0
        """After a page failed to decode: read one event at a time up to this position."""
        self.appeal_feed = AppealFeed(self.history.events_of,
                                      APPEAL_STATUS + self.config.topic_suffix)
        self._marks: dict[str, int] = {}
        self._sent: set[tuple[str, bytes, str]] = set()
        """(topic, key, event id) read back at start: written by a predecessor, not re-sent."""
        self._sent_until = 0
        self.follower: Follower[LogEvent | _Unreadable] = Follower(
            self._read, self._publish, self, batch=self.config.batch)

    def topics(self) -> list[str]:
        """Every topic the relay writes CloudEvents to (dead letters aside)."""
        names = [INCIDENT_EVENTS, APPEAL_STATUS, *(agency_topic(a) for a in Agency)]
        return [n + self.config.topic_suffix for n in names]

    def _routed(self, event: LogEvent) -> tuple[list[str], list[str]]:
        """The agencies the incident was routed to before `event`, and as of it (inclusive)."""
        known = self._agencies.get(event.originator_id)
        if known is None or known[0] != event.version - 1:
            earlier = (self.history.events_of(event.originator_id, event.version - 1)
                       if event.version > 1 else [])
            known = (event.version - 1, _agencies_in(earlier))
        agencies = _agencies_in([event], known[1])
        if event.name == "Closed":  # bound the cache; a later note re-reads the history
            self._agencies.pop(event.originator_id, None)
        else:
            self._agencies[event.originator_id] = (event.version, agencies)
        return known[1], agencies

    def messages(self, event: LogEvent) -> list[Message]:
        """The messages one incident event becomes: the full stream plus each agency's (an
        event of `FULL_STREAM_ONLY`: the full stream alone).

        An agency the incident is routed to late (`RoutedTo` after `Opened`) first gets the
        incident's earlier events, so its feed always starts at `Opened`; they carry their own
        CloudEvents ids, so a consumer that somehow saw them already drops them.
        """
        key = event.originator_id.encode()
        full = cloud_event(event, self.config.source, event.data)
        suffix = self.config.topic_suffix
        out = [Message(INCIDENT_EVENTS + suffix, key, _encode(full))]
        if event.aggregate != INCIDENT:  # FULL_STREAM_ONLY: the situation centre's alone
            return out
        before, agencies = self._routed(event)
        late = [a for a in agencies if a not in before] if event.version > 1 else []
        history = self.history.events_of(event.originator_id, event.version - 1) if late else []
        for agency in agencies:
            topic = agency_topic(Agency(agency)) + suffix
            for earlier in history if agency in late else []:
                out.append(Message(topic, key, self._minimised(earlier, agency)))
            out.append(Message(topic, key, self._minimised(event, agency, full)))
        out += [Message(topic, appeal, value) for topic, appeal, value
                in self.appeal_feed.messages(event, full["id"], full["time"])]
        return out

    def _minimised(self, event: LogEvent, agency: str,
                   full: Mapping[str, Any] | None = None) -> bytes:
        """`event` as `agency` may see it: the same envelope, less data."""
        envelope = full if full is not None else cloud_event(event, self.config.source,
                                                             event.data)
        data = minimise(event.name, event.data, agency, self.config.policies)
        return _encode({**envelope, "data": data})

    async def load(self) -> int:
        """The stored position (the follower's cursor)."""
        return await asyncio.to_thread(self.position.load)

    async def save(self, position: int) -> None:
        await asyncio.to_thread(self.position.save, position, self._marks)

    def _read(self, start: int, limit: int) -> Page[LogEvent | _Unreadable]:
        """A page from `start`; one event at a time after a page failed to decode, and an
        `_Unreadable` for a position that fails alone."""
        limit = 1 if start <= self._careful_until else limit
        try:
            events: list[LogEvent | _Unreadable] = list(self.source.read(start, limit))
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            if limit > 1:  # find the event at fault: one at a time through this page
                self._careful_until = start + limit - 1
                return self._read(start, 1)
            return Page([_Unreadable(start, exc)], start)
        return Page(events, events[-1].position if events else start - 1)

    async def _publish(self, page: Page[LogEvent | _Unreadable]) -> None:
        batch = []
        for e in page.items:
            if isinstance(e, _Unreadable):
                batch.append(self._dead_letter(e.position, e.error))
            elif e.aggregate == INCIDENT or e.name in FULL_STREAM_ONLY.get(e.aggregate, ()):
                batch += self._messages_or_dead_letter(e)
        if self._sent:
            batch = [m for m in batch if _identity(m) not in self._sent]
            if page.last >= self._sent_until:
                self._sent.clear()
        acked = await self.publisher.publish(batch)
        self._marks.update(acked or {})

    async def step(self) -> int:
        """Relay the next page of the log; returns log positions consumed."""
        return await self.follower.step()

    async def recover(self) -> int:
        """Before following: load the marks and read back what was written past them (by a
        predecessor that died before storing its position), so it is not sent again; returns
        the messages found. Without marks (a first start) there is nothing to compare with."""
        self._marks = await asyncio.to_thread(self.position.marks)
        read_back = getattr(self.publisher, "read_back", None)
        self._sent.clear()
        if read_back is None or not self._marks:
            return 0
        found, ends = await read_back(self.topics(), self._marks)
        position = await self.load()
        for topic, key, value in found:
            if (ident := _identity(Message(topic, key, value))) is not None:
                self._sent.add(ident)
        self._sent_until = position + self.config.batch
        self._marks.update(ends)
        return len(found)

    def _messages_or_dead_letter(self, event: LogEvent) -> list[Message]:
        try:
            return self.messages(event)
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            return [self._dead_letter(event.position, exc, event)]

    def _dead_letter(self, position: int, exc: BaseException,
                     event: LogEvent | None = None) -> Message:
        """A DLQ message for the event at `position` (as read, where it could be read)."""
        raw = b""
        if event is not None:
            raw = json.dumps({"position": event.position, "aggregate": event.aggregate,
                              "name": event.name, "originator_id": event.originator_id,
                              "version": event.version, "timestamp": event.timestamp,
                              "data": event.data}, default=repr).encode()
        source = {"log_position": position}
        key = event.originator_id.encode() if event is not None else None
        return Message(DETECTIONS_DLQ + self.config.topic_suffix, key or b"",
                       failure_letter(raw, exc, source, stage="relay"))

    async def run(self, stop: asyncio.Event, *, idle_s: float = 0.5) -> None:
        await self.recover()
        await self.follower.run(stop, idle_s=idle_s)

    async def lag(self) -> int:
        return await asyncio.to_thread(self.source.head) - await self.load()


def _identity(message: Message) -> tuple[str, bytes, str] | None:
    """What makes a relayed message unique: its topic, key and event id."""
    try:
        body = json.loads(message.value)
        return message.topic, message.key, str(body.get("id") or body["event_id"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _agencies_in(events: Iterable[LogEvent], start: Iterable[str] = ()) -> list[str]:
    found = list(start)
    for e in events:
        if e.name in {"Opened", "RoutedTo", "Merged"}:  # a merge target takes the routing
            found.extend(a for a in e.data["agencies"] if a not in found)
    return found


@functools.lru_cache(maxsize=4096)
def _key_hash(key: bytes) -> int:
    from aiokafka.partitioner import murmur2

    return int(murmur2(key)) & 0x7FFFFFFF


def keyed_partition(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's `DefaultPartitioner`, hashing each key once rather than once per message.

    An event goes to several topics under one key, and an incident's events come close
    together; aiokafka's murmur2 is pure Python and was a fifth of the relay's publish time.
    """
    if key is None:
        from aiokafka.partitioner import DefaultPartitioner

        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_key_hash(key) % len(all_partitions)]


class AiokafkaPublisher:
    """`Publisher` over an aiokafka producer (acks=all; idempotent where the broker allows:
    `streams.producer`)."""

    def __init__(self, bootstrap_servers: str,
                 client_options: Mapping[str, Any] | None = None) -> None:
        self._bootstrap = bootstrap_servers
        self._options = dict(client_options or {})
        self._producer: Any = None

    async def start(self) -> None:
        from streams.producer import start_producer

        self._producer = await start_producer(self._bootstrap, linger_ms=5,
                                              max_batch_size=1 << 20,
                                              partitioner=keyed_partition, **self._options)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def publish(self, messages: Sequence[Message]) -> dict[str, int]:
        from aiokafka.errors import KafkaError

        try:  # `send` only queues; one after another keeps each incident's events in order
            sent = [await self._producer.send(m.topic, m.value, key=m.key) for m in messages]
            acked = await asyncio.gather(*sent)
        except KafkaError as exc:
            raise RelayError(f"the broker refused a batch: {exc!r}") from None
        ends: dict[str, int] = {}
        for meta in acked:
            mark = f"{meta.topic}:{meta.partition}"
            ends[mark] = max(ends.get(mark, 0), int(meta.offset) + 1)
        return ends

    async def read_back(self, topics: Sequence[str], since: Mapping[str, int]
                        ) -> tuple[list[tuple[str, bytes, bytes]], dict[str, int]]:
        """(topic, key, value) of every record at or past `since` (`topic:partition` → offset;
        a partition not named: from its start) in `topics`, and each partition's end."""
        from streams.readback import read_past

        return await read_past(self._bootstrap, self._options, topics, since)
