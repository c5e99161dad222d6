"""Merge, split and silences over real HTTP and WebSocket (issue 14 items 4-5).

One test on the module's server (chained SQLite store, SQLite read model): who may merge,
typed refusals, the live subscription seeing both incidents' events, as-of reads of the merged
incident before the merge, the read model's rows and `projections verify` (live = replay)
after merge and split; then silences created, listed, ended and refused by role.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.log import LogReader
from projections import ProjectionRunner, SqliteStore, all_views
from tests.e2e.api.harness import CANTEEN_MIN_K, Server, Subscription, open_incident

UPDATES = "subscription { incidentUpdates { eventType incidentId } }"
INC = "id status version evidenceCount agencies mergedInto mergedFrom splitInto linkedTo"
ERR = """... on Forbidden { message } ... on InvalidInput { message }
  ... on NotFound { message } ... on IllegalTransition { message status }
  ... on VersionConflict { message currentVersion }"""
SILENCE = """__typename ... on Silence { id scope value state author silencedCount endsAt }
  ... on Forbidden { message } ... on InvalidInput { message }
  ... on NotFound { message } ... on IllegalTransition { message status }"""


def _version(server: Server, incident: str) -> int:
    r = server.gql(f'{{ incident(id: "{incident}") {{ version }} }}', role="supervisor")
    return int(r["data"]["incident"]["version"])


def merge(server: Server, into: str, merged: str, role: str = "supervisor") -> dict[str, Any]:
    r = server.gql(f"""mutation {{ r: mergeIncidents(id: "{into}", mergedId: "{merged}",
        expectedVersion: {_version(server, into)}, reason: "one situation") {{ __typename
        ... on Merged {{ incident {{ {INC} }} merged {{ {INC} }} }} {ERR} }} }}""", role=role)
    assert "errors" not in r, r
    return r["data"]["r"]  # type: ignore[no-any-return]


def _verify(server: Server) -> dict[str, bool]:
    assert server.read_model is not None
    location = server.read_model

    async def run() -> dict[str, bool]:
        store = SqliteStore(location)
        runner = ProjectionRunner(LogReader(server.app), store,
                                  all_views(server.sites, CANTEEN_MIN_K))
        try:
            return {name: (await runner.verify(name)).equal for name in ("board", "police")}
        finally:
            await store.close()

    return asyncio.run(run())


def test_merge_split_and_silences_over_http_and_websocket(server: Server) -> None:
    a = str(open_incident(server.app, "weapon"))
    b = str(open_incident(server.app, "weapon"))
    before = datetime.now(UTC)

    async def live() -> list[tuple[str, str]]:
        sub = await Subscription.open(server.ws_url, server.token("supervisor"), UPDATES)
        try:
            assert merge(server, a, b, role="operator")["__typename"] == "Forbidden"
            assert merge(server, a, a)["__typename"] == "InvalidInput"
            done = merge(server, a, b)
            assert done["__typename"] == "Merged", done
            assert done["merged"]["status"] == "MERGED" and done["merged"]["mergedInto"] == a
            assert done["incident"]["mergedFrom"] == [b]
            assert done["incident"]["evidenceCount"] == 6
            seen = []
            while len(seen) < 2:
                u = (await sub.next())["incidentUpdates"]
                seen.append((u["eventType"], u["incidentId"]))
            return seen
        finally:
            await sub.close()

    assert sorted(asyncio.run(live())) == sorted([("Merged", a), ("MergedInto", b)])
    again = merge(server, a, b)
    assert (again["__typename"], again["status"]) == ("IllegalTransition", "MERGED")
    old = server.gql(f'{{ incident(id: "{b}", asOf: "{before.isoformat()}") {{ status }} }}',
                     role="supervisor")
    assert old["data"]["incident"]["status"] == "OPEN"  # as of before the merge

    moved = sorted(server.app.incident(UUID(b)).evidence_ids)[:2]
    r = server.gql(f"""mutation {{ r: splitIncident(id: "{a}", detectionIds: {moved!r},
        expectedVersion: {_version(server, a)}) {{ __typename
        ... on SplitOff {{ incident {{ {INC} }} created {{ {INC} }} }} {ERR} }} }}"""
                   .replace("'", '"'), role="supervisor")["data"]["r"]
    assert r["__typename"] == "SplitOff", r
    assert r["incident"]["evidenceCount"] == 4 and r["created"]["evidenceCount"] == 2
    assert r["created"]["linkedTo"] == a and r["incident"]["splitInto"] == [r["created"]["id"]]
    server.catch_up()
    rows = server.gql("{ incidents(filter: {status: [\"MERGED\"]}) { edges { node { id } } } }",
                      role="supervisor")
    assert b in [e["node"]["id"] for e in rows["data"]["incidents"]["edges"]], rows
    assert _verify(server) == {"board": True, "police": True}

    now = datetime.now(UTC)
    create = ('mutation { r: createSilence(scope: "%s", value: "%s", reason: "works", '
              f'endsAt: "{(now + timedelta(hours=2)).isoformat()}") {{ {SILENCE} }} }}')
    refused = server.gql(create % ("camera", "cam-77"), role="operator")["data"]["r"]
    assert refused["__typename"] == "Forbidden"
    bad = server.gql(create % ("street", "x"), role="supervisor")["data"]["r"]
    assert bad["__typename"] == "InvalidInput" and "scope" in bad["message"]
    naive = ('mutation { r: createSilence(scope: "site", value: "yard-3", reason: "works", '
             f'endsAt: "{(now + timedelta(hours=2)).replace(tzinfo=None).isoformat()}") '
             f'{{ {SILENCE} }} }}')
    assert "offset" in server.gql(naive, role="supervisor")["data"]["r"]["message"]
    made = server.gql(create % ("camera", "cam-77"), role="supervisor")["data"]["r"]
    assert (made["__typename"], made["state"], made["silencedCount"]) == ("Silence", "active", 0)
    listed = server.gql("{ silences { id state } }", role="operator")["data"]["silences"]
    assert {"id": made["id"], "state": "active"} in listed
    police = server.gql("{ silences { id } }", token=server.token("operator", "police"))
    assert police["data"]["silences"] == []
    end = f'mutation {{ r: endSilence(id: "{made["id"]}", reason: "done") {{ {SILENCE} }} }}'
    assert server.gql(end, role="supervisor")["data"]["r"]["state"] == "ended"
    twice = server.gql(end, role="supervisor")["data"]["r"]
    assert (twice["__typename"], twice["status"]) == ("IllegalTransition", "ended")
    past = server.gql("{ silences(includePast: true) { id state } }", role="supervisor")
    assert {"id": made["id"], "state": "ended"} in past["data"]["silences"]
