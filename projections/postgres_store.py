"""`ViewStore` on PostgreSQL through asyncpg; rebuilds load the fresh table with COPY.

Lock order is the same for every writer: the view's `proj_tracking` row first, then its table,
so a live batch and a rebuild serialise instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from projections.errors import PositionConflictError, StoreUnavailableError
from projections.store import (
    RUNNER,
    SCHEMA_LOCK,
    Freshness,
    schema_statements,
    table_for,
)

__all__ = ["PostgresStore"]

_NOW_US = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"


class PostgresStore:
    """Documents as `(key TEXT PRIMARY KEY, doc TEXT)` tables, positions in `proj_tracking`.

    Documents are stored as canonical JSON text (not jsonb) so that the digest of what is
    stored is byte-for-byte the digest of what was computed.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._views: set[str] = set()

    @classmethod
    async def connect(cls, url: str, *, timeout_s: float = 5.0) -> PostgresStore:
        """One connection within `timeout_s`, or `StoreUnavailableError` naming the host."""
        import asyncpg

        try:
            return cls(await asyncpg.connect(url, timeout=timeout_s))
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            where = url.rsplit("@", maxsplit=1)[-1]  # never print credentials
            raise StoreUnavailableError(f"read-model store at {where}: {exc}") from None

    async def setup(self, views: Collection[str]) -> None:
        self._views.update(views)
        async with self._conn.transaction():
            await self._conn.execute(SCHEMA_LOCK)  # processes started together wait here
            for statement in schema_statements(views, big="BIGINT"):
                await self._conn.execute(statement)

    async def heartbeat(self, *, stopped: bool = False) -> None:
        await self._conn.execute(
            f"INSERT INTO proj_heartbeat VALUES ($1, {_NOW_US}, $2) ON CONFLICT (runner) "  # noqa: S608 (constant)
            "DO UPDATE SET beat_at_us = excluded.beat_at_us, stopped = excluded.stopped",
            RUNNER, int(stopped))

    async def freshness(self, view: str) -> Freshness:
        row = await self._conn.fetchrow(
            f"SELECT to_regclass($1) IS NOT NULL AS exists, (SELECT position FROM "  # noqa: S608 (constant)
            "proj_tracking WHERE view = $2) AS position, (SELECT "
            f"{_NOW_US} - beat_at_us FROM proj_heartbeat WHERE runner = $3) AS age_us, "
            "(SELECT stopped FROM proj_heartbeat WHERE runner = $3) AS stopped",
            table_for(view), view, RUNNER)
        position = int(row["position"]) if row["exists"] and row["position"] is not None \
            else None
        age = None if row["age_us"] is None else max(0.0, row["age_us"] / 1e6)
        return Freshness(position, age, stopped=bool(row["stopped"]))

    async def position(self, view: str) -> int:
        found = await self._conn.fetchval(
            "SELECT position FROM proj_tracking WHERE view = $1", view)
        return int(found or 0)

    async def get_many(self, view: str, keys: Collection[str]) -> dict[str, str]:
        rows = await self._conn.fetch(
            f"SELECT key, doc FROM {table_for(view)} WHERE key = ANY($1::text[])",  # noqa: S608
            list(keys))
        return {r["key"]: r["doc"] for r in rows}

    async def commit(self, view: str, upserts: Mapping[str, str], deletes: Collection[str],
                     expected: int, position: int) -> None:
        table = table_for(view)
        async with self._conn.transaction():
            status = await self._conn.execute(
                "UPDATE proj_tracking SET position = $1 WHERE view = $2 AND position = $3",
                position, view, expected)
            if status != "UPDATE 1":
                raise PositionConflictError(view, expected)
            if upserts:
                await self._conn.executemany(
                    f"INSERT INTO {table} VALUES ($1, $2) "  # noqa: S608
                    "ON CONFLICT (key) DO UPDATE SET doc = EXCLUDED.doc", list(upserts.items()))
            if deletes:
                await self._conn.execute(f"DELETE FROM {table} WHERE key = ANY($1::text[])",  # noqa: S608
                                         list(deletes))

    async def replace(self, view: str, docs: Mapping[str, str], position: int) -> None:
        table = table_for(view)
        async with self._conn.transaction():
            await self._conn.execute("INSERT INTO proj_tracking VALUES ($1, 0) "
                                     "ON CONFLICT DO NOTHING", view)
            await self._conn.execute("SELECT 1 FROM proj_tracking WHERE view = $1 FOR UPDATE",
                                     view)
            await self._conn.execute(f"DROP TABLE IF EXISTS {table}__new")
            await self._conn.execute(f"CREATE TABLE {table}__new (key TEXT, doc TEXT NOT NULL)")
            await self._conn.copy_records_to_table(f"{table}__new",
                                                   records=list(docs.items()))
            await self._conn.execute(f"DROP TABLE IF EXISTS {table}")
            await self._conn.execute(f"ALTER TABLE {table}__new RENAME TO {table}")
            await self._conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (key)")
            await self._conn.execute("UPDATE proj_tracking SET position = $1 WHERE view = $2",
                                     position, view)

    async def texts(self, view: str) -> tuple[int, dict[str, str]]:
        async with self._conn.transaction(isolation="repeatable_read", readonly=True):
            position = await self.position(view)
            rows = await self._conn.fetch(f"SELECT key, doc FROM {table_for(view)}")  # noqa: S608
        return position, {r["key"]: r["doc"] for r in rows}

    async def scrub(self) -> None:
        """Rewrite the view tables (VACUUM FULL) so that dead row versions holding redacted
        text leave the table files. The server's WAL and backups keep them until they age
        out (docs/privacy.md); views are small, and erasures rare."""
        for view in sorted(self._views):
            await self._conn.execute(f"VACUUM (FULL) {table_for(view)}")

    async def close(self) -> None:
        await self._conn.close()
