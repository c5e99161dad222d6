"""Abuse limits over real HTTP and WebSocket: introspection off outside dev mode (admins only
when allowed), depth/alias/token limits on every document including introspection, caps on
connections and subscriptions per principal and per address, replays from an old cursor served
in bounded pages, in order, without a gap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.e2e.api.harness import Server, Subscription, open_incident, running_server, until
from tests.security.test_inbound import _close_of

INTROSPECT = "{ __schema { queryType { name } } }"
DEEP_INTROSPECTION = ("{ __schema { types { fields { type { ofType { ofType { ofType { ofType "
                      "{ ofType { ofType { name } } } } } } } } } } }")  # 12 levels


def _env(folder: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "events.sqlite")}


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with small caps, tiny replay pages and introspection allowed for admins."""
    with running_server(_env(tmp_path_factory.mktemp("tight")), max_ws_per_principal=2,
                        max_ws_per_address=4, max_subscriptions_per_principal=3,
                        replay_page=7, max_concurrent_replays=2,
                        introspection_for_admin=True) as srv:
        yield srv


@pytest.mark.parametrize("role", ["operator", "police", "zhkkh", "auditor", "admin"])
def test_introspection_is_off_outside_dev_mode_for_every_role(server: Server, role: str) -> None:
    body = server.gql(INTROSPECT, role=role)
    assert body.get("data") is None and "introspection is disabled" in str(body["errors"])
    assert server.gql("{ me { __typename } }", role=role)["data"]["me"]["__typename"] == "Me"


def test_introspection_for_admins_when_allowed_and_still_depth_limited(tight: Server) -> None:
    assert tight.gql(INTROSPECT, role="admin")["data"]["__schema"]["queryType"]["name"] == "Query"
    assert "introspection is disabled" in str(tight.gql(INTROSPECT, role="operator")["errors"])
    deep = tight.gql(DEEP_INTROSPECTION, role="admin")
    assert deep.get("data") is None and "exceeds maximum operation depth" in str(deep["errors"])
    many = "{ " + " ".join(f"a{i}: __schema {{ queryType {{ name }} }}" for i in range(20)) + " }"
    assert "aliases" in str(tight.gql(many, role="admin")["errors"]).lower()
    tokens = "{ __schema { " + "queryType { name } " * 600 + "} }"
    assert "token" in str(tight.gql(tokens, role="admin")["errors"]).lower()


def test_depth_counts_fragments_and_refuses_cycles_without_crashing(server: Server) -> None:
    fragments = ("query { incidents { ...A } } fragment A on IncidentConnection { edges { ...B } }"
                 " fragment B on IncidentEdge { node { ...C } } fragment C on Incident { id }")
    assert "errors" not in server.gql(fragments)
    cycle = "query { me { ...A } } fragment A on Me { ...B } fragment B on Me { ...A }"
    assert "errors" in server.gql(cycle)


async def _connect(server: Server, token: str) -> Any:
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"authorization": f"Bearer {token}"}}))
    return ws


async def test_connections_are_capped_per_principal(tight: Server) -> None:
    token = tight.token("zhkkh", subject="greedy")
    first = [await _connect(tight, token) for _ in range(2)]
    for ws in first:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    third = await _connect(tight, token)
    code, reason = await _close_of(third)
    assert code == 4429 and "too many connections" in reason
    other = await _connect(tight, tight.token("zhkkh", subject="someone-else"))
    assert json.loads(await asyncio.wait_for(other.recv(), 10))["type"] == "connection_ack"
    for ws in [*first, other]:
        await ws.close()
    await until(lambda: not tight.starlette.state.services.caps.principals, "caps released")


async def test_connections_are_capped_per_address(tight: Server) -> None:
    sockets = [await _connect(tight, tight.token("operator", subject=f"u{i}")) for i in range(4)]
    for ws in sockets:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    with pytest.raises(websockets.InvalidStatus):  # refused at the handshake
        await _connect(tight, tight.token("operator", subject="u5"))
    for ws in sockets:
        await ws.close()
    await until(lambda: not tight.starlette.state.services.caps.addresses, "caps released")


SUB = "subscription($after: String) { incidentUpdates(after: $after) { cursor incidentId } }"


async def test_subscriptions_are_capped_per_principal(tight: Server) -> None:
    ws = await _connect(tight, tight.token("operator", subject="subscriber"))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    for i in range(4):
        await ws.send(json.dumps({"id": str(i), "type": "subscribe",
                                  "payload": {"query": SUB, "variables": {}}}))
    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert msg["id"] == "3" and "too many subscriptions" in str(msg["payload"]), msg
    await until(lambda: tight.subscribers == 3, "three subscriptions")
    await ws.close()
    await until(lambda: tight.subscribers == 0, "subscriptions released")
    assert not tight.starlette.state.services.caps.subscriptions


async def test_old_cursor_replays_in_bounded_pages_in_order_without_gaps(tight: Server) -> None:
    ids = [await asyncio.to_thread(open_incident, tight.app, "fire") for _ in range(4)]
    subs = [await Subscription.open(tight.ws_url, tight.token("operator", subject=f"r{i}"),
                                    SUB, {"after": "0"}) for i in range(3)]
    head = tight.app.recorder.max_notification_id()
    seen: list[list[int]] = []
    for s in subs:
        cursors: list[int] = []
        while not cursors or cursors[-1] < head:
            cursors.append(int((await s.next())["incidentUpdates"]["cursor"]))
        seen.append(cursors)
        await s.close()
    assert seen[0] == seen[1] == seen[2] == sorted(set(seen[0]))  # same, ordered, no repeats
    incident_positions = [n.id for n in tight.app.recorder.select_notifications(1, 10_000)
                          if n.topic.startswith("domain.incident:")]
    assert seen[0] == incident_positions and len(ids) == 4
    pages = tight.starlette.state.services.replay
    assert len(pages._pages) <= pages.cached and not pages._reading
