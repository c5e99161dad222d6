"""Hostile signed reports at the inbound endpoint (issue 10): a lone surrogate escape used to
answer HTTP 500 (the store could not encode it). Now every such report is a typed 4xx that
names the field, nothing is written, and the endpoint keeps answering."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.inbound import REJECTED, InboundConfig, create_inbound_app
from adapters.signing import Signer, generate, load_private_key
from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.incident import incident_id_for
from domain.kinds import Kind
from tests.helpers import T0, default_rules, det
from tests.integration.adapters.test_inbound import NOW, World, post, report


@pytest.fixture
async def world(store_env: dict[str, str]) -> AsyncIterator[World]:
    """An incident routed to the police, and the endpoint in process (as test_inbound's)."""
    app = IncidentApp(store_env, default_rules())
    key = "fight:site=s1"
    dets = tuple(det("fight", site="s1", seconds=i) for i in range(3))
    app.open_incident(OpenIncident(key, Kind.FIGHT, 0, incident_id_for(key, 0), dets, None, T0),
                      T0)
    police, zhkkh = (Signer(load_private_key(generate().private_b64)) for _ in range(2))
    config = InboundConfig({"police": police.public_key, "zhkkh": zhkkh.public_key},
                           max_body_bytes=2048)
    inbound = create_inbound_app(config, app, clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=inbound),
                                 base_url="http://kuzet") as client:
        yield World(app, client, police, zhkkh, incident_id_for(key, 0))
    app.close()


def _rejected(stage: str, reason: str) -> float:
    return REJECTED.labels(stage=stage, reason=reason)._value.get()


async def test_a_lone_surrogate_anywhere_in_a_signed_report_is_a_422(world: World) -> None:
    before = _rejected("fields", "invalid_report")
    versions = world.app.incident(world.incident).version
    for hostile in (report(world, person="p-\ud800"), report(world, reason="\udfff x"),
                    {**report(world), "\ud800": "x"}):
        answer = await post(world, hostile)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid_report"
        assert "surrogate" in answer.text
    assert _rejected("fields", "invalid_report") == before + 3
    assert world.app.incident(world.incident).version == versions
    ok = await post(world, report(world))
    assert ok.status_code == 201


async def test_a_report_with_nan_or_deep_nesting_is_refused_not_crashed(world: World) -> None:
    deep = b'{"a":' * 30 + b"1" + b"}" * 30
    raw = b'{"report_id": "r-9", "incident_id": "%s", "response": "accepted", "x": %s}'
    for extra in (b"NaN", deep):
        answer = await post(world, raw % (str(world.incident).encode(), extra))
        assert answer.status_code == 422, answer.text
