"""The published JSON Schemas describe what the relay really puts on every topic.

The scenario runs on the deployed store (hash chain, sealed personal fields) and through the
relay in stored form, as `kuzet relay` runs it, before and after a shred; every message of every
topic is validated against the schema of its CloudEvents type. Messages are collected in memory
(the broker path is covered by test_shred_everywhere.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import jsonschema

from audit.retention import shred_subject
from domain.application import IncidentApp
from domain.privacy import is_sealed
from domain.record_schemas import appeal_status_schema
from domain.topics import APPEAL_STATUS
from eventstore.sealing import SealedLogReader
from streams.relay import FilePosition, Message, Relay
from streams.schemas import event_schemas
from tests.integration.privacy.conftest import keystore_of
from tests.integration.projections.scenario import NOW, build


class Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def publish(self, messages: Sequence[Message]) -> None:
        self.messages += messages


async def test_every_relayed_message_matches_its_schema(sealed_app: IncidentApp,
                                                        tmp_path: Path) -> None:
    ids = await build(sealed_app)
    shred_subject(sealed_app, keystore_of(sealed_app), "plate:A123BC02", reason="request 3",
                  actor="operator:dpo", at=NOW)
    sink = Collect()
    reader = SealedLogReader(sealed_app)
    relay = Relay(reader, reader, sink, FilePosition(tmp_path / "relay.json"))
    while await relay.step():
        pass
    schemas = event_schemas()
    validators = {t: jsonschema.Draft202012Validator(s) for t, s in schemas.items()}
    feed = jsonschema.Draft202012Validator(appeal_status_schema())
    assert sink.messages
    for message in sink.messages:
        envelope = json.loads(message.value)
        if message.topic == APPEAL_STATUS:  # the appeal portal's feed, not CloudEvents
            feed.validate(envelope)
            continue
        validators[envelope["type"]].validate(envelope)
    assert any(m.topic == APPEAL_STATUS for m in sink.messages)  # the scenario's appeal
    opened = next(json.loads(m.value) for m in sink.messages
                  if m.key == str(ids["plate_match:plate=A123BC02"]).encode()
                  and m.topic == "kuzet.incident-events.v1")
    assert is_sealed(opened["data"]["subject"]["plate"])  # the schema had something to check
