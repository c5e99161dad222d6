"""Live fan-out: one notification-log follower per process, bounded queues per subscriber.

The event store's notification log is the source of truth (so any number of API processes
can serve subscriptions). One `LogFollower` per process polls it, turns each incident event
into an `Update` (the incident's state after the event, built once), and offers it to every
matching subscriber's bounded queue. Payloads are built at most once per event and audience
(`Update.payload`), then shared by every subscriber of that audience.

Slow-consumer policy: a subscriber whose queue is full is dropped — its queue gets a
`SlowConsumer` marker and the subscription ends with an error naming the last cursor it
delivered, so the client resumes by cursor without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from api.auth import Audience
from api.state import INCIDENT_TOPIC_PREFIX, EventRecord, IncidentState, record_of, state_of
from domain.application import IncidentApp
from domain.incident import Incident
from follow import Follower, Page

__all__ = ["LogFollower", "StateFolder", "Subscriber", "Update", "read_updates"]

log = logging.getLogger("kuzet.api.fanout")
_CACHE = 10_000


@dataclass(slots=True)
class Update:
    """One incident event at a log position, with the incident's state right after it."""

    position: int
    record: EventRecord
    state: IncidentState
    payloads: dict[Audience, Any] = field(default_factory=dict)
    frames: dict[Any, bytes | None] = field(default_factory=dict)
    """Encoded `next` frames by audience, selection and operation id (`api.schema.broadcast`):
    built by the first subscriber that needs one, written by every other as it is."""

    def payload(self, audience: Audience, build: Callable[[Update, Audience], Any]) -> Any:
        """The payload for `audience`, built on first use and shared afterwards."""
        found = self.payloads.get(audience)
        if found is None:
            found = self.payloads[audience] = build(self, audience)
        return found


class StateFolder:
    """Incident states after each event, from a small cache of aggregates (LRU)."""

    def __init__(self, app: IncidentApp) -> None:
        self.app = app
        self.cache: OrderedDict[UUID, Incident] = OrderedDict()

    def fold(self, event: Any) -> Incident:
        iid, version = event.originator_id, event.originator_version
        agg = self.cache.pop(iid, None)
        if agg is not None and agg.version == version - 1:
            agg = event.mutate(agg)
        elif version == 1:
            agg = event.mutate(None)
        else:
            agg = self.app.repository.get(iid, version=version)
        self.cache[iid] = agg
        if len(self.cache) > _CACHE:
            self.cache.popitem(last=False)
        return agg  # type: ignore[no-any-return]


def read_updates(app: IncidentApp, folder: StateFolder, start: int, limit: int,
                 stop: int | None = None) -> tuple[list[Update], int]:
    """Incident updates from log position `start` (inclusive); also the last position read."""
    notes = app.recorder.select_notifications(start, limit, stop=stop)
    out = []
    for n in notes:
        if not n.topic.startswith(INCIDENT_TOPIC_PREFIX):
            continue
        event = app.mapper.to_domain_event(n)
        out.append(Update(n.id, record_of(event), state_of(folder.fold(event))))
    return out, (notes[-1].id if notes else start - 1)


@dataclass(eq=False)
class Subscriber:
    """One live subscription: its filter, its audience and its bounded queue."""

    accepts: Callable[[Update], bool]
    queue: asyncio.Queue[Update | None]
    dropped: bool = False


class LogFollower:
    """Polls the notification log and broadcasts updates to subscribers (one per process)."""

    def __init__(self, app: IncidentApp, *, poll_interval_s: float, batch: int,
                 queue_size: int) -> None:
        self.app = app
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self.queue_size = queue_size
        self.position = 0
        self.subscribers: set[Subscriber] = set()
        self._folder = StateFolder(app)
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Lock()

    async def ensure_started(self) -> None:
        async with self._started:
            if self._task is None:
                self.position = await asyncio.to_thread(self._max_position)
                self._task = asyncio.create_task(self._run(), name="kuzet-log-follower")

    def _max_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def subscribe(self, accepts: Callable[[Update], bool]) -> Subscriber:
        """Register a subscriber; it receives every update after `self.position`."""
        sub = Subscriber(accepts, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _run(self) -> None:
        """The shared log follower (`follow.Follower`) with this object as its cursor: the
        position lives in memory, each API process follows the log for its own subscribers."""
        follower: Follower[Update] = Follower(self._read, self._output, self, batch=self.batch)
        while True:
            try:
                covered = await follower.step()
            except Exception:  # the store may be briefly unavailable: log, back off, retry
                log.exception("reading the notification log failed")
                await asyncio.sleep(1.0)
                continue
            if covered < self.batch:  # caught up
                await asyncio.sleep(self.poll_interval_s)

    def _read(self, start: int, limit: int) -> Page[Update]:
        updates, last = read_updates(self.app, self._folder, start, limit)
        return Page(updates, last)

    async def _output(self, page: Page[Update]) -> None:
        for update in page.items:  # no suspension until `save` moves the position:
            self._broadcast(update)  # subscribe() is atomic

    async def load(self) -> int:
        return self.position

    async def save(self, position: int) -> None:
        self.position = max(self.position, position)

    def _broadcast(self, update: Update) -> None:
        for sub in list(self.subscribers):
            if not sub.accepts(update):
                continue
            try:
                sub.queue.put_nowait(update)
            except asyncio.QueueFull:
                self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        sub.dropped = True
        self.subscribers.discard(sub)
        with contextlib.suppress(asyncio.QueueEmpty):
            sub.queue.get_nowait()  # make room for the end marker
        sub.queue.put_nowait(None)
