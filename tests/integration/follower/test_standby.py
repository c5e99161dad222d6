"""Standbys on PostgreSQL, with real processes: kill -9 the active `kuzet relay` or `kuzet
projections run` mid-stream while a second instance waits; the standby takes the lease over
and continues from the stored position. Topics equal a single run's (same messages per
incident, in order), with no gap and no CloudEvents id twice; views equal a replay of the log.
Every wait is on a real signal: the lease holder in `pg_locks`, positions in `kuzet_positions`
and `proj_tracking`, the standby's log line, a process's exit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from domain.application import IncidentApp
from domain.kinds import Agency
from domain.topics import INCIDENT_EVENTS, agency_topic
from eventstore.lease import lease_holder
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.kafka import read_topic
from kuzet.settings import Settings, load_settings
from kuzet.wiring import build_incident_app, build_log_reader
from streams.relay import AiokafkaPublisher, FilePosition, Relay, RelayConfig
from tests.integration.follower.helpers import (
    fill,
    holder_pid,
    kill9,
    logged,
    spawn,
    terminate,
    wait,
)

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.slow]

FIRST, MORE = 1200, 150
"""Incidents (five events each) written while the active instance follows (it is killed
while they are still being written), and after its death (new work for the standby)."""


@contextlib.contextmanager
def _writing(app: IncidentApp, n: int) -> Iterator[threading.Thread]:
    """Write `n` incidents in a thread while the body runs; joined on leaving."""
    writer = threading.Thread(target=fill, args=(app, n), daemon=True)
    writer.start()
    try:
        yield writer
    finally:
        writer.join(120)


def _settings(url: str, tmp: Path, bootstrap: str) -> tuple[Settings, dict[str, str]]:
    env = {"KUZET_EVENT_STORE_URL": url, "KUZET_READ_MODEL_URL": url,
           "KUZET_KAFKA_URL": bootstrap, "KUZET_DATA_DIR": str(tmp / "data"),
           "KUZET_RELAY_SOURCE": f"urn:kuzet:test-{uuid.uuid4().hex[:8]}",
           "KUZET_LEASE_POLL_S": "0.2", "KUZET_LOG_LEVEL": "info",
           "KUZET_PRIVACY_PEPPER": "standby-test-pepper-0123456789"}
    values = {k.removeprefix("KUZET_").lower(): v for k, v in env.items()}
    return load_settings(environ={}, **values), env


def _scalar(url: str, sql: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _active_then_standby(name: str, args: list[str], env: dict[str, str], url: str,
                         tmp: Path) -> tuple:
    """Start instance A, wait until it holds the lease, then B, until B waits as a standby;
    B's /readyz says so (200, `"status": "standby"`), A's does not."""
    logs = tmp / f"{name}-a.log", tmp / f"{name}-b.log"
    ports = free_port(), free_port()
    a = spawn({**env, "KUZET_HEALTH_PORT": str(ports[0])}, logs[0], *args)
    wait(lambda: holder_pid(lease_holder(url, name)) == a.pid, f"{name} A holding the lease",
         alive=(a,))
    b = spawn({**env, "KUZET_HEALTH_PORT": str(ports[1])}, logs[1], *args)
    wait(lambda: logged(logs[1], "waiting as a standby"), f"{name} B waiting", alive=(a, b))
    status, body = _readyz(ports[1])
    assert (status, body["status"]) == (200, "standby"), body
    assert _readyz(ports[0])[1]["status"] != "standby"
    return a, b


def _by_key(values: list[bytes], source: str | None) -> dict[bytes, list[str]]:
    """CloudEvents ids per incident in topic order (only this test's relay source)."""
    out: dict[bytes, list[str]] = defaultdict(list)
    for v in values:
        body = json.loads(v)
        if source is None or body.get("source") == source:
            out[body["subject"].encode()].append(body["id"])
    return dict(out)


async def _reference(settings: Settings, suffix: str) -> None:
    """One relay, never interrupted, over the same store into `<topic><suffix>`."""
    app = build_incident_app(settings)
    reader = build_log_reader(app, stored_form=True)
    publisher = AiokafkaPublisher(settings.bootstrap_servers)
    await publisher.start()
    try:
        relay = Relay(reader, reader, publisher,
                      FilePosition(settings.data_dir / "ref-position.json"),
                      RelayConfig(source=settings.relay_source, topic_suffix=suffix))
        while await relay.step():
            pass
    finally:
        await publisher.stop()
        app.close()


def test_relay_standby_takes_over_after_kill9(postgres_url: str, broker: EmbeddedBroker,
                                              tmp_path: Path) -> None:
    settings, env = _settings(postgres_url, tmp_path, broker.bootstrap_servers)
    app = build_incident_app(settings)
    a, b = _active_then_standby("relay", ["relay"], env, postgres_url, tmp_path)
    position = "SELECT position FROM kuzet_positions WHERE name = 'relay'"
    with _writing(app, FIRST) as writer:
        wait(lambda: _scalar(postgres_url, position) > 0, "A's first stored position",
             alive=(a,))
        kill9(a)
        at_kill, killed_mid_stream = _scalar(postgres_url, position), writer.is_alive()
    head = fill(app, MORE, first=FIRST)
    wait(lambda: holder_pid(lease_holder(postgres_url, "relay")) == b.pid, "B holding the lease",
         alive=(b,))
    wait(lambda: _scalar(postgres_url, position) == head, "B relaying to the head", alive=(b,))
    assert terminate(b) == 0
    assert lease_holder(postgres_url, "relay") is None
    app.close()

    suffix = f"-ref-{uuid.uuid4().hex[:6]}"
    asyncio.run(_reference(settings, suffix))
    topics = [INCIDENT_EVENTS, agency_topic(Agency.SITUATION_CENTRE), agency_topic(Agency.POLICE)]
    for topic in topics:
        live = _by_key(asyncio.run(read_topic(broker.bootstrap_servers, topic)),
                       settings.relay_source)
        ref = _by_key(asyncio.run(read_topic(broker.bootstrap_servers, topic + suffix)), None)
        assert live == ref, topic
        assert all(len(ids) == len(set(ids)) for ids in live.values()), f"duplicate in {topic}"
    full = [json.loads(v) for v in asyncio.run(read_topic(broker.bootstrap_servers,
                                                          INCIDENT_EVENTS))]
    sequences = sorted(int(e["sequence"]) for e in full if e["source"] == settings.relay_source)
    assert sequences == list(range(1, head + 1))  # every position once: no gap, no duplicate
    assert killed_mid_stream and at_kill < head  # A died while the log was growing


def _view_positions(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {str(v): int(p) for v, p in
                conn.execute("SELECT view, position FROM proj_tracking").fetchall()}


def test_projections_standby_takes_over_after_kill9(postgres_url: str, broker: EmbeddedBroker,
                                                    tmp_path: Path) -> None:
    from kuzet.commands.projections import build_runner

    settings, env = _settings(postgres_url, tmp_path, broker.bootstrap_servers)
    app = build_incident_app(settings)
    a, b = _active_then_standby("projections", ["projections", "run"], env, postgres_url,
                                tmp_path)
    with _writing(app, FIRST) as writer:
        wait(lambda: min(_view_positions(postgres_url).values() or [0]) > 0,
             "the views' first commits", alive=(a,))
        kill9(a)
        killed_mid_stream = writer.is_alive()
    head = fill(app, MORE, first=FIRST)
    app.close()
    wait(lambda: holder_pid(lease_holder(postgres_url, "projections")) == b.pid,
         "B holding the lease", alive=(b,))
    wait(lambda: set(_view_positions(postgres_url).values()) == {head},
         "every view at the head", alive=(b,))
    assert terminate(b) == 0
    assert lease_holder(postgres_url, "projections") is None

    async def verify() -> list:
        runner = await build_runner(settings)
        try:
            return [await runner.verify(name) for name in runner.views]
        finally:
            await runner.store.close()

    assert killed_mid_stream
    for v in asyncio.run(verify()):
        assert v.position == head
        assert v.equal, v.view
