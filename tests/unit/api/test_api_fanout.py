"""The log follower on a real SQLite store: slow-consumer policy and one payload per audience."""

from __future__ import annotations

import asyncio
from pathlib import Path

from api.fanout import LogFollower, _Folder, read_updates
from domain.application import IncidentApp
from tests.e2e.api.harness import RULES, open_incident


async def test_slow_subscriber_is_dropped_and_payloads_are_shared(tmp_path: Path) -> None:
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(tmp_path / "e.sqlite")}, RULES)
    follower = LogFollower(app, poll_interval_s=0.01, batch=100, queue_size=1)
    await follower.ensure_started()
    slow = follower.subscribe(lambda u: True)
    builds = []
    try:
        await asyncio.to_thread(open_incident, app, "weapon")  # 2+ events
        for _ in range(200):
            if slow.dropped:
                break
            await asyncio.sleep(0.01)
        assert slow.dropped and slow not in follower.subscribers
        assert slow.queue.get_nowait() is None  # the end marker: the subscription errors out
        first = read_updates(app, _Folder(app), 1, 100)[0][0]
        one = first.payload(("a", False), lambda u, a: builds.append(a) or object())
        two = first.payload(("a", False), lambda u, a: builds.append(a) or object())
        assert one is two and builds == [("a", False)]
    finally:
        await follower.stop()
