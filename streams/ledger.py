"""The correlator's ledger in the event store's database: detection digests and candidate hits.

Two small tables beside the events (same database, same connection pool):

* `kuzet_detection_digests` (detection_id → sha256 of the record's canonical content): a
  redelivery with the same content is harmless, a `detection_id` reused with other content is a
  conflict (dead-lettered, never a second piece of evidence). Race-free across workers: every
  row is inserted first (`ON CONFLICT DO NOTHING`), then the stored digest — the winner's — is
  compared; when the insert reports every row of the batch inserted (no id was stored before,
  none repeats within the batch), there is nothing to compare and the read-back is skipped.
* `kuzet_candidate_hits` (key, detection_id → the record): the hits of candidates that have not
  met their rule yet (a road-defect cluster may wait a day). Persisted before their offsets
  commit, reloaded when a key's state is rebuilt, deleted once they opened an incident or left
  their window; so a pending candidate never holds the partition's committed offset.

Why tables and not aggregate events: candidate hits are raw detections, which DESIGN.md keeps out
of the event store's log (its write rate is bounded by incidents, not detections); they are
working state, rebuilt or pruned, not facts to replay. Rows older than the contract's skew
(`Skew.behind`) plus the longest window are pruned: a record that old is refused anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = ["Ledger", "MemoryLedger", "SqlLedger", "ledger_for", "stamp"]

_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"
_DDL = (
    "CREATE TABLE IF NOT EXISTS kuzet_detection_digests (detection_id TEXT PRIMARY KEY, "
    "digest TEXT NOT NULL, observed_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS kuzet_detection_digests_at ON kuzet_detection_digests "
    "(observed_at)",
    "CREATE TABLE IF NOT EXISTS kuzet_candidate_hits (key TEXT NOT NULL, detection_id TEXT "
    "NOT NULL, record {blob} NOT NULL, observed_at TEXT NOT NULL, "
    "PRIMARY KEY (key, detection_id))",
)
_CHUNK = 500
_SELECT_DIGESTS = ("SELECT detection_id, digest FROM kuzet_detection_digests "
                   "WHERE detection_id IN ({marks})")
_SELECT_HITS = ("SELECT key, record, observed_at FROM kuzet_candidate_hits WHERE key IN "
                "({marks}) ORDER BY observed_at")
_PG_INSERT_DIGESTS = ("INSERT INTO kuzet_detection_digests SELECT * FROM "
                      "unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT DO NOTHING")
_PG_SELECT_DIGESTS = ("SELECT detection_id, digest FROM kuzet_detection_digests "
                      "WHERE detection_id = ANY(%s)")
_PRUNE = ("DELETE FROM kuzet_detection_digests WHERE observed_at < ?",
          "DELETE FROM kuzet_candidate_hits WHERE observed_at < ?")


def stamp(at: datetime) -> str:
    """A UTC timestamp that sorts as text (both databases compare these as strings)."""
    # == strftime("%Y-%m-%dT%H:%M:%S.%fZ") for four-digit years (every stamp here), ~3x faster
    utc = at.astimezone(UTC)
    if utc.year < 1000:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds")[:26] + "Z"


Digest = tuple[str, str, datetime]
"""(detection_id, content digest, observed_at)."""
Hit = tuple[str, str, bytes, datetime]
"""(correlation key, detection_id, the record's JSON, observed_at)."""


class Ledger(Protocol):
    def admit(self, digests: Sequence[Digest]) -> set[tuple[str, str]]:
        """Record digests; return the (id, digest) pairs whose id is stored with another
        digest (conflicts)."""

    def write_hits(self, hold: Sequence[Hit], drop: Sequence[tuple[str, str]]) -> None:
        """Persist new candidate hits, then delete dropped (key, detection_id) pairs."""

    def hits(self, keys: Sequence[str]) -> dict[str, list[tuple[bytes, str]]]:
        """Stored candidate hits per key: (record, observed_at stamp)."""

    def prune(self, before: datetime) -> None:
        """Forget digests and hits observed before `before`."""


class MemoryLedger:
    """The ledger of an in-memory event store (`eventsourcing.popo`, tests' reference runs)."""

    def __init__(self) -> None:
        self._digests: dict[str, tuple[str, str]] = {}
        self._hits: dict[str, dict[str, tuple[bytes, str]]] = {}

    def admit(self, digests: Sequence[Digest]) -> set[tuple[str, str]]:
        for det_id, digest, at in digests:
            self._digests.setdefault(det_id, (digest, stamp(at)))
        return {(d, digest) for d, digest, _ in digests if self._digests[d][0] != digest}

    def write_hits(self, hold: Sequence[Hit], drop: Sequence[tuple[str, str]]) -> None:
        for key, det_id, record, at in hold:
            self._hits.setdefault(key, {}).setdefault(det_id, (record, stamp(at)))
        for key, det_id in drop:
            self._hits.get(key, {}).pop(det_id, None)

    def hits(self, keys: Sequence[str]) -> dict[str, list[tuple[bytes, str]]]:
        return {k: list(self._hits[k].values()) for k in keys if self._hits.get(k)}

    def prune(self, before: datetime) -> None:
        cut = stamp(before)
        self._digests = {k: v for k, v in self._digests.items() if v[1] >= cut}
        for hits in self._hits.values():
            for det_id in [d for d, (_, at) in hits.items() if at < cut]:
                del hits[det_id]


class SqlLedger:
    """The ledger on the eventsourcing datastore (`SQLiteDatastore` or `PostgresDatastore`)."""

    def __init__(self, datastore: Any) -> None:
        from eventsourcing.sqlite import SQLiteDatastore

        self._datastore = datastore
        self._sqlite = isinstance(datastore, SQLiteDatastore)
        self.create_tables()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._datastore.transaction(commit=True) as cursor:
            yield getattr(cursor, "sqlite_cursor", cursor)  # eventsourcing wraps sqlite3's

    def _sql(self, statement: str) -> str:
        return statement if self._sqlite else statement.replace("?", "%s")

    def create_tables(self) -> None:
        """Idempotent; on PostgreSQL under the schema lock every Kuzet store's DDL takes."""
        with self._tx() as c:
            if not self._sqlite:
                c.execute(_SCHEMA_LOCK)
            for statement in _DDL:
                c.execute(statement.format(blob="BLOB" if self._sqlite else "BYTEA"))

    def _in(self, n: int) -> str:
        return ",".join(["?"] * n)

    def admit(self, digests: Sequence[Digest]) -> set[tuple[str, str]]:
        if not self._sqlite:
            return self._admit_pg(digests)
        conflicts: set[tuple[str, str]] = set()
        insert = self._sql("INSERT INTO kuzet_detection_digests VALUES (?, ?, ?) "
                           "ON CONFLICT (detection_id) DO NOTHING")
        with self._tx() as c:  # one transaction (one commit) for the whole batch
            c.executemany(insert, [(d, digest, stamp(at)) for d, digest, at in digests])
            if c.rowcount == len(digests):  # every id was new (the common case): no conflict
                return conflicts
            for start in range(0, len(digests), _CHUNK):  # SQLite's bound-parameter limit
                chunk = digests[start:start + _CHUNK]
                ours = {d: digest for d, digest, _ in chunk}
                query = _SELECT_DIGESTS.format(marks=self._in(len(ours)))
                c.execute(self._sql(query), list(ours))
                stored = {str(r[0]): str(r[1]) for r in _rows(c)}
                conflicts |= {(d, digest) for d, digest, _ in chunk
                              if stored.get(d, digest) != digest}
        return conflicts

    def _admit_pg(self, digests: Sequence[Digest]) -> set[tuple[str, str]]:
        """PostgreSQL: the whole batch in two statements (arrays), not one per row."""
        ids = [d for d, _, _ in digests]
        with self._tx() as c:
            c.execute(_PG_INSERT_DIGESTS, (ids, [g for _, g, _ in digests],
                                           [stamp(at) for _, _, at in digests]))
            if c.rowcount == len(digests):  # every id was new (the common case): no conflict
                return set()
            c.execute(_PG_SELECT_DIGESTS, (ids,))
            stored = {str(r[0]): str(r[1]) for r in _rows(c)}
        return {(d, g) for d, g, _ in digests if stored.get(d, g) != g}

    def write_hits(self, hold: Sequence[Hit], drop: Sequence[tuple[str, str]]) -> None:
        if not hold and not drop:
            return
        with self._tx() as c:
            if hold:
                c.executemany(self._sql(
                    "INSERT INTO kuzet_candidate_hits VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key, detection_id) DO NOTHING"),
                    [(k, d, record, stamp(at)) for k, d, record, at in hold])
            if drop:
                c.executemany(self._sql("DELETE FROM kuzet_candidate_hits WHERE key = ? AND "
                                        "detection_id = ?"), list(drop))

    def hits(self, keys: Sequence[str]) -> dict[str, list[tuple[bytes, str]]]:
        out: dict[str, list[tuple[bytes, str]]] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start:start + _CHUNK])
            with self._tx() as c:
                query = _SELECT_HITS.format(marks=self._in(len(chunk)))
                c.execute(self._sql(query), chunk)
                for key, record, at in _rows(c):
                    out.setdefault(str(key), []).append((bytes(record), str(at)))
        return out

    def prune(self, before: datetime) -> None:
        with self._tx() as c:
            for query in _PRUNE:
                c.execute(self._sql(query), (stamp(before),))


def _rows(cursor: Any) -> Iterable[tuple[Any, ...]]:
    """Rows as tuples (PostgreSQL's cursor here yields dicts, SQLite's tuples or Rows)."""
    for row in cursor.fetchall():
        yield tuple(row.values()) if isinstance(row, dict) else tuple(row)


def ledger_for(app: Any) -> Ledger:
    """The ledger beside `app`'s event store (in memory where the store is)."""
    datastore = getattr(getattr(app, "recorder", None), "datastore", None)
    return MemoryLedger() if datastore is None else SqlLedger(datastore)
