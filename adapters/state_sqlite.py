"""`AdapterState` on SQLite (stdlib `sqlite3`): the default, one file under the data directory.

WAL with `synchronous=NORMAL`: a killed process loses no committed transaction; a power cut
may lose the last few, which are then delivered again (the receiver drops them by
`Idempotency-Key`) and receipted again, so nothing is lost either way.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapters.errors import AdapterBusy, ClaimLost, StateStoreError
from adapters.state import DDL, SQL, Outcome, Parked, Receipt

__all__ = ["SqliteState"]


class SqliteState:
    def __init__(self, path: Path | str) -> None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StateStoreError(f"adapter state store {str(path)!r}: {exc}") from None
        self.path = path
        self._claims: dict[str, Any] = {}

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StateStoreError(f"adapter state store {str(self.path)!r}: {exc}") from None
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    async def claim(self, adapter: str) -> None:
        """An exclusive `flock` on a file beside the database (released by the OS on exit)."""
        import fcntl
        import hashlib

        tag = hashlib.sha256(adapter.encode()).hexdigest()[:16]
        lock = open(f"{self.path}.{tag}.lock", "a+b")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise AdapterBusy(adapter) from None
        self._claims[adapter] = lock

    async def check_claim(self, adapter: str) -> None:
        """A `flock` ends only with its file descriptor: held while this store is open."""
        if adapter not in self._claims:
            raise ClaimLost(adapter)

    async def setup(self) -> None:
        with self._tx() as db:
            for statement in DDL("INTEGER", "BLOB"):
                db.execute(statement)

    async def checkpoints(self, adapter: str, topic: str) -> dict[int, int]:
        return dict(self._db.execute(SQL["checkpoints"], (adapter, topic)).fetchall())

    async def delivered(self, adapter: str, event_id: str) -> bool:
        return self._db.execute(SQL["delivered"], (adapter, event_id)).fetchone() is not None

    async def commit(self, outcome: Outcome) -> None:
        with self._tx() as db:
            if outcome.receipt is not None:
                r = outcome.receipt
                db.execute(SQL["receipt"], dataclasses.astuple(r))
                db.execute(SQL["unpark"], (r.adapter, r.event_id))
            p = outcome.parked
            if p is not None and db.execute(SQL["delivered"], (p.adapter, p.event_id)
                                            ).fetchone() is None:  # BEGIN IMMEDIATE: no race
                db.execute(SQL["park"], dataclasses.astuple(p))
            if outcome.checkpoint is not None:
                db.execute(SQL["advance"].format(greatest="MAX"),
                           dataclasses.astuple(outcome.checkpoint))

    async def receipts(self, adapter: str, start: str, end: str) -> list[Receipt]:
        rows = self._db.execute(SQL["receipts"], (adapter, start, end)).fetchall()
        return [Receipt(*row) for row in rows]

    async def parked(self, adapter: str, *, dropped: bool = False) -> list[Parked]:
        rows = self._db.execute(SQL["parked"], (adapter, dropped)).fetchall()
        return [Parked(*row) for row in rows]

    async def drop(self, adapter: str, event_id: str, at: str) -> bool:
        with self._tx() as db:
            return db.execute(SQL["drop"], (at, adapter, event_id)).rowcount == 1

    async def close(self) -> None:
        for lock in self._claims.values():
            lock.close()
        self._claims.clear()
        self._db.close()
