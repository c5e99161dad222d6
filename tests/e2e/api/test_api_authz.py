"""Authorisation matrix over real HTTP and WebSocket: every role and agency-narrowed token x
incidents, history (free text included), views and personal fields; expiry during a
connection and revocation on both transports."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import httpx
import pytest
import websockets

from tests.e2e.api.harness import Server, Subscription, until

VIEWS = """query($plate: ID!, $waste: ID!, $fire: ID!) {
  me { role agency readOnly personal: seesPersonalData views }
  list: incidents(first: 200) { edges { node { id subject key } } }
  plate: incident(id: $plate) { subject key personalMasked }
  waste: incident(id: $waste) { id }
  fire: incident(id: $fire) { id }
  plateHistory: incidentHistory(id: $plate) { events { type details } }
  wasteHistory: incidentHistory(id: $waste) { events { type details } }
}"""
CLEAR, MASKED, DROPPED = "clear", "masked", "dropped"
ALL_VIEWS = ["board", "police", "zhkkh", "education"]

# (role, agency) -> (sees plate (police), waste (zhkkh), fire (emergency), personal fields,
#                    free text, read-only, views)
MATRIX: dict[tuple[str, str | None], tuple[bool, bool, bool, str, bool, bool, list[str]]] = {
    ("operator", None):          (True,  True,  True,  MASKED,  True,  False, ALL_VIEWS),
    ("supervisor", None):        (True,  True,  True,  MASKED,  True,  False, ALL_VIEWS),
    ("admin", None):             (True,  True,  True,  MASKED,  True,  False, ALL_VIEWS),
    ("auditor", None):           (True,  True,  True,  CLEAR,   True,  True,  ALL_VIEWS),
    ("police", None):            (True,  False, False, CLEAR,   True,  False, ["police"]),
    ("zhkkh", None):             (False, True,  False, DROPPED, False, False, ["zhkkh"]),
    ("education", None):         (False, False, False, DROPPED, False, False, ["education"]),
    ("operator", "zhkkh"):       (False, True,  False, DROPPED, False, False, ["board", "zhkkh"]),
    ("operator", "police"):      (True,  False, False, CLEAR,   True,  False, ["board", "police"]),
    ("supervisor", "education"): (False, False, False, DROPPED, False, False,
                                  ["board", "education"]),
}
NOTE = "owner Ivanov says the plate A777AA02 is his"


@pytest.fixture(scope="module")
def noted(server: Server, seeded: dict[str, str]) -> dict[str, str]:
    """The seeded incidents with an operator's note on the plate and on the waste incident."""
    for name in ("plate", "waste"):
        version = server.gql(f'{{ incident(id: "{seeded[name]}") {{ version }} }}'
                             )["data"]["incident"]["version"]
        r = server.gql(f'mutation {{ addNote(id: "{seeded[name]}", expectedVersion: {version}, '
                       f'text: "{NOTE}") {{ __typename }} }}')
        assert r["data"]["addNote"]["__typename"] == "Success", r
    return seeded


def _personal(value: Any, mode: str, clear: Any) -> bool:
    if mode == CLEAR:
        return bool(value == clear)
    if mode == MASKED:
        return isinstance(value, str) and value.startswith("masked:")
    return value is None


@pytest.mark.parametrize(("role", "agency"), list(MATRIX))
def test_every_principal_sees_its_agencies_views_and_fields_by_the_one_policy(
        server: Server, noted: dict[str, str], role: str, agency: str | None) -> None:
    plate, waste, fire, mode, free_text, read_only, views = MATRIX[(role, agency)]
    body = server.gql(VIEWS, noted, token=server.token(role, agency))
    assert "errors" not in body, body
    d = body["data"]
    assert (d["me"]["role"], d["me"]["readOnly"], d["me"]["personal"]) == (
        role, read_only, mode == CLEAR)
    assert d["me"]["views"] == views
    listed = {e["node"]["id"]: e["node"] for e in d["list"]["edges"]}
    assert (noted["plate"] in listed, noted["waste"] in listed, noted["fire"] in listed) == (
        plate, waste, fire)
    assert (d["plate"] is not None, d["waste"] is not None, d["fire"] is not None) == (
        plate, waste, fire)
    assert (d["plateHistory"] is not None, d["wasteHistory"] is not None) == (plate, waste)
    if plate:
        events = d["plateHistory"]["events"]
        opened, evidence = events[0], [e for e in events if e["type"] == "EvidenceAdded"]
        assert _personal(d["plate"]["subject"], mode, {"plate": "A777AA02"})
        assert ("A777AA02" in d["plate"]["key"]) == (mode == CLEAR)
        assert ("A777AA02" in listed[noted["plate"]]["key"]) == (mode == CLEAR)
        assert d["plate"]["personalMasked"] is (mode != CLEAR)
        assert _personal(opened["details"].get("subject"), mode, {"plate": "A777AA02"})
        snaps = [e["details"].get("snapshots") for e in evidence]
        assert snaps and all(isinstance(v, list) if mode == CLEAR else _personal(v, mode, None)
                             for v in snaps), snaps
        if mode != CLEAR:
            assert "A777AA02" not in json.dumps([e for e in events if e["type"] != "NoteAdded"])
    for history in (d["plateHistory"], d["wasteHistory"]):
        if history is not None:
            notes = [e["details"] for e in history["events"] if e["type"] == "NoteAdded"]
            assert notes and all(("text" in n) == free_text for n in notes), notes


@pytest.mark.parametrize(("role", "agency"), list(MATRIX))
def test_agency_views_are_narrowed_to_the_principals_agency(
        server: Server, seeded: dict[str, str], role: str, agency: str | None) -> None:
    views = MATRIX[(role, agency)][-1]
    fields = {"board": "board", "police": "policeView", "zhkkh": "workOrders",
              "education": "schoolSafety"}
    for view, field in fields.items():
        body = server.gql(f"{{ v: {field}(first: 5) {{ totalCount }} }}",
                          token=server.token(role, agency))
        if view in views:
            assert "errors" not in body, body
        else:
            assert body["data"] is None and "may not read" in str(body["errors"]), body


def test_board_rows_are_narrowed_for_an_agency_operator(server: Server,
                                                        seeded: dict[str, str]) -> None:
    q = "{ board(first: 200) { edges { node { id agencies } } } }"
    rows = server.gql(q, token=server.token("operator", "zhkkh"))["data"]["board"]["edges"]
    assert rows and all("zhkkh" in r["node"]["agencies"] for r in rows)
    assert seeded["plate"] not in {r["node"]["id"] for r in rows}


SUB = "subscription { incidentUpdates { cursor incidentId } }"
ACK = 'mutation($id: ID!, $v: Int!) { acknowledgeIncident(id: $id, expectedVersion: $v) ' \
      '{ __typename } }'


async def _closed_code(ws: Any) -> int:
    """Reads until the server closes the socket; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else -1


async def test_a_token_expiring_during_a_connection_closes_it_with_4403(
        server: Server, seeded: dict[str, str]) -> None:
    """The token lives 2 s: the open socket is closed when it expires (4403), so neither a
    subscription keeps delivering nor a mutation runs with the expired token."""
    sub = await Subscription.open(server.ws_url, server.token("operator", ttl=2), SUB)
    await until(lambda: server.subscribers >= 1, "the subscription")
    assert await _closed_code(sub.ws) == 4403
    await until(lambda: server.subscribers == 0, "the subscription released")


async def test_a_revoked_token_is_refused_on_http_and_its_socket_closed(
        server: Server, seeded: dict[str, str]) -> None:
    token = server.token("supervisor", subject="to-revoke")
    sub = await Subscription.open(server.ws_url, token, SUB)
    await until(lambda: server.subscribers >= 1, "the subscription")
    r = server.gql('mutation { revokeToken(reason: "lost laptop") { __typename '
                   '... on Revoked { tokenId } } }', token=token)
    assert r["data"]["revokeToken"]["__typename"] == "Revoked", r
    assert await _closed_code(sub.ws) == 4403
    version = server.app.incident(UUID(seeded["fire"])).version
    for query, variables in [("{ me { role } }", {}), (ACK, {"id": seeded["fire"], "v": version})]:
        r = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "token revoked" in r.text, r.text
    assert server.app.incident(UUID(seeded["fire"])).version == version
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"authorization": f"Bearer {token}"}}))
    assert await _closed_code(ws) == 4403


def test_only_admins_revoke_other_peoples_tokens(server: Server) -> None:
    q = 'mutation { revokeToken(tokenId: "someone-else") { __typename } }'
    assert server.gql(q, role="operator")["data"]["revokeToken"]["__typename"] == "Forbidden"
    assert server.gql(q, role="admin")["data"]["revokeToken"]["__typename"] == "Revoked"
