"""Sealed personal values end to end: the store seals them (`eventstore.sealing`), the relay
publishes them sealed, the police adapter opens them for delivery; after a shred, regeneration
says so instead of pretending; a forged sealed value is parked, never delivered."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from adapters.delivery import Sender
from adapters.feed import Feed, read_all
from adapters.regenerate import regenerate
from adapters.retry import RetryPolicy
from adapters.signing import Signer
from adapters.state_sqlite import SqliteState
from adapters.webhook import WebhookAdapter
from domain.access import ACCESS_TOPIC
from domain.correlation import OpenIncident
from domain.erasure import DataClass, identity_of
from domain.incident import incident_id_for
from domain.kinds import Agency, Kind
from domain.privacy import SHREDDED, mask
from domain.topics import agency_topic
from eventstore.sealing import SealedLogReader
from kuzet.broker import EmbeddedBroker
from kuzet.commands.adapter import (
    MAX_TIME,
    MIN_TIME,
    access_logging,
    keeps_personal_fields,
    unsealing,
)
from kuzet.kafka import ensure_topics
from kuzet.settings import load_settings
from kuzet.wiring import build_incident_app
from streams.relay import AiokafkaPublisher, FilePosition, Relay, RelayConfig
from tests.helpers import T0, det
from tests.integration.adapters.conftest import await_until
from tests.integration.adapters.receiver import ChaosReceiver

pytestmark = pytest.mark.broker

FORGED = {"specversion": "1.0", "id": "forged-1", "time": "2026-11-26T10:00:00+00:00",
          "type": "kuzet.incident.opened.v1",
          "data": {"subject": {"$sealed": 1, "k": str(uuid.uuid4()), "f": "subject.subject_id",
                               "c": "AAAA"}}}


async def _relay_sealed(app: object, bootstrap: str, suffix: str, tmp_path: Path) -> None:
    publisher = AiokafkaPublisher(bootstrap)
    await publisher.start()
    try:
        reader = SealedLogReader(app)
        relay = Relay(reader, reader, publisher, FilePosition(tmp_path / "relay.json"),
                      RelayConfig(topic_suffix=suffix))
        while await relay.step():
            pass
    finally:
        await publisher.stop()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(agency_topic(Agency.POLICE) + suffix,
                                     json.dumps(FORGED).encode(), key=b"forged")
    finally:
        await producer.stop()


async def test_police_receive_opened_values_and_a_later_shred_is_reported(
        broker: EmbeddedBroker, tmp_path: Path, signer: Signer) -> None:
    assert keeps_personal_fields("police") and not keeps_personal_fields("zhkkh")
    settings = load_settings(environ={"KUZET_DATA_DIR": str(tmp_path / "data"),
                                      "KUZET_PRIVACY_KEY_CACHE_S": "0"})
    app = build_incident_app(settings)
    key = "face_match:subject=W-1042"
    dets = tuple(det("face_match", site="m1", seconds=i,
                     attributes={"subject_id": "W-1042", "similarity": 0.9}) for i in range(3))
    app.open_incident(OpenIncident(key, Kind.FACE_MATCH, 0, incident_id_for(key, 0), dets, None,
                                   T0), T0)
    suffix = f".{uuid.uuid4().hex[:8]}"
    topic = agency_topic(Agency.POLICE) + suffix
    await ensure_topics(broker.bootstrap_servers, [topic], 1)
    await _relay_sealed(app, broker.bootstrap_servers, suffix, tmp_path)
    records = await read_all(broker.bootstrap_servers, topic)
    assert b"W-1042" not in b"".join(r.value for r in records)  # sealed on the topic
    assert b'"$sealed"' in records[0].value

    receiver = ChaosReceiver(signer.public_key).start()
    state = SqliteState(tmp_path / "adapters.sqlite")
    await state.setup()
    sender = Sender(receiver.url, signer, RetryPolicy(3, 0.001, 0.01), timeout_s=2)
    try:
        with unsealing(settings, "police") as unseal, \
                access_logging(settings, "police") as on_reveal:
            adapter = WebhookAdapter("police", state, sender, unseal=unseal,
                                     on_reveal=on_reveal)
            stop = asyncio.Event()
            task = asyncio.create_task(adapter.run(Feed(broker.bootstrap_servers, topic), stop))

            async def settled() -> bool:
                done = await state.receipts("police", MIN_TIME, MAX_TIME)
                return len(done) + len(await state.parked("police")) == len(records)
            await await_until(settled, "every record receipted or parked")
            stop.set()
            await task
    finally:
        await sender.close()
        receiver.stop()

    [opened] = [b for b in receiver.unique().values() if b"incident.opened.v1" in b]
    assert json.loads(opened)["data"]["subject"] == {"subject_id": "W-1042"}
    # who received whom: the police adapter's deliveries are in the personal-data access log
    logged = [e for n in app.recorder.select_notifications(1, 10_000, topics=[ACCESS_TOPIC])
              for e in app.mapper.to_domain_event(n).entries]
    assert logged and {e["principal"] for e in logged} == {"adapter:police"}
    assert {e["incident"] for e in logged} == {str(incident_id_for(key, 0))}
    assert all(e["subjects"] == [mask(str(identity_of(DataClass.FACE, "W-1042")))]
               for e in logged if "subject" in e["fields"])
    assert "W-1042" not in json.dumps(logged)  # pseudonyms, never the identity
    [forged] = await state.parked("police")
    assert forged.event_id == "forged-1" and "too short" in forged.reason
    assert forged.attempts == 0 and receiver.outcomes.total() == len(records) - 1

    keystore = app.factory.keystore
    live = keystore.live_keys([identity_of(DataClass.FACE, "W-1042")])
    assert keystore.shred([k.key_id for k in live], "erasure-1", {"cause": "test"}) >= 1
    receipts = await state.receipts("police", MIN_TIME, MAX_TIME)
    with unsealing(settings, "police") as unseal:
        again = regenerate(records, receipts, MIN_TIME, MAX_TIME, unseal)
    await state.close()
    app.close()
    statuses = {i.event_id: i.status for i in again.items}
    assert statuses.pop("forged-1") == "unreadable"
    by_type = {json.loads(i.body)["type"]: i for i in again.items if i.event_id != "forged-1"}
    shredded = by_type["kuzet.incident.opened.v1"]
    assert shredded.status == "shredded" and shredded.shredded
    assert json.loads(shredded.body)["data"]["subject"] == {"subject_id": SHREDDED}
    assert again.consistent  # a difference explained by the shred is not an inconsistency
