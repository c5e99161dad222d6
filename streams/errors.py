"""Which exceptions are the infrastructure's fault rather than one record's.

A stage that reads external bytes treats any exception raised while handling one record as
that record's fault (it is dead-lettered, the stream goes on); only these stop or retry: the
event store or the broker is unreachable, a connection broke, the pool timed out.
"""

from __future__ import annotations

import sqlite3

from eventsourcing.persistence import (
    ConnectionPoolClosedError,
    ConnectionUnavailableError,
    InterfaceError,
    OperationalError,
)

__all__ = ["is_infrastructure"]

_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, ConnectionUnavailableError, ConnectionPoolClosedError,
    sqlite3.OperationalError, sqlite3.InterfaceError, ConnectionError, TimeoutError,
)


def _optional() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    try:
        import psycopg

        found += [psycopg.OperationalError, psycopg.InterfaceError]
    except ImportError:  # SQLite-only installs
        pass
    from aiokafka.errors import KafkaError

    found.append(KafkaError)
    return tuple(found)


_INFRASTRUCTURE += _optional()


def is_infrastructure(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) means "the store or broker is unreachable".

    `RelayError` and the like wrap broker errors `from None`, so they are named by the stage."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, _INFRASTRUCTURE):
            return True
        seen = seen.__cause__
    return False
