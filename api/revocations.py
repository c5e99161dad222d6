"""Revoked tokens: kept in the event store (`domain.access.TokenRevocation`), checked on every
request and every WebSocket operation.

`RevocationList` follows the log for revocations only (a topic-filtered read from the last
position it saw) with the shared `follow.Follower` (position in memory, no lease: every API
process keeps its own list, like the live feed), at most once per `refresh_s`, so a
revocation holds everywhere within that.
`revoke(...)` records one (revoking twice is one fact).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.access import REVOCATION_TOPIC, TokenRevocation
from domain.application import IncidentApp
from follow import Follower, Page

__all__ = ["RevocationList", "revoke"]


def revoke(app: IncidentApp, *, jti: str, by: str, reason: str, expires_at: int,
           at: datetime) -> bool:
    """Records the revocation of token `jti`; False if it was revoked already."""
    try:
        app.save(TokenRevocation.revoke(jti=jti, by=by, reason=reason, expires_at=expires_at,
                                        at=at))
    except IntegrityError:
        return False
    return True


class RevocationList:
    """The revoked token ids, refreshed from the store at most every `refresh_s` seconds.

    It is its own `follow.Cursor`: the position lives in memory and starts at 0 (each
    process reads every revocation once, then only new ones).
    """

    def __init__(self, app: IncidentApp, refresh_s: float, *, batch: int = 500) -> None:
        self.app = app
        self.refresh_s = refresh_s
        self.revoked: set[str] = set()
        self.position = 0
        self._checked = float("-inf")
        self._lock = asyncio.Lock()
        self._more = False
        self._follower: Follower[str] = Follower(self._read, self._output, self, batch=batch)

    def is_revoked(self, jti: str) -> bool:
        return bool(jti) and jti in self.revoked

    async def refresh(self, force: bool = False) -> None:
        """Reads revocations recorded since the last read (once per `refresh_s`)."""
        if not force and time.monotonic() - self._checked < self.refresh_s:
            return
        async with self._lock:
            if not force and time.monotonic() - self._checked < self.refresh_s:
                return
            while await self._follower.step() and self._more:
                pass  # a full page: there may be more after it
            self._checked = time.monotonic()

    def _read(self, start: int, limit: int) -> Page[str]:
        """Blocking: the token ids revoked from log position `start` on (`limit` at most)."""
        notes = self.app.recorder.select_notifications(start, limit, topics=[REVOCATION_TOPIC])
        self._more = len(notes) >= limit
        jtis = []
        for n in notes:
            event: Any = self.app.mapper.to_domain_event(n)
            jtis.append(str(event.jti))
        return Page(jtis, notes[-1].id if notes else start - 1)

    async def _output(self, page: Page[str]) -> None:
        self.revoked.update(page.items)

    async def load(self) -> int:
        return self.position

    async def save(self, position: int) -> None:
        self.position = max(self.position, position)
