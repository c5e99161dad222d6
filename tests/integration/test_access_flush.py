"""The access log's flush: an auditor's query flushes first, so what was revealed before the
query is in its answer — also while the background flusher is writing (seen in CI: a live
delivery's note taken by the background flush was missing from the auditor's answer)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from api.access import AccessFilter, AccessLog, read_access
from api.auth import Principal, Role
from domain.application import IncidentApp
from tests.helpers import default_rules

WHO = Principal(subject="patrol-5", role=Role.POLICE, agency="police", expires_at=2**40)


class _Gated(IncidentApp):
    """The real store; `save` waits at a gate (to hold one flush in the middle of its write)."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env, default_rules())
        self.entered, self.gate = threading.Event(), threading.Event()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        return super().save(*objs, **kwargs)


async def test_a_flush_returns_only_after_a_concurrent_flush_wrote(
        store_env: dict[str, str]) -> None:
    app = _Gated(store_env)
    log = AccessLog(app, flush_s=3600)
    log.note(WHO, "incident-1", ["subject"], ["plate:pseudonym"], "graphql:incidentUpdates")
    background = asyncio.create_task(log.flush())  # as the periodic flusher does
    try:
        assert await asyncio.to_thread(app.entered.wait, 10)  # it took the note, is writing
        query = asyncio.create_task(log.flush())  # as an auditor's query does, first
        await asyncio.to_thread(app.gate.set)  # the held write may finish now
        await query
        # awaiting a finished task does not yield: the background flush is done here only if
        # the query's flush waited for it (without the lock the query returned at once)
        assert background.done(), "a flush returned while the note was still being written"
        found = [e for _, e in read_access(app, AccessFilter(principal="patrol-5"))]
        assert [e["incident"] for e in found] == ["incident-1"]
    finally:
        app.gate.set()
        await asyncio.gather(background, return_exceptions=True)  # its write, before close
        await log.stop()
        app.close()
