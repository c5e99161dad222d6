"""Typed operator commands through `IncidentApp.execute`, on SQLite and PostgreSQL.

The whole lifecycle as command values; the caller's guard sees the one load the command uses;
a stale `expected_version`, and two people acting on the same version, give `VersionConflict`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.application import IncidentApp
from domain.commands import (
    Acknowledge,
    AddNote,
    Close,
    Dispatch,
    Escalate,
    MarkFalseAlarm,
    Reopen,
    Resolve,
)
from domain.correlation import OpenIncident
from domain.errors import IllegalTransition, IncidentNotFound, VersionConflict
from domain.incident import Incident, incident_id_for
from domain.kinds import Kind, Status
from tests.helpers import T0, default_rules, det

S = timedelta(seconds=1)
RULES = default_rules()


@pytest.fixture
def app(store_env: dict[str, str]) -> IncidentApp:
    application = IncidentApp(store_env, RULES)
    yield application
    application.close()


def _open(app: IncidentApp, key: str = "fight:site=s9") -> Incident:
    dets = tuple(det("fight", site="s9", seconds=i) for i in range(3))
    decision = OpenIncident(key, Kind.FIGHT, 0, incident_id_for(key, 0), dets, None, T0 + 5 * S)
    app.open_incident(decision, T0 + 5 * S)
    return app.incident(decision.incident_id)


def test_the_lifecycle_as_typed_commands(app: IncidentApp) -> None:
    iid = _open(app).id
    steps = [(Acknowledge(), Status.ACKNOWLEDGED), (Escalate(1, "crowd grows"), None),
             (Dispatch("unit-7"), Status.DISPATCHED), (AddNote("crew on site"), None),
             (Resolve("separated"), Status.RESOLVED), (Reopen("again"), Status.REOPENED),
             (MarkFalseAlarm("drill"), Status.FALSE_ALARM), (Close(), Status.CLOSED)]
    for n, (command, status) in enumerate(steps, start=1):
        before = app.incident(iid)
        after = app.execute(iid, command, by="op-1", at=T0 + (10 + n) * S,
                            expected_version=before.version)
        assert after.version == before.version + 1
        assert after.status == (status or before.status)
    stored = app.incident(iid)
    assert stored.status == Status.CLOSED and stored.level == 1 and stored.notes == 1
    assert [type(e).__name__ for e in app.history(iid)][-1] == "Closed"
    assert all(e.actor == "operator:op-1" for e in app.history(iid)[1:])


def test_guard_refusal_stale_version_and_illegal_transition(app: IncidentApp) -> None:
    incident = _open(app)

    def refuse(seen: Incident) -> None:
        assert seen.id == incident.id
        raise IncidentNotFound(seen.id)

    with pytest.raises(IncidentNotFound):
        app.execute(incident.id, Acknowledge(), by="op", at=T0 + 9 * S, guard=refuse)
    with pytest.raises(VersionConflict):
        app.execute(incident.id, Acknowledge(), by="op", at=T0 + 9 * S,
                    expected_version=incident.version - 1)
    with pytest.raises(IllegalTransition):
        app.execute(incident.id, Resolve("too early"), by="op", at=T0 + 9 * S)
    assert app.incident(incident.id).version == incident.version  # nothing was recorded


def test_two_people_acting_on_one_version_one_wins(store_env: dict[str, str]) -> None:
    first, second = IncidentApp(store_env, RULES), IncidentApp(store_env, RULES)
    try:
        incident = _open(first)
        version = incident.version
        first.execute(incident.id, Acknowledge(), by="op-a", at=T0 + 9 * S,
                      expected_version=version)
        with pytest.raises(VersionConflict) as caught:
            second.execute(incident.id, MarkFalseAlarm("dup"), by="op-b", at=T0 + 9 * S,
                           expected_version=version)
        assert caught.value.current == version + 1
    finally:
        first.close()
        second.close()
