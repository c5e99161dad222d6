"""A relay that dies after the broker acknowledged a batch but before it stored the position
(the window a kill -9 can hit) leaves its successor nothing to send twice: the successor reads
back what was written past the stored marks and skips it. Real broker, real SQLite store; the
death is a publisher whose answer is lost after the broker acknowledged (a boundary double:
killing a process at exactly that instruction cannot be arranged)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from domain.topics import INCIDENT_EVENTS
from kuzet.broker import EmbeddedBroker
from kuzet.kafka import read_topic
from kuzet.settings import load_settings
from kuzet.wiring import build_incident_app, build_log_reader
from streams.relay import AiokafkaPublisher, FilePosition, Message, Relay, RelayConfig, RelayError
from tests.integration.follower.helpers import fill

pytestmark = pytest.mark.broker


class DiesAfterAck:
    """Publishes through the real producer; the `fatal`-th batch is acknowledged by the
    broker, then its answer is lost (the relay dies before storing its position)."""

    def __init__(self, real: AiokafkaPublisher, fatal: int) -> None:
        self.real = real
        self.fatal = fatal
        self.calls = 0

    async def publish(self, messages: Sequence[Message]) -> Mapping[str, int] | None:
        self.calls += 1
        acked = await self.real.publish(messages)
        if self.calls == self.fatal:
            raise RelayError("lost after the ack")
        return acked


async def test_successor_resends_nothing_the_dead_relay_wrote(broker: EmbeddedBroker,
                                                              tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                             kafka_url=broker.bootstrap_servers)
    app = build_incident_app(settings)
    head = fill(app, 40)  # 200 events
    reader = build_log_reader(app, stored_form=True)
    position = FilePosition(tmp_path / "relay.json")
    config = RelayConfig(topic_suffix=f"-rb-{uuid.uuid4().hex[:6]}", batch=60)
    publisher = AiokafkaPublisher(broker.bootstrap_servers)
    await publisher.start()
    try:
        first = Relay(reader, reader, DiesAfterAck(publisher, fatal=2), position, config)
        await first.recover()
        assert await first.step() == 60
        with pytest.raises(RelayError):
            await first.step()  # positions 61..120 are on the topics; the position says 60
        assert position.load() == 60

        second = Relay(reader, reader, publisher, position, config)
        assert await second.recover() > 0  # it found the dead relay's last batch
        while await second.step():
            pass
    finally:
        await publisher.stop()
        app.close()
    events = [json.loads(v) for v in
              await read_topic(broker.bootstrap_servers, INCIDENT_EVENTS + config.topic_suffix)]
    assert sorted(int(e["sequence"]) for e in events) == list(range(1, head + 1))
    assert len({e["id"] for e in events}) == head
