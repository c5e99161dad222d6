"""Pages of the notification log as plain rows, read with the recorder's own statement.

eventsourcing's `select_notifications` wraps each row in a `Notification` and (on SQLite)
parses each originator id into a `UUID`; a fast reader turns the id straight back into text,
so that costs more than the query itself. Where the recorder is eventsourcing's SQLite or
PostgreSQL application recorder, or a subclass that keeps its `select_notifications` (the
hash-chained recorders in `eventstore/` do), `page_reader` runs that same query on the same
connection pool and returns plain tuples; for any other recorder it calls
`select_notifications`. A `Row` is (position, originator id as the query gives it, version,
topic, state bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

__all__ = ["PageReader", "Row", "page_reader", "raw_sqlite_ids"]

Row = tuple[int, Any, int, str, bytes]
PageReader = Callable[[int, int], Sequence[Row]]


def _keeps(recorder: Any, base: type) -> bool:
    return isinstance(recorder, base) and (
        type(recorder).select_notifications is base.select_notifications)  # type: ignore[attr-defined]


def raw_sqlite_ids(recorder: Any) -> bool:
    """True if `page_reader(recorder)` gives SQLite's stored id text (32 hex digits for a
    UUID) rather than the id the recorder would convert it to."""
    return _keeps(recorder, SQLiteApplicationRecorder)


def page_reader(recorder: Any) -> PageReader:
    """(start, limit) → up to `limit` rows at positions >= `start`, in log order."""
    if _keeps(recorder, SQLiteApplicationRecorder):
        return partial(_sqlite_rows, recorder)
    if _keeps(recorder, PostgresApplicationRecorder):
        return partial(_postgres_rows, recorder)
    return partial(_recorder_rows, recorder)


def _recorder_rows(recorder: Any, start: int, limit: int) -> list[Row]:
    return [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in recorder.select_notifications(start, limit)]


def _sqlite_rows(recorder: SQLiteApplicationRecorder, start: int, limit: int) -> list[Row]:
    statement = ("SELECT rowid, originator_id, originator_version, topic, state FROM "  # noqa: S608 (the recorder's own table name)
                 f"{recorder.events_table_name} WHERE rowid>=? ORDER BY rowid LIMIT ?")
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, (start, limit))
        rows: list[Row] = c.fetchall()  # sqlite3.Row: indexes like a tuple
    return rows


def _postgres_rows(recorder: PostgresApplicationRecorder, start: int, limit: int) -> list[Row]:
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM "
        "{schema}.{table} WHERE notification_id>=%s ORDER BY notification_id LIMIT %s",
    ).format(schema=Identifier(recorder.datastore.schema),
             table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
        c.execute(statement, (start, limit), prepare=True)
        return c.fetchall()
