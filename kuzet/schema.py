"""Schema set-up that cannot race: every table of every store, created idempotently under one lock.

`migrate(settings)` is what `kuzet db migrate` runs and what every process runs at start
(`kuzet.wiring.build_incident_app` calls `ensure_schema`, once per process and store set):

- the event store: the event and chain tables and the privacy key tables (built by the
  incident application's factory, `audit.store_*`), the correlator's ledger beside them
  (`streams.ledger`: detection digests, pending candidate hits) and the followers' positions
  (`eventstore.positions`: `kuzet_positions`);
- the read models: `proj_tracking`, `proj_heartbeat` and one table per view
  (`projections.store.schema_statements`);
- the webhook adapters' state: checkpoints, receipts, parked events (`adapters.state.DDL`).

On PostgreSQL each of these runs in a transaction that first takes the advisory lock
`SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))` (`eventstore.store_postgres.SCHEMA_LOCK`,
the same lock the stores take when they create tables themselves), so any number of processes
started together on a fresh database create each table once and wait for each other: without
it two `CREATE TABLE IF NOT EXISTS` racing fail on `pg_type_typname_nsp_index`. On SQLite an
exclusive `flock` on `<data_dir>/schema.lock` serialises the whole step between processes and
each store's DDL runs under `BEGIN IMMEDIATE`. Before any of it, each PostgreSQL database is
connected to once within KUZET_CONNECT_TIMEOUT_S (`kuzet.connect.check_postgres`): an
unreachable one fails in seconds with one line naming host and cause.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kuzet.connect import check_postgres, describe, where
from kuzet.errors import KuzetError
from kuzet.settings import Settings

__all__ = ["SCHEMA_LOCK", "SchemaError", "Target", "ensure_schema", "migrate", "schema_lock",
           "targets", "view_names"]


SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"
"""`eventstore.store_postgres.SCHEMA_LOCK`, spelled here so that a SQLite-only process never
imports the PostgreSQL driver (tests/unit/test_schema_lock.py keeps the spellings equal)."""


def view_names() -> list[str]:
    """The read models `kuzet projections run` keeps (their names do not depend on sites)."""
    from domain.routing import SiteDirectory
    from projections import all_views

    return [v.name for v in all_views(SiteDirectory({}), 1)]


class SchemaError(KuzetError):
    """Raised when a store's tables cannot be created; the message names the store."""


@dataclass(frozen=True, slots=True)
class Target:
    """One store's tables: `what` they are, `location` (a `postgresql://` URL or a file)."""

    what: str
    location: str

    @property
    def postgres(self) -> bool:
        return self.location.startswith(("postgresql://", "postgres://"))

    @property
    def shown(self) -> str:
        return where(self.location) if self.postgres else self.location


def targets(settings: Settings) -> list[Target]:
    """Where each store keeps its tables under these settings."""
    data = settings.data_dir
    adapter = settings.adapter_state_url or settings.event_store_url
    return [Target("event store", settings.event_store_url or str(data / "events.sqlite")),
            Target("read models", settings.read_model_url or str(data / "views.sqlite")),
            Target("adapter state", adapter or str(data / "adapters.sqlite"))]


@contextlib.contextmanager
def schema_lock(settings: Settings) -> Iterator[None]:
    """Exclusive across processes on this host while any store is a SQLite file (PostgreSQL
    DDL is serialised by the advisory lock inside each transaction instead)."""
    if all(t.postgres for t in targets(settings)):
        yield
        return
    path = settings.ensure_data_dir() / "schema.lock"
    with open(path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the process dies)
        yield


def _statements(target: Target) -> list[str]:
    from adapters.state import DDL
    from projections.store import schema_statements

    big = "BIGINT" if target.postgres else "INTEGER"
    if target.what == "event store":
        from eventstore.positions import ddl

        return ddl(big)
    if target.what == "read models":
        return schema_statements(view_names(), big=big)
    return DDL(big, "BYTEA" if target.postgres else "BLOB")


def _create(target: Target, timeout_s: float) -> None:
    """Run `target`'s DDL in one transaction (under the schema lock on PostgreSQL)."""
    statements = _statements(target)
    if target.postgres:
        import psycopg

        try:
            with psycopg.connect(target.location, connect_timeout=max(1, round(timeout_s)),
                                 autocommit=True) as conn, conn.transaction():
                conn.execute(SCHEMA_LOCK)
                for statement in statements:
                    conn.execute(statement)  # DDL texts are constants
        except psycopg.Error as exc:
            raise SchemaError(f"{target.what} at {target.shown}: {describe(exc, timeout_s)}"
                              ) from None
        return
    try:
        db = sqlite3.connect(target.location, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in statements:
                db.execute(statement)
            db.execute("COMMIT")
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise SchemaError(f"{target.what} at {target.location}: {exc}") from None


def check_reachable(settings: Settings) -> None:
    """Every configured PostgreSQL database answers within KUZET_CONNECT_TIMEOUT_S."""
    for url in dict.fromkeys(t.location for t in targets(settings) if t.postgres):
        check_postgres(url, settings.connect_timeout_s)


def migrate(settings: Settings) -> list[Target]:
    """Create every store's missing tables (idempotent); returns the stores covered."""
    from kuzet.wiring import open_incident_app

    check_reachable(settings)
    with schema_lock(settings):
        app = open_incident_app(settings)  # its factory creates the event store's tables
        try:
            from streams.ledger import ledger_for

            ledger_for(app)  # and the correlator's ledger beside them (streams.ledger)
        finally:
            app.close()
        _create_others(settings)
    return targets(settings)


def _create_others(settings: Settings) -> None:
    """Every store's tables besides those the incident application's factory creates."""
    for target in targets(settings):
        if not target.postgres:
            Path(target.location).parent.mkdir(parents=True, exist_ok=True)
        _create(target, settings.connect_timeout_s)


_DONE: set[tuple[str, ...]] = set()


def ensure_schema(settings: Settings) -> None:
    """`migrate`'s step for the stores beside the event store, once per process and store
    set (the caller builds the incident application, whose factory does the event store,
    inside `schema_lock`)."""
    key = tuple(t.location for t in targets(settings))
    if key in _DONE:
        return
    check_reachable(settings)
    _create_others(settings)
    _DONE.add(key)
