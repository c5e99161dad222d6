"""Honest reads (issue 10, item 7): a read model that is absent, abandoned or lagging is
never served as current.

Over real HTTP (the API in uvicorn) beside a real `kuzet projections run` process on the same
stores: while it runs, the board serves `incidents` and the agency views; after SIGTERM (it
marks its heartbeat stopped) and after kill -9 (its heartbeat ages past
`max_view_staleness_s`), a new incident is listed by `incidents` (the event store folded, as
docs/api.md says) and every agency view answers `ViewUnavailable` saying why. A restarted
runner catches up and the views are served again. Waits are on real signals: the API's own
answers, the store's heartbeat row, the process's exit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kuzet.schema import migrate
from kuzet.settings import Settings, load_settings
from projections.postgres_store import PostgresStore
from projections.sqlite_store import SqliteStore
from projections.store import Freshness, ViewStore
from tests.e2e.api.harness import Server, open_incident, running_server

STALE_S = 2.0
PEPPER = "honest-reads-pepper-0123456789"
LIST = "{ incidents(first: 100) { totalCount logPosition edges { node { id } } } }"
VIEWS = ["board", "policeView", "workOrders", "schoolSafety", "canteenAttendance"]


@dataclass
class Stack:
    server: Server
    settings: Settings
    env: dict[str, str]

    @property
    def head(self) -> int:
        return int(self.server.app.recorder.max_notification_id() or 0)

    def incidents(self) -> tuple[set[str], int]:
        body = self.server.gql(LIST)
        assert "errors" not in body, body
        page = body["data"]["incidents"]
        return {e["node"]["id"] for e in page["edges"]}, int(page["logPosition"])

    def view(self, field: str) -> dict[str, Any]:
        return self.server.gql(f"{{ v: {field}(first: 50) {{ totalCount logPosition }} }}")

    def start_runner(self) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "kuzet", "projections", "run"],
                                env=self.env, text=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

    def freshness(self) -> Freshness:
        async def read() -> Freshness:
            location = self.settings.read_model_url
            store: ViewStore = (await PostgresStore.connect(location) if location else
                                SqliteStore(self.settings.data_dir / "views.sqlite"))
            try:
                return await store.freshness("board")
            finally:
                await store.close()
        return asyncio.run(read())


def until(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Polls `check` (a real signal) until it holds; fails naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def _served_at_head(stack: Stack) -> bool:
    body = stack.view("board")
    return "errors" not in body and int(body["data"]["v"]["logPosition"]) == stack.head


def _unavailable(stack: Stack, field: str) -> str:
    body = stack.view(field)
    assert body.get("data") is None and body["errors"], body
    return str(body["errors"][0]["message"])


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUZET_")}
    env |= {"KUZET_DATA_DIR": str(tmp_path / "data"), "KUZET_PRIVACY_PEPPER": PEPPER}
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        env |= {"KUZET_EVENT_STORE_URL": url, "KUZET_READ_MODEL_URL": url}
    settings = load_settings(environ=env)
    migrate(settings)
    read_model = settings.read_model_url or str(settings.data_dir / "views.sqlite")
    with running_server(settings.event_store_env(), read_model=read_model,
                        max_view_staleness_s=STALE_S) as server:
        yield Stack(server, settings, env)


def _assert_folded_and_views_refused(stack: Stack, new: str, why: str) -> None:
    listed, position = stack.incidents()
    assert new in listed and position == stack.head  # folded from the event store
    for field in VIEWS:
        message = _unavailable(stack, field)
        assert why in message and "behind the event store" in message, message


@pytest.mark.postgres
def test_stopped_and_killed_runner_views_are_not_served_as_current(stack: Stack) -> None:
    first = str(open_incident(stack.server.app, "fire"))
    runner = stack.start_runner()
    try:
        until("the runner's board at the log head, served", lambda: _served_at_head(stack))
        assert stack.incidents() == ({first}, stack.head)  # from the board
        for field in VIEWS:
            assert "errors" not in stack.view(field), field

        runner.send_signal(signal.SIGTERM)  # stopped: its heartbeat says so
        runner.wait(timeout=30)
        assert stack.freshness().stopped
        assert _served_at_head(stack)  # nothing new: the view is still current, and served
        second = str(open_incident(stack.server.app, "weapon"))
        _assert_folded_and_views_refused(stack, second, "projections process stopped")

        runner = stack.start_runner()  # restarted: catches up, served again
        until("the restarted runner's board served", lambda: _served_at_head(stack))
        assert stack.incidents()[0] == {first, second}

        runner.kill()  # kill -9: no stop mark, the heartbeat only ages
        runner.wait(timeout=30)
        assert not stack.freshness().stopped
        third = str(open_incident(stack.server.app, "weapon"))
        until("the killed runner's views refused",
              lambda: "errors" in stack.view("board"), timeout_s=10 * STALE_S)
        _assert_folded_and_views_refused(stack, third, "last reported")
        assert stack.freshness().heartbeat_age_s > STALE_S  # type: ignore[operator]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=30)


def test_absent_views_are_not_served_as_empty(tmp_path: Path) -> None:
    """No runner ever ran: tables set up but never built, or not set up at all."""
    env = {"KUZET_DATA_DIR": str(tmp_path / "data"), "KUZET_PRIVACY_PEPPER": PEPPER}
    settings = load_settings(environ=env)
    migrate(settings)
    for read_model, why in ((settings.data_dir / "views.sqlite", "has not been built yet"),
                            (tmp_path / "never-set-up.sqlite", "has not been set up")):
        with running_server(settings.event_store_env(), read_model=str(read_model)) as server:
            iid = str(open_incident(server.app, "fire"))
            stack = Stack(server, settings, env)
            assert iid in stack.incidents()[0]
            assert why in _unavailable(stack, "board")
