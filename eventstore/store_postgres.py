"""The chained PostgreSQL event store: eventsourcing's PostgreSQL recorder plus a hash chain.

`ChainedPostgresFactory` (`PERSISTENCE_MODULE=eventstore.store_postgres:ChainedPostgresFactory`)
builds a `ChainedPostgresApplicationRecorder`. eventsourcing inserts events under
`LOCK TABLE <events> IN EXCLUSIVE MODE`, so inserting transactions are serialised and
notification ids are issued in commit order (a rolled-back insert may still leave a gap in
the sequence, which is why each link names its predecessor). Right after the insert, still
holding that lock and in the same transaction, the recorder reads the previous link and the
database clock in one statement and writes this transaction's links with one statement.
`POSTGRES_ENABLE_DB_FUNCTIONS` (events inserted by a stored function) would bypass the chain
and is refused. A pre-chain store is adopted once, like the SQLite one (see there).

Schema creation cannot race: `create_table` runs every statement (types, tables, indexes, the
chain, the adoption) in one transaction that first takes the advisory lock `SCHEMA_LOCK`, the
lock every Kuzet store takes around its DDL (the key tables, the views, the adapter state), so
processes started together on a fresh database create each table once and wait for each
other instead of failing on `pg_type_typname_nsp_index`. The factory first connects once
within `POSTGRES_CONNECT_TIMEOUT` and, failing, raises `StoreUnreachable` naming host, port,
database and the server's reason, not the pool's "couldn't get a connection after 30.00 sec".
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any, cast

import eventsourcing.postgres as es_pg
import psycopg
from eventsourcing.persistence import OperationalError, ProgrammingError, StoredEvent
from psycopg import Cursor
from psycopg.errors import DuplicateObject
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from eventstore.links import ChainedEvent, Link, extend
from eventstore.sealing import SealingFactoryMixin

__all__ = ["SCHEMA_LOCK", "ChainedPostgresApplicationRecorder", "ChainedPostgresFactory",
           "StoreUnreachable", "describe_connect_error"]

SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"
"""Taken first by every transaction that creates Kuzet tables (released at its end)."""


class StoreUnreachable(OperationalError):
    """Raised when the event store's PostgreSQL cannot be connected to within the timeout;
    the message names host, port and database and the server's reason (never the password)."""


def _link(row: Any) -> Link | None:
    if row["hash"] is None:
        return None
    return Link(row["id"], row["prev_id"], row["recorded_at_us"], bytes(row["prev_hash"]),
                bytes(row["hash"]))


class ChainedPostgresApplicationRecorder(es_pg.PostgresApplicationRecorder):
    """Records events and their chain links atomically; reads the log joined with the chain."""

    def __init__(self, datastore: es_pg.PostgresDatastore, *,
                 events_table_name: str = "stored_events") -> None:
        if datastore.enable_db_functions:
            raise ProgrammingError("POSTGRES_ENABLE_DB_FUNCTIONS inserts events around the "
                                   "hash chain; unset it for the chained store")
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table_name = f"{events_table_name}_chain"
        self.check_identifier_length(f"{self.chain_table_name}_recorded_at")
        self.sql_create_statements += self._chain_ddl()
        self._sql = self._statements()

    def _fmt(self, text: str) -> Composed:
        return SQL(text).format(s=Identifier(self.datastore.schema),
                                ev=Identifier(self.events_table_name),
                                ch=Identifier(self.chain_table_name),
                                ix=Identifier(f"{self.chain_table_name}_recorded_at"))

    def _chain_ddl(self) -> list[Composed]:
        return [self._fmt("CREATE TABLE IF NOT EXISTS {s}.{ch} (notification_id bigint PRIMARY "
                          "KEY, prev_id bigint NOT NULL, recorded_at_us bigint NOT NULL, "
                          "prev_hash bytea NOT NULL, hash bytea NOT NULL)"),
                self._fmt("CREATE INDEX IF NOT EXISTS {ix} ON {s}.{ch} (recorded_at_us)")]

    def _statements(self) -> dict[str, Composed]:
        return {
            "last": self._fmt(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us, "
                "l.* FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT c.notification_id AS id, "
                "c.prev_id, c.recorded_at_us, c.prev_hash, c.hash FROM {s}.{ch} AS c ORDER BY "
                "c.notification_id DESC LIMIT 1) AS l ON true"),
            "insert": self._fmt(
                "INSERT INTO {s}.{ch} SELECT * FROM unnest(%s::bigint[], %s::bigint[], "
                "%s::bigint[], %s::bytea[], %s::bytea[])"),
            "chained": self._fmt(
                "SELECT e.notification_id AS id, e.originator_id, e.originator_version, e.topic, "
                "e.state, c.prev_id, c.recorded_at_us, c.prev_hash, c.hash FROM {s}.{ev} AS e "
                "LEFT JOIN {s}.{ch} AS c ON c.notification_id = e.notification_id WHERE "
                "e.notification_id >= %s ORDER BY e.notification_id LIMIT %s"),
            "links": self._fmt(
                "SELECT notification_id AS id, prev_id, recorded_at_us, prev_hash, hash FROM "
                "{s}.{ch} WHERE notification_id BETWEEN %s AND %s ORDER BY notification_id"),
            "position_at": self._fmt(
                "SELECT MAX(notification_id) AS p FROM {s}.{ch} WHERE recorded_at_us <= %s"),
            "lock": self._fmt("LOCK TABLE {s}.{ev} IN EXCLUSIVE MODE"),
            "empty": self._fmt("SELECT NOT EXISTS (SELECT 1 FROM {s}.{ch}) AS empty"),
            "all": self._fmt("SELECT * FROM {s}.{ev} ORDER BY notification_id"),
        }

    # --- writing ----------------------------------------------------------------------------

    def _fetch_ids_after_insert_events(self, curs: Cursor[DictRow],
                                       stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        """The inserted ids (eventsourcing), then their links, still under the table lock."""
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            self._append_links(curs, list(zip(ids, stored_events, strict=True)))
        return ids

    def _append_links(self, curs: Cursor[DictRow], rows: list[tuple[int, StoredEvent]]) -> None:
        curs.execute(self._sql["last"], prepare=True)
        last = curs.fetchone()
        assert last is not None  # one row, always: SELECT ... FROM (SELECT 1)
        links = extend(_link(last), ((i, str(s.originator_id), s.originator_version, s.topic,
                                      s.state) for i, s in rows), last["now_us"])
        curs.execute(self._sql["insert"], (
            [k.position for k in links], [k.prev_position for k in links],
            [k.recorded_at_us for k in links], [k.prev_hash for k in links],
            [k.hash for k in links]), prepare=True)

    def create_table(self) -> None:
        """Every statement in one transaction under `SCHEMA_LOCK` (see the module doc)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SCHEMA_LOCK)
            for statement in self.sql_create_statements:
                if "CREATE TYPE" in statement.as_string():  # no IF NOT EXISTS for types
                    with contextlib.suppress(DuplicateObject), curs.connection.transaction():
                        curs.execute(statement, prepare=False)  # in a savepoint
                else:
                    curs.execute(statement, prepare=False)
            curs.execute(self._sql["lock"])
            curs.execute(self._sql["empty"])
            row = curs.fetchone()
            if row is not None and row["empty"]:
                self._chain_existing(curs)
        self.datastore.register_type_adapters()

    def _chain_existing(self, curs: Cursor[DictRow]) -> None:
        """Chain the events of a store that predates the chain (once, under the table lock)."""
        curs.execute(self._sql["all"])
        rows = [(r["notification_id"], StoredEvent(r["originator_id"], r["originator_version"],
                                                   r["topic"], bytes(r["state"])))
                for r in curs.fetchall()]
        if rows:
            self._append_links(curs, rows)

    # --- reading (a `ChainSource` and what time travel needs) -------------------------------

    def read_chained(self, start: int, limit: int) -> list[ChainedEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql["chained"], (start, limit), prepare=True)
            return [ChainedEvent(r["id"], str(r["originator_id"]), r["originator_version"],
                                 r["topic"], bytes(r["state"]), _link(r))
                    for r in curs.fetchall()]

    def links(self, start: int, stop: int | None = None) -> list[Link]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql["links"], (start, stop if stop is not None else 2**62))
            return [link for r in curs.fetchall() if (link := _link(r)) is not None]

    def chain_head(self) -> Link | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql["last"])
            return _link(curs.fetchone())

    def position_at(self, recorded_at_us: int) -> int:
        """The last position recorded at or before `recorded_at_us` (0: none)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql["position_at"], (recorded_at_us,))
            row = curs.fetchone()
            return int(row["p"] or 0) if row else 0


class _CheckedConnection:
    """Connects once right after the datastore is configured, before any table is created,
    and later turns the pool's "couldn't get a connection after N sec" (the server went away
    while the process ran) into `StoreUnreachable` naming host and cause too."""

    datastore: es_pg.PostgresDatastore

    def __init__(self, env: Any) -> None:
        super().__init__(env)  # type: ignore[call-arg]
        self._check_reachable()
        self._name_pool_failures()

    def _where(self) -> str:
        kwargs = cast(dict[str, Any], self.datastore.pool.kwargs)
        return f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('dbname')}"

    def _check_reachable(self) -> None:
        """One connection within the pool's timeout, or `StoreUnreachable` saying why."""
        kwargs = cast(dict[str, Any], self.datastore.pool.kwargs)
        timeout = float(self.datastore.pool.timeout)
        try:
            conn = psycopg.connect(host=kwargs.get("host"), port=kwargs.get("port"),
                                   dbname=kwargs.get("dbname"), user=kwargs.get("user"),
                                   password=kwargs.get("password"),
                                   connect_timeout=max(1, round(timeout)))
        except psycopg.Error as exc:
            raise StoreUnreachable(f"event store PostgreSQL at {self._where()}: "
                                   f"{describe_connect_error(exc, timeout)}") from None
        conn.close()

    def _name_pool_failures(self) -> None:
        """Wrap the datastore's `get_connection` (which `transaction` and every recorder go
        through): only a failure to get a connection is translated, never the body's errors."""
        plain = self.datastore.get_connection

        @contextlib.contextmanager
        def get_connection() -> Iterator[Any]:
            with contextlib.ExitStack() as stack:
                try:
                    conn = stack.enter_context(plain())
                except OperationalError as exc:
                    if "couldn't get a connection" not in str(exc):
                        raise
                    self._check_reachable()  # names the cause, if the server says one
                    raise StoreUnreachable(f"event store PostgreSQL at {self._where()}: "
                                           f"{exc}") from None
                yield conn

        self.datastore.get_connection = get_connection  # type: ignore[method-assign]


class ChainedPostgresFactory(SealingFactoryMixin, _CheckedConnection, es_pg.PostgresFactory):
    """eventsourcing's PostgreSQL factory with the chained application recorder."""

    application_recorder_class = ChainedPostgresApplicationRecorder


_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'role "([^"]*)" does not exist'), 'no such role "{0}"'),
    (re.compile(r'database "([^"]*)" does not exist'), 'no such database "{0}"'),
    (re.compile(r'password authentication failed for user "([^"]*)"'),
     'authentication failed for user "{0}"'),
    (re.compile(r"(?:authentication failed|no password supplied|password is required)"),
     "authentication failed"),
    (re.compile(r"pg_hba\.conf rejects|no pg_hba\.conf entry"),
     "refused by the server's pg_hba.conf"),
    (re.compile(r"(?i)connection refused|connect call failed|errno 111\b"),
     "connection refused (is the server running there?)"),
    (re.compile(r"(?i)could not translate host name|name or service not known|"
                r"nodename nor servname|failed to resolve host|"
                r"temporary failure in name resolution|errno -[235]\b"),
     "host name not found (DNS)"),
    (re.compile(r"(?i)no route to host|network is unreachable"), "no route to the host"),
    (re.compile(r"(?i)the database system is (starting up|shutting down)"),
     "the server is starting up or shutting down"),
    (re.compile(r"(?i)too many (clients|connections)"), "the server has too many connections"),
)


def describe_connect_error(exc: BaseException, timeout_s: float) -> str:
    """The cause of a failed connection, in a few words (the driver's first line otherwise)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    text = str(exc)
    for pattern, cause in _CAUSES:
        found = pattern.search(text)
        if found:
            return cause.format(*found.groups())
    if "timeout expired" in text or "timed out" in text:
        return f"no answer within {timeout_s:g} s"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first or type(exc).__name__
