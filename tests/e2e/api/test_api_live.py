"""Subscriptions over real WebSocket (graphql-transport-ws): live, resume, cleanup, auth."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.e2e.api.harness import Server, Subscription, open_incident, until

SUB = """subscription($after: String, $kinds: [String!]) {
  incidentUpdates(after: $after, kinds: $kinds) {
    cursor eventType incidentId version incident { kind status subject key } } }"""


async def test_live_updates_then_resume_exactly_from_cursor(server: Server) -> None:
    sub = await Subscription.open(server.ws_url, server.token(), SUB, {"kinds": ["weapon"]})
    await until(lambda: server.subscribers >= 1, "subscribed")
    first = await asyncio.to_thread(open_incident, server.app, "weapon")
    seen = [(await sub.next())["incidentUpdates"]]
    while seen[-1]["version"] < server.app.incident(first).version:
        seen.append((await sub.next())["incidentUpdates"])
    assert {u["incidentId"] for u in seen} == {str(first)}
    assert seen[0]["eventType"] == "Opened" and seen[0]["incident"]["kind"] == "weapon"
    cursor = seen[-1]["cursor"]
    await sub.close()
    await until(lambda: server.subscribers == 0, "listener released")

    second = await asyncio.to_thread(open_incident, server.app, "weapon")  # while away
    server.app.acknowledge(first, by="op-2", at=server.app.incident(first).opened_at)
    resumed = await Subscription.open(server.ws_url, server.token(), SUB,
                                      {"kinds": ["weapon"], "after": cursor})
    want = server.app.incident(second).version + 1  # second's events + the acknowledgement
    got = [(await resumed.next())["incidentUpdates"] for _ in range(want)]
    positions = [int(u["cursor"]) for u in got]
    assert positions == sorted(set(positions)) and positions[0] > int(cursor)
    assert {(u["incidentId"], u["version"]) for u in got} == (
        {(str(second), v) for v in range(1, want)} | {(str(first), seen[-1]["version"] + 1)})
    third = await asyncio.to_thread(open_incident, server.app, "weapon")  # live after replay
    assert (await resumed.next())["incidentUpdates"]["incidentId"] == str(third)
    await resumed.close()


async def test_dropped_client_leaves_no_listener(server: Server) -> None:
    subs = [await Subscription.open(server.ws_url, server.token(), SUB) for _ in range(3)]
    await until(lambda: server.subscribers >= 3, "three listeners")
    for s in subs:
        s.ws.transport.abort() if hasattr(s.ws, "transport") else await s.ws.close()
    await until(lambda: server.subscribers == 0, "all listeners released")


@pytest.mark.parametrize("token", ["garbage", "expired", "missing"])
async def test_bad_token_rejected_at_websocket_connect(server: Server, token: str) -> None:
    payload = {"expired": {"authorization": f"Bearer {server.token(ttl=-1)}"},
               "garbage": {"authorization": "Bearer x.y"}, "missing": {}}[token]
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_subscription_is_filtered_and_masked_per_audience(server: Server) -> None:
    zhkkh = await Subscription.open(server.ws_url, server.token("zhkkh"), SUB)
    police = await Subscription.open(server.ws_url, server.token("police"), SUB)
    operator = await Subscription.open(server.ws_url, server.token("operator"), SUB)
    await until(lambda: server.subscribers >= 3, "three listeners")
    plate = await asyncio.to_thread(open_incident, server.app, "plate_match",
                                    attributes={"plate": "B555BB02"})
    p = (await police.next())["incidentUpdates"]
    o = (await operator.next())["incidentUpdates"]
    assert p["incidentId"] == o["incidentId"] == str(plate)
    assert p["incident"]["subject"] == {"plate": "B555BB02"} and "B555BB02" in p["incident"]["key"]
    assert o["incident"]["subject"].startswith("masked:")  # a pseudonym (privacy policy)
    assert "B555BB02" not in str(o["incident"])
    waste = await asyncio.to_thread(open_incident, server.app, "garbage_overflow")
    assert (await zhkkh.next())["incidentUpdates"]["incidentId"] == str(waste)  # not the plate
    for s in (zhkkh, police, operator):
        await s.close()
