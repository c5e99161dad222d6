"""Merge and split through the relay (issue 14 item 4): CloudEvents for both incidents of a
merge, the merged incident's agencies receive the target's whole history (a merge routes like
`RoutedTo`), and each agency feed gets only what its policy allows (a merge's reason is free
text: dropped for ZhKKh; images dropped for every agency but the police).

Messages are collected in memory from a real SQLite event store, as test_relay_routing.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

from domain.commands import Merge, Split
from domain.kinds import Agency
from domain.log import LogReader
from domain.topics import INCIDENT_EVENTS, agency_topic
from streams.relay import FilePosition, Relay
from tests.integration.projections.scenario import NOW
from tests.integration.projections.test_relay_routing import Collect, _feed


async def test_merge_and_split_reach_every_feed_minimised(scenario_app, tmp_path) -> None:
    app = scenario_app
    by_key = {i.incident_key: i for i in app.incidents()}
    plate, face = by_key["plate_match:plate=A123BC02"], by_key["face_match:subject=W-1042"]
    crowd = by_key["crowd:source=cam-08"]
    assert Agency.ZHKKH.value not in face.agencies
    at = NOW + timedelta(hours=1)
    app.route(crowd.id, agencies=[Agency.ZHKKH.value], by="sup-1", at=at)
    target, _ = app.merge(face.id, Merge(crowd.id, "the crowd chased W-1042"),
                          by="sup-1", at=at)
    one = sorted(target.evidence_ids)[0]
    _, created = app.split(face.id, Split((one,), "a different person"), by="sup-1", at=at)

    sink = Collect()
    relay = Relay(LogReader(app), LogReader(app), sink, FilePosition(tmp_path / "pos.json"))
    while await relay.step():
        pass

    types = [(e["subject"], e["type"]) for e in
             (json.loads(m.value) for m in sink.messages if m.topic == INCIDENT_EVENTS)]
    assert (str(face.id), "kuzet.incident.merged.v1") in types
    assert (str(crowd.id), "kuzet.incident.merged_into.v1") in types
    assert (str(face.id), "kuzet.incident.evidence_split_off.v1") in types
    assert (str(created.id), "kuzet.incident.opened.v1") in types
    zhkkh = _feed(sink.messages, agency_topic(Agency.ZHKKH), str(face.id))
    full = _feed(sink.messages, INCIDENT_EVENTS, str(face.id))
    assert [e["id"] for e in zhkkh] == [e["id"] for e in full]  # the whole history, once
    merge = next(e for e in zhkkh if e["type"] == "kuzet.incident.merged.v1")
    assert "reason" not in merge["data"] and "snapshots" not in merge["data"]
    assert merge["data"]["merged_id"] == str(crowd.id)
    police = next(e for e in _feed(sink.messages, agency_topic(Agency.POLICE), str(face.id))
                  if e["type"] == "kuzet.incident.merged.v1")
    assert police["data"]["reason"] == "the crowd chased W-1042"
    assert plate.status.value == "OPEN"  # untouched by either
