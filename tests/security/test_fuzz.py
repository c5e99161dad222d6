"""A GraphQL document fuzzer over real HTTP and WebSocket (hypothesis): random valid and invalid
documents, variables and bodies, sent with tokens of every role. Every answer is a 200 with
data or errors, or a 4xx with a reason; never a 500, never a dropped connection, and each
answer within a bound (`BOUND_S`, generous: it catches a hang or a blow-up, not a slowdown).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.api.harness import Server

BOUND_S = 3.0
ROLES = ["operator", "police", "zhkkh", "education", "auditor", "admin"]
FIELDS = ["id", "key", "kind", "status", "subject", "version", "agencies", "totalCount",
          "edges", "node", "cursor", "pageInfo", "hasNextPage", "endCursor", "events",
          "details", "type", "role", "views", "__typename", "__schema", "types", "name",
          "queryType", "fields", "ofType", "nope", "incident", "sightings", "snapshots"]
ROOTS = [
    "me", "incidents(first: {n})", 'incidents(first: {n}, after: "{s}")',
    'incident(id: "{s}")', 'incidentHistory(id: "{s}")', "board(first: {n})",
    "policeView(first: {n})", "workOrders(first: {n})", "schoolSafety(first: {n})",
    "canteenAttendance(first: {n})", 'personalDataAccess(subject: "{s}")',
    "incidents(filter: {{status: [\"{s}\"]}})", "__schema", '__type(name: "{s}")',
    "incidents(first: $n)", "incident(id: $id)",
]
MUTATIONS = [
    'addNote(id: "{s}", expectedVersion: {n}, text: "{s}")',
    'acknowledgeIncident(id: "{s}", expectedVersion: {n})',
    'revokeToken(tokenId: "{s}")', 'routeIncident(id: "{s}", expectedVersion: {n}, '
    'agencies: ["{s}"])',
]
_words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                 max_size=12).map(lambda s: s.replace("\\", "").replace('"', ""))
_ints = st.integers(min_value=-(2**40), max_value=2**40)


@st.composite
def selection(draw: st.DrawFn, depth: int = 0) -> str:
    names = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4))
    parts = []
    for i, name in enumerate(names):
        alias = f"a{i}: " if draw(st.booleans()) else ""
        nested = depth < 12 and draw(st.integers(0, 3)) == 0
        parts.append(alias + name + (" { " + draw(selection(depth + 1)) + " }" if nested else ""))
    if draw(st.integers(0, 6)) == 0:
        parts.append("... on Incident { id }")
    return " ".join(parts)


@st.composite
def document(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["query", "mutation", "garbage", "fragment"]))
    if kind == "garbage":
        return draw(st.text(max_size=200))
    roots = MUTATIONS if kind == "mutation" else ROOTS
    fields = []
    for _ in range(draw(st.integers(1, 3))):
        root = draw(st.sampled_from(roots)).format(n=draw(_ints), s=draw(_words))
        fields.append(root + " { " + draw(selection()) + " }")
    head = "mutation" if kind == "mutation" else "query($n: Int, $id: ID!)"
    doc = head + " { " + " ".join(fields) + " }"
    if kind == "fragment":
        doc = "query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }"
    if draw(st.integers(0, 5)) == 0:  # cut it anywhere
        doc = doc[: draw(st.integers(0, len(doc)))]
    return doc


_json = st.recursive(st.none() | st.booleans() | _ints | st.floats(allow_nan=False, allow_infinity=False) | _words,
                     lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(_words, kids, max_size=4), max_leaves=20)
variables = st.one_of(st.fixed_dictionaries({}, optional={"n": _json, "id": _json}),
                      _json)


def _check(r: httpx.Response, took: float) -> None:
    assert r.status_code in (200, 400, 401, 413), (r.status_code, r.text[:300])
    assert took < BOUND_S, f"{took:.2f}s"
    if r.status_code == 200:
        body = r.json()
        assert "data" in body or "errors" in body, body


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=document(), variables=variables, role=st.sampled_from(ROLES))
def test_random_documents_never_500_and_answer_in_bounded_time(
        server: Server, doc: str, variables: Any, role: str) -> None:
    began = time.monotonic()
    r = httpx.post(f"{server.url}/graphql", json={"query": doc, "variables": variables},
                   headers={"Authorization": f"Bearer {server.token(role)}"}, timeout=30)
    _check(r, time.monotonic() - began)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(st.binary(max_size=300), _json.map(lambda v: json.dumps(v).encode()),
                      st.builds(lambda d, v: json.dumps({"query": d, "variables": v}).encode()
                                + b"\xff", document(), _json)))
def test_random_bodies_never_500(server: Server, body: bytes) -> None:
    began = time.monotonic()
    r = httpx.post(f"{server.url}/graphql", content=body, timeout=30,
                   headers={"Authorization": f"Bearer {server.token()}",
                            "Content-Type": "application/json"})
    _check(r, time.monotonic() - began)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(messages=st.lists(st.one_of(
    st.builds(lambda d, v: json.dumps({"id": "1", "type": "subscribe",
                                       "payload": {"query": d, "variables": v}}),
              document(), _json),
    _json.map(json.dumps), st.text(max_size=100)), min_size=1, max_size=4))
def test_random_websocket_messages_never_crash_the_server(server: Server,
                                                         messages: list[str]) -> None:
    async def run() -> None:
        async with websockets.connect(server.ws_url,
                                      subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"authorization": server.token()}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), BOUND_S))["type"] == \
                "connection_ack"
            try:
                for m in messages:
                    await ws.send(m)
                await ws.send(json.dumps({"type": "ping"}))
                while True:  # until our pong, or a close with a 4xxx code
                    msg = json.loads(await asyncio.wait_for(ws.recv(), BOUND_S))
                    if msg.get("type") == "pong":
                        return
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                assert (code is not None and 4400 <= code < 4500) or code == 1009, code

    asyncio.run(run())
    assert httpx.get(f"{server.url}/healthz", timeout=BOUND_S).status_code == 200


@pytest.fixture(autouse=True)
def _quiet_strawberry_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Strawberry logs every refused document at ERROR; thousands of them are expected here."""
    caplog.set_level("CRITICAL", logger="strawberry.execution")
