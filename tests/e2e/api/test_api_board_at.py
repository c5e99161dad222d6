"""Auditors' time travel over GraphQL: `boardAt(at)` equals the board an operator saw at T.

The "live" board is the real projection runner's read model, snapshotted at T while the test
runs; later events must not show up in what `boardAt` reconstructs for T.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID

from tests.e2e.api.harness import Server, open_incident

BOARD = """query($after: String) { board(first: 200, after: $after) { totalCount logPosition
  edges { node { id status evidenceCount } } } }"""
BOARD_AT = """query($at: DateTime!) { boardAt(at: $at, first: 200) { totalCount logPosition
  edges { node { id status evidenceCount } } } }"""


def _rows(page: dict) -> dict[str, dict]:
    return {e["node"]["id"]: e["node"] for e in page["edges"]}


def test_board_at_equals_the_board_seen_at_that_instant(server: Server,
                                                        seeded: dict[str, str]) -> None:
    server.catch_up()
    seen = server.gql(BOARD, role="auditor")["data"]["board"]
    time.sleep(0.01)  # recorded times are the database clock's (SQLite: milliseconds)
    at = datetime.now(UTC)
    time.sleep(0.01)
    later = str(open_incident(server.app, "weapon", site="later-site"))
    server.app.acknowledge(UUID(seeded["fire"]), by="op-9", at=datetime.now(UTC))

    then = server.gql(BOARD_AT, {"at": at.isoformat()}, role="auditor")
    assert "errors" not in then, then
    page = then["data"]["boardAt"]
    assert _rows(page) == _rows(seen)
    assert page["logPosition"] == seen["logPosition"]
    assert later not in _rows(page)

    now = server.gql(BOARD_AT, {"at": datetime.now(UTC).isoformat()}, role="auditor")
    assert later in _rows(now["data"]["boardAt"])
    assert _rows(now["data"]["boardAt"])[seeded["fire"]]["status"] == "ACKNOWLEDGED"


def test_only_auditors_and_admins_travel_in_time(server: Server, seeded: dict[str, str]) -> None:
    at = datetime.now(UTC).isoformat()
    for role in ("operator", "supervisor", "police", "zhkkh", "education"):
        body = server.gql(BOARD_AT, {"at": at}, role=role)
        assert body["errors"][0]["message"] == f"role {role} may not read the boardAt view"
    assert "errors" not in server.gql(BOARD_AT, {"at": at}, role="admin")


POLICE = """query($at: DateTime) { policeView(first: 200, at: $at) { totalCount logPosition
  edges { node { id status subject } } } }"""
WORK = """query($at: DateTime) { workOrders(first: 200, at: $at) { totalCount
  edges { node { id status } } } }"""


def test_every_agency_view_travels_in_time_for_auditors(server: Server,
                                                       seeded: dict[str, str]) -> None:
    server.catch_up()
    police_then = server.gql(POLICE, role="auditor")["data"]["policeView"]
    work_then = server.gql(WORK, role="auditor")["data"]["workOrders"]
    assert police_then["totalCount"] >= 1 and work_then["totalCount"] >= 1
    time.sleep(0.01)
    at = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    later = str(open_incident(server.app, "plate_match", attributes={"plate": "B555BB02"}))
    server.app.acknowledge(UUID(seeded["waste"]), by="op-9", at=datetime.now(UTC))
    server.catch_up()

    police_at = server.gql(POLICE, {"at": at}, role="auditor")["data"]["policeView"]
    assert _rows(police_at) == _rows(police_then)  # subjects included: auditors see them
    assert later not in _rows(police_at)
    assert later in _rows(server.gql(POLICE, role="auditor")["data"]["policeView"])
    work_at = server.gql(WORK, {"at": at}, role="auditor")["data"]["workOrders"]
    assert _rows(work_at) == _rows(work_then)
    assert _rows(work_at)[seeded["waste"]]["status"] == "OPEN"

    admin = server.gql(POLICE, {"at": at}, role="admin")["data"]["policeView"]
    assert {e["node"]["id"] for e in admin["edges"]} == set(_rows(police_then))
    assert all(str(e["node"]["subject"]).startswith("masked:")  # a pseudonym for admins
               or not _rows(police_then)[e["node"]["id"]]["subject"] for e in admin["edges"])
    assert "B555BB02" not in str(admin) and "A777AA02" not in str(admin)
    refused = server.gql(POLICE, {"at": at}, role="police")
    assert refused["errors"][0]["message"] == "role police may not read the past police view"
