"""Fail fast and say why: the connection checks every process runs before it starts work.

`check_postgres(url, timeout_s)` and `check_kafka(bootstrap, timeout_s)` give up within
`timeout_s` (KUZET_CONNECT_TIMEOUT_S, default 5 s) with one line that names the host and the
cause, instead of a pool's "couldn't get a connection after 30.00 sec" or a traceback:

    PostgreSQL at 127.0.0.1:5999/kuzet: connection refused (is the server running there?)
    PostgreSQL at 127.0.0.1:5432/kuzet: no such role "ghost"
    PostgreSQL at 127.0.0.1:5432/nope: no such database "nope"
    PostgreSQL at db.example:5432/kuzet: authentication failed for user "kuzet"
    PostgreSQL at no-such-host:5432/kuzet: host name not found (DNS)
    Kafka at 127.0.0.1:9999: connection refused (is a broker running there?)

`describe(exc, timeout_s)` turns a driver's exception (psycopg, asyncpg, OSError) into that
cause. Credentials never appear in a message.
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import unquote, urlsplit

from kuzet.errors import KuzetError

__all__ = ["DatabaseUnreachable", "check_kafka", "check_postgres", "describe", "where"]


class DatabaseUnreachable(KuzetError):
    """Raised when a configured PostgreSQL database cannot be connected to within the
    timeout; the message names host, port, database and the cause."""


def describe(exc: BaseException, timeout_s: float) -> str:
    """The cause of a failed connection in a few words
    (`eventstore.store_postgres.describe_connect_error`, imported only when needed)."""
    from eventstore.store_postgres import describe_connect_error

    return describe_connect_error(exc, timeout_s)


def where(url: str) -> str:
    """`host:port/db` of a `postgresql://` URL: what a message may show (no user, no secret)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}/{parts.path.strip('/')}"


def check_postgres(url: str, timeout_s: float) -> None:
    """Connect once (then close) within `timeout_s`; `DatabaseUnreachable` says why not."""
    import psycopg

    parts = urlsplit(url)
    try:
        conn = psycopg.connect(
            host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
            dbname=parts.path.strip("/"), user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""), connect_timeout=max(1, round(timeout_s)),
            autocommit=True)
    except (psycopg.Error, OSError) as exc:
        raise DatabaseUnreachable(f"PostgreSQL at {where(url)}: {describe(exc, timeout_s)}"
                                  ) from None
    conn.close()


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for entry in filter(None, (e.strip() for e in bootstrap.split(","))):
        host, _, port = entry.rpartition(":")
        out.append((host.strip("[]") or entry, int(port) if port.isdigit() else 9092))
    return out


async def _probe(host: str, port: int, timeout_s: float) -> str | None:
    """None if `host:port` accepts a TCP connection within `timeout_s`, else the cause."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError, socket.gaierror) as exc:
        return describe(exc, timeout_s).replace("the server", "a broker")
    writer.close()
    return None


async def check_kafka(bootstrap: str, timeout_s: float) -> None:
    """At least one bootstrap server accepts connections within `timeout_s`, or
    `kuzet.kafka.KafkaUnreachable` naming each server and its cause."""
    from kuzet.kafka import KafkaUnreachable

    hosts = _hosts(bootstrap)
    causes = await asyncio.gather(*(_probe(h, p, timeout_s) for h, p in hosts))
    if hosts and all(causes):
        listed = "; ".join(f"{h}:{p}: {c}" for (h, p), c in zip(hosts, causes, strict=True))
        raise KafkaUnreachable(f"Kafka at {listed}")
