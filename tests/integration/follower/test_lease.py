"""Leases on the real stores: one holder at a time, the holder named, and a lease that ends
with its holder (a closed file on SQLite, a terminated connection on PostgreSQL); `lead`
runs the work only while the lease is held and releases it when stopped."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import psycopg
import pytest

from eventstore.lease import FileLease, PostgresLease, lease_holder
from follow import lead


def test_file_lease_has_one_holder(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    a, b = FileLease(db, "relay"), FileLease(db, "relay")
    assert lease_holder(str(db), "relay") is None
    assert a.try_acquire() and a.alive()
    assert not b.try_acquire()
    assert f"pid={os.getpid()}" in (lease_holder(str(db), "relay") or "")
    a.release()
    assert b.try_acquire()
    assert FileLease(db, "projections").try_acquire()  # another follower's lease is its own
    b.release()


@pytest.mark.postgres
def test_postgres_lease_ends_with_its_connection(postgres_url: str) -> None:
    a = PostgresLease(postgres_url, "relay")
    b = PostgresLease(postgres_url, "relay")
    assert a.try_acquire() and a.alive()
    assert not b.try_acquire()
    assert f"pid={os.getpid()}" in (lease_holder(postgres_url, "relay") or "")
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # the holder's link dies
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name LIKE 'kuzet-lease relay%'")
    assert not a.alive()
    deadline = time.monotonic() + 10  # the server frees the lock once that backend has exited
    while not b.try_acquire():
        assert time.monotonic() < deadline, "the lock outlived its connection"
        time.sleep(0.02)
    b.release()
    assert lease_holder(postgres_url, "relay") is None


class _Refusals(FileLease):
    """The real file lease, telling when it was refused (the standby is waiting); `lead` asks
    from a worker thread, hence a thread's event."""

    def __init__(self, database: Path, name: str) -> None:
        super().__init__(database, name)
        self.refused = threading.Event()

    def try_acquire(self) -> bool:
        got = super().try_acquire()
        if not got:
            self.refused.set()
        return got


async def test_lead_runs_the_standby_once_the_active_stops(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    ran: list[str] = []
    active = asyncio.Event()

    def work(name: str):  # type: ignore[no-untyped-def]
        async def run(stop: asyncio.Event) -> None:
            ran.append(name)
            active.set()
            await stop.wait()
        return run

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(lead(FileLease(db, "x"), work("a"), stop_a, poll_s=0.02))
    await active.wait()
    active.clear()
    standby = _Refusals(db, "x")
    b = asyncio.create_task(lead(standby, work("b"), stop_b, poll_s=0.02))
    assert await asyncio.to_thread(standby.refused.wait, 10)  # b asked, was refused: it waits
    assert ran == ["a"]
    stop_a.set()
    await a
    await asyncio.wait_for(active.wait(), 10)
    assert ran == ["a", "b"]
    stop_b.set()
    await b
    assert lease_holder(str(db), "x") is None
