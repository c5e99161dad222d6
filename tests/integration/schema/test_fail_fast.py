"""Fail fast and say why (issue 10, item 6): a misconfigured or unreachable PostgreSQL or
Kafka fails within KUZET_CONNECT_TIMEOUT_S with one line naming host and cause.

Against the real server: a port nothing listens on (refused), a role and a database that do
not exist. Bounds are generous (10 s against a 5 s default); the figures that matter are the
messages. Each path a process connects through is covered: the `kuzet` CLI's preflight, the
event store's factory (psycopg pool), the read-model store (asyncpg) and Kafka's bootstrap.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from eventstore.store_postgres import ChainedPostgresFactory, StoreUnreachable
from kuzet.broker import free_port
from kuzet.connect import DatabaseUnreachable, check_postgres
from kuzet.kafka import KafkaUnreachable, ensure_topics
from kuzet.settings import postgres_env
from projections.errors import StoreUnavailableError
from projections.postgres_store import PostgresStore
from tests.conftest import PG_ADMIN_URL

BOUND_S = 10.0
PEPPER = "fail-fast-pepper-0123456789"


def _server() -> tuple[str, int]:
    parts = urlsplit(PG_ADMIN_URL)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def _cases() -> list[tuple[str, str, str]]:
    """(case, url, expected cause) against the test server."""
    host, port = _server()
    dead = free_port()
    return [
        ("refused", f"postgresql://postgres@{host}:{dead}/test", "connection refused"),
        ("no role", f"postgresql://kuzet_no_such_role@{host}:{port}/test",
         'no such role "kuzet_no_such_role"'),
        ("no database", f"postgresql://postgres@{host}:{port}/kuzet_no_such_db",
         'no such database "kuzet_no_such_db"'),
    ]


CASES = _cases()
IDS = [c[0] for c in CASES]


@pytest.mark.postgres
@pytest.mark.parametrize(("case", "url", "cause"), CASES, ids=IDS)
def test_the_cli_fails_in_one_line_naming_host_and_cause(case: str, url: str, cause: str,
                                                         tmp_path: Path) -> None:
    env = {**os.environ, "KUZET_EVENT_STORE_URL": url, "KUZET_PRIVACY_PEPPER": PEPPER,
           "KUZET_DATA_DIR": str(tmp_path)}
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "kuzet", "incidents", "--json"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - began
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    host = urlsplit(url)
    assert f"{host.hostname}:{host.port}" in lines[0] and cause in lines[0], lines
    assert "Traceback" not in done.stderr
    assert elapsed < BOUND_S, elapsed


@pytest.mark.postgres
@pytest.mark.parametrize(("case", "url", "cause"), CASES, ids=IDS)
def test_each_driver_fails_fast_and_says_why(case: str, url: str, cause: str) -> None:
    began = time.monotonic()
    with pytest.raises(DatabaseUnreachable, match=cause):
        check_postgres(url, 5.0)
    with pytest.raises(StoreUnreachable) as store:  # eventsourcing's psycopg pool
        ChainedPostgresFactory({**postgres_env(url), "PRIVACY_PEPPER": PEPPER})
    assert urlsplit(url).path.strip("/") in str(store.value) and cause in str(store.value)
    with pytest.raises(StoreUnavailableError) as views:  # asyncpg, the read models
        asyncio.run(PostgresStore.connect(url, timeout_s=5.0))
    assert "read-model store at" in str(views.value)
    assert time.monotonic() - began < 3 * BOUND_S


@pytest.mark.broker
def test_kafka_refused_fails_fast_naming_the_server() -> None:
    port = free_port()
    began = time.monotonic()
    with pytest.raises(KafkaUnreachable, match=f"127.0.0.1:{port}: connection refused"):
        asyncio.run(ensure_topics(f"127.0.0.1:{port}", ["kuzet.never"], 1, timeout_s=5.0))
    assert time.monotonic() - began < BOUND_S


def test_a_data_dir_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUZET_")}
    env["KUZET_DATA_DIR"] = str(blocker / "data")
    done = subprocess.run([sys.executable, "-m", "kuzet", "incidents", "--json"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "KUZET_DATA_DIR" in done.stderr, done.stderr


@pytest.mark.postgres
def test_a_database_gone_mid_run_is_named_with_its_cause() -> None:
    """The pool's own "couldn't get a connection after N sec" once the server stops serving
    the database (dropped here, with its sessions) names host and cause as well."""
    import uuid

    from tests.conftest import _pg_connect

    name = f"kuzet_gone_{uuid.uuid4().hex[:8]}"
    with _pg_connect(PG_ADMIN_URL) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    factory = ChainedPostgresFactory({**postgres_env(url, 1.0), "PRIVACY_PEPPER": PEPPER})
    recorder = factory.application_recorder()
    recorder.create_table()
    assert not recorder.max_notification_id()
    with _pg_connect(PG_ADMIN_URL) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    began = time.monotonic()
    with pytest.raises(StoreUnreachable, match=f'{name}: no such database "{name}"'):
        recorder.max_notification_id()
    assert time.monotonic() - began < 3 * BOUND_S
    factory.close()
