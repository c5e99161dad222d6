"""Live frames written as bytes (`api.sockets`): every subscriber of one audience, selection
and operation id gets the very same frame; other ids and audiences get their own."""

from __future__ import annotations

import asyncio
import json

import websockets
from websockets.frames import Frame, Opcode

from api.auth import SITUATION_CENTRE
from api.policy import reveal_for
from api.sockets import text_frame
from tests.e2e.api.harness import Server, open_incident, until

SUB = "subscription { incidentUpdates { cursor eventType incident { kind key subject } } }"


async def _subscribe(server: Server, token: str, op: str) -> websockets.ClientConnection:
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": {"query": SUB}}))
    return ws


def _subject(raw: str) -> object:
    return json.loads(raw)["payload"]["data"]["incidentUpdates"]["incident"]["subject"]


async def _opened(ws: websockets.ClientConnection) -> str:
    """The raw text of the first `next` for an `Opened` event."""
    while True:
        raw = str(await asyncio.wait_for(ws.recv(), 30))
        if json.loads(raw)["payload"]["data"]["incidentUpdates"]["eventType"] == "Opened":
            return raw


async def test_one_audience_gets_the_same_bytes_and_ids_and_audiences_their_own(
        server: Server) -> None:
    before = server.subscribers
    sockets = [await _subscribe(server, server.token(subject=s), op) for s, op in
               (("op-a", "1"), ("op-b", "1"), ("op-c", "sub-7"))]
    sockets.append(await _subscribe(server, server.token("auditor", subject="aud"), "1"))
    try:
        await until(lambda: server.subscribers >= before + 4, "subscribed")
        await asyncio.to_thread(open_incident, server.app, "plate_match",
                                attributes={"plate": "C123CC02"}, site="yard-frames")
        one, two, other_id, auditor = [await _opened(ws) for ws in sockets]
        assert one == two  # the same frame, byte for byte
        assert json.loads(other_id)["id"] == "sub-7"
        assert other_id == one.replace('{"id":"1"', '{"id":"sub-7"', 1)
        plate = {"plate": "C123CC02"}  # each audience masked by its own policy
        assert _subject(one) == reveal_for(SITUATION_CENTRE).subject(plate) != plate
        assert _subject(auditor) == plate
    finally:
        for ws in sockets:
            await ws.close()


def test_text_frames_are_what_websockets_writes() -> None:
    for size in (0, 125, 126, 65535, 65536):
        payload = b"x" * size
        assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(
            mask=False, extensions=[])
