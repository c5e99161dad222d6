"""Fixtures: a scenario-filled event store and one read-model store per implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.application import IncidentApp
from domain.log import LogReader
from projections import ProjectionRunner, SqliteStore, all_views
from projections.postgres_store import PostgresStore
from projections.store import ViewStore
from tests.integration.projections.scenario import RULES, SITES, build

K = 5


@pytest.fixture
async def scenario_app(tmp_path: Path) -> AsyncIterator[IncidentApp]:
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}, RULES)
    await build(app)
    yield app
    app.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def view_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ViewStore]:
    """A fresh read-model store: SQLite file, or a throwaway PostgreSQL database."""
    store: ViewStore
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "views.sqlite")
    else:
        store = await PostgresStore.connect(request.getfixturevalue("postgres_url"))
    yield store
    await store.close()


def runner_for(app: IncidentApp, store: ViewStore, batch: int = 2000) -> ProjectionRunner:
    return ProjectionRunner(LogReader(app), store, all_views(SITES, K), batch=batch)
