"""Fixtures: a police feed on the real broker (real incidents, through the real relay), a
signing key, the adapter's state store on SQLite and PostgreSQL, and a waiting helper."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from adapters.signing import KeyPair, Signer, generate, load_private_key
from adapters.state import AdapterState
from adapters.state_postgres import PostgresState
from adapters.state_sqlite import SqliteState
from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.incident import incident_id_for
from domain.kinds import Agency, Kind
from domain.log import LogReader
from domain.topics import agency_topic
from kuzet.kafka import ensure_topics
from streams.relay import AiokafkaPublisher, FilePosition, Relay, RelayConfig, event_id
from tests.helpers import T0, default_rules, det

S = timedelta(seconds=1)
GARBAGE = b"this is not a CloudEvent"


@dataclass(frozen=True)
class PoliceFeed:
    topic: str
    deliverable: frozenset[str]
    """CloudEvents ids the receiver accepts (every event but the poison note)."""
    poison: str
    """The id of the NoteAdded event whose text the receiver refuses with a 400."""
    incident_ids: list[str]


def _incidents(app: IncidentApp, n: int) -> list[str]:
    ids = []
    for i in range(n):
        key = f"fight:site=s{i}"
        dets = tuple(det("fight", site=f"s{i}", seconds=j) for j in range(3))
        app.open_incident(OpenIncident(key, Kind.FIGHT, 0, incident_id_for(key, 0), dets, None,
                                       T0 + 5 * S), T0 + 5 * S)
        app.acknowledge(incident_id_for(key, 0), by="op-1", at=T0 + (10 + i) * S)
        ids.append(str(incident_id_for(key, 0)))
    return ids


async def police_feed(bootstrap: str, tmp_path: Path, incidents: int) -> PoliceFeed:
    """`incidents` fights (opened, acknowledged), one poison note and one non-CloudEvents
    record, relayed onto a fresh police topic of 3 partitions."""
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(tmp_path / "feed-events.sqlite")}, default_rules())
    try:
        ids = _incidents(app, incidents)
        note = app.add_note(incident_id_for("fight:site=s0", 0), text="poison pill", by="op-1",
                            at=T0 + 99 * S)
        suffix = f".{uuid.uuid4().hex[:8]}"
        topic = agency_topic(Agency.POLICE) + suffix
        await ensure_topics(bootstrap, [topic], 3)
        await _relay(app, bootstrap, suffix, tmp_path)
        log = LogReader(app).read(1, 10_000)
    finally:
        app.close()
    await _publish_raw(bootstrap, topic, GARBAGE)
    poison = str(event_id(next(e for e in log if e.version == note.version
                                and e.originator_id == str(note.id))))
    every = {event_id(e) for e in log if e.aggregate == "Incident"}
    return PoliceFeed(topic, frozenset(every - {poison}), poison, ids)


async def _relay(app: IncidentApp, bootstrap: str, suffix: str, tmp_path: Path) -> None:
    publisher = AiokafkaPublisher(bootstrap)
    await publisher.start()
    try:
        relay = Relay(LogReader(app), LogReader(app), publisher,
                      FilePosition(tmp_path / f"relay{suffix}.json"),
                      RelayConfig(topic_suffix=suffix))
        while await relay.step():
            pass
    finally:
        await publisher.stop()


async def _publish_raw(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"garbage")
    finally:
        await producer.stop()


@pytest.fixture(scope="session")
def key_pair() -> KeyPair:
    return generate()


@pytest.fixture
def signer(key_pair: KeyPair) -> Signer:
    return Signer(load_private_key(key_pair.private_b64))


@pytest.fixture(params=["sqlite", "postgres"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AdapterState]:
    """A fresh adapter state store: a SQLite file, or a throwaway PostgreSQL database."""
    store: AdapterState
    if request.param == "sqlite":
        store = SqliteState(tmp_path / "adapters.sqlite")
    else:
        store = await PostgresState.connect(request.getfixturevalue("postgres_url"))
    await store.setup()
    yield store
    await store.close()


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 60) -> None:
    """Poll `condition`; fail naming `what` if it does not hold within `limit_s` (a bound
    against hanging, not a speed assertion)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


async def await_until(condition: Callable[[], Awaitable[bool]], what: str,
                      limit_s: float = 60) -> None:
    """`wait_until` for async tests, with an async condition."""
    deadline = time.monotonic() + limit_s
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)
