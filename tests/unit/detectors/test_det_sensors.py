"""Sensor ingress: signals validated at the edge, over HTTP with Starlette's test client."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from detectors.errors import SensorInputError
from detectors.sensors import create_sensor_app, signal_to_detection
from domain.detection import Detection, encode_detection, parse_detection
from domain.kinds import Kind, SourceKind

NOW = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


def test_fire_alarm_signal_becomes_a_sensor_detection() -> None:
    d = signal_to_detection({"sensor_id": "panel-7", "signal": "fire_alarm",
                             "site_id": "school-12", "location": {"lat": 43.2, "lon": 76.9},
                             "attributes": {"loop": 3}}, now=NOW)
    assert (d.kind, d.source_kind, d.source_id) == (Kind.FIRE_ALARM, SourceKind.SENSOR, "panel-7")
    assert d.observed_at == NOW
    assert d.confidence == 1.0
    assert d.attributes == {"loop": 3, "signal": "fire_alarm"}
    assert parse_detection(encode_detection(d)) == d


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([], "expected a JSON object"),
        ({"sensor_id": "p", "signal": "doorbell"}, "signal='doorbell'"),
        ({"signal": "fire_alarm"}, "sensor_id=None: required"),
        ({"sensor_id": "p", "signal": "fire_alarm", "confidence": 7}, "confidence=7"),
        ({"sensor_id": "p", "signal": "fire_alarm", "observed_at": "10:00"}, "observed_at"),
        ({"sensor_id": "p", "signal": "fire_alarm", "volts": 3}, "volts: unknown field"),
    ],
)
def test_bad_signals_name_the_problem(payload: object, problem: str) -> None:
    with pytest.raises(SensorInputError) as caught:
        signal_to_detection(payload, now=NOW)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


async def test_http_ingress_accepts_validates_and_authenticates() -> None:
    published: list[Detection] = []
    app = create_sensor_app(published.append, token="s3cret", clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://ingress") as client:
        await _exercise(client, published)


async def _exercise(client: httpx.AsyncClient, published: list[Detection]) -> None:
    url = "/sensors/v1/signals"
    ok = await client.post(url, json={"sensor_id": "panel-7", "signal": "smoke_detector"},
                           headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 202
    assert ok.json()["detection_id"] == published[0].detection_id
    assert published[0].kind is Kind.SMOKE
    denied = await client.post(url, json={"sensor_id": "x", "signal": "fire_alarm"})
    assert denied.status_code == 401
    bad = await client.post(url, content=b"{nope", headers={"Authorization": "Bearer s3cret"})
    assert bad.status_code == 422
    assert bad.json() == {"errors": ["body is not JSON"]}
    assert len(published) == 1
