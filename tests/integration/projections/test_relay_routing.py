"""Routing an incident to an agency late gives that agency's feed the incident's whole history.

The messages are collected in memory (the broker path is covered by test_relay.py); what is
tested here is which messages the relay builds from a real SQLite event store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import pytest

from domain.errors import InvalidCommand
from domain.kinds import Agency
from domain.log import LogReader
from domain.topics import INCIDENT_EVENTS, agency_topic
from streams.relay import FilePosition, Message, Relay
from tests.integration.projections.scenario import NOW


class Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def publish(self, messages: Sequence[Message]) -> None:
        self.messages += messages


def _feed(messages: list[Message], topic: str, incident: str) -> list[dict]:
    return [json.loads(m.value) for m in messages if m.topic == topic and m.key == incident.encode()]


async def test_a_late_route_backfills_the_new_agencys_feed(scenario_app, tmp_path) -> None:
    app = scenario_app
    fire = next(i for i in app.incidents() if i.incident_key == "fire:site=market-7")
    assert Agency.POLICE.value not in fire.agencies
    app.route(fire.id, agencies=[Agency.POLICE.value], by="sup-1",
              at=NOW + timedelta(hours=1), expected_version=fire.version)
    app.add_note(fire.id, text="arson suspected", by="sup-1", at=NOW + timedelta(hours=1))

    sink = Collect()
    relay = Relay(LogReader(app), LogReader(app), sink, FilePosition(tmp_path / "pos.json"))
    while await relay.step():
        pass

    full = _feed(sink.messages, INCIDENT_EVENTS, str(fire.id))
    police = _feed(sink.messages, agency_topic(Agency.POLICE), str(fire.id))
    assert [e["id"] for e in police] == [e["id"] for e in full]  # all of it, in order, once
    assert police[0]["type"] == "kuzet.incident.opened.v1"
    assert [e["type"] for e in police][-2:] == ["kuzet.incident.routed_to.v1",
                                                "kuzet.incident.note_added.v1"]


def test_routing_to_an_unknown_agency_is_refused(scenario_app) -> None:
    fire = next(i for i in scenario_app.incidents() if i.incident_key == "fire:site=market-7")
    with pytest.raises(InvalidCommand):
        scenario_app.route(fire.id, agencies=["fbi"], by="sup-1", at=NOW)
    assert scenario_app.incident(fire.id).version == fire.version
