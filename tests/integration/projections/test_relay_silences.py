"""Silences through the relay on the real broker (issue 14 item 5): a silence's creation, its
held-back detections and its early end reach the situation centre's full stream as CloudEvents
that match their published schemas, keyed by the silence id, once each; no agency feed carries
anything of a silence (agencies get incidents routed to them, and a silence opens none), and the
silence book (the index of silences) is not relayed. A rules activation goes the same way.

The event store is SQLite with the scenario's incidents, so the agency feeds are not empty.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import jsonschema

from domain.kinds import Agency
from domain.log import LogReader
from domain.rule_versions import RuleActivation, rules_digest
from domain.topics import INCIDENT_EVENTS, agency_topic
from kuzet.kafka import ensure_topics, read_topic
from streams.relay import AiokafkaPublisher, FilePosition, Relay, RelayConfig
from streams.schemas import event_schemas
from tests.integration.projections.scenario import NOW


async def test_silence_events_reach_the_full_stream_only(scenario_app, broker,
                                                        tmp_path) -> None:
    app = scenario_app
    silence = app.create_silence(scope="camera", value="cam-08", starts_at=NOW,
                                 ends_at=NOW + timedelta(hours=4), by="sup-1",
                                 reason="planned works on the mast", at=NOW)
    app.record_silenced(silence.id, [("det-1", "crowd"), ("det-2", "loitering")],
                        at=NOW + timedelta(minutes=5))
    app.end_silence(silence.id, by="sup-2", reason="works done early",
                    at=NOW + timedelta(hours=1))
    activation = RuleActivation.activate(version=7, digest=rules_digest("x"), author="ops",
                                         source="rules.toml", at=NOW)
    app.save(activation)

    suffix = f".silences-{uuid.uuid4().hex[:8]}"
    bootstrap = broker.bootstrap_servers
    agencies = [agency_topic(a) + suffix for a in Agency]
    await ensure_topics(bootstrap, [INCIDENT_EVENTS + suffix, *agencies], 2)
    publisher = AiokafkaPublisher(bootstrap)
    await publisher.start()
    try:
        relay = Relay(LogReader(app), LogReader(app), publisher,
                      FilePosition(tmp_path / "pos.json"), RelayConfig(topic_suffix=suffix))
        while await relay.step():
            pass
    finally:
        await publisher.stop()

    full = [json.loads(v) for v in await read_topic(bootstrap, INCIDENT_EVENTS + suffix)]
    mine = [e for e in full if e["subject"] == str(silence.id)]
    assert [e["type"] for e in sorted(mine, key=lambda e: int(e["sequence"]))] == [
        "kuzet.silence.created.v1", "kuzet.silence.silenced_detections.v1",
        "kuzet.silence.ended.v1"]
    schemas = event_schemas()
    for envelope in mine:
        jsonschema.Draft202012Validator(schemas[envelope["type"]]).validate(envelope)
    by_type = {e["type"]: e["data"] for e in mine}
    assert by_type["kuzet.silence.created.v1"]["value"] == "cam-08"
    assert by_type["kuzet.silence.silenced_detections.v1"]["by_kind"] == {
        "crowd": 1, "loitering": 1}
    assert by_type["kuzet.silence.ended.v1"]["actor"] == "sup-2"
    assert not [e for e in full if e["type"].startswith("kuzet.silence_book.")]
    assert any(e["type"].startswith("kuzet.incident.") for e in full)

    rules = [e for e in full if e["subject"] == str(activation.id)]
    assert [e["type"] for e in rules] == ["kuzet.rule_activation.rules_activated.v1"]
    jsonschema.Draft202012Validator(schemas[rules[0]["type"]]).validate(rules[0])
    assert rules[0]["data"]["version"] == 7

    fed = 0
    for topic in agencies:
        feed = [json.loads(v) for v in await read_topic(bootstrap, topic)]
        fed += len(feed)
        assert not [e for e in feed if e["subject"] in {str(silence.id), str(activation.id)}
                    or not e["type"].startswith("kuzet.incident.")], topic
    assert fed  # the scenario's incidents did reach agencies: the feeds were really written
