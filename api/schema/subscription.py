"""Subscription `incidentUpdates`: replay from a log cursor, then tail live, gap-free.

The subscriber registers with the process's `LogFollower` first (so live updates after the
follower's position queue up), then replays `(after, position]` from the log in shared,
bounded pages delivered in turns (`api.replay`), then drains its queue, skipping anything at
or before the last position it delivered. Each subscription counts against its principal's
cap (`api.caps`); the caller is re-checked (expiry, revocation) before every delivery. Every
exit path — client gone, slow consumer, cap, error — unsubscribes in `finally`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import strawberry
from strawberry.types import Info

from api.auth import Principal
from api.errors import BadCursor, SlowConsumer
from api.fanout import Update
from api.metrics import SLOW_DROPS, delivered
from api.schema.audit import state_noter
from api.schema.context import Context, principal_of
from api.schema.fields import described_subscription
from api.schema.types import IncidentUpdate, build_update

__all__ = ["Subscription"]


def _accepts(who: Principal, kinds: list[str] | None,
             agency: str | None) -> Callable[[Update], bool]:
    kind_set = frozenset(kinds) if kinds else None

    def accepts(u: Update) -> bool:
        agencies = u.state.agencies
        return ((kind_set is None or u.state.kind in kind_set) and who.may_see(agencies)
                and (agency is None or agency in agencies))
    return accepts


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
                while True:
                    live = await sub.queue.get()
                    if live is None:
                        SLOW_DROPS.inc()
                        raise SlowConsumer(str(last))
                    if live.position > last:
                        last = live.position
                        ctx.check()
                        if note is not None:
                            note(live.state)
                        yield live.payload(audience, build_update)
                        delivered(live.record.at)  # resumed: the payload was sent
            finally:
                follower.unsubscribe(sub)
