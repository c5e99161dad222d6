"""The projection runner: follows the notification log into every view; rebuild and verify.

`step()` reads one page of the log and, per view, folds the events past that view's position
over the documents they touch and commits documents and position in one transaction (a
`follow.Follower` whose position is the slowest view's, saved by the store with the output).
`rebuild(name)` folds the whole log in memory and swaps a fresh table in at the head it read to;
`verify(name)` folds the log up to the live view's position and compares content digests.

`run` writes a heartbeat to the store at least every `heartbeat_s` while it follows the log
(and `catch_up` one when it reaches the head), and marks it stopped when it stops: readers
(`api.views.ViewReader`) serve a view that is behind the log only while its runner reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from domain.log import LogEvent, NotificationSource
from follow import Follower, Page
from projections.asof import fold_log, fold_views
from projections.errors import PositionConflictError, UnknownViewError
from projections.store import ViewStore
from projections.views import Doc, View, dumps, fold

__all__ = ["ProjectionRunner", "Rebuilt", "Verified", "digest"]

ERASURES = frozenset({"PersonalDataErased"})
"""Events after which the store is scrubbed of the personal text the views just redacted."""


def digest(texts: Mapping[str, str]) -> str:
    """SHA-256 over the documents in key order: equal content, equal digest, on any store."""
    h = hashlib.sha256()
    for key in sorted(texts):
        h.update(key.encode())
        h.update(b"\0")
        h.update(texts[key].encode())
        h.update(b"\n")
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Rebuilt:
    view: str
    position: int
    rows: int
    digest: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Verified:
    view: str
    position: int
    live: str
    replayed: str

    @property
    def equal(self) -> bool:
        return self.live == self.replayed


class ProjectionRunner:
    """Feeds `views` from `source` into `store`, `batch` log positions at a time."""

    def __init__(self, source: NotificationSource, store: ViewStore, views: Sequence[View], *,
                 batch: int = 2000, heartbeat_s: float = 1.0) -> None:
        self.source = source
        self.store = store
        self.views = {v.name: v for v in views}
        self.batch = batch
        self.heartbeat_s = heartbeat_s
        self.follower: Follower[LogEvent] = Follower(self._read, self._apply, self, batch=batch)

    def _read(self, start: int, limit: int) -> Page[LogEvent]:
        events = self.source.read(start, limit)
        return Page(events, events[-1].position if events else start - 1)

    async def load(self) -> int:
        """The follower's position: the slowest view's."""
        return min([await self.store.position(name) for name in self.views] or [0])

    async def save(self, position: int) -> None:
        """Nothing: each view's position was committed with its documents (`_commit`)."""

    def view(self, name: str) -> View:
        if name not in self.views:
            raise UnknownViewError(name, list(self.views))
        return self.views[name]

    async def setup(self) -> None:
        await self.store.setup(list(self.views))

    async def step(self) -> int:
        """Apply the next page of the log to every view behind it; returns events read."""
        return await self.follower.step()

    async def _apply(self, page: Page[LogEvent]) -> None:
        events = page.items
        positions = {name: await self.store.position(name) for name in self.views}
        for name, view in self.views.items():
            mine = [e for e in events if e.position > positions[name]]
            if mine:
                try:
                    await self._commit(view, mine, positions[name])
                except PositionConflictError:  # a rebuild moved it: the next step re-reads
                    continue
        if any(e.name in ERASURES for e in events):
            await self.store.scrub()

    async def _commit(self, view: View, events: list[LogEvent], expected: int) -> None:
        keys = {k for k in (view.key(e) for e in events) if k is not None}
        stored = await self.store.get_many(view.name, keys) if keys else {}
        current = {k: json.loads(t) for k, t in stored.items()}
        changed = fold(view, current, events)
        upserts = {k: dumps(d) for k, d in changed.items() if d is not None}
        upserts = {k: t for k, t in upserts.items() if stored.get(k) != t}
        deletes = [k for k, d in changed.items() if d is None and k in stored]
        await self.store.commit(view.name, upserts, deletes, expected, events[-1].position)

    async def catch_up(self) -> int:
        """Step until every view is at the head; returns events read."""
        total = 0
        while n := await self.step():
            total += n
        await self.store.heartbeat()
        return total

    async def run(self, stop: asyncio.Event, *, idle_s: float = 0.5,
                  on_lag: Callable[[dict[str, int]], None] | None = None) -> None:
        """Follow the log until `stop` is set, handing `lag()` to `on_lag` after each step.

        (Lag is read here, between steps, because a store's one connection cannot serve a
        concurrent reader: asyncpg refuses a second operation while a batch commits.)
        """
        await self.setup()
        beat = -float("inf")
        try:
            while not stop.is_set():
                read = await self.step()
                if time.monotonic() - beat >= self.heartbeat_s:
                    await self.store.heartbeat()
                    beat = time.monotonic()
                if on_lag is not None:
                    on_lag(await self.lag())
                if not read:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), min(idle_s, self.heartbeat_s))
        finally:
            with contextlib.suppress(Exception):  # a broken store cannot take the mark
                await self.store.heartbeat(stopped=True)

    async def replay(self, name: str, upto: int | None = None) -> tuple[int, dict[str, Doc]]:
        """Fold the log from position 1 to `upto` (default: the head) in memory."""
        view = self.view(name)
        head = upto if upto is not None else await asyncio.to_thread(self.source.head)
        docs = await asyncio.to_thread(fold_log, self.source, view, head,
                                       batch=self.batch * 5)
        return head, docs

    async def rebuild(self, name: str) -> Rebuilt:
        """Replay from 0 into a fresh table and swap it in atomically."""
        began = time.perf_counter()
        head, docs = await self.replay(name)
        texts = {k: dumps(d) for k, d in docs.items()}
        await self.store.replace(name, texts, head)
        return Rebuilt(name, head, len(texts), digest(texts), time.perf_counter() - began)

    async def rebuild_all(self) -> list[Rebuilt]:
        """Rebuild every view from one read of the log (each swapped in atomically)."""
        began = time.perf_counter()
        head = await asyncio.to_thread(self.source.head)
        folded = await asyncio.to_thread(fold_views, self.source, list(self.views.values()),
                                         head, batch=self.batch * 5)
        out = []
        for name, docs in folded.items():
            texts = {k: dumps(d) for k, d in docs.items()}
            await self.store.replace(name, texts, head)
            out.append(Rebuilt(name, head, len(texts), digest(texts),
                               time.perf_counter() - began))
        return out

    async def verify(self, name: str) -> Verified:
        """Compare the live view's digest with a replay up to the live view's position."""
        position, live = await self.store.texts(self.view(name).name)
        _, docs = await self.replay(name, position)
        replayed = {k: dumps(d) for k, d in docs.items()}
        return Verified(name, position, digest(live), digest(replayed))

    async def lag(self) -> dict[str, int]:
        """Positions each view is behind the log head."""
        head = await asyncio.to_thread(self.source.head)
        return {name: head - await self.store.position(name) for name in self.views}

    async def rows(self, name: str) -> dict[str, Doc]:
        _, texts = await self.store.texts(self.view(name).name)
        return {k: json.loads(t) for k, t in texts.items()}
