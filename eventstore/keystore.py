"""Per-subject data keys, kept in the event store's own database (SQLite or PostgreSQL).

Tables (created with the event tables by `eventstore.sealing.SealingFactoryMixin`):

    privacy_keys      key_id (random UUID), identity_hash (HMAC-SHA256 of the identity, e.g.
                      `plate:A123BC02`, under the deployment's pepper: the table never holds an
                      identity), data_class (face|plate|snapshot), created_at, last_used_at
                      (ISO 8601 UTC text), key (32 random bytes; NULL once shredded),
                      shredded_at. At most one live key per identity (partial unique index);
                      after a shred, the identity's next value gets a fresh key.
    privacy_key_refs  (key_id, originator_id): the incidents whose events hold values sealed
                      under the key, written (with last_used_at) before the event is stored.
    privacy_erasures  erasure_id, payload (JSON), recorded_at: the journal of shreds, written in
                      the transaction that destroys the keys, so a crash before the erasure's
                      events are stored is finished by the next run (`pending_erasures`).

Caches. Sealing keys are cached per identity and opening keys per key id, each for at most
`cache_s` seconds (default 5): a shred in this process drops them at once; a shred in another
process is honoured here within `cache_s` (a value sealed meanwhile under the dead key reads as
`[shredded]`, it is never readable). A key found shredded is remembered as such for good.

Destroying a key: the row's key becomes NULL. On SQLite the shred runs with `secure_delete` on
and then truncates the write-ahead log, so the key bytes leave the files; on PostgreSQL the old
row version stays in the heap until VACUUM reuses it, and WAL archives and backups keep keys
until they expire: size their retention to the erasure deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.erasure import Identity

__all__ = ["KeyRow", "KeyStore", "KeyStoreError", "PrivacyError", "utc_now"]

_REF_CACHE_LIMIT = 200_000
_CACHE_LIMIT = 50_000


class PrivacyError(Exception):
    """Base of the errors sealing, the key store and erasure raise on purpose."""


class KeyStoreError(PrivacyError):
    """Raised when the key store is misconfigured (no pepper) or its database refuses."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _text(instant: datetime) -> str:
    """Fixed-width UTC text: compares like the instant it stands for, on both databases."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class KeyRow:
    key_id: str
    data_class: str
    created_at: datetime
    last_used_at: datetime


_DDL = [
    "CREATE TABLE IF NOT EXISTS privacy_keys (key_id TEXT PRIMARY KEY, identity_hash TEXT NOT "
    "NULL, data_class TEXT NOT NULL, created_at TEXT NOT NULL, last_used_at TEXT NOT NULL, "
    "key {blob}, shredded_at TEXT)",
    "CREATE UNIQUE INDEX IF NOT EXISTS privacy_keys_live ON privacy_keys (identity_hash) "
    "WHERE shredded_at IS NULL",
    "CREATE INDEX IF NOT EXISTS privacy_keys_age ON privacy_keys (data_class, created_at) "
    "WHERE shredded_at IS NULL",
    "CREATE INDEX IF NOT EXISTS privacy_keys_created ON privacy_keys (created_at)",
    "CREATE TABLE IF NOT EXISTS privacy_key_refs (key_id TEXT NOT NULL, originator_id TEXT NOT "
    "NULL, PRIMARY KEY (key_id, originator_id))",
    "CREATE TABLE IF NOT EXISTS privacy_erasures (erasure_id TEXT PRIMARY KEY, payload TEXT NOT "
    "NULL, recorded_at TEXT)",
]
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"
"""The same lock as `eventstore.store_postgres.SCHEMA_LOCK` (that module imports this one)."""
_INSERT_KEY = ("INSERT INTO privacy_keys (key_id, identity_hash, data_class, created_at, "
               "last_used_at, key) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
_LIVE_KEY = ("SELECT key_id, key FROM privacy_keys WHERE identity_hash = ? AND shredded_at IS "
             "NULL")
_INSERT_REF = "INSERT INTO privacy_key_refs VALUES (?, ?) ON CONFLICT DO NOTHING"
_TOUCH = "UPDATE privacy_keys SET last_used_at = ? WHERE key_id = ?"
_ROW = "key_id, data_class, created_at, last_used_at"
_KEYS_FROM = ("SELECT key_id, key FROM privacy_keys WHERE created_at >= (SELECT created_at FROM "
              "privacy_keys WHERE key_id = ?) ORDER BY created_at LIMIT 256")
"""A missed key and the 255 created after it: the log is read in roughly key-creation order,
so a rebuild asks the database once per 256 keys, not once per key."""


class KeyStore:
    """Creates, finds, and destroys data keys; one per identity until it is shredded.

    `datastore` is the eventsourcing factory's (`SQLiteDatastore` or `PostgresDatastore`), so
    the keys live in the event store's database and share its connection pool.
    """

    def __init__(self, datastore: Any, *, pepper: bytes, cache_s: float = 5.0,
                 clock: Callable[[], datetime] = utc_now) -> None:
        from eventsourcing.sqlite import SQLiteDatastore

        if len(pepper) < 16:
            raise KeyStoreError("the identity pepper must be at least 16 bytes")
        self._datastore = datastore
        self._sqlite = isinstance(datastore, SQLiteDatastore)
        self._pepper = pepper
        self._ttl = cache_s
        self._clock = clock
        self._sealing: dict[str, tuple[str, bytes, float]] = {}
        self._opening: dict[str, tuple[bytes | None, float]] = {}
        self._refs: set[tuple[str, str]] = set()

    # --- plumbing ------------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        return statement if self._sqlite else statement.replace("?", "%s")

    @contextmanager
    def _tx(self, *, commit: bool) -> Iterator[Any]:
        with self._datastore.transaction(commit=commit) as cursor:
            yield _Cursor(cursor, self._sql)

    def create_tables(self) -> None:
        """Idempotent; on PostgreSQL under the schema lock every Kuzet store's DDL takes
        (`eventstore.store_postgres.SCHEMA_LOCK`), so processes started together never race."""
        blob = "BLOB" if self._sqlite else "BYTEA"
        with self._tx(commit=True) as c:
            if not self._sqlite:
                c.execute(_SCHEMA_LOCK)
            for statement in _DDL:
                c.execute(statement.format(blob=blob))

    def identity_hash(self, identity: Identity) -> str:
        return hmac.new(self._pepper, str(identity).encode(), hashlib.sha256).hexdigest()

    # --- sealing and opening -------------------------------------------------------------------

    def sealing_key(self, identity: Identity, originator_id: str | None) -> tuple[str, bytes]:
        """The identity's live key (created if it has none), referenced by `originator_id`."""
        hit = self._sealing.get(str(identity))
        if hit is not None and time.monotonic() - hit[2] < self._ttl:
            if originator_id is not None and (hit[0], originator_id) not in self._refs:
                self._reference(hit[0], originator_id)
            return hit[0], hit[1]
        key_id, key = self._live_or_new(identity, originator_id)
        if len(self._sealing) > _CACHE_LIMIT:
            self._sealing.clear()
        self._sealing[str(identity)] = (key_id, key, time.monotonic())
        return key_id, key

    def _live_or_new(self, identity: Identity, originator_id: str | None) -> tuple[str, bytes]:
        """Insert first (it takes the write lock), then read whichever key won."""
        now = _text(self._clock())
        digest = self.identity_hash(identity)
        for _ in range(3):  # a shred committing between our insert and select: insert again
            with self._tx(commit=True) as c:
                c.execute(_INSERT_KEY, (str(uuid.uuid4()), digest, identity.data_class.value,
                                        now, now, os.urandom(32)))
                c.execute(_LIVE_KEY, (digest,))
                row = c.fetchone()
                if row is None:
                    continue
                key_id, key = str(row["key_id"]), bytes(row["key"])
                if originator_id is not None:
                    c.execute(_INSERT_REF, (key_id, originator_id))
                    c.execute(_TOUCH, (now, key_id))
                break
        else:
            raise KeyStoreError(f"no live {identity.data_class.value} key after three tries: "
                                "its keys are being shredded as they are created")
        if originator_id is not None:
            self._remember_ref(key_id, originator_id)
        return key_id, key

    def _reference(self, key_id: str, originator_id: str) -> None:
        with self._tx(commit=True) as c:
            c.execute(_INSERT_REF, (key_id, originator_id))
            c.execute(_TOUCH, (_text(self._clock()), key_id))
        self._remember_ref(key_id, originator_id)

    def _remember_ref(self, key_id: str, originator_id: str) -> None:
        if len(self._refs) > _REF_CACHE_LIMIT:
            self._refs.clear()
        self._refs.add((key_id, originator_id))

    def opening_key(self, key_id: str) -> bytes | None:
        """The key, or None once shredded (an unknown key id reads as shredded too)."""
        hit = self._opening.get(key_id)
        if hit is not None and (hit[0] is None or time.monotonic() - hit[1] < self._ttl):
            return hit[0]
        with self._tx(commit=False) as c:
            c.execute(_KEYS_FROM, (key_id,))
            rows = c.fetchall()
        if len(self._opening) > _CACHE_LIMIT:
            self._opening.clear()
        now = time.monotonic()
        self._opening[key_id] = (None, now)  # unknown: reads as shredded
        for row in rows:
            self._opening[str(row["key_id"])] = (
                None if row["key"] is None else bytes(row["key"]), now)
        return self._opening[key_id][0]

    # --- finding keys --------------------------------------------------------------------------

    def live_keys(self, identities: Iterable[Identity]) -> list[KeyRow]:
        hashes = [self.identity_hash(i) for i in identities]
        return self._rows(f"SELECT {_ROW} FROM privacy_keys WHERE shredded_at IS NULL AND "  # noqa: S608 (constants; values are bound)
                          "identity_hash IN ({marks})", hashes)

    def expired(self, cutoffs: Mapping[str, datetime]) -> list[KeyRow]:
        """Live keys of each data class created before that class's cutoff, oldest first."""
        out: list[KeyRow] = []
        for data_class, cutoff in cutoffs.items():
            with self._tx(commit=False) as c:
                c.execute(f"SELECT {_ROW} FROM privacy_keys WHERE shredded_at IS NULL AND "  # noqa: S608
                          "data_class = ? AND created_at < ? ORDER BY created_at",
                          (data_class, _text(cutoff)))
                out += [_key_row(r) for r in c.fetchall()]
        return out

    def refs(self, key_ids: Collection[str]) -> dict[str, list[str]]:
        """Key id → the incidents holding values sealed under it (every given id is present)."""
        out: dict[str, list[str]] = {k: [] for k in key_ids}
        for chunk in _chunks(list(key_ids)):
            with self._tx(commit=False) as c:
                c.execute(f"SELECT key_id, originator_id FROM privacy_key_refs WHERE key_id IN "  # noqa: S608
                          f"({_marks(chunk)}) ORDER BY originator_id", chunk)
                for row in c.fetchall():
                    out[str(row["key_id"])].append(str(row["originator_id"]))
        return out

    def _rows(self, statement: str, values: list[str]) -> list[KeyRow]:
        out: list[KeyRow] = []
        for chunk in _chunks(values):
            with self._tx(commit=False) as c:
                c.execute(statement.format(marks=_marks(chunk)), chunk)
                out += [_key_row(r) for r in c.fetchall()]
        return out

    # --- destroying keys -----------------------------------------------------------------------

    def shred(self, key_ids: Collection[str], erasure_id: str,
              payload: Mapping[str, Any]) -> int:
        """Destroy `key_ids` and journal the erasure, atomically; returns keys destroyed."""
        ids = list(key_ids)
        with self._tx(commit=True) as c:
            destroyed = len(self._destroy(c, "key_id", ids))
            self._journal(c, erasure_id, payload)
        self._after_shred(set(ids))
        return destroyed

    def shred_referenced(self, key_ids: Collection[str], erasure_id: str,
                         payload: Mapping[str, Any], *,
                         incident_keys: Callable[[str], Iterable[Identity]] | None = None,
                         ) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Destroy `key_ids` (and, with `incident_keys`, those identities' live keys for every
        incident referencing them), journal the erasure with `payload` plus `keys` (key id →
        data class, those this call destroyed) and `incidents` (incident id → key ids), and
        return both: one transaction.

        The references are read after the keys are destroyed, in the same transaction (on
        PostgreSQL the destroyed rows stay locked until commit, and a writer touches a key's
        row when it adds a reference): an incident that referenced a key before it died is in
        the erasure; one that references it later sealed its value under a dead key.
        """
        with self._tx(commit=True) as c:
            keys = self._destroy(c, "key_id", list(key_ids))
            if incident_keys is not None:
                hashes = sorted({self.identity_hash(x)
                                 for ids in self._referencing(c, keys).values() for i in ids
                                 for x in incident_keys(i)})
                keys |= self._destroy(c, "identity_hash", hashes)
            incidents: dict[str, list[str]] = {}
            for key_id, incident_ids in self._referencing(c, keys).items():
                for incident_id in incident_ids:
                    incidents.setdefault(incident_id, []).append(key_id)
            self._journal(c, erasure_id, {**payload, "keys": keys, "incidents": incidents})
        self._after_shred(set(keys))
        return keys, incidents

    def _destroy(self, c: _Cursor, column: str, values: list[str]) -> dict[str, str]:
        """Destroy the live keys whose `column` is in `values`: key id → data class."""
        if self._sqlite:
            c.execute("PRAGMA secure_delete = ON")
        out: dict[str, str] = {}
        for chunk in _chunks(values):
            c.execute("UPDATE privacy_keys SET key = NULL, shredded_at = ? WHERE "  # noqa: S608 (constant column)
                      f"shredded_at IS NULL AND {column} IN ({_marks(chunk)}) "
                      "RETURNING key_id, data_class", [_text(self._clock()), *chunk])
            out.update((str(r["key_id"]), str(r["data_class"])) for r in c.fetchall())
        return out

    def _referencing(self, c: _Cursor, key_ids: Collection[str]) -> dict[str, list[str]]:
        """Key id → the incidents referencing it, read in the caller's transaction."""
        out: dict[str, list[str]] = {}
        for chunk in _chunks(sorted(key_ids)):
            c.execute(f"SELECT key_id, originator_id FROM privacy_key_refs WHERE key_id IN "  # noqa: S608
                      f"({_marks(chunk)}) ORDER BY originator_id", chunk)
            for row in c.fetchall():
                out.setdefault(str(row["key_id"]), []).append(str(row["originator_id"]))
        return out

    def _journal(self, c: _Cursor, erasure_id: str, payload: Mapping[str, Any]) -> None:
        c.execute("INSERT INTO privacy_erasures VALUES (?, ?, NULL)",
                  (erasure_id, json.dumps(payload, sort_keys=True)))

    def _after_shred(self, key_ids: set[str]) -> None:
        self._forget(key_ids)
        if self._sqlite:
            self._truncate_wal()

    def forget(self, key_ids: Iterable[str]) -> None:
        """Another process shredded these keys (a reader met the erasure event): stop using
        this process's cached copies now, not when the cache expires."""
        self._forget(set(key_ids))

    def _forget(self, key_ids: set[str]) -> None:
        """Drop this process's cached copies of shredded keys at once."""
        self._sealing = {i: e for i, e in self._sealing.items() if e[0] not in key_ids}
        for key_id in key_ids:
            self._opening[key_id] = (None, time.monotonic())

    def _truncate_wal(self) -> None:
        """Checkpoint and empty SQLite's write-ahead log, which holds earlier page images."""
        with self._datastore.get_connection(commit=True) as conn:
            conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def shredded_since(self, since: datetime) -> list[str]:
        """Ids of the keys shredded at or after `since` (stores keyed by key id, like the
        detection archive's search tags, forget them)."""
        with self._tx(commit=False) as c:
            c.execute("SELECT key_id FROM privacy_keys WHERE shredded_at >= ? ORDER BY "
                      "shredded_at", (_text(since),))
            return [str(r["key_id"]) for r in c.fetchall()]

    def pending_erasures(self) -> list[tuple[str, dict[str, Any]]]:
        """Journalled erasures whose events are not stored yet (a crash came between)."""
        with self._tx(commit=False) as c:
            c.execute("SELECT erasure_id, payload FROM privacy_erasures WHERE recorded_at IS "
                      "NULL ORDER BY erasure_id")
            return [(str(r["erasure_id"]), json.loads(r["payload"])) for r in c.fetchall()]

    def mark_recorded(self, erasure_id: str) -> None:
        with self._tx(commit=True) as c:
            c.execute("UPDATE privacy_erasures SET recorded_at = ? WHERE erasure_id = ?",
                      (_text(self._clock()), erasure_id))


class _Cursor:
    """A DB-API cursor whose statements are written with `?` placeholders on both databases."""

    def __init__(self, cursor: Any, sql: Callable[[str], str]) -> None:
        self._cursor = getattr(cursor, "sqlite_cursor", cursor)  # eventsourcing wraps sqlite3's
        self._sql = sql

    def execute(self, statement: str, params: Iterable[Any] = ()) -> None:
        self._cursor.execute(self._sql(statement), tuple(params))

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


def _key_row(row: Any) -> KeyRow:
    return KeyRow(str(row["key_id"]), str(row["data_class"]),
                  datetime.fromisoformat(row["created_at"]),
                  datetime.fromisoformat(row["last_used_at"]))


def _marks(values: Collection[Any]) -> str:
    return ", ".join("?" * len(values))


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
