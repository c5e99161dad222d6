"""Killing the projection runner at random points and restarting it changes nothing."""

from __future__ import annotations

import random

import pytest

from domain.log import LogEvent
from projections import ProjectionRunner, SqliteStore
from projections.views import Doc, View
from tests.integration.projections.conftest import runner_for


class Killed(Exception):
    """The simulated crash."""


class Crashing:
    """A real view that dies on its `after`-th event, mid-batch, before the commit."""

    def __init__(self, view: View, after: int) -> None:
        self.view, self.after, self.name = view, after, view.name

    def key(self, event: LogEvent) -> str | None:
        return self.view.key(event)

    def apply(self, doc: Doc | None, event: LogEvent) -> Doc | None:
        self.after -= 1
        if self.after == 0:
            raise Killed(self.name)
        return self.view.apply(doc, event)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill_and_restart_gives_identical_views(scenario_app, tmp_path, seed) -> None:
    steady = runner_for(scenario_app, SqliteStore(tmp_path / "steady.sqlite"))
    await steady.setup()
    await steady.catch_up()
    rng = random.Random(seed)
    store = SqliteStore(tmp_path / f"crashy-{seed}.sqlite")
    kills = 0
    while True:
        base = runner_for(scenario_app, store, batch=rng.randint(1, 9))
        views = [Crashing(v, rng.randint(1, 12)) for v in base.views.values()]
        runner = ProjectionRunner(base.source, store, views, batch=base.batch)
        await runner.setup()
        try:
            await runner.catch_up()
            break
        except Killed:
            kills += 1
    assert kills >= 3
    for name in steady.views:
        assert (await runner_for(scenario_app, store).verify(name)).equal
        assert await runner_for(scenario_app, store).rows(name) == await steady.rows(name)
