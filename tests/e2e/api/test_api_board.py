"""`incidents(...)` served from the operator board (read model) and when it falls back to
folding the event store: a lagging board, CLOSED incidents, no reachable read model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.api.harness import Server, open_incident, running_server

LIST = """query($f: IncidentFilter) { incidents(first: 200, filter: $f) { totalCount logPosition
  edges { node { id status } } } }"""


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two API servers on one event store and one read model: the first tolerates any lag,
    the second none (so it folds whenever the board is behind)."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}
    views = str(tmp_path / "views.sqlite")
    with running_server(env, read_model=views) as lenient, \
            running_server(env, read_model=views, max_view_lag=0) as strict:
        yield lenient, strict


def _ids(server: Server, f: dict | None = None) -> tuple[set[str], int]:
    body = server.gql(LIST, {"f": f})
    assert "errors" not in body, body
    page = body["data"]["incidents"]
    return {e["node"]["id"] for e in page["edges"]}, int(page["logPosition"])


def test_board_serves_incidents_until_it_lags_too_far(pair: tuple[Server, Server]) -> None:
    lenient, strict = pair
    first = str(open_incident(lenient.app, "fire"))
    lenient.catch_up()
    head = lenient.app.recorder.max_notification_id()
    assert _ids(lenient) == _ids(strict) == ({first}, head)

    second = str(open_incident(lenient.app, "weapon"))  # the runner has not seen it yet
    listed, position = _ids(lenient)
    assert (listed, position) == ({first}, head)  # the board as of its own log position
    assert _ids(strict) == ({first, second}, lenient.app.recorder.max_notification_id())

    lenient.catch_up()
    assert _ids(lenient)[0] == {first, second}


def test_closed_incidents_only_when_asked_for(pair: tuple[Server, Server]) -> None:
    lenient, _ = pair
    app = lenient.app
    done, live = open_incident(app, "fire"), str(open_incident(app, "weapon"))
    now = datetime.now(UTC)
    app.acknowledge(done, by="op-1", at=now)
    app.resolve(done, resolution="out", by="op-1", at=now)
    app.close_incident(done, by="op-1", at=now)
    lenient.catch_up()
    assert _ids(lenient)[0] == {live}
    closed, _ = _ids(lenient, {"status": ["CLOSED"]})  # folded: the board drops closed ones
    assert closed == {str(done)}
    assert _ids(lenient, {"status": ["CLOSED", "OPEN"]})[0] == {str(done), live}


def test_unreachable_read_model_falls_back_and_views_say_why(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}
    missing = str(tmp_path / "no-such-dir" / "views.sqlite")
    with running_server(env, read_model=missing) as server:
        iid = str(open_incident(server.app, "fire"))
        assert _ids(server)[0] == {iid}
        body = server.gql("{ board { totalCount } }")
        assert body["data"] is None and "read-model store" in str(body["errors"]), body
    with running_server(env) as bare:
        body = bare.gql("{ board { totalCount } }")
        assert "agency views are not configured" in str(body["errors"]), body
