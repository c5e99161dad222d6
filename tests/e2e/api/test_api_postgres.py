"""The same API on PostgreSQL once: query, a mutation with a conflict, a live subscription."""

from __future__ import annotations

import asyncio

import pytest

from kuzet.settings import postgres_env
from tests.e2e.api.harness import Subscription, open_incident, running_server, until


@pytest.mark.postgres
async def test_api_on_postgres(postgres_url: str) -> None:
    with running_server(postgres_env(postgres_url)) as server:
        sub = await Subscription.open(server.ws_url, server.token(), """subscription {
            incidentUpdates { cursor eventType incidentId version } }""")
        await until(lambda: server.subscribers >= 1, "subscribed")
        iid = str(await asyncio.to_thread(open_incident, server.app, "weapon"))
        assert (await sub.next())["incidentUpdates"]["incidentId"] == iid
        v = (await asyncio.to_thread(server.gql, f'{{ incident(id: "{iid}") {{ version }} }}'
                                     ))["data"]["incident"]["version"]
        q = ('mutation($id: ID!, $v: Int!) { r: acknowledgeIncident(id: $id, expectedVersion: '
             '$v) { __typename ... on VersionConflict { currentVersion } } }')
        ok = await asyncio.to_thread(server.gql, q, {"id": iid, "v": v})
        stale = await asyncio.to_thread(server.gql, q, {"id": iid, "v": v})
        assert ok["data"]["r"]["__typename"] == "Success"
        assert stale["data"]["r"] == {"__typename": "VersionConflict", "currentVersion": v + 1}
        await sub.close()
