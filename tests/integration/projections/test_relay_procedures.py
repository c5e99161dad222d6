"""Checklist and two-person verification events through the relay (issue 14 items 2-3): each
becomes a CloudEvent on the full stream and on every routed agency's feed, minimised by the one
policy: the free-text reasons (a skipped step, a rejected verification, an override) reach
only agencies whose policy keeps free text.

Messages are collected in memory from a real SQLite event store, as test_relay_routing.py.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path

from domain.application import IncidentApp
from domain.commands import Acknowledge, Close, RejectVerification, Route, SkipStep
from domain.correlation import OpenIncident
from domain.incident import incident_id_for
from domain.kinds import Agency, Kind
from domain.log import LogReader
from domain.procedures import load_procedures
from domain.topics import INCIDENT_EVENTS, agency_topic
from streams.relay import FilePosition, Relay
from tests.helpers import T0, default_rules, det
from tests.integration.projections.test_relay_routing import Collect, _feed

REASON = "the caretaker Ivanov says it is a toy"


async def test_procedure_events_reach_every_feed_minimised(tmp_path: Path) -> None:
    procedures = load_procedures(resources.files("domain").joinpath("procedures.toml").read_text())
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}, default_rules(),
                      procedures=procedures)
    key = "weapon:source=cam-3"
    iid = incident_id_for(key, 0)
    dets = tuple(det("weapon", source="cam-3", conf=0.95, seconds=i) for i in range(2))
    app.apply(OpenIncident(key, Kind.WEAPON, 0, iid, dets, None, T0), T0)
    at = T0 + timedelta(minutes=1)
    for command, by in ((Route([Agency.ZHKKH.value]), "sue"), (Acknowledge(), "alice"),
                        (SkipStep("verify_on_camera", REASON), "alice"),
                        (RejectVerification(REASON), "bob"), (Close(REASON), "sue")):
        app.execute(iid, command, by=by, at=at)

    sink = Collect()
    relay = Relay(LogReader(app), LogReader(app), sink, FilePosition(tmp_path / "pos.json"))
    while await relay.step():
        pass
    app.close()

    full = _feed(sink.messages, INCIDENT_EVENTS, str(iid))
    kinds = [e["type"].removeprefix("kuzet.incident.").removesuffix(".v1") for e in full]
    for name in ("procedure_assigned", "verification_required", "step_skipped",
                 "verification_rejected", "marked_false_alarm", "procedure_overridden",
                 "closed"):
        assert name in kinds, kinds
    with_reason = {"step_skipped", "verification_rejected", "procedure_overridden"}
    for agency, keeps in ((Agency.POLICE, True), (Agency.SITUATION_CENTRE, True),
                          (Agency.ZHKKH, False)):
        feed = {e["type"].removeprefix("kuzet.incident.").removesuffix(".v1"): e["data"]
                for e in _feed(sink.messages, agency_topic(agency), str(iid))}
        assert with_reason <= feed.keys(), (agency, sorted(feed))
        for name in with_reason:
            assert ("reason" in feed[name]) is keeps, (agency, name)
        assert feed["verification_rejected"]["acknowledged_by"] == "operator:alice"
        assert feed["procedure_assigned"]["procedure"] == "weapon@1"
        assert feed["procedure_overridden"]["steps"] == ["call_police"]
