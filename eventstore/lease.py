"""Leases that make one instance of a follower active (`follow.lead`): PostgreSQL or a file.

`PostgresLease` holds a session-level advisory lock, `pg_try_advisory_lock(hashtext(
'kuzet.lease'), hashtext(name))`, on a connection of its own: the lease lasts exactly as long
as that connection, so a process that dies (kill -9 closes its socket) or loses the network
loses it, and the server frees the lock for a standby. The connection asks the server to probe
an idle client every few seconds (TCP keepalives), so a silent network failure ends it too.
Its `application_name` names the holder (`kuzet-lease <name> pid=<pid> host=<host>`), which
`lease_holder` reads back from `pg_locks`.

`FileLease` is the SQLite store's: an exclusive `fcntl.flock` on `<database>.<name>.lease`
beside the database file, which the kernel releases when the holder's process dies. (SQLite
runs on one host, so a file lock reaches every instance that can open the database.)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from pathlib import Path
from typing import Any

__all__ = ["FileLease", "PostgresLease", "lease_holder"]

log = logging.getLogger("kuzet.eventstore.lease")

_KEY = "hashtext('kuzet.lease'), hashtext(%s)"
_KEEPALIVE = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2",
              "SET tcp_keepalives_count = 3")


class PostgresLease:
    """A session-level advisory lock on a dedicated connection (`follow.Lease`)."""

    def __init__(self, url: str, name: str, *, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.name = name
        self.what = name
        self.connect_timeout_s = connect_timeout_s
        self._conn: Any = None
        self._held = False

    def _connect(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            label = f"kuzet-lease {self.name} pid={os.getpid()} host={socket.gethostname()}"
            self._conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout_s)),
                application_name=label[:63], keepalives=1, keepalives_idle=5,
                keepalives_interval=2, keepalives_count=3)
            for statement in _KEEPALIVE:
                self._conn.execute(statement)
        return self._conn

    def try_acquire(self) -> bool:
        import psycopg

        try:
            conn = self._connect()
            row = conn.execute(f"SELECT pg_try_advisory_lock({_KEY})", (self.name,)).fetchone()
        except psycopg.OperationalError as exc:  # the database is away: ask again later
            log.warning("%s: cannot ask for the lease (%s); asking again",
                        self.name, str(exc).strip().splitlines()[0] if str(exc) else exc)
            self._drop()
            return False
        self._held = bool(row[0])
        return self._held

    def alive(self) -> bool:
        import psycopg

        if not self._held or self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._held and self._conn is not None and not self._conn.closed:
            with contextlib.suppress(Exception):
                self._conn.execute(f"SELECT pg_advisory_unlock({_KEY})", (self.name,))
        self._drop()

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


class FileLease:
    """An exclusive `flock` on a file beside the SQLite database (`follow.Lease`)."""

    def __init__(self, database: Path, name: str) -> None:
        self.path = database.with_name(f"{database.name}.{name}.lease")
        self.name = name
        self.what = name
        self._file: Any = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lease
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(f"pid={os.getpid()} host={socket.gethostname()}\n")
        f.flush()
        self._file = f
        return True

    def alive(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the lock
            self._file = None


def lease_holder(location: str, name: str) -> str | None:
    """Who holds lease `name` on the store at `location` (a PostgreSQL URL or the SQLite
    database's path): the holder's `application_name` / lease-file line, or None."""
    if location.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(location, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                "AND l.classid = hashtext('kuzet.lease')::oid AND l.objid = hashtext(%s)::oid "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = "
                "current_database())", (name,)).fetchone()
        return None if row is None else str(row[0])
    lease = FileLease(Path(location), name)
    if lease.try_acquire():
        lease.release()
        return None
    return lease.path.read_text().strip() or None
