"""Agencies report back through the inbound endpoint into the real event store (SQLite and
PostgreSQL). Requests go through httpx's ASGI transport: the real Starlette app, in process."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest

from adapters.inbound import InboundConfig, create_inbound_app
from adapters.signing import Signer, generate, load_private_key
from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.incident import incident_id_for
from domain.kinds import Kind, Status
from tests.helpers import T0, default_rules, det

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@dataclass
class World:
    app: IncidentApp
    client: httpx.AsyncClient
    police: Signer
    zhkkh: Signer
    incident: UUID


@pytest.fixture
async def world(store_env: dict[str, str]) -> AsyncIterator[World]:
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


async def post(world: World, body: bytes | dict, *, agency: str = "police",
               signer: Signer | None = None, at: float | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = (signer or world.police).headers(raw, int(NOW.timestamp() if at is None else at))
    return await world.client.post(f"/agencies/{agency}/reports", content=raw, headers=headers)


def report(world: World, **fields: str) -> dict[str, str]:
    return {"report_id": "r-1", "incident_id": str(world.incident), "response": "accepted",
            "person": "p-7", **fields}


async def test_a_signed_report_becomes_an_incident_event_once(world: World) -> None:
    first = await post(world, report(world))
    assert first.status_code == 201, first.text
    assert first.json() == {"status": "recorded", "report_id": "r-1",
                            "incident_id": str(world.incident)}
    again = await post(world, report(world))
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    declined = await post(world, report(world, report_id="r-2", response="declined",
                                        reason="no unit free"))
    assert declined.status_code == 201
    events = world.app.history(world.incident)
    responded = [e for e in events if type(e).__name__ == "AgencyResponded"]
    assert [(e.agency, e.response, e.reason, e.report_id, e.actor, e.timestamp)
            for e in responded] == [
        ("police", "accepted", None, "r-1", "agency:police/p-7", NOW),
        ("police", "declined", "no unit free", "r-2", "agency:police/p-7", NOW)]
    incident = world.app.incident(world.incident)
    assert incident.status is Status.OPEN and incident.agency_responses == {"police": "declined"}
    assert (await world.client.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.parametrize(("case", "status", "error", "says"), [
    ("tampered body", 401, "bad_signature", "does not verify"),
    ("other agency's key", 401, "bad_signature", "does not verify"),
    ("stale", 401, "bad_signature", "more than 300s from now"),
    ("unsigned", 401, "bad_signature", "missing Kuzet-Timestamp"),
    ("unknown agency", 404, "unknown_agency", "no agency 'education'"),
    ("unknown incident", 404, "unknown_incident", "not found"),
    ("not JSON", 400, "bad_json", "not JSON"),
    ("bad fields", 422, "invalid_report", "response: must be one of"),
    ("not routed", 422, "refused", "not routed to 'zhkkh'"),
    ("too large", 413, "too_large", "over 2048 bytes"),
])
async def test_bad_reports_are_refused_with_a_clear_error_and_record_nothing(
        world: World, case: str, status: int, error: str, says: str) -> None:
    good = json.dumps(report(world)).encode()
    sent = {
        "tampered body": lambda: _tampered(world, good),
        "other agency's key": lambda: post(world, good, signer=world.zhkkh),
        "stale": lambda: post(world, good, at=time.time() - 10**6),
        "unsigned": lambda: world.client.post("/agencies/police/reports", content=good),
        "unknown agency": lambda: post(world, good, agency="education"),
        "unknown incident": lambda: post(world, report(world, incident_id=str(uuid4()))),
        "not JSON": lambda: post(world, b"{report"),
        "bad fields": lambda: post(world, report(world, response="maybe", extra="x")),
        "not routed": lambda: post(world, good, agency="zhkkh", signer=world.zhkkh),
        "too large": lambda: post(world, report(world, reason="x" * 3000)),
    }[case]
    answer = await sent()
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error and says in answer.json()["message"]
    assert world.app.incident(world.incident).version == 1  # nothing recorded


async def _tampered(world: World, good: bytes) -> httpx.Response:
    headers = world.police.headers(good, int(NOW.timestamp()))
    return await world.client.post("/agencies/police/reports", content=good.replace(
        b"accepted", b"done"), headers=headers)


async def test_a_report_id_reused_with_other_content_is_refused(world: World) -> None:
    assert (await post(world, report(world))).status_code == 201
    clash = await post(world, report(world, response="done"))
    assert clash.status_code == 422 and "different content" in clash.json()["message"]
    bad = await post(world, report(world, extra="x", response="declined"))
    assert bad.json()["errors"] == {"extra": "unknown field",
                                    "reason": "required when the response is declined"}


async def test_a_signed_body_nested_too_deeply_is_a_400_not_a_server_error(world: World) -> None:
    """Within the size limit but past the JSON decoder's depth (RecursionError, not a
    ValueError): the agency gets the typed `bad_json` answer, and nothing is recorded."""
    response = await post(world, b"[" * 2000)
    assert response.status_code == 400 and response.json()["error"] == "bad_json"
    assert len(world.app.history(world.incident)) == 1
