"""Subscription `incidentUpdates`: replay from a log cursor, then tail live, gap-free.

The subscriber registers with the process's `LogFollower` first (so live updates after the
follower's position queue up), then replays `(after, position]` from the log in shared,
bounded pages delivered in turns (`api.replay`), then drains its queue, skipping anything at
or before the last position it delivered. Live updates are written as shared, pre-encoded
frames (`LiveFrames`, `api.sockets`), all that waits in the queue in one write, while the
socket keeps up; otherwise (another server, compression, flow control, an event whose result
has errors) they are yielded to strawberry as before. Each subscription counts against its
principal's cap (`api.caps`); the caller is re-checked (expiry, revocation) before every
delivery. Every exit path — client gone, slow consumer, cap, error — unsubscribes in `finally`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import datetime

import strawberry
from strawberry.types import Info

from api.auth import Principal
from api.errors import BadCursor, SlowConsumer
from api.fanout import Update
from api.metrics import SLOW_DROPS, delivered
from api.schema.audit import state_noter
from api.schema.broadcast import LiveFrames
from api.schema.context import Context, principal_of
from api.schema.fields import described_subscription
from api.schema.types import IncidentUpdate, build_update
from api.sockets import RawSocket

__all__ = ["Subscription"]


def _accepts(who: Principal, kinds: list[str] | None,
             agency: str | None) -> Callable[[Update], bool]:
    kind_set = frozenset(kinds) if kinds else None

    def accepts(u: Update) -> bool:
        agencies = u.state.agencies
        return ((kind_set is None or u.state.kind in kind_set) and who.may_see(agencies)
                and (agency is None or agency in agencies))
    return accepts


def _waiting(first: Update | None, queue: asyncio.Queue[Update | None]) -> list[Update | None]:
    """`first` and every update already queued behind it (written together)."""
    out = [first]
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


class _Outbox:
    """Frames for one socket, written in one go when flushed or when the block ends (also by
    an error: what was taken before it is delivered before the error is)."""

    def __init__(self, socket: RawSocket | None) -> None:
        self.socket = socket
        self.frames: list[bytes] = []
        self.recorded: list[datetime] = []

    @property
    def ready(self) -> bool:
        """Frames can be written now (else updates take the normal path, which waits)."""
        return self.socket is not None and self.socket.ready

    def add(self, frame: bytes, recorded_at: datetime) -> None:
        self.frames.append(frame)
        self.recorded.append(recorded_at)

    def flush(self) -> None:
        if self.frames and self.socket is not None and self.socket.write(self.frames):
            delivered(*self.recorded)
        self.frames.clear()
        self.recorded.clear()

    def __enter__(self) -> _Outbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.flush()


def _position(after: str | None) -> int | None:
    if after is None:
        return None
    try:
        value = int(after)
    except ValueError:
        raise BadCursor(after) from None
    if value < 0:
        raise BadCursor(after)
    return value


@strawberry.type
class Subscription:
    @described_subscription("Incident events the caller may see: replayed from `after` "
                            "(a cursor), then live.")
    async def incident_updates(
        self, info: Info[Context, None], kinds: list[str] | None = None,
        agency: str | None = None, after: str | None = None,
    ) -> AsyncGenerator[IncidentUpdate, None]:
        who = principal_of(info)
        ctx, services = info.context, info.context.services
        with services.caps.subscription(who):
            follower = services.follower
            await follower.ensure_started()
            accepts = _accepts(who, kinds, agency)
            requested = _position(after)
            sub = follower.subscribe(accepts)  # from here on, live updates queue up
            audience, note = who.audience, state_noter(info)
            last = follower.position if requested is None else requested
            try:
                async for update in services.replay.replay(last + 1, follower.position,
                                                           accepts):
                    ctx.check()
                    if note is not None:
                        note(update.state)
                    yield update.payload(audience, build_update)
                    last = update.position
                frames = LiveFrames.current(audience)
                socket = None if frames is None else RawSocket.of(ctx.request.scope)
                while True:
                    waiting = _waiting(await sub.queue.get(), sub.queue)
                    with _Outbox(socket) as out:
                        for live in waiting:
                            if live is None:
                                SLOW_DROPS.inc()
                                raise SlowConsumer(str(last))
                            if live.position <= last:
                                continue
                            ctx.check()
                            if note is not None:
                                note(live.state)
                            payload = live.payload(audience, build_update)
                            frame = (await frames.frame(live, payload)
                                     if frames is not None and out.ready else None)
                            last = live.position
                            if frame is not None:
                                out.add(frame, live.record.at)
                                continue
                            out.flush()  # in order: what is waiting goes first
                            yield payload
                            delivered(live.record.at)  # resumed: the payload was sent
            finally:
                follower.unsubscribe(sub)
