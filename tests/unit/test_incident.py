"""Every lifecycle transition of the Incident aggregate, legal and illegal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eventsourcing.application import Application

from domain.errors import IllegalTransition, InvalidCommand
from domain.incident import Incident, incident_id_for
from domain.kinds import Status
from tests.helpers import T0

OP = "operator:alice"
S = timedelta(seconds=1)


def opened() -> Incident:
    return Incident(
        incident_key="fire:site=s1", episode=0, kind="fire", severity=4, site_id="s1",
        location=None, source_ids=["cam-1"], detection_ids=["d1", "d2"], first_seen_at=T0,
        last_seen_at=T0 + S, sla_due_at=T0 + 60 * S, agencies=["situation_centre"],
        subject={}, linked_to=None, rule="rule:fire@1", actor="rule:fire@1", timestamp=T0 + S,
        snapshots=[],
    )


def in_status(status: Status) -> Incident:
    inc = opened()
    steps = {
        Status.OPEN: [],
        Status.ACKNOWLEDGED: ["ack"],
        Status.DISPATCHED: ["ack", "dispatch"],
        Status.RESOLVED: ["ack", "resolve"],
        Status.AUTO_RESOLVED: ["auto"],
        Status.FALSE_ALARM: ["false"],
        Status.REOPENED: ["auto", "reopen"],
        Status.CLOSED: ["ack", "resolve", "close"],
        Status.MERGED: ["merged"],
    }[status]
    for step in steps:
        COMMANDS[step](inc)
    assert inc.status is status
    return inc


COMMANDS = {
    "ack": lambda i: i.acknowledge(actor=OP, at=T0 + 2 * S),
    "dispatch": lambda i: i.dispatch(unit="fire-crew-3", actor=OP, at=T0 + 3 * S),
    "resolve": lambda i: i.resolve(resolution="extinguished", actor=OP, at=T0 + 4 * S),
    "auto": lambda i: i.auto_resolve(reason="quiet", actor="rule:fire@1", at=T0 + 4 * S),
    "false": lambda i: i.mark_false_alarm(reason="steam", actor=OP, at=T0 + 4 * S),
    "reopen": lambda i: i.reopen(reason="again", detection_ids=["d9"], actor=OP, at=T0 + 5 * S),
    "close": lambda i: i.close(actor=OP, at=T0 + 6 * S),
    "merged": lambda i: _merge_target().absorb(i, reason="dup", actor=OP, at=T0 + 7 * S),
}


def _merge_target() -> Incident:
    """Another open incident (its own key) that an incident is merged into."""
    return Incident(
        incident_key="fire:site=s2", episode=0, kind="fire", severity=4, site_id="s2",
        location=None, source_ids=["cam-2"], detection_ids=["d5"], first_seen_at=T0,
        last_seen_at=T0 + S, sla_due_at=T0 + 60 * S, agencies=["situation_centre"],
        subject={}, linked_to=None, rule="rule:fire@1", actor="rule:fire@1", timestamp=T0 + S,
        snapshots=[],
    )

LEGAL = {
    "ack": {Status.OPEN, Status.REOPENED},
    "dispatch": {Status.ACKNOWLEDGED},
    "resolve": {Status.ACKNOWLEDGED, Status.DISPATCHED},
    "auto": {Status.OPEN, Status.REOPENED, Status.ACKNOWLEDGED},
    "false": {Status.OPEN, Status.REOPENED, Status.ACKNOWLEDGED, Status.DISPATCHED},
    "reopen": {Status.RESOLVED, Status.AUTO_RESOLVED, Status.FALSE_ALARM},
    "close": {Status.RESOLVED, Status.AUTO_RESOLVED, Status.FALSE_ALARM},
    "merged": set(Status) - {Status.CLOSED, Status.MERGED},
}
RESULT = {"ack": Status.ACKNOWLEDGED, "dispatch": Status.DISPATCHED, "resolve": Status.RESOLVED,
          "auto": Status.AUTO_RESOLVED, "false": Status.FALSE_ALARM, "reopen": Status.REOPENED,
          "close": Status.CLOSED, "merged": Status.MERGED}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_transition_table(status: Status, command: str) -> None:
    inc = in_status(status)
    if status in LEGAL[command]:
        COMMANDS[command](inc)
        assert inc.status is RESULT[command]
        assert inc.pending_events[-1].actor in {OP, "rule:fire@1"}
    else:
        version = inc.version
        with pytest.raises(IllegalTransition) as info:
            COMMANDS[command](inc)
        assert info.value.status == status.value
        assert str(inc.id) in str(info.value)
        assert inc.version == version  # nothing recorded


def test_id_is_derived_from_key_and_episode() -> None:
    assert opened().id == incident_id_for("fire:site=s1", 0)
    assert incident_id_for("fire:site=s1", 1) != incident_id_for("fire:site=s1", 0)


def test_evidence_is_deduplicated_and_provenance_kept() -> None:
    inc = opened()
    kwargs = dict(source_ids=["cam-2"], count=2, first_seen_at=T0, last_seen_at=T0 + 9 * S,
                  max_confidence=0.9, snapshots=[], suppressed=False, actor="rule:fire@1",
                  at=T0 + 10 * S)
    assert inc.add_evidence(detection_ids=["d2", "d3"], **kwargs)
    assert not inc.add_evidence(detection_ids=["d1", "d3"], **kwargs)
    assert inc.evidence_count == 3
    assert inc.pending_events[-1].detection_ids == ["d3"]
    assert inc.sources == ["cam-1", "cam-2"]
    assert inc.opening_detection_ids == ["d1", "d2"]


def test_escalation_raises_level_and_severity_without_changing_status() -> None:
    inc = opened()
    inc.escalate(level=1, severity=4, reason="sla", actor="rule:fire@1", at=T0 + 61 * S)
    assert (inc.level, inc.status) == (1, Status.OPEN)
    with pytest.raises(InvalidCommand):
        inc.escalate(level=1, severity=4, reason="again", actor="rule:fire@1", at=T0 + 62 * S)


def test_notes_are_validated() -> None:
    inc = in_status(Status.CLOSED)
    inc.add_note(text="reviewed", actor=OP, at=T0 + 7 * S)
    with pytest.raises(InvalidCommand):
        inc.add_note(text="   ", actor=OP, at=T0 + 8 * S)


def test_replay_is_stable_and_uses_the_callers_time() -> None:
    app = Application()
    inc = in_status(Status.REOPENED)
    app.save(inc)
    copy = app.repository.get(inc.id)
    assert (copy.status, copy.version, copy.evidence_count) == (inc.status, inc.version, 3)
    stamps = [e.timestamp for e in app.events.get(inc.id)]
    assert stamps == [T0 + S, T0 + 4 * S, T0 + 5 * S]
