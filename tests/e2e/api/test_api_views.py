"""Agency views over real HTTP: every role x view (allowed or forbidden), personal-field
masking, filters and cursor pagination, read from a read model the real projection runner
filled from the projections' scenario (SQLite here; both stores in `test_every_view_on_...`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projections import SqliteStore
from tests.e2e.api.harness import Server, running_server
from tests.integration.projections.scenario import PERSONAL, SITES, build

# field -> (projection view it reads, its expected row count after the scenario, row fields)
LISTINGS = {
    "board": ("board", 6, "id kind status agencies evidenceCount assignee slaBreached"),
    "policeView": ("police", 3, "id kind status subject personalMasked snapshots "
                                "sightings { sourceId firstSeenAt lastSeenAt }"),
    "workOrders": ("zhkkh", 2, "id kind status district contractor slaMet timeToClearS"),
    "canteenAttendance": ("education", 2, "siteId school day meal attendance suppressed"),
    "schoolSafety": ("education", 1, "id kind status school district"),
}
READERS = {  # role -> projection views it may read
    "operator": {"board", "police", "zhkkh", "education"},
    "supervisor": {"board", "police", "zhkkh", "education"},
    "admin": {"board", "police", "zhkkh", "education"},
    "auditor": {"board", "police", "zhkkh", "education"},
    "police": {"police"},
    "zhkkh": {"zhkkh"},
    "education": {"education"},
}
PERSONAL_ROLES = {"police", "auditor"}
PERSONAL_VALUES = [p for p in PERSONAL if any(c.isdigit() for c in p)]  # not field names


def _query(field: str, args: str = "") -> str:
    rows = LISTINGS[field][2]
    return (f"query($after: String, $first: Int!) {{ v: {field}(first: $first, after: $after"
            f"{args}) {{ totalCount logPosition pageInfo {{ hasNextPage endCursor }} "
            f"edges {{ cursor node {{ {rows} }} }} }} }}")


def _seed(location: str, tmp: Path) -> Iterator[Server]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp / "events.sqlite")}
    with running_server(env, sites=SITES, read_model=location) as srv:
        asyncio.run(build(srv.app))
        assert srv.catch_up() > 0
        yield srv


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("views")
    yield from _seed(str(tmp / "views.sqlite"), tmp)


def _last_incident_position(server: Server) -> int:
    """The log's last position that a view folds (access-log batches come after it)."""
    notes = server.app.recorder.select_notifications(1, 1_000_000)
    return max(n.id for n in notes if not n.topic.startswith("domain.access:"))


def _stored_police(server: Server) -> dict[str, Any]:
    """What the read model itself holds for the police view (read with the real store)."""
    assert server.read_model is not None
    store = SqliteStore(server.read_model)
    try:
        _, texts = asyncio.run(store.texts("police"))
    finally:
        asyncio.run(store.close())
    return {k: json.loads(t) for k, t in texts.items()}


@pytest.mark.parametrize("role", list(READERS))
@pytest.mark.parametrize("field", list(LISTINGS))
def test_role_reads_only_its_views(views: Server, role: str, field: str) -> None:
    view, count, _ = LISTINGS[field]
    body = views.gql(_query(field), {"first": 50}, role=role)
    if view not in READERS[role]:
        assert body["data"] is None, body
        assert f"role {role} may not read the {view} view" in str(body["errors"]), body
        return
    assert "errors" not in body, body
    page = body["data"]["v"]
    assert page["totalCount"] == len(page["edges"]) == count
    assert int(page["logPosition"]) == _last_incident_position(views)
    if role not in PERSONAL_ROLES:  # no personal value in anything a non-personal role reads
        text = json.dumps(body)
        assert not [p for p in PERSONAL_VALUES if p in text], (role, field, text)


@pytest.mark.parametrize("role", [r for r, readable in READERS.items() if "police" in readable])
def test_police_view_personal_fields_only_for_police_and_auditors(views: Server,
                                                                  role: str) -> None:
    rows = {e["node"]["id"]: e["node"] for e in views.gql(
        _query("policeView"), {"first": 50}, role=role)["data"]["v"]["edges"]}
    stored = _stored_police(views)
    assert set(rows) == set(stored)
    personal = role in PERSONAL_ROLES
    for iid, row in rows.items():
        assert row["personalMasked"] is not personal
        if personal:
            assert row["subject"] == stored[iid]["subject"]
            assert row["snapshots"] == stored[iid]["snapshots"]
            assert sorted(s["sourceId"] for s in row["sightings"]) == sorted(
                stored[iid]["sightings"])
        else:  # the situation centre's policy: a pseudonym subject, no lists
            assert str(row["subject"]).startswith("masked:") or not stored[iid]["subject"]
            assert (row["snapshots"], row["sightings"]) == (None, None)
    face = next(r for r in rows.values() if r["kind"] == "face_match")
    assert (face["snapshots"] == ["s3://evidence/f1.jpg"]) is personal
    assert (face["subject"] == stored[face["id"]]["subject"]) is personal


def test_me_lists_the_readable_views(views: Server) -> None:
    for role, readable in READERS.items():
        me = views.gql("{ me { views } }", role=role)["data"]["me"]
        assert set(me["views"]) == readable, role


def test_view_filters_and_content(views: Server) -> None:
    def rows(field: str, args: str) -> list[dict]:
        body = views.gql(_query(field, args), {"first": 50}, role="auditor")
        assert "errors" not in body, body
        return [e["node"] for e in body["data"]["v"]["edges"]]

    assert sorted(r["kind"] for r in rows("board", ', filter: {status: ["OPEN"]}')) == [
        "face_match", "fire", "illegal_dump", "plate_match"]
    assert all(r["status"] != "CLOSED" for r in rows("board", ""))
    orders = rows("workOrders", ', filter: {district: "bostandyk"}')
    assert sorted(r["kind"] for r in orders) == ["garbage_overflow", "illegal_dump"]
    (order,) = [r for r in orders if r["kind"] == "garbage_overflow"]
    assert (order["kind"], order["status"], order["contractor"], order["slaMet"]) == (
        "garbage_overflow", "CLOSED", "tazalyk-2", True)
    assert rows("workOrders", ', filter: {district: "almaly"}') == []
    meals = {r["meal"]: r for r in rows("canteenAttendance", ', filter: {site: "school-12"}')}
    assert (meals["lunch"]["attendance"], meals["lunch"]["suppressed"]) == (122, False)
    assert (meals["breakfast"]["attendance"], meals["breakfast"]["suppressed"]) == (None, True)
    assert [r["meal"] for r in rows("canteenAttendance", ', filter: {meal: "lunch"}')] == [
        "lunch"]
    (fire,) = rows("schoolSafety", "")
    assert (fire["kind"], fire["school"], fire["district"]) == ("fire", "School No. 12",
                                                                "almaly")
    assert [r["kind"] for r in rows("policeView", ', filter: {kinds: ["face_match"]}')] == [
        "face_match"]


@pytest.mark.parametrize("field", list(LISTINGS))
def test_view_cursor_pagination_and_limits(views: Server, field: str) -> None:
    count = LISTINGS[field][1]
    seen, after = [], None
    for _ in range(count + 1):
        page = views.gql(_query(field), {"first": 1, "after": after}, role="admin")["data"]["v"]
        assert page["totalCount"] == count
        seen += [e["cursor"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert len(seen) == len(set(seen)) == count
    other = "board" if field != "board" else "policeView"
    foreign = views.gql(_query(other), {"first": 1}, role="admin")["data"]["v"]
    bad = views.gql(_query(field), {"first": 1, "after": foreign["pageInfo"]["endCursor"]},
                    role="admin")
    assert "bad cursor" in str(bad["errors"]), bad
    for first in (0, 201):
        body = views.gql(_query(field), {"first": first}, role="admin")
        assert "maximum page size 200" in str(body["errors"]), body


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_every_view_on_both_stores(request: pytest.FixtureRequest, tmp_path: Path,
                                   store: str) -> None:
    """The same reads from a SQLite file and a PostgreSQL read model (asyncpg)."""
    location = (str(tmp_path / "views.sqlite") if store == "sqlite"
                else request.getfixturevalue("postgres_url"))
    for server in _seed(location, tmp_path):
        for field, (_, count, _) in LISTINGS.items():
            body = server.gql(_query(field), {"first": 50}, role="auditor")
            assert body["data"]["v"]["totalCount"] == count, (field, body)
        listed = server.gql("{ incidents(first: 50) { totalCount logPosition } }")
        assert listed["data"]["incidents"]["totalCount"] == 6  # the board's: waste one closed
