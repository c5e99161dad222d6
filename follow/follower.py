"""`Follower`: read a page of the log after the stored position, hand it on, store the position.

Every reader of the notification log does the same three things, so they share this loop:
projections (the output commits its documents and the position in one transaction, so the
cursor's `save` has nothing left to do), the relay (the position is saved only after the
broker acknowledged the page) and the API's live feed (a position in memory: every API
process follows the log for its own subscribers).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["Cursor", "Follower", "MemoryCursor", "Page"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """What a read returned: `items` (possibly filtered) and the `last` log position read."""

    items: Sequence[T]
    last: int


class Cursor(Protocol):
    """Where a follower's position lives."""

    async def load(self) -> int:
        """The last position handled (0: nothing yet)."""

    async def save(self, position: int) -> None:
        """Record that everything up to `position` was handled."""


class MemoryCursor:
    """A position in memory (a follower that starts again from the head, like the API's)."""

    def __init__(self, position: int = 0) -> None:
        self.position = position

    async def load(self) -> int:
        return self.position

    async def save(self, position: int) -> None:
        self.position = position


class Follower(Generic[T]):
    """Follows `read(start, limit)` (blocking; run in a thread) into `output`, `batch` at a time.

    The position is loaded from `cursor` before every page (a rebuild or another process may
    have moved it) and saved after `output` returned, so a crash between the two hands the
    same page on again: outputs are idempotent or, like projections, commit the position
    with what they wrote.
    """

    def __init__(self, read: Callable[[int, int], Page[T]],
                 output: Callable[[Page[T]], Awaitable[None]], cursor: Cursor, *,
                 batch: int = 1000) -> None:
        self.read = read
        self.output = output
        self.cursor = cursor
        self.batch = batch

    async def step(self) -> int:
        """Hand on the next page; returns the log positions it covered (0: at the head)."""
        start = await self.cursor.load() + 1
        page = await asyncio.to_thread(self.read, start, self.batch)
        if page.last < start:
            return 0
        await self.output(page)
        await self.cursor.save(page.last)
        return page.last - start + 1

    async def run(self, stop: asyncio.Event, *, idle_s: float = 0.5,
                  after_step: Callable[[int], Awaitable[None]] | None = None) -> None:
        """Step until `stop` is set, waiting up to `idle_s` whenever it reached the head."""
        while not stop.is_set():
            covered = await self.step()
            if after_step is not None:
                await after_step(covered)
            if not covered:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_s)
