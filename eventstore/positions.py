"""Followers' positions in the event store's own database: the `kuzet_positions` table.

One row per follower name (`relay`, ...): the last log position it handled and `marks`, a
small JSON object of the follower's own bookkeeping (the relay's next Kafka offset per topic
partition after its last acknowledged batch). Keeping them beside the log, not in a local
file, lets a standby on another machine continue exactly where the active instance stopped.

`PositionStore(location)` opens a `postgresql://` URL (psycopg) or a SQLite file; its methods
block (callers run them in a thread). `DDL` is what `kuzet db migrate` runs (`kuzet.schema`);
`setup()` runs the same under `SCHEMA_LOCK` for callers that did not migrate.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["DDL", "SCHEMA_LOCK", "PositionError", "PositionStore", "StoreCursor", "ddl"]

SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"
"""`eventstore.store_postgres.SCHEMA_LOCK`, spelled here so that this module loads without
eventsourcing's PostgreSQL module (tests/unit/test_schema_lock.py keeps them equal)."""


def ddl(big: str = "BIGINT") -> list[str]:
    return [f"CREATE TABLE IF NOT EXISTS kuzet_positions (name TEXT PRIMARY KEY, "
            f"position {big} NOT NULL, marks TEXT NOT NULL DEFAULT '{{}}', "
            f"updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"]


DDL = ddl()


_SAVE = ("INSERT INTO kuzet_positions (name, position, marks) VALUES (?, ?, ?) "
         "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
         "updated_at = CURRENT_TIMESTAMP")
_SAVE_MARKS = _SAVE.replace("excluded.position,", "excluded.position, marks = excluded.marks,")


class PositionError(Exception):
    """Raised when a stored position's marks are not the JSON object this module writes."""


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


class PositionStore:
    """Read and write `kuzet_positions` rows on one connection (calls from several threads
    take turns)."""

    def __init__(self, location: str, *, connect_timeout_s: float = 5.0) -> None:
        self.location = location
        self.postgres = is_postgres(location)
        self._lock = threading.Lock()
        self._conn: Any
        if self.postgres:
            import psycopg

            self._conn = psycopg.connect(location, autocommit=True,
                                         connect_timeout=max(1, round(connect_timeout_s)))
        else:
            self._conn = sqlite3.connect(location, isolation_level=None, timeout=30,
                                         check_same_thread=False)

    def _execute(self, sql: str, params: tuple[Any, ...]) -> Any:
        """`sql` written with `?` placeholders, in the driver's style; returns all rows."""
        with self._lock:
            cur = self._conn.execute(sql.replace("?", "%s") if self.postgres else sql, params)
            return cur.fetchall() if cur.description else cur.rowcount

    def setup(self) -> None:
        """Create the table if missing (what `kuzet db migrate` does, under the same lock)."""
        with self._lock:
            self._setup()

    def _setup(self) -> None:
        if self.postgres:
            with self._conn.transaction():
                self._conn.execute(SCHEMA_LOCK)
                for statement in DDL:
                    self._conn.execute(statement)
            return
        self._conn.execute("BEGIN IMMEDIATE")
        for statement in ddl("INTEGER"):
            self._conn.execute(statement)
        self._conn.execute("COMMIT")

    def _row(self, name: str) -> tuple[int, str] | None:
        rows = self._execute("SELECT position, marks FROM kuzet_positions WHERE name = ?",
                             (name,))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def position(self, name: str) -> int:
        row = self._row(name)
        return 0 if row is None else row[0]

    def marks(self, name: str) -> dict[str, int]:
        row = self._row(name)
        if row is None:
            return {}
        try:
            found = json.loads(row[1])
            return {str(k): int(v) for k, v in found.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise PositionError(f"kuzet_positions[{name!r}].marks is unreadable: {exc}"
                                ) from None

    def save(self, name: str, position: int, marks: Mapping[str, int] | None = None) -> None:
        """Upsert `name`'s position (and `marks`, when given: they replace the stored ones)."""
        text = json.dumps(dict(marks or {}), sort_keys=True)
        self._execute(_SAVE if marks is None else _SAVE_MARKS, (name, position, text))

    def adopt(self, name: str, position: int) -> bool:
        """Store `position` for `name` unless a row exists (a one-time migration); True if
        it was stored."""
        return bool(self._execute("INSERT INTO kuzet_positions (name, position) VALUES (?, ?) "
                                  "ON CONFLICT (name) DO NOTHING", (name, position)))

    def close(self) -> None:
        self._conn.close()


class StoreCursor:
    """One follower's row as a position with marks (blocking, like `streams.relay`'s)."""

    def __init__(self, store: PositionStore, name: str) -> None:
        self.store = store
        self.name = name

    def load(self) -> int:
        return self.store.position(self.name)

    def marks(self) -> dict[str, int]:
        return self.store.marks(self.name)

    def save(self, position: int, marks: Mapping[str, int] | None = None) -> None:
        self.store.save(self.name, position, marks)
