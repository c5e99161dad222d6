"""The relay on the real broker: every incident event once per topic, minimised, crash-safe."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from domain.kinds import Agency
from domain.log import LogReader
from domain.topics import INCIDENT_EVENTS, agency_topic
from kuzet.kafka import ensure_topics
from streams.relay import AiokafkaPublisher, FilePosition, Message, Relay, RelayConfig
from tests.integration.projections.scenario import PERSONAL


def _topics(suffix: str) -> list[str]:
    return [INCIDENT_EVENTS + suffix] + [agency_topic(a) + suffix for a in Agency]


async def _read(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p)
               for p in sorted(consumer.partitions_for_topic(topic) or await _parts(consumer, topic))]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[bytes] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                out += [m.value for m in msgs]
        return out
    finally:
        await consumer.stop()


async def _parts(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()
    return consumer.partitions_for_topic(topic) or set()


def _dedup(values: list[bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for v in values:
        event_id = json.loads(v)["id"]
        assert out.setdefault(event_id, v) == v  # a duplicate is byte-for-byte the same
    return out


class Dying:
    """The real publisher, but the process 'dies' part-way through one batch in three."""

    def __init__(self, real: AiokafkaPublisher, rng: random.Random) -> None:
        self.real, self.rng = real, rng

    async def publish(self, messages: Sequence[Message]) -> None:
        if self.rng.random() < 0.3:
            await self.real.publish(messages[:self.rng.randint(0, len(messages))])
            raise ConnectionError("killed")
        await self.real.publish(messages)


async def _relay(app, bootstrap: str, suffix: str, tmp_path, seed: int | None) -> int:
    await ensure_topics(bootstrap, _topics(suffix), 2)
    publisher = AiokafkaPublisher(bootstrap)
    await publisher.start()
    rng = random.Random(seed)
    kills = 0
    try:
        while True:
            sink = publisher if seed is None else Dying(publisher, rng)
            relay = Relay(LogReader(app), LogReader(app), sink,
                          FilePosition(tmp_path / f"{suffix}.json"),
                          RelayConfig(batch=rng.randint(1, 8), topic_suffix=suffix))
            try:
                while await relay.step():
                    pass
                return kills
            except ConnectionError:
                kills += 1
    finally:
        await publisher.stop()


async def test_relay_survives_kills_with_identical_topics(scenario_app, broker, tmp_path) -> None:
    bootstrap = broker.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    await _relay(scenario_app, bootstrap, f".steady-{run}", tmp_path, None)
    assert await _relay(scenario_app, bootstrap, f".crashy-{run}", tmp_path, 7) >= 3
    for steady, crashy in zip(_topics(f".steady-{run}"), _topics(f".crashy-{run}"), strict=True):
        clean = await _read(bootstrap, steady)
        assert len(_dedup(clean)) == len(clean)  # no duplicates without crashes
        assert _dedup(await _read(bootstrap, crashy)) == _dedup(clean), steady

    full = [json.loads(v) for v in await _read(bootstrap, f"{INCIDENT_EVENTS}.steady-{run}")]
    incident_events = [n for n in scenario_app.recorder.select_notifications(1, 1000)
                       if "Incident." in n.topic]
    assert sorted(int(e["sequence"]) for e in full) == [n.id for n in incident_events]
    opened = next(e for e in full if e["type"] == "kuzet.incident.opened.v1"
                  and e["data"]["kind"] == "face_match")
    assert opened["data"]["subject"] == {"subject_id": "W-1042"}
    face_id = {i.kind: str(i.id) for i in scenario_app.incidents()}["face_match"]
    assert (opened["specversion"], opened["subject"]) == ("1.0", face_id)
    for agency in (Agency.ZHKKH, Agency.EDUCATION, Agency.EMERGENCY):
        for value in await _read(bootstrap, agency_topic(agency) + f".steady-{run}"):
            text = json.dumps(json.loads(value)["data"])
            assert not [p for p in PERSONAL if p in text], agency
    zhkkh = await _read(bootstrap, agency_topic(Agency.ZHKKH) + f".steady-{run}")
    assert {json.loads(v)["type"] for v in zhkkh} >= {"kuzet.incident.opened.v1",
                                                      "kuzet.incident.closed.v1"}
