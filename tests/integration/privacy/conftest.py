"""Fixtures: the production event store factories (hash chain + sealing) on SQLite and
PostgreSQL, and a search for plaintext through every table, every byte and every view."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.application import IncidentApp
from eventstore.keystore import KeyStore
from kuzet.settings import CHAINED_SQLITE, postgres_env
from tests.helpers import default_rules

PEPPER = "test-pepper-not-a-secret-0123"
RULES = default_rules()


@pytest.fixture(params=["sqlite", "postgres"])
def sealed_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The env `Settings.event_store_env` builds: chained store, sealing on (pepper set)."""
    privacy = {"PRIVACY_PEPPER": PEPPER, "PRIVACY_KEY_CACHE_S": "5"}
    if request.param == "sqlite":
        return {"PERSISTENCE_MODULE": CHAINED_SQLITE,
                "SQLITE_DBNAME": str(tmp_path / "events.sqlite"), **privacy}
    return {**postgres_env(request.getfixturevalue("postgres_url")), **privacy}


@pytest.fixture
def sealed_app(sealed_env: dict[str, str]) -> Iterator[IncidentApp]:
    app = IncidentApp(sealed_env, RULES)
    yield app
    app.close()


def keystore_of(app: IncidentApp) -> KeyStore:
    keys = app.factory.keystore  # type: ignore[attr-defined]
    assert isinstance(keys, KeyStore)
    return keys


def stored_values(env: dict[str, str]) -> Iterator[tuple[str, bytes]]:
    """(table, value as bytes) of every column of every row of every table, read with plain
    SQL (bytea/BLOB as stored, text as UTF-8): what someone with database access sees."""
    if "SQLITE_DBNAME" in env:
        conn = sqlite3.connect(env["SQLITE_DBNAME"])
        try:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    yield from ((table, _bytes(v)) for v in row)
        finally:
            conn.close()
        return
    with psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                         port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"]) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                yield from ((table, _bytes(v)) for v in row)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def raw_files(env: dict[str, str]) -> list[Path]:
    """The SQLite database file and its write-ahead log (none for PostgreSQL)."""
    if "SQLITE_DBNAME" not in env:
        return []
    base = Path(env["SQLITE_DBNAME"])
    return [p for p in (base, base.with_name(base.name + "-wal")) if p.exists()]


def found(needles: Iterable[str], haystack: bytes) -> list[str]:
    return [n for n in needles if n.encode() in haystack]
