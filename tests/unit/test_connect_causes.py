"""The causes a failed connection is reported with (`eventstore.store_postgres`'s classifier,
which `kuzet.connect` uses for PostgreSQL and Kafka): driver texts as psycopg, asyncpg and
the socket layer word them, each to a few words; anything unknown keeps its first line."""

from __future__ import annotations

import socket

import pytest

from eventstore.store_postgres import describe_connect_error as describe

CASES = [
    ('connection failed: connection to server at "127.0.0.1", port 5999 failed: Connection '
     "refused\n\tIs the server running on that host and accepting TCP/IP connections?",
     "connection refused"),
    ("Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5999)",
     "connection refused"),
    ('connection failed: FATAL:  role "ghost" does not exist', 'no such role "ghost"'),
    ('database "nope" does not exist', 'no such database "nope"'),
    ('FATAL:  password authentication failed for user "kuzet"',
     'authentication failed for user "kuzet"'),
    ("failed to resolve host 'db.invalid': [Errno -2] Name or service not known",
     "host name not found (DNS)"),
    ('no pg_hba.conf entry for host "10.0.0.9", user "kuzet"', "pg_hba.conf"),
    ("connection failed: timeout expired", "no answer within 5 s"),
    ("something new\nsecond line", "something new"),
]


@pytest.mark.parametrize(("text", "cause"), CASES)
def test_driver_texts_become_causes(text: str, cause: str) -> None:
    assert cause in describe(Exception(text), 5.0)


def test_timeouts_and_socket_errors() -> None:
    assert describe(TimeoutError(), 2.5) == "no answer within 2.5 s"
    assert describe(socket.gaierror(-2, "Name or service not known"), 5) == \
        "host name not found (DNS)"
    assert describe(ConnectionRefusedError(111, "Connection refused"), 5).startswith(
        "connection refused")
