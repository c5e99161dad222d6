"""GraphQL over real HTTP: queries, pagination, as-of, history, each mutation, limits, auth."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest

from tests.e2e.api.harness import Server, open_incident

INCIDENT = "id key kind status version agencies subject personalMasked slaBreached"
MUTATIONS = {
    "acknowledgeIncident": "",
    "assignIncident": ', assignee: "crew-7"',
    "dispatchIncident": ', unit: "fire-12"',
    "resolveIncident": ', resolution: "put out"',
    "reopenIncident": ', reason: "flared up"',
    "addNote": ', text: "called the owner"',
    "markFalseAlarm": ', reason: "steam"',
    "routeIncident": ', agencies: ["police"]',
    "escalateIncident": ', reason: "crowd gathering"',
    "closeIncident": "",
}
RESULT = """__typename ... on Success { incident { status version } }
  ... on VersionConflict { currentVersion message } ... on IllegalTransition { status message }
  ... on NotFound { message } ... on Forbidden { message } ... on InvalidInput { message }"""


def mutate(server: Server, name: str, iid: str, version: int, role: str = "operator") -> dict:
    q = f'mutation {{ r: {name}(id: "{iid}", expectedVersion: {version}{MUTATIONS[name]}) ' \
        f'{{ {RESULT} }} }}'
    body = server.gql(q, role=role)
    assert "errors" not in body, body
    return body["data"]["r"]


@pytest.mark.parametrize("source", ["board", "fold"])
def test_incidents_filter_and_cursor_pagination(request: pytest.FixtureRequest,
                                                source: str) -> None:
    """The same filters and pages from the operator board (read model) and from the fold."""
    server: Server = request.getfixturevalue("server" if source == "board" else "fold_server")
    seeded = request.getfixturevalue("seeded" if source == "board" else "fold_seeded")
    q = """query($after: String, $f: IncidentFilter) { incidents(first: 2, after: $after,
      filter: $f) { totalCount logPosition edges { cursor node { id kind } }
      pageInfo { hasNextPage endCursor } } }"""
    first = server.gql(q)["data"]["incidents"]
    assert first["pageInfo"]["hasNextPage"] and len(first["edges"]) == 2
    rest = server.gql(q, {"after": first["pageInfo"]["endCursor"]})["data"]["incidents"]
    ids = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
    assert len(ids) == len(set(ids)) == first["totalCount"] and set(seeded.values()) <= set(ids)
    fires = server.gql(q, {"f": {"kinds": ["fire"], "site": "market-9"}})["data"]["incidents"]
    assert [e["node"]["id"] for e in fires["edges"]] == [seeded["fire"]]
    zhkkh = server.gql(q, {"f": {"agency": "zhkkh", "status": ["OPEN"]}})["data"]["incidents"]
    assert [e["node"]["kind"] for e in zhkkh["edges"]] == ["garbage_overflow"]
    bad = server.gql(q, {"after": "bm9wZQ=="})
    assert "bad cursor" in str(bad["errors"]), bad
    unknown = server.gql(q, {"f": {"status": ["BURNING"]}})
    assert "unknown status 'BURNING'" in str(unknown["errors"]), unknown


def test_incident_as_of_and_history_with_provenance(server: Server) -> None:
    iid = str(open_incident(server.app, "weapon"))
    opened = server.gql(f'{{ incident(id: "{iid}") {{ openedAt version }} }}')["data"]["incident"]
    assert mutate(server, "acknowledgeIncident", iid, opened["version"])["__typename"] == "Success"
    past = server.gql('query($id: ID!, $t: DateTime) { incident(id: $id, asOf: $t) '
                      '{ status version } }', {"id": iid, "t": opened["openedAt"]})
    assert past["data"]["incident"] == {"status": "OPEN", "version": 1}
    hist = server.gql(f'{{ incidentHistory(id: "{iid}") {{ events {{ type actor at '
                      f'detectionIds rule version }} }} }}')["data"]["incidentHistory"]["events"]
    assert hist[0]["type"] == "Opened" and hist[-1]["type"] == "Acknowledged"
    assert hist[0]["rule"].startswith("rule:weapon") and len(hist[0]["detectionIds"]) >= 1
    assert hist[-1]["actor"] == "operator:op-1"


def test_each_mutation_and_typed_failures(server: Server) -> None:
    iid = str(open_incident(server.app, "fire"))
    v = server.gql(f'{{ incident(id: "{iid}") {{ version }} }}')["data"]["incident"]["version"]
    for name, status in [("acknowledgeIncident", "ACKNOWLEDGED"), ("assignIncident", None),
                         ("addNote", None), ("dispatchIncident", "DISPATCHED"),
                         ("resolveIncident", "RESOLVED"), ("reopenIncident", "REOPENED"),
                         ("markFalseAlarm", "FALSE_ALARM")]:
        r = mutate(server, name, iid, v)
        assert r["__typename"] == "Success", (name, r)
        assert status is None or r["incident"]["status"] == status
        assert r["incident"]["version"] == v + 1
        v += 1
    stale = mutate(server, "addNote", iid, v - 2)
    assert stale["__typename"] == "VersionConflict" and stale["currentVersion"] == v
    illegal = mutate(server, "dispatchIncident", iid, v)
    assert illegal == {"__typename": "IllegalTransition", "status": "FALSE_ALARM",
                       "message": illegal["message"]}
    missing = mutate(server, "acknowledgeIncident", "00000000-0000-0000-0000-000000000000", 1)
    assert missing["__typename"] == "NotFound"
    assert mutate(server, "addNote", iid, v, role="auditor")["__typename"] == "Forbidden"
    assert mutate(server, "addNote", iid, v, role="zhkkh")["__typename"] == "NotFound"
    assert server.app.incident(UUID(iid)).version == v  # refused on the load, nothing written


def test_supervisors_route_incidents_to_more_agencies(server: Server) -> None:
    iid = str(open_incident(server.app, "fire"))
    before = server.app.incident(UUID(iid))
    assert "police" not in before.agencies
    assert mutate(server, "routeIncident", iid, before.version)["__typename"] == "Forbidden"
    routed = mutate(server, "routeIncident", iid, before.version, role="supervisor")
    assert routed["__typename"] == "Success", routed
    assert "police" in server.app.incident(UUID(iid)).agencies
    q = f'mutation {{ r: routeIncident(id: "{iid}", expectedVersion: {before.version + 1}, ' \
        f'agencies: ["interpol"]) {{ {RESULT} }} }}'
    assert server.gql(q, role="supervisor")["data"]["r"]["__typename"] == "InvalidInput"


def test_supervisors_escalate_and_close(server: Server) -> None:
    iid = str(open_incident(server.app, "fight"))
    v = server.app.incident(UUID(iid)).version
    for name in ("escalateIncident", "closeIncident"):
        refused = mutate(server, name, iid, v)
        assert refused["__typename"] == "Forbidden" and "supervisor" not in refused["message"]
    early = mutate(server, "closeIncident", iid, v, role="supervisor")
    assert early["__typename"] == "IllegalTransition" and early["status"] == "OPEN"
    up = mutate(server, "escalateIncident", iid, v, role="supervisor")
    assert up["__typename"] == "Success" and up["incident"]["status"] == "OPEN"
    assert server.app.incident(UUID(iid)).level == 1
    for name in ("acknowledgeIncident", "resolveIncident"):
        assert mutate(server, name, iid, v + 1)["__typename"] == "Success"
        v += 1
    closed = mutate(server, "closeIncident", iid, v + 1, role="admin")
    assert closed["__typename"] == "Success" and closed["incident"]["status"] == "CLOSED"
    history = [type(e).__name__ for e in server.app.history(UUID(iid))]
    assert history[-4:] == ["Escalated", "Acknowledged", "Resolved", "Closed"]


@pytest.mark.parametrize(("query", "role", "code"), [
    ("{ nope }", "operator", "BAD_REQUEST"),
    ('{ incidents(after: "zzz") { totalCount } }', "operator", "BAD_REQUEST"),
    ("{ policeView(first: 5) { totalCount } }", "zhkkh", "FORBIDDEN"),
])
def test_graphql_errors_carry_stable_codes(server: Server, query: str, role: str,
                                           code: str) -> None:
    """`extensions.code`: what clients (the console among them) localise by."""
    errors = server.gql(query, role=role)["errors"]
    assert [e["extensions"]["code"] for e in errors] == [code]


@pytest.mark.parametrize(("query", "needle"), [
    ("{ incidents { edges { node { id } } } }", None),
    ("{ a1: me { role } a2: me { role } a3: me { role } a4: me { role } a5: me { role } "
     "a6: me { role } a7: me { role } a8: me { role } a9: me { role } b1: me { role } "
     "b2: me { role } b3: me { role } b4: me { role } b5: me { role } b6: me { role } "
     "b7: me { role } }", "aliases"),
    ("{ incidents { edges { node { " + "x { " * 8 + "y " + "} " * 11 + "}", "depth"),
    ("{ me { " + "role " * 2100 + "} }", "token"),
    ("{ incidents(first: 100000) { totalCount } }", "maximum page size"),
])
def test_query_limits_give_clear_errors(server: Server, query: str, needle: str | None) -> None:
    body = server.gql(query)
    if needle is None:
        assert "errors" not in body
        return
    assert needle in str(body["errors"]).lower(), body


def test_body_size_limit_and_bad_tokens_on_http(server: Server) -> None:
    big = httpx.post(f"{server.url}/graphql", content=b"{" + b" " * 70_000 + b"}",
                     headers={"Authorization": f"Bearer {server.token()}",
                              "Content-Type": "application/json"})
    assert big.status_code == 413 and "larger than" in big.text
    for token, reason in [("nope", "signature"), (server.token(ttl=-5), "expired"),
                          (server.token()[:-3] + "abc", "signature")]:
        r = httpx.post(f"{server.url}/graphql", json={"query": "{ me { role } }"},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and reason in r.text, r.text
    r = httpx.post(f"{server.url}/graphql", json={"query": "{ me { role } }"})
    assert r.status_code == 401 and "missing bearer token" in r.text
