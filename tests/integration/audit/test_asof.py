"""Time travel on real chained stores (SQLite and PostgreSQL): every view rebuilt as of instant
T equals what a live projection runner held at T, though more happened afterwards."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from audit.chain import from_us
from domain.application import IncidentApp
from domain.log import LogReader
from eventstore.log import ChainedLog, chain_of
from projections import ProjectionRunner, SqliteStore, all_views
from projections.asof import board_as_of, view_as_of
from projections.views import Doc
from tests.integration.projections.scenario import NOW, SITES

pytestmark = pytest.mark.postgres
VIEWS = all_views(SITES, 5)


async def live_rows(app: IncidentApp, path: Path) -> dict[str, dict[str, Doc]]:
    """Every view as a live runner holds it after catching up (incrementally, not a fold)."""
    runner = ProjectionRunner(LogReader(app), SqliteStore(path), VIEWS, batch=5)
    await runner.setup()
    try:
        await runner.catch_up()
        return {name: await runner.rows(name) for name in runner.views}
    finally:
        await runner.store.close()


def act_after_snapshot(app: IncidentApp) -> None:
    """More operator work, recorded strictly after the snapshot instant."""
    time.sleep(0.01)  # SQLite's clock has millisecond resolution
    ids = {i.incident_key: i for i in app.incidents()}
    face = ids["face_match:subject=W-1042"]
    app.acknowledge(face.id, by="op-2", at=NOW)
    app.close_incident(ids["fire:site=market-7"].id, by="op-1", at=NOW)
    app.add_note(face.id, text="handed over", by="op-2", at=NOW)


def snapshot(app: IncidentApp, path: Path):
    """The live views now and the instant they stand for (the head's recorded time)."""
    rows = asyncio.run(live_rows(app, path))
    head = chain_of(app).chain_head()
    assert head is not None
    return rows, from_us(head.recorded_at_us), head.position


def test_every_view_as_of_t_equals_the_live_views_at_t(scenario_app: IncidentApp,
                                                       tmp_path: Path) -> None:
    then, at, position = snapshot(scenario_app, tmp_path / "views.sqlite")
    act_after_snapshot(scenario_app)
    now = asyncio.run(live_rows(scenario_app, tmp_path / "views.sqlite"))
    assert now["board"] != then["board"]  # the board moved on
    log = ChainedLog(scenario_app)
    for view in VIEWS:
        past = view_as_of(log, view, at)
        assert (past.position, past.rows) == (position, then[view.name]), view.name
    assert board_as_of(log, at).rows == then["board"]


def test_before_the_first_event_every_view_is_empty(scenario_app: IncidentApp) -> None:
    log = ChainedLog(scenario_app)
    first = log.chain.links(1, 1)[0]
    early = board_as_of(log, from_us(first.recorded_at_us - 1))
    assert (early.position, early.rows) == (0, {})
