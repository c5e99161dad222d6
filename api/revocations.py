"""Revoked tokens: kept in the event store (`domain.access.TokenRevocation`), checked on every
request and every WebSocket operation.

`RevocationList` follows the log for revocations only (a topic-filtered read from the last
position it saw), at most once per `refresh_s`, so a revocation holds everywhere within that.
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
    """The revoked token ids, refreshed from the store at most every `refresh_s` seconds."""

    def __init__(self, app: IncidentApp, refresh_s: float) -> None:
        self.app = app
        self.refresh_s = refresh_s
        self.revoked: set[str] = set()
        self.position = 0
        self._checked = float("-inf")
        self._lock = asyncio.Lock()

    def is_revoked(self, jti: str) -> bool:
        return bool(jti) and jti in self.revoked

    async def refresh(self, force: bool = False) -> None:
        """Reads revocations recorded since the last read (once per `refresh_s`)."""
        if not force and time.monotonic() - self._checked < self.refresh_s:
            return
        async with self._lock:
            if not force and time.monotonic() - self._checked < self.refresh_s:
                return
            await asyncio.to_thread(self.read)
            self._checked = time.monotonic()

    def read(self) -> None:
        """Blocking: every revocation after `position`."""
        while True:
            notes = self.app.recorder.select_notifications(
                self.position + 1, 500, topics=[REVOCATION_TOPIC])
            for n in notes:
                event: Any = self.app.mapper.to_domain_event(n)
                self.revoked.add(str(event.jti))
                self.position = max(self.position, n.id)
            if len(notes) < 500:
                return
