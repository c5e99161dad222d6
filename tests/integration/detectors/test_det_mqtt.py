"""The MQTT sensor ingress against the real Mosquitto and the real embedded Kafka broker.

Good signals become `sensor` detections on the detections topic; bad ones (not JSON, failing
validation) are counted and dead-lettered with their reason and original bytes, and the
subscription keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import aiomqtt
import pytest

from detectors.config import mqtt_config
from detectors.mqtt import MqttIngress
from detectors.publisher import KafkaPublisher, PublisherOptions
from domain.detection import parse_detection
from domain.kinds import Kind, SourceKind
from domain.topics import DETECTIONS, DETECTIONS_DLQ
from kuzet.broker import EmbeddedBroker
from kuzet.kafka import ensure_topics
from tests.fixtures.detector_fixtures import consume

pytestmark = pytest.mark.broker


async def _publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    config = mqtt_config(url, ["unused"])
    async with aiomqtt.Client(config.host, config.port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


def _messages(root: str, tag: str) -> list[tuple[str, bytes]]:
    good = {"signal": "fire_alarm", "site_id": "school-12", "attributes": {"loop": 3}}
    return [
        (f"{root}/p7-{tag}/alarm", json.dumps(good).encode()),  # sensor id from the topic
        (f"{root}/p8-{tag}/alarm", json.dumps({**good, "sensor_id": f"p8b-{tag}",
                                               "signal": "smoke_detector"}).encode()),
        (f"{root}/panel-9/alarm", b"{not json"),
        (f"{root}/panel-9/alarm", json.dumps({"signal": "doorbell", "volts": 3}).encode()),
    ]


async def test_signals_are_published_and_bad_ones_dead_lettered(
    broker: EmbeddedBroker, mosquitto_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    det_topic, dlq_topic = f"kuzet.test.mqtt.det.{tag}", f"kuzet.test.mqtt.dlq.{tag}"
    await ensure_topics(broker.bootstrap_servers, [det_topic, dlq_topic], 1)
    publisher = KafkaPublisher(broker.bootstrap_servers,
                               PublisherOptions(detections_topic=det_topic)).start()
    root = f"kuzet-test/{tag}/sensors"
    ingress = MqttIngress(mqtt_config(mosquitto_url, [f"{root}/+/alarm"]), publisher,
                          dlq_topic=dlq_topic).start()
    try:
        assert await asyncio.to_thread(ingress.ready.wait, 10), "never subscribed"
        await _publish(mosquitto_url, _messages(root, tag))
        got = [parse_detection(v) for v in await consume(broker.bootstrap_servers,
                                                         det_topic, 2)]
        dead = [json.loads(v) for v in await consume(broker.bootstrap_servers, dlq_topic, 2)]
    finally:
        ingress.stop()
        await asyncio.to_thread(publisher.close, 10)
    assert sorted((d.source_id, d.kind) for d in got) == [
        (f"p7-{tag}", Kind.FIRE_ALARM), (f"p8b-{tag}", Kind.SMOKE)]
    assert all(d.source_kind is SourceKind.SENSOR and d.site_id == "school-12" for d in got)
    assert (ingress.stats.accepted, ingress.stats.rejected) == (2, 2)
    assert [d["source"]["topic"] for d in dead] == [f"{root}/panel-9/alarm"] * 2
    assert base64.b64decode(dead[0]["original"]) == b"{not json"
    assert "payload is not JSON" in dead[0]["reason"]
    assert "signal='doorbell'" in dead[1]["reason"]
    assert "volts: unknown field" in dead[1]["reason"]


def test_kuzet_detect_mqtt_publishes_to_the_detections_topic(
    broker: EmbeddedBroker, mosquitto_url: str, tmp_path: Path
) -> None:
    """`kuzet detect --mqtt` as a real process: subscribe, publish, stop after --duration."""
    tag = uuid.uuid4().hex[:8]
    root = f"kuzet-test/{tag}/sensors"
    env = {**os.environ, "KUZET_DATA_DIR": str(tmp_path / "data"),
           "KUZET_KAFKA_URL": broker.bootstrap_servers}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kuzet", "detect", "--mqtt", mosquitto_url,
         "--mqtt-topic", f"{root}/+/alarm", "--duration", "4"],
        env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = ""
    while "mqtt ingress subscribed" not in seen and proc.poll() is None:
        seen += proc.stderr.readline()
    assert "mqtt ingress subscribed" in seen, seen
    asyncio.run(_publish(mosquitto_url, _messages(root, tag)))
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "mqtt signals accepted 2, rejected 2" in rest
    raw = asyncio.run(consume(broker.bootstrap_servers, DETECTIONS, 10_000, timeout=5))
    mine = {d.source_id for d in map(parse_detection, raw)} & {f"p7-{tag}", f"p8b-{tag}"}
    assert mine == {f"p7-{tag}", f"p8b-{tag}"}
    dead = asyncio.run(consume(broker.bootstrap_servers, DETECTIONS_DLQ, 10_000, timeout=3))
    assert sum(root in json.loads(v)["source"]["topic"] for v in dead) == 2
