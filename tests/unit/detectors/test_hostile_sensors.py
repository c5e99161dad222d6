"""Hostile sensor signals (issue 10) over HTTP and MQTT: refused with the problem named, or,
whatever else goes wrong with one signal, answered 422 / dead-lettered with the exception type;
never a 500, never a stopped subscription."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx

from detectors.config import mqtt_config
from detectors.mqtt import MqttIngress
from detectors.sensors import create_sensor_app
from domain.detection import Detection

NOW = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


class _Recorder:
    """Stands in for the Kafka transport (the broker is exercised in the integration test)."""

    def __init__(self) -> None:
        self.detections: list[Detection] = []
        self.records: list[tuple[str, bytes, bytes]] = []

    def publish_detection(self, detection: Detection) -> None:
        self.detections.append(detection)

    def submit(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, key, value))


HOSTILE = [
    b'{"sensor_id": "panel-\\ud800", "signal": "fire_alarm"}',
    b'{"sensor_id": "p", "signal": "fire_alarm", "attributes": {"v": NaN}}',
    b'{"sensor_id": "p", "signal": "fire_alarm", "attributes": {"\\udfff": 1}}',
    b'{"sensor_id": "p", "signal": "fire_alarm", "observed_at": "0001-01-01T00:00:00+00:00"}',
    b'{"sensor_id": "p", "signal": "fire_alarm", "attributes": {"n": 1e400}}',
]


async def test_hostile_http_signals_are_422_with_the_problem_named() -> None:
    published: list[Detection] = []
    app = create_sensor_app(published.append, clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://ingress") as client:
        for body in HOSTILE:
            answer = await client.post("/sensors/v1/signals", content=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["errors"]
        ok = await client.post("/sensors/v1/signals",
                               json={"sensor_id": "p", "signal": "fire_alarm"})
        assert ok.status_code == 202
    assert len(published) == 1


def test_hostile_mqtt_messages_are_dead_lettered_and_the_next_one_goes_on() -> None:
    sink = _Recorder()
    ingress = MqttIngress(mqtt_config("mqtt://127.0.0.1", ["s/+/alarm"]), sink,
                          clock=lambda: NOW, dlq_topic="dlq")
    for body in HOSTILE:
        assert ingress.handle("s/panel-7/alarm", body) is None
    # not bytes at all (a transport's odd type): json.loads raises TypeError, still its fault
    assert ingress.handle("s/panel-7/alarm", memoryview(b'{"signal": "fire_alarm"}')) is None
    assert ingress.handle("s/panel-7/alarm", b'{"signal": "fire_alarm"}') is not None
    assert len(sink.detections) == 1
    letters = [json.loads(v) for _, _, v in sink.records]
    assert len(letters) == len(HOSTILE) + 1
    assert all(x["stage"] == "mqtt" and x["reason"] for x in letters)
    assert [x["error_type"] for x in letters][-1] == "TypeError"
    assert base64.b64decode(letters[0]["original"]) == HOSTILE[0]
