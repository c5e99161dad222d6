"""`AdapterState` on PostgreSQL through an asyncpg pool (partitions commit concurrently).

By default the adapter keeps its state in the event store's database when that is PostgreSQL:
receipts are evidence for auditors and belong with the events, not on one host's disk.

Commits run with `synchronous_commit` off (per transaction), like SQLite's `synchronous=NORMAL`:
a server crash may lose the last few commits, whose events are then delivered again (dropped by
the receiver by `Idempotency-Key`) and receipted again, so nothing is lost. It took the
adapter from ~250 to ~375 events/s here (`python -m bench.adapter_webhook`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from adapters.errors import AdapterBusy, ClaimLost, StateStoreError
from adapters.state import DDL, SQL, Outcome, Parked, Receipt, numbered

__all__ = ["PostgresState"]

SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"
"""The same lock as `eventstore.store_postgres.SCHEMA_LOCK` (`kuzet db migrate`)."""
_PG = {name: numbered(sql.replace("{greatest}", "GREATEST")) for name, sql in SQL.items()}


class PostgresState:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._claims: dict[str, Any] = {}

    @classmethod
    async def connect(cls, url: str, *, timeout_s: float = 5.0) -> PostgresState:
        """A pool whose first connection opens within `timeout_s`, or `StateStoreError`."""
        import asyncpg

        try:
            return cls(await asyncpg.create_pool(url, min_size=1, max_size=4, timeout=timeout_s))
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            where = url.rsplit("@", maxsplit=1)[-1]  # never print credentials
            raise StateStoreError(f"adapter state store at {where}: {exc}") from None

    async def claim(self, adapter: str) -> None:
        """A session advisory lock on a connection kept out of the pool until `close`."""
        conn = await self._pool.acquire()
        got = await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))",
                                  f"kuzet_adapter:{adapter}")
        if not got:
            await self._pool.release(conn)
            raise AdapterBusy(adapter)
        self._claims[adapter] = conn

    async def check_claim(self, adapter: str) -> None:
        """The advisory lock lives as long as its session: ask that session whether it still
        holds it (a dropped connection or a terminated backend means it does not)."""
        import asyncpg

        conn = self._claims.get(adapter)
        if conn is None:
            raise ClaimLost(adapter)
        try:
            held = await conn.fetchval(  # the session holds this one lock only
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid()")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                asyncpg.InternalClientError):  # a session ended mid-use reports either
            held = 0
        if not held:
            raise ClaimLost(adapter)

    async def setup(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(SCHEMA_LOCK)  # the lock every Kuzet store's DDL takes
            for statement in DDL("BIGINT", "BYTEA"):
                await conn.execute(statement)

    async def checkpoints(self, adapter: str, topic: str) -> dict[int, int]:
        rows = await self._pool.fetch(_PG["checkpoints"], adapter, topic)
        return {int(r[0]): int(r[1]) for r in rows}

    async def delivered(self, adapter: str, event_id: str) -> bool:
        return await self._pool.fetchval(_PG["delivered"], adapter, event_id) is not None

    async def commit(self, outcome: Outcome) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit TO OFF")  # see the module doc
            if outcome.receipt is not None:
                r = outcome.receipt
                await conn.execute(_PG["receipt"], *dataclasses.astuple(r))
                await conn.execute(_PG["unpark"], r.adapter, r.event_id)
            if outcome.parked is not None:
                await _park(conn, outcome.parked)
            if outcome.checkpoint is not None:
                await conn.execute(_PG["advance"], *dataclasses.astuple(outcome.checkpoint))

    async def receipts(self, adapter: str, start: str, end: str) -> list[Receipt]:
        rows = await self._pool.fetch(_PG["receipts"], adapter, start, end)
        return [Receipt(*row) for row in rows]

    async def parked(self, adapter: str, *, dropped: bool = False) -> list[Parked]:
        rows = await self._pool.fetch(_PG["parked"], adapter, dropped)
        return [Parked(*row) for row in rows]

    async def drop(self, adapter: str, event_id: str, at: str) -> bool:
        status = await self._pool.execute(_PG["drop"], at, adapter, event_id)
        return bool(status == "UPDATE 1")

    async def close(self) -> None:
        for conn in self._claims.values():  # ending the session releases its advisory lock
            await self._pool.release(conn)
        self._claims.clear()
        await self._pool.close()


async def _park(conn: Any, parked: Parked) -> None:
    """Park unless a receipt exists. The parked row is locked first: a concurrent delivery
    deletes that row, so its commit and this check serialise (read committed) and a retry
    that lost the race never re-parks a delivered event."""
    await conn.execute(_PG["lock_parked"] + " FOR UPDATE", parked.adapter, parked.event_id)
    if await conn.fetchval(_PG["delivered"], parked.adapter, parked.event_id) is None:
        await conn.execute(_PG["park"], *dataclasses.astuple(parked))
