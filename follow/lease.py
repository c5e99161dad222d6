"""`lead`: run a follower only while this process holds its lease; a standby until then.

Any number of instances of a follower (`kuzet relay`, `kuzet projections run`) may run; the
lease makes exactly one of them active. The others wait, asking for the lease every
`poll_s`, and the first to get it after the active one died (its lease ends with its process
or its database connection) takes over from the position the dead one stored. The active one
checks its lease every `poll_s` too: a lease lost (the database connection dropped) stops its
work, and it goes back to waiting. One log line says when an instance starts waiting and one
when it takes over (at WARNING, so that the default log level shows who is active).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["Lease", "lead"]

log = logging.getLogger("kuzet.follow")


class Lease(Protocol):
    """Exclusive right to follow, named for log lines (`what`). Methods block: run in a thread."""

    what: str

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this process holds it now."""

    def alive(self) -> bool:
        """Whether the lease this process took is still held (False once it was lost)."""

    def release(self) -> None:
        """Give the lease up (idempotent)."""


async def _wait_for_lease(lease: Lease, stop: asyncio.Event, poll_s: float) -> bool:
    """Poll until the lease is ours (True) or `stop` is set (False)."""
    waiting = False
    while not stop.is_set():
        if await asyncio.to_thread(lease.try_acquire):
            return True
        if not waiting:
            log.warning("%s: another instance holds the lease; waiting as a standby",
                        lease.what)
            waiting = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
    return False


async def _watch(lease: Lease, stop: asyncio.Event, lost: asyncio.Event, poll_s: float) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
        if not stop.is_set() and not await asyncio.to_thread(lease.alive):
            log.warning("%s: lost the lease; stopping and waiting again", lease.what)
            lost.set()
            return


async def lead(lease: Lease, work: Callable[[asyncio.Event], Awaitable[None]],
               stop: asyncio.Event, *, poll_s: float = 1.0) -> None:
    """Run `work(inner_stop)` whenever this process holds `lease`, until `stop` is set.

    `inner_stop` is set by `stop` or by losing the lease; `work` returns when it is set. The
    lease is released whenever `work` ends (normally, by SIGTERM, or raising).
    """
    while await _wait_for_lease(lease, stop, poll_s):
        log.warning("%s: holding the lease; active", lease.what)
        inner = asyncio.Event()
        lost = asyncio.Event()
        watcher = asyncio.create_task(_watch(lease, inner, lost, poll_s))
        relay_stop = asyncio.create_task(_either(stop, lost, inner))
        try:
            await work(inner)
        finally:
            inner.set()
            for task in (watcher, relay_stop):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(lease.release)
        if not lost.is_set():
            return


async def _either(stop: asyncio.Event, lost: asyncio.Event, inner: asyncio.Event) -> None:
    """Set `inner` once `stop` or `lost` is set."""
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(lost.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        inner.set()
    finally:
        for w in waits:
            w.cancel()
