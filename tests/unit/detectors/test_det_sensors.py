"""Sensor ingress: signals validated at the edge, over HTTP with Starlette's test client, and
the MQTT ingress's per-message handling (its broker side is in tests/integration/detectors)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest

from detectors.config import mqtt_config
from detectors.errors import SensorInputError
from detectors.mqtt import MqttIngress, sensor_id_from_topic
from detectors.sensors import MAX_SIGNAL_BYTES, create_sensor_app, signal_to_detection
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


def test_attributes_that_are_not_an_object_are_a_problem_not_a_crash() -> None:
    with pytest.raises(SensorInputError) as caught:
        signal_to_detection({"sensor_id": "p", "signal": "fire_alarm", "attributes": [1]},
                            now=NOW)
    assert caught.value.problems == ("attributes=[1]: expected an object",)


@pytest.mark.parametrize(
    ("topic", "sensor"),
    [
        ("kuzet/sensors/panel-7/alarm", "panel-7"),
        ("site/school-12/panel-3/alarm", "school-12"),  # the first + of the matching filter
        ("kuzet/sensors/panel-7/status", None),  # no filter matches
        ("kuzet/other", None),
    ],
)
def test_sensor_id_comes_from_the_first_plus_of_the_matching_filter(
    topic: str, sensor: str | None
) -> None:
    filters = ["kuzet/sensors/+/alarm", "site/+/+/alarm", "kuzet/#"]
    assert sensor_id_from_topic(filters, topic) == sensor


class _Recorder:
    """Stands in for the Kafka transport (the broker is exercised in the integration test)."""

    def __init__(self) -> None:
        self.detections: list[Detection] = []
        self.records: list[tuple[str, bytes, bytes]] = []

    def publish_detection(self, detection: Detection) -> None:
        self.detections.append(detection)

    def submit(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, key, value))


def test_mqtt_handle_publishes_or_dead_letters_with_every_problem() -> None:
    sink = _Recorder()
    ingress = MqttIngress(mqtt_config("mqtt://127.0.0.1", ["s/+/alarm"]), sink,
                          clock=lambda: NOW, dlq_topic="dlq")
    ok = ingress.handle("s/panel-7/alarm", b'{"signal": "flame_detector", "site_id": "x-1"}')
    assert ok is not None
    assert (ok.source_id, ok.kind, ok.observed_at) == ("panel-7", Kind.FIRE, NOW)
    assert ingress.handle("s/panel-7/alarm", b'{"signal": "x", "attributes": 5}') is None
    assert ingress.handle("s/panel-8/alarm", b"x" * (MAX_SIGNAL_BYTES + 1)) is None
    assert sink.detections == [ok]
    [(topic, key, value), (_, _, too_big)] = sink.records
    assert (topic, key) == ("dlq", b"panel-7")
    dead = json.loads(value)
    assert [e["reason"] for e in dead["errors"]] == [
        "signal='x': expected one of bin_level, fire_alarm, flame_detector, panic_button, "
        "smoke_detector", "attributes=5: expected an object"]
    assert base64.b64decode(dead["original"]) == b'{"signal": "x", "attributes": 5}'
    assert "larger than" in json.loads(too_big)["reason"]
    assert (ingress.stats.accepted, ingress.stats.rejected) == (1, 2)
