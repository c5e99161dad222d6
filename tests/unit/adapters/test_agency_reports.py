"""Agency report-backs: the aggregate's AgencyResponded rules and the report contract."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from eventsourcing.application import Application

from adapters.errors import InvalidReport
from adapters.inbound import parse_report
from domain.errors import InvalidCommand
from domain.incident import Incident, agency_actor
from domain.kinds import Status
from tests.helpers import T0

S = timedelta(seconds=1)


def routed_to_police() -> Incident:
    return Incident(
        snapshots=[],
        incident_key="fight:site=s1", episode=0, kind="fight", severity=3, site_id="s1",
        location=None, source_ids=["cam-1"], detection_ids=["d1"], first_seen_at=T0,
        last_seen_at=T0, sla_due_at=T0 + 60 * S, agencies=["situation_centre", "police"],
        subject={}, linked_to=None, rule="rule:fight@1", actor="rule:fight@1", timestamp=T0,
    )


def respond(incident: Incident, response: str = "accepted", reason: str | None = None,
            report_id: str = "r-1", agency: str = "police") -> bool:
    return incident.record_agency_response(agency=agency, response=response, reason=reason,
                                           report_id=report_id, actor=agency_actor(agency, "p-7"),
                                           at=T0 + 5 * S)


def test_a_report_is_recorded_once_without_changing_the_status() -> None:
    incident = routed_to_police()
    assert respond(incident)
    assert not respond(incident)  # the same report again: nothing new
    assert respond(incident, "declined", "no unit free", report_id="r-2")
    assert respond(incident, "done", report_id="r-3")
    events = incident.collect_events()
    assert [type(e).__name__ for e in events] == ["Opened", *["AgencyResponded"] * 3]
    declined = events[2]
    assert (declined.agency, declined.response, declined.reason, declined.report_id,
            declined.actor) == ("police", "declined", "no unit free", "r-2", "agency:police/p-7")
    assert incident.status is Status.OPEN and incident.agency_responses == {"police": "done"}


def test_reports_replay_to_the_same_state() -> None:
    app = Application[object]()
    incident = routed_to_police()
    respond(incident)
    respond(incident, "declined", "busy", report_id="r-2")
    app.save(incident)
    again = app.repository.get(incident.id)
    assert again.agency_reports == incident.agency_reports
    assert not respond(again, "declined", "busy", report_id="r-2")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"agency": "zhkkh"}, "not routed to 'zhkkh'"),
    ({"response": "maybe"}, "must be one of accepted, declined, done"),
    ({"response": "declined"}, "needs a reason"),
    ({"response": "declined", "reason": "  "}, "needs a reason"),
    ({"reason": "x" * 2001}, "at most 2000"),
    ({"report_id": ""}, "1..200"),
])
def test_bad_reports_are_refused_with_the_reason(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        respond(routed_to_police(), **kwargs)


def test_a_report_id_reused_with_other_content_is_refused() -> None:
    incident = routed_to_police()
    respond(incident)
    with pytest.raises(InvalidCommand, match="already recorded with different content"):
        respond(incident, "done")


def test_the_report_contract_lists_every_bad_field() -> None:
    incident_id = uuid4()
    ok = parse_report({"report_id": "r-1", "incident_id": str(incident_id),
                       "response": "declined", "reason": "busy", "person": "p-7"})
    assert (ok.incident_id, ok.response, ok.reason) == (incident_id, "declined", "busy")
    with pytest.raises(InvalidReport) as caught:
        parse_report({"incident_id": "nope", "response": "declined", "reason": 5, "x": 1})
    assert caught.value.errors == {
        "x": "unknown field", "report_id": "required", "incident_id": "must be a UUID",
        "reason": "must be a string of 1..2000 characters"}
    with pytest.raises(InvalidReport, match="required when the response is declined"):
        parse_report({"report_id": "r", "incident_id": str(incident_id), "response": "declined"})
    with pytest.raises(InvalidReport, match="must be a JSON object"):
        parse_report(["r-1"])
