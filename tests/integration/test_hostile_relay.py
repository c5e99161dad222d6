"""The relay never stops on one event (issue 10): an event it cannot turn into messages, or a
log position the reader cannot decode, is dead-lettered (stage `relay`) and the position moves
on; the events around it are relayed as usual.

The log and the broker are replaced at their boundaries (`NotificationSource`, `Publisher`):
a stored event that breaks the relay cannot be written through the real store, which refuses
malformed events — that is the point — so the malformed ones are handed in here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

from domain.log import LogEvent
from domain.topics import DETECTIONS_DLQ, INCIDENT_EVENTS
from streams.relay import FilePosition, Message, Relay, RelayConfig

INCIDENT = "2b7f2c1e-8d7e-4d5e-9f8a-1c2d3e4f5a6b"


def _opened(position: int, originator: str = INCIDENT, **data: object) -> LogEvent:
    fields = {"agencies": ["situation_centre"], "kind": "fire", **data}
    return LogEvent(position, "Incident", "Opened", originator, 1, "2026-11-26T10:00:00+00:00",
                    fields)


class _Log:
    """A notification log whose reads fail at the positions in `undecodable`."""

    def __init__(self, events: list[LogEvent], undecodable: set[int]) -> None:
        self.events, self.undecodable = events, undecodable

    def head(self) -> int:
        return len(self.events)

    def read(self, start: int, limit: int) -> list[LogEvent]:
        page = [e for e in self.events if e.position >= start][:limit]
        if any(e.position in self.undecodable for e in page):
            raise ValueError("cannot decode stored state")
        return page

    def events_of(self, originator_id: str, up_to_version: int) -> list[LogEvent]:
        return []


class _Broker:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def publish(self, messages: Sequence[Message]) -> None:
        self.sent.extend(messages)


async def test_a_bad_event_and_an_undecodable_position_are_dead_lettered(
        tmp_path: Path) -> None:
    events = [_opened(1, "1" * 8 + INCIDENT[8:]), _opened(2, agencies=None),
              _opened(3, "3" * 8 + INCIDENT[8:]), _opened(4), _opened(5, "5" * 8 + INCIDENT[8:])]
    log, broker = _Log(events, undecodable={4}), _Broker()
    relay = Relay(log, log, broker, FilePosition(tmp_path / "pos.json"), RelayConfig(batch=10))
    while await relay.step():
        pass
    assert relay.position.load() == 5
    relayed = [json.loads(m.value)["sequence"] for m in broker.sent
               if m.topic == INCIDENT_EVENTS]
    assert relayed == ["1", "3", "5"]
    letters = [json.loads(m.value) for m in broker.sent if m.topic == DETECTIONS_DLQ]
    assert [(x["stage"], x["source"]["log_position"], x["error_type"]) for x in letters] == [
        ("relay", 2, "TypeError"), ("relay", 4, "ValueError")]
    assert json.loads(base64.b64decode(letters[0]["original"]))["position"] == 2
