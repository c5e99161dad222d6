"""The relay on the real broker: every incident event once per topic, minimised, crash-safe."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence

from domain.kinds import Agency
from domain.log import LogReader
from domain.topics import APPEAL_STATUS, INCIDENT_EVENTS, agency_topic
from kuzet.kafka import ensure_topics, read_topic
from streams.relay import AiokafkaPublisher, FilePosition, Message, Relay, RelayConfig
from tests.integration.projections.scenario import PERSONAL


def _topics(suffix: str) -> list[str]:
    return [INCIDENT_EVENTS + suffix, APPEAL_STATUS + suffix] + [agency_topic(a) + suffix
                                                                 for a in Agency]


def _dedup(values: list[bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for v in values:
        body = json.loads(v)  # a CloudEvent, or the appeal portal's feed (per appeal)
        event_id = body["id"] if "id" in body else f"{body['event_id']}/{body['appeal_id']}"
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
        clean = await read_topic(bootstrap, steady)
        assert len(_dedup(clean)) == len(clean)  # no duplicates without crashes
        assert _dedup(await read_topic(bootstrap, crashy)) == _dedup(clean), steady

    full = [json.loads(v) for v in await read_topic(bootstrap, f"{INCIDENT_EVENTS}.steady-{run}")]
    incident_events = [n for n in scenario_app.recorder.select_notifications(1, 1000)
                       if "Incident." in n.topic]
    assert sorted(int(e["sequence"]) for e in full) == [n.id for n in incident_events]
    opened = next(e for e in full if e["type"] == "kuzet.incident.opened.v1"
                  and e["data"]["kind"] == "face_match")
    assert opened["data"]["subject"] == {"subject_id": "W-1042"}
    face_id = {i.kind: str(i.id) for i in scenario_app.incidents()}["face_match"]
    assert (opened["specversion"], opened["subject"]) == ("1.0", face_id)
    for agency in (Agency.ZHKKH, Agency.EDUCATION, Agency.EMERGENCY):
        for value in await read_topic(bootstrap, agency_topic(agency) + f".steady-{run}"):
            text = json.dumps(json.loads(value)["data"])
            assert not [p for p in PERSONAL if p in text], agency
    zhkkh = await read_topic(bootstrap, agency_topic(Agency.ZHKKH) + f".steady-{run}")
    assert {json.loads(v)["type"] for v in zhkkh} >= {"kuzet.incident.opened.v1",
                                                      "kuzet.incident.closed.v1"}
