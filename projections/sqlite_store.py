"""`ViewStore` on SQLite (stdlib `sqlite3`): the default, a file under the data directory."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from projections.errors import PositionConflictError, StoreUnavailableError
from projections.store import RUNNER, Freshness, schema_statements, table_for

__all__ = ["SqliteStore"]

_CHUNK = 500
_NOW_US = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
"""SQLite's clock in microseconds since the epoch (it keeps milliseconds)."""


class SqliteStore:
    """Documents as `(key TEXT PRIMARY KEY, doc TEXT)` tables, positions in `proj_tracking`."""

    def __init__(self, path: Path | str) -> None:
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # freed cells are zeroed, so a redacted row's old text does not linger in the file
            self._db.execute("PRAGMA secure_delete=ON")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"read-model store {str(path)!r}: {exc}") from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction (one snapshot; no write lock, so the runner is never held up)."""
        self._db.execute("BEGIN")
        try:
            yield self._db
        finally:
            self._db.execute("COMMIT")

    async def setup(self, views: Collection[str]) -> None:
        with self._tx() as db:  # BEGIN IMMEDIATE: one process at a time creates tables
            for statement in schema_statements(views, big="INTEGER"):
                db.execute(statement)

    async def heartbeat(self, *, stopped: bool = False) -> None:
        with self._tx() as db:
            db.execute(f"INSERT INTO proj_heartbeat VALUES (?, {_NOW_US}, ?) ON CONFLICT "  # noqa: S608 (constant)
                       "(runner) DO UPDATE SET beat_at_us = excluded.beat_at_us, "
                       "stopped = excluded.stopped", (RUNNER, int(stopped)))

    async def freshness(self, view: str) -> Freshness:
        table = table_for(view)
        with self._read() as db:
            exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (table,)).fetchone()
            row = db.execute("SELECT position FROM proj_tracking WHERE view = ?",
                             (view,)).fetchone()
            beat = db.execute(f"SELECT {_NOW_US} - beat_at_us, stopped FROM proj_heartbeat "  # noqa: S608 (constant)
                              "WHERE runner = ?", (RUNNER,)).fetchone()
        position = int(row[0]) if row and exists else None
        if beat is None:
            return Freshness(position, None, stopped=False)
        return Freshness(position, max(0.0, beat[0] / 1e6), stopped=bool(beat[1]))

    async def position(self, view: str) -> int:
        row = self._db.execute("SELECT position FROM proj_tracking WHERE view = ?",
                               (view,)).fetchone()
        return int(row[0]) if row else 0

    async def get_many(self, view: str, keys: Collection[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        listed = list(keys)
        for i in range(0, len(listed), _CHUNK):
            chunk = listed[i:i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT key, doc FROM {table_for(view)} WHERE key IN ({marks})"  # noqa: S608
            out.update(self._db.execute(sql, chunk).fetchall())
        return out

    async def commit(self, view: str, upserts: Mapping[str, str], deletes: Collection[str],
                     expected: int, position: int) -> None:
        table = table_for(view)
        with self._tx() as db:
            moved = db.execute("UPDATE proj_tracking SET position = ? "
                               "WHERE view = ? AND position = ?", (position, view, expected))
            if moved.rowcount != 1:
                raise PositionConflictError(view, expected)
            db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)",  # noqa: S608
                           upserts.items())
            db.executemany(f"DELETE FROM {table} WHERE key = ?",  # noqa: S608
                           [(k,) for k in deletes])

    async def replace(self, view: str, docs: Mapping[str, str], position: int) -> None:
        table = table_for(view)
        with self._tx() as db:  # SQLite DDL is transactional: the swap is all or nothing
            db.execute(f"DROP TABLE IF EXISTS {table}__new")
            db.execute(f"CREATE TABLE {table}__new (key TEXT PRIMARY KEY, doc TEXT NOT NULL)")
            db.executemany(f"INSERT INTO {table}__new VALUES (?, ?)",  # noqa: S608
                           sorted(docs.items()))
            db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute(f"ALTER TABLE {table}__new RENAME TO {table}")
            db.execute("INSERT OR REPLACE INTO proj_tracking VALUES (?, ?)", (view, position))

    async def texts(self, view: str) -> tuple[int, dict[str, str]]:
        with self._tx() as db:
            row = db.execute("SELECT position FROM proj_tracking WHERE view = ?",
                             (view,)).fetchone()
            docs = dict(db.execute(f"SELECT key, doc FROM {table_for(view)}").fetchall())  # noqa: S608
        return (int(row[0]) if row else 0), docs

    async def scrub(self) -> None:
        """Zeroed cells (secure_delete) reach the database file, and the write-ahead log that
        still holds the old page images is checkpointed and truncated to nothing."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        self._db.close()
