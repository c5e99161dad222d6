"""Replays from an old cursor in bounded, shared pages, paced so they never crowd out queries.

A subscription that starts from an old cursor reads the log page by page (`page` positions at a
time) through `ReplayPages`: pages are read in one dedicated thread (so replays never occupy
the worker threads queries use), shared by every subscriber replaying the same range (a small
LRU of full pages; a page being read is awaited, not read twice), and each page's updates carry
their payloads per audience, built once. Delivery goes through a `Turnstile`: at most
`concurrent` replays deliver at a time, each for at most `lease_s` before it queues again, and
a subscriber whose socket is not drained (its send blocks) loses its turn when the lease ends;
within a turn the event loop runs other tasks every few deliveries (a send to a drained socket
never suspends, so a turn would otherwise hold the loop for its whole lease).
Memory is bounded by the cache and the pages in flight, whatever the subscribers x history.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from api.fanout import StateFolder, Update, read_updates
from domain.application import IncidentApp

__all__ = ["ReplayPages", "Turnstile"]

Page = tuple[list[Update], int]
_YIELD_EVERY = 8
"""Deliveries between two turns of the event loop within a replay's turn."""


class Turnstile:
    """At most `concurrent` holders at a time; a turn ends when released or after `lease_s`."""

    def __init__(self, concurrent: int, lease_s: float) -> None:
        self._sem = asyncio.Semaphore(concurrent)
        self.lease_s = lease_s

    async def enter(self) -> Callable[[], None]:
        """Waits for a turn; returns its (idempotent) release."""
        await self._sem.acquire()
        done = False

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                timer.cancel()
                self._sem.release()

        timer = asyncio.get_running_loop().call_later(self.lease_s, release)
        return release


class ReplayPages:
    """Shared, cached replay pages of one incident application's notification log."""

    def __init__(self, app: IncidentApp, *, page: int, concurrent: int, cached: int = 16,
                 lease_s: float = 0.01) -> None:
        self.app = app
        self.size = page
        self.cached = cached
        self.turnstile = Turnstile(concurrent, lease_s)
        self._pages: OrderedDict[int, Page] = OrderedDict()
        self._reading: dict[int, asyncio.Future[Page]] = {}
        self._folder = StateFolder(app)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="kuzet-replay")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def page(self, position: int) -> Page:
        """The page holding `position` (pages are aligned: positions `k*size+1..(k+1)*size`):
        its updates and the last position read."""
        start = (position - 1) // self.size * self.size + 1
        found = self._pages.get(start)
        if found is not None:
            self._pages.move_to_end(start)
            return found
        reading = self._reading.get(start)
        if reading is None:
            loop = asyncio.get_running_loop()
            reading = asyncio.ensure_future(loop.run_in_executor(
                self._executor, read_updates, self.app, self._folder, start, self.size,
                start + self.size - 1))
            self._reading[start] = reading
            reading.add_done_callback(lambda f: self._keep(start, f))
        return await asyncio.shield(reading)

    def _keep(self, start: int, done: asyncio.Future[Page]) -> None:
        self._reading.pop(start, None)
        if done.cancelled() or done.exception() is not None:
            return
        updates, last = done.result()
        if last == start + self.size - 1:  # a full page never changes: cache it
            self._pages[start] = (updates, last)
            if len(self._pages) > self.cached:
                self._pages.popitem(last=False)

    async def replay(self, start: int, stop: int,
                     accepts: Callable[[Update], bool]) -> AsyncIterator[Update]:
        """The accepted updates at positions `start..stop`, delivered in turns."""
        while start <= stop:
            release = await self.turnstile.enter()
            try:
                updates, last = await self.page(start)
                if last < start:
                    return
                ends, given = time.monotonic() + self.turnstile.lease_s, 0
                next_start = last + 1
                for update in updates:
                    if update.position < start:
                        continue
                    if update.position > stop:
                        return
                    if accepts(update):
                        yield update
                        given += 1
                        if given % _YIELD_EVERY == 0:  # a send to a drained socket never
                            await asyncio.sleep(0)  # suspends: let queries run between
                    if time.monotonic() > ends:  # turn over: queue again from the next one
                        next_start = update.position + 1
                        break
                start = next_start
            finally:
                release()
