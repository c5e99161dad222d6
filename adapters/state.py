"""The adapter's durable state: per-partition checkpoints, delivery receipts, parked events.

One `commit` writes what happened to one event (its receipt or its parked entry) together with
the checkpoint past it, in one transaction: a crash before the commit redelivers the event (the
receiver drops the duplicate by `Idempotency-Key`), a crash after it never does. Receipts are
the proof of what an agency received (payload sha256, time, HTTP status, attempts); the first
receipt of an event id is kept, and an event with a receipt is never parked again (a retry
that lost a race to the delivery commits only its checkpoint). Parked events keep the raw
record value (sealed values stay sealed at rest) so `parked retry` can deliver them later;
dropping one marks it, never deletes.

Implementations: `SqliteState` (the default, a file under the data directory) and
`PostgresState`; both run the same SQL below (`?` placeholders, rewritten for asyncpg).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DDL", "SQL", "AdapterState", "Checkpoint", "Outcome", "Parked", "Receipt",
           "numbered"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    adapter: str
    topic: str
    partition: int
    next_offset: int


@dataclass(frozen=True, slots=True)
class Receipt:
    adapter: str
    event_id: str
    event_time: str
    event_type: str
    topic: str
    partition: int
    offset: int
    url: str
    sha256: str
    http_status: int
    attempts: int
    delivered_at: str


@dataclass(frozen=True, slots=True)
class Parked:
    adapter: str
    event_id: str
    event_time: str
    event_type: str
    topic: str
    partition: int
    offset: int
    value: bytes
    reason: str
    http_status: int | None
    attempts: int
    parked_at: str
    dropped_at: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One transaction: a receipt (which also clears a parked entry) or a parked entry, and
    optionally the checkpoint past the event."""

    receipt: Receipt | None = None
    parked: Parked | None = None
    checkpoint: Checkpoint | None = None


class AdapterState(Protocol):
    async def setup(self) -> None:
        """Create the tables if missing."""

    async def claim(self, adapter: str) -> None:
        """Hold `adapter`'s exclusive claim until `close` (`AdapterBusy` if another process
        holds it); a crashed holder's claim ends with its process or connection."""

    async def check_claim(self, adapter: str) -> None:
        """`ClaimLost` if the claim is no longer held (e.g. its database session ended)."""

    async def checkpoints(self, adapter: str, topic: str) -> dict[int, int]:
        """Partition → next offset to read."""

    async def delivered(self, adapter: str, event_id: str) -> bool:
        """Whether a receipt for this event id exists (relay re-sends are skipped)."""

    async def commit(self, outcome: Outcome) -> None: ...

    async def receipts(self, adapter: str, start: str, end: str) -> list[Receipt]:
        """Receipts whose event time is in [start, end) (normalised UTC text), by time."""

    async def parked(self, adapter: str, *, dropped: bool = False) -> list[Parked]:
        """Parked events (with `dropped`, also those dropped), oldest first."""

    async def drop(self, adapter: str, event_id: str, at: str) -> bool:
        """Mark a parked event dropped; False if there is no such parked event."""

    async def close(self) -> None: ...


_RECEIPT_COLS = ("adapter, event_id, event_time, event_type, topic, kafka_partition, "
                 "kafka_offset, url, sha256, http_status, attempts, delivered_at")
_PARKED_COLS = ("adapter, event_id, event_time, event_type, topic, kafka_partition, "
                "kafka_offset, value, reason, http_status, attempts, parked_at, dropped_at")


def DDL(big: str, blob: str) -> list[str]:  # noqa: N802 - a constant parametrised by dialect
    """The tables, given the dialect's 64-bit integer and byte-string types."""
    return [
        "CREATE TABLE IF NOT EXISTS adapter_checkpoints (adapter TEXT NOT NULL, "
        f"topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, next_offset {big} NOT NULL, "
        "PRIMARY KEY (adapter, topic, kafka_partition))",
        "CREATE TABLE IF NOT EXISTS adapter_receipts (adapter TEXT NOT NULL, "
        "event_id TEXT NOT NULL, event_time TEXT NOT NULL, event_type TEXT NOT NULL, "
        f"topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset {big} NOT NULL, "
        "url TEXT NOT NULL, sha256 TEXT NOT NULL, http_status INTEGER NOT NULL, "
        "attempts INTEGER NOT NULL, delivered_at TEXT NOT NULL, PRIMARY KEY (adapter, event_id))",
        "CREATE INDEX IF NOT EXISTS adapter_receipts_time ON adapter_receipts "
        "(adapter, event_time)",
        "CREATE TABLE IF NOT EXISTS adapter_parked (adapter TEXT NOT NULL, "
        "event_id TEXT NOT NULL, event_time TEXT NOT NULL, event_type TEXT NOT NULL, "
        f"topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset {big} NOT NULL, "
        f"value {blob} NOT NULL, reason TEXT NOT NULL, http_status INTEGER, "
        "attempts INTEGER NOT NULL, parked_at TEXT NOT NULL, dropped_at TEXT, "
        "PRIMARY KEY (adapter, event_id))",
    ]


SQL = {
    "checkpoints": "SELECT kafka_partition, next_offset FROM adapter_checkpoints "
                   "WHERE adapter = ? AND topic = ?",
    "advance": "INSERT INTO adapter_checkpoints VALUES (?, ?, ?, ?) ON CONFLICT "
               "(adapter, topic, kafka_partition) DO UPDATE SET next_offset = "
               "{greatest}(adapter_checkpoints.next_offset, excluded.next_offset)",
    "delivered": "SELECT 1 FROM adapter_receipts WHERE adapter = ? AND event_id = ?",
    "receipt": f"INSERT INTO adapter_receipts ({_RECEIPT_COLS}) VALUES "  # noqa: S608 - constants only
               "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (adapter, event_id) DO NOTHING",
    "unpark": "DELETE FROM adapter_parked WHERE adapter = ? AND event_id = ?",
    "lock_parked": "SELECT 1 FROM adapter_parked WHERE adapter = ? AND event_id = ?",
    "park": f"INSERT INTO adapter_parked ({_PARKED_COLS}) VALUES "  # noqa: S608 - constants only
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (adapter, event_id) DO UPDATE "
            "SET reason = excluded.reason, http_status = excluded.http_status, "
            "attempts = excluded.attempts, parked_at = excluded.parked_at, dropped_at = NULL",
    "receipts": f"SELECT {_RECEIPT_COLS} FROM adapter_receipts WHERE adapter = ? "  # noqa: S608 - constants only
                "AND event_time >= ? AND event_time < ? ORDER BY event_time, event_id",
    "parked": f"SELECT {_PARKED_COLS} FROM adapter_parked WHERE adapter = ? "  # noqa: S608 - constants only
              "AND (dropped_at IS NULL OR ?) ORDER BY parked_at, event_id",
    "drop": "UPDATE adapter_parked SET dropped_at = ? WHERE adapter = ? AND event_id = ? "
            "AND dropped_at IS NULL",
}


def numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, ...`."""
    counter = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)
