"""The log follower on a real SQLite store: slow-consumer policy, one payload per audience,
and one execution per payload and selection."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from graphql import parse

from api.config import ApiConfig
from api.fanout import LogFollower, StateFolder, Update, read_updates
from api.schema import build_schema
from api.schema.broadcast import SharedEventExecutor
from api.schema.types import build_update
from domain.application import IncidentApp
from tests.e2e.api.harness import RULES, SECRET, open_incident


def _app(sqlite_path: Path) -> IncidentApp:
    return IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": str(sqlite_path)}, RULES)


async def test_slow_subscriber_is_dropped_and_payloads_are_shared(sqlite_path: Path) -> None:
    app = _app(sqlite_path)
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
        first = read_updates(app, StateFolder(app), 1, 100)[0][0]
        one = first.payload("a", lambda u, a: builds.append(a) or object())
        two = first.payload("a", lambda u, a: builds.append(a) or object())
        assert one is two and builds == ["a"]
    finally:
        await follower.stop()


def test_each_payload_is_executed_once_per_selection(sqlite_path: Path) -> None:
    app = _app(sqlite_path)
    open_incident(app, "plate_match", attributes={"plate": "C123CC02"})
    update = read_updates(app, StateFolder(app), 1, 100)[0][0]
    schema = build_schema(ApiConfig({}, RULES, SECRET))._schema
    query = """subscription($after: String, $full: Boolean!) { incidentUpdates(after: $after) {
      cursor incident { subject @include(if: $full) } } }"""

    def execute(personal: bool, **variables: Any) -> Any:
        executor = SharedEventExecutor.build(schema, parse(query), raw_variable_values=variables)
        payload = update.payload("police" if personal else "zhkkh", build_update)
        return executor.build_per_event_executor(payload).execute_operation(False)

    first = execute(False, after="1", full=True)
    assert first.errors is None and first.data == {"incidentUpdates": {
        "cursor": str(update.position), "incident": {"subject": None}}}
    assert execute(False, after="7", full=True) is first  # root arguments: same result
    assert execute(False, full=False).data == {"incidentUpdates": {
        "cursor": str(update.position), "incident": {}}}
    personal = execute(True, full=True)
    assert personal is not first
    assert personal.data["incidentUpdates"]["incident"] == {"subject": {"plate": "C123CC02"}}
    assert isinstance(update, Update) and len(update.payloads) == 2
