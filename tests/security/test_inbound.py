"""Malformed requests over real HTTP and WebSocket: every one a 4xx (HTTP) or a 4400/1009 close
(WebSocket) with a clear reason, never a 500 or a crash; the server answers afterwards."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.api.harness import Server

DEEP = 30_000


def _post(server: Server, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(f"{server.url}/graphql", content=content, timeout=10,
                      headers={"Authorization": f"Bearer {server.token()}",
                               "Content-Type": content_type})


@pytest.mark.parametrize(("body", "reason"), [
    (b"null", "must be a JSON object, not NoneType"),
    (b'"str"', "must be a JSON object, not str"),
    (b"42", "must be a JSON object, not int"),
    (b"[]", "must be a JSON object, not list"),
    (b'{"query": "{ me { role } }"\xff\xfe}', "not valid UTF-8"),
    (b"{" * 10 + b"}", "not valid JSON"),
    (b'{"query": "{ me { role } }", "variables": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000
     + b"}", "nested deeper than"),  # 30,000 levels of objects pass 64 KiB: 413 first
    (b'{"query": "{ me { role } }", "variables": ' + b"[" * DEEP + b"]" * DEEP + b"}",
     "nested deeper than"),
    (b'{"query": 5}', "must be a string"),
    (b'{"query": "{ me { role } }", "variables": "x"}', "must be an object"),
    (b'{"query": "{ me { role } }", "variables": []}', "must be an object"),
])
def test_malformed_http_bodies_get_400_with_a_reason(server: Server, body: bytes,
                                                      reason: str) -> None:
    r = _post(server, body)
    assert r.status_code == 400 and reason in r.text, (r.status_code, r.text[:300])


def test_wrong_content_type_and_garbage_query_are_4xx_and_the_server_still_answers(
        server: Server) -> None:
    assert _post(server, b"query=x", "text/plain").status_code == 400
    r = _post(server, json.dumps({"query": "{" * 5000}).encode())
    assert r.status_code in (200, 400) and "error" in r.text.lower()
    r = httpx.get(f"{server.url}/graphql", params={"query": "{ me { role } }",
                                                   "variables": "[" * 3000},
                  headers={"Authorization": f"Bearer {server.token()}"})
    assert 400 <= r.status_code < 500, r.text[:200]
    assert server.gql("{ me { role } }")["data"]["me"]["role"] == "operator"


async def _open(server: Server, token: str | None = None) -> Any:
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"],
                                  max_size=None)
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"authorization": f"Bearer {token or server.token()}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    return ws


async def _close_of(ws: Any) -> tuple[int, str]:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        frame = closed.rcvd
        return (frame.code, frame.reason) if frame is not None else (-1, "")


@pytest.mark.parametrize(("message", "code", "reason"), [
    ("null", 4400, "object with a `type`"),
    ('"str"', 4400, "object with a `type`"),
    ("[1, 2]", 4400, "object with a `type`"),
    ("{}", 4400, "object with a `type`"),
    ('{"type": "subscribe", "id": "1", "payload": "x"}', 4400, "subscribe needs"),
    ('{"type": "subscribe", "id": 1, "payload": {"query": "{ me { role } }"}}', 4400,
     "subscribe needs"),
    ('{"type": "subscribe", "id": "1", "payload": {"query": "{ me { role } }", '
     '"variables": 5}}', 4400, "subscribe needs"),
    ('{"type": "subscribe", "id": "1", "payload": {"query": "{ me { role } }", "variables": '
     + "[" * DEEP + "]" * DEEP + "}}", 4400, "JSON"),
    ("not json", 4400, "JSON"),
])
async def test_malformed_websocket_messages_close_the_socket_with_4400(
        server: Server, message: str, code: int, reason: str) -> None:
    ws = await _open(server)
    await ws.send(message)
    got = await _close_of(ws)
    assert got[0] == code and reason in got[1], got


async def test_websocket_messages_are_limited_like_http_bodies(server: Server) -> None:
    """A 10 MB `subscribe` is never executed: the socket closes with 1009 (too big)."""
    ws = await _open(server)
    huge = json.dumps({"type": "subscribe", "id": "1", "payload": {
        "query": "{ me { role } }", "variables": {"x": "a" * 10_000_000}}})
    await ws.send(huge)
    assert (await _close_of(ws))[0] == 1009
    ok = await _open(server)  # the server is fine
    await ok.close()
