"""The application against both real event stores: one contract, SQLite and PostgreSQL.

Covers idempotent opening (redelivery and a race between two workers), evidence
de-duplication, operator commands with expected versions, time travel, and observations.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.errors import IllegalTransition, IncidentNotFound, VersionConflict
from domain.incident import incident_id_for
from domain.kinds import Kind, Status
from tests.helpers import T0, default_rules, det

S = timedelta(seconds=1)
RULES = default_rules()


@pytest.fixture
def app(store_env: dict[str, str]) -> IncidentApp:
    application = IncidentApp(store_env, RULES)
    yield application
    application.close()


def _open(app: IncidentApp, key: str = "fire:site=s1", episode: int = 0, n: int = 3):
    dets = tuple(det("fire", site="s1", seconds=i) for i in range(n))
    decision = OpenIncident(key, Kind.FIRE, episode, incident_id_for(key, episode), dets, None,
                            T0 + 5 * S)
    return decision, app.open_incident(decision, T0 + 5 * S)


def test_open_is_idempotent_and_evidence_is_deduplicated(app: IncidentApp) -> None:
    decision, first = _open(app)
    assert first.changed and first.snapshot is not None
    again = app.open_incident(decision, T0 + 9 * S)  # redelivered
    assert not again.changed
    more = det("fire", site="s1", seconds=7)
    applied = app.add_evidence(decision.incident_id, [*decision.detections, more], T0 + 10 * S)
    assert applied.changed
    assert not app.add_evidence(decision.incident_id, [more], T0 + 11 * S).changed
    incident = app.incident(decision.incident_id)
    assert incident.evidence_count == 4 and incident.version == 2
    assert [i.id for i in app.incidents()] == [decision.incident_id]


def test_two_workers_racing_to_open_one_key_make_one_incident(store_env) -> None:
    a, b = IncidentApp(store_env, RULES), IncidentApp(store_env, RULES)
    try:
        d1, r1 = _open(a)
        other = tuple(det("fire", site="s1", seconds=i) for i in range(3))
        d2 = OpenIncident(d1.key, Kind.FIRE, 0, d1.incident_id, other, None, T0 + 6 * S)
        r2 = b.open_incident(d2, T0 + 6 * S)
        assert r1.changed and r2.changed  # the second joined as evidence
        assert a.incident(d1.incident_id).evidence_count == 6
        stale = OpenIncident(d1.key, Kind.FIRE, 0, incident_id_for("x", 9), other, None, T0)
        assert b.open_incident(stale, T0).refused  # cache said episode 0: store says 1
        assert b.key_state(d1.key).next_episode == 1
    finally:
        a.close()
        b.close()


def test_operator_commands_check_versions_and_transitions(app: IncidentApp) -> None:
    decision, _ = _open(app)
    iid = decision.incident_id
    with pytest.raises(VersionConflict) as info:
        app.acknowledge(iid, by="alice", at=T0 + 20 * S, expected_version=7)
    assert info.value.current == 1
    app.acknowledge(iid, by="alice", at=T0 + 20 * S, expected_version=1)
    with pytest.raises(IllegalTransition):
        app.acknowledge(iid, by="bob", at=T0 + 21 * S, expected_version=2)
    app.dispatch(iid, unit="crew-3", by="alice", at=T0 + 30 * S, expected_version=2)
    app.resolve(iid, resolution="out", by="alice", at=T0 + 40 * S, expected_version=3)
    app.close_incident(iid, by="bob", at=T0 + 50 * S, expected_version=4)
    assert app.incident(iid).status is Status.CLOSED
    past = app.incident_at(iid, T0 + 35 * S)
    assert past is not None and past.status is Status.DISPATCHED
    assert app.incident_at(iid, T0) is None
    actors = [getattr(e, "actor", None) for e in app.history(iid)]
    assert actors == ["rule:fire@1", "operator:alice", "operator:alice", "operator:alice",
                      "operator:bob"]
    with pytest.raises(IncidentNotFound):
        app.acknowledge(uuid4(), by="alice", at=T0)


def test_canteen_counts_aggregate_per_school_meal_and_day(app: IncidentApp) -> None:
    counts = [det("canteen_count", site="school-1", seconds=i,
                  attributes={"count": c, "meal": "lunch"}) for i, c in enumerate([10, 42, 40])]
    app.record_observations(counts, T0 + 5 * S)
    app.record_observations(counts[:1], T0 + 6 * S)  # redelivered: not counted again
    tally = app.canteen_tally("school-1", T0.date().isoformat(), "lunch")
    assert tally is not None and (tally.peak, tally.samples) == (42, 3)
    assert tally.version == 2  # the redelivery recorded nothing


def test_missed_pickup_schedule_opens_one_incident(app: IncidentApp) -> None:
    from pathlib import Path

    from domain.application import schedule_windows
    from domain.rules import load_rules

    rules = load_rules(Path("examples/rules-with-schedules.toml").read_text())
    app.rules = rules
    schedule = rules.schedules[0]
    windows = schedule_windows(schedule, T0 - timedelta(days=7), T0)
    assert len(windows) >= 2
    (seen_start, seen_end), (missed_start, missed_end) = windows[0], windows[1]
    pickup = det("waste_pickup", site=schedule.site_id, at=seen_start + timedelta(minutes=5))
    app.record_observations([pickup], T0)
    assert app.check_schedule(schedule, seen_start, seen_end, T0) is None  # picked up
    opened = app.check_schedule(schedule, missed_start, missed_end, T0)
    assert opened is not None and opened.changed and opened.snapshot is not None
    assert app.check_schedule(schedule, missed_start, missed_end, T0) is None  # idempotent
    assert [i.kind for i in app.incidents()] == ["waste_pickup"]
