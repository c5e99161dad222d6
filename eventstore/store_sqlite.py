"""The chained SQLite event store: eventsourcing's SQLite recorder plus a hash chain.

`ChainedSQLiteFactory` (selected by
`PERSISTENCE_MODULE=eventstore.store_sqlite:ChainedSQLiteFactory`) builds a
`ChainedSQLiteApplicationRecorder`, which writes one `Link` per event into `<events
table>_chain` in the same transaction as the events. The insert comes first, so the transaction
holds SQLite's write lock before it reads the previous link: writers are serialised, rowids (the
notification ids) are handed out in commit order, and one read of the previous link per
transaction suffices. A store that held events before the chain existed is adopted once, when
the chain table is first created empty: its events are chained in log order with the adoption
time as their `recorded_at` (the chain cannot know earlier)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import eventsourcing.sqlite as es_sqlite
from eventsourcing.persistence import ProgrammingError, StoredEvent

from eventstore.links import ChainedEvent, Link, extend
from eventstore.sealing import SealingFactoryMixin

__all__ = ["ChainedSQLiteApplicationRecorder", "ChainedSQLiteFactory"]

_NOW_US = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000"
"""The database clock in microseconds since the epoch (SQLite keeps milliseconds)."""
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,60}$")
_SQL = {
    "last": "SELECT {now} AS now_us, c.notification_id AS id, c.prev_id, "
            "c.recorded_at_us, c.prev_hash, c.hash FROM (SELECT 1) LEFT JOIN (SELECT * FROM {ch} "
            "ORDER BY notification_id DESC LIMIT 1) AS c",
    "insert": "INSERT INTO {ch} VALUES (?,?,?,?,?)",
    "chained": "SELECT e.rowid AS id, e.originator_id, e.originator_version, e.topic, e.state, "
               "c.prev_id, c.recorded_at_us, c.prev_hash, c.hash FROM {ev} AS e LEFT JOIN {ch} "
               "AS c ON c.notification_id = e.rowid WHERE e.rowid >= ? ORDER BY e.rowid LIMIT ?",
    "links": "SELECT notification_id AS id, prev_id, recorded_at_us, prev_hash, hash FROM {ch} "
             "WHERE notification_id >= ? AND notification_id <= ? ORDER BY notification_id",
    "position_at": "SELECT MAX(notification_id) FROM {ch} WHERE recorded_at_us <= ?",
    "exists": "SELECT EXISTS (SELECT 1 FROM {ch})",
    "all": "SELECT rowid AS id, * FROM {ev} ORDER BY rowid",
    "table": "CREATE TABLE IF NOT EXISTS {ch} (notification_id INTEGER PRIMARY KEY, "
             "prev_id INTEGER NOT NULL, recorded_at_us INTEGER NOT NULL, "
             "prev_hash BLOB NOT NULL, hash BLOB NOT NULL)",
    "index": "CREATE INDEX IF NOT EXISTS {ch}_recorded_at ON {ch} (recorded_at_us)",
}
"""Statements with the table names left out; the names are checked against `_IDENTIFIER`."""


def _link(row: Any) -> Link | None:
    if row["hash"] is None:
        return None
    return Link(row["id"], row["prev_id"], row["recorded_at_us"], bytes(row["prev_hash"]),
                bytes(row["hash"]))


class ChainedSQLiteApplicationRecorder(es_sqlite.SQLiteApplicationRecorder):
    """Records events and their chain links atomically; reads the log joined with the chain."""

    def __init__(self, datastore: es_sqlite.SQLiteDatastore,
                 events_table_name: str = "stored_events") -> None:
        if not _IDENTIFIER.match(events_table_name):
            raise ProgrammingError(f"bad events table name {events_table_name!r}")
        self.chain_table_name = f"{events_table_name}_chain"
        self._sql = {k: v.format(ev=events_table_name, ch=self.chain_table_name, now=_NOW_US)
                     for k, v in _SQL.items()}
        super().__init__(datastore, events_table_name)  # builds the DDL: needs the names above

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), self._sql["table"],
                self._sql["index"]]

    # --- writing ----------------------------------------------------------------------------

    def _insert_events(self, c: es_sqlite.SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            self._append_links(c, list(zip(ids, stored_events, strict=True)))
        return ids

    def _append_links(self, c: es_sqlite.SQLiteCursor,
                      rows: list[tuple[int, StoredEvent]]) -> None:
        c.execute(self._sql["last"])
        last = c.fetchone()
        links = extend(_link(last), ((i, str(s.originator_id), s.originator_version, s.topic,
                                      s.state) for i, s in rows), last["now_us"])
        c.executemany(self._sql["insert"], [
            (k.position, k.prev_position, k.recorded_at_us, k.prev_hash, k.hash) for k in links])

    def create_table(self) -> None:
        super().create_table()
        self._adopt()

    def _adopt(self) -> None:
        """Chain the events of a store that predates the chain (once, under the write lock)."""
        with self.datastore.get_connection(commit=True) as conn:
            c = conn.cursor()
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute(self._sql["exists"])
                if not c.fetchone()[0]:
                    self._chain_existing(c)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def _chain_existing(self, c: es_sqlite.SQLiteCursor) -> None:
        c.execute(self._sql["all"])
        rows = [(r["id"], StoredEvent(self.convert_originator_id(r["originator_id"]),
                                      r["originator_version"], r["topic"], r["state"]))
                for r in c.fetchall()]
        if rows:
            self._append_links(c, rows)

    # --- reading (a `ChainSource` and what time travel needs) -------------------------------

    def read_chained(self, start: int, limit: int) -> list[ChainedEvent]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql["chained"], (start, limit))
            return [ChainedEvent(r["id"], self._canonical_id(r["originator_id"]),
                                 r["originator_version"], r["topic"], bytes(r["state"]),
                                 _link(r)) for r in c.fetchall()]

    def _canonical_id(self, stored: str) -> str:
        """`str(UUID(stored))` for the 32 hex digits SQLite keeps, without building a UUID
        (this runs once per event verified); anything else as stored, so it fails its hash."""
        if self.datastore.originator_id_type != "uuid" or len(stored) != 32:
            return str(stored)
        h = stored.lower()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def links(self, start: int, stop: int | None = None) -> list[Link]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql["links"], (start, stop if stop is not None else 2**62))
            return [link for r in c.fetchall() if (link := _link(r)) is not None]

    def chain_head(self) -> Link | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql["last"])
            return _link(c.fetchone())

    def position_at(self, recorded_at_us: int) -> int:
        """The last position recorded at or before `recorded_at_us` (0: none)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql["position_at"], (recorded_at_us,))
            return int(c.fetchone()[0] or 0)


class ChainedSQLiteFactory(SealingFactoryMixin, es_sqlite.SQLiteFactory):
    """eventsourcing's SQLite factory with the chained application recorder."""

    application_recorder_class = ChainedSQLiteApplicationRecorder
