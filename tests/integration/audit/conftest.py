"""Fixtures: the chained event store on SQLite and PostgreSQL, filled by a real scenario, and a
`Tamper` that edits the stored rows with plain SQL the way someone with database access would."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.application import IncidentApp
from kuzet.settings import CHAINED_SQLITE, postgres_env
from tests.integration.projections.scenario import RULES, build


@pytest.fixture(params=["sqlite", "postgres"])
def chained_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """eventsourcing `env` of a fresh chained store: SQLite file, or a throwaway PG database."""
    if request.param == "sqlite":
        return {"PERSISTENCE_MODULE": CHAINED_SQLITE,
                "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}
    return postgres_env(request.getfixturevalue("postgres_url"))


@pytest.fixture
def scenario_app(chained_env: dict[str, str]) -> Iterator[IncidentApp]:
    """The projections' scenario (incidents, evidence, operator commands) in a chained store."""
    app = IncidentApp(chained_env, RULES)
    asyncio.run(build(app))
    yield app
    app.close()


class Tamper:
    """Direct SQL on the store's events and chain tables (no library in between)."""

    def __init__(self, env: dict[str, str], app: IncidentApp) -> None:
        self.events = app.recorder.events_table_name  # type: ignore[attr-defined]
        self.chain = app.recorder.chain_table_name  # type: ignore[attr-defined]
        if "SQLITE_DBNAME" in env:
            self.pos, self.mark = "rowid", "?"
            self._conn: Any = sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None)
        else:
            self.pos, self.mark = "notification_id", "%s"
            self._conn = psycopg.connect(
                dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"], autocommit=True)

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run `statement` ({ev}, {ch}, {pos} and ? filled in); rows if it returns any."""
        text = statement.format(ev=self.events, ch=self.chain, pos=self.pos).replace(
            "?", self.mark)
        cursor = self._conn.execute(text, params)
        return list(cursor.fetchall()) if cursor.description else []

    def row(self, position: int) -> tuple[Any, ...]:
        (row,) = self.sql("SELECT originator_id, originator_version, topic, state FROM {ev} "
                          "WHERE {pos} = ?", position)
        return row

    def put(self, position: int, row: tuple[Any, ...]) -> None:
        self.sql("UPDATE {ev} SET originator_id = ?, originator_version = ?, topic = ?, "
                 "state = ? WHERE {pos} = ?", *row, position)

    def shift(self, start: int, by: int) -> None:
        """Renumber the events from `start` on (in two steps: positions are unique)."""
        self.sql("UPDATE {ev} SET {pos} = {pos} + 1000000 WHERE {pos} >= ?", start)
        self.sql("UPDATE {ev} SET {pos} = {pos} - 1000000 + ? WHERE {pos} >= 1000000", by)

    def close(self) -> None:
        self._conn.close()


@pytest.fixture
def tamper(chained_env: dict[str, str], scenario_app: IncidentApp) -> Iterator[Tamper]:
    t = Tamper(chained_env, scenario_app)
    yield t
    t.close()
