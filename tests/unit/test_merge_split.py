"""Merge and split on the Incident aggregate and the correlation track: transitions, refusals,
and replay (issue 14 item 4). Pure: no store, no clock."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from eventsourcing.application import Application

from domain.errors import IllegalTransition, InvalidCommand, MergeRefused
from domain.incident import Incident, incident_id_for, split_key_for
from domain.kinds import Status
from domain.track import CorrelationTrack
from tests.helpers import T0
from tests.unit.test_incident import COMMANDS, in_status

OP = "operator:sup"
S = timedelta(seconds=1)


def other(key: str = "smoke:site=s1", dets: tuple[str, ...] = ("d7", "d8")) -> Incident:
    return Incident(
        incident_key=key, episode=0, kind="fire", severity=3, site_id="s1", location=None,
        source_ids=["cam-2"], detection_ids=list(dets), first_seen_at=T0 - 10 * S,
        last_seen_at=T0 + 9 * S, sla_due_at=T0 + 60 * S, agencies=["police"], subject={},
        linked_to=None, rule="rule:fire@1", actor="rule:fire@1", timestamp=T0,
        snapshots=[{"ref": "s3://b/1.jpg", "sha256": "a" * 64}],
    )


def test_merge_moves_evidence_routing_and_marks_the_merged_one() -> None:
    a, b = in_status(Status.ACKNOWLEDGED), other()
    a.absorb(b, reason="same fire", actor=OP, at=T0 + 10 * S)
    assert b.status is Status.MERGED and b.merged_into == str(a.id)
    assert a.merged_from == (str(b.id),)
    assert a.evidence_ids == {"d1", "d2", "d7", "d8"} and a.evidence_count == 4
    assert a.sources == ["cam-1", "cam-2"] and a.agencies == ["situation_centre", "police"]
    assert a.first_seen_at == T0 - 10 * S and a.last_seen_at == T0 + 9 * S
    assert [s["sha256"] for s in a.snapshots] == ["a" * 64]
    assert a.status is Status.ACKNOWLEDGED  # the target keeps its own status
    # the merged incident keeps its history and takes no further command but reads
    with pytest.raises(IllegalTransition):
        b.acknowledge(actor=OP, at=T0 + 11 * S)
    with pytest.raises(IllegalTransition):
        b.close(actor=OP, at=T0 + 11 * S)


@pytest.mark.parametrize("status", list(Status))
def test_merge_refusals_by_status(status: Status) -> None:
    if status is Status.MERGED:
        target = other("x:1")
        other("x:2").absorb(target, reason="", actor=OP, at=T0)
    else:
        target = in_status(status)
    b = other()
    final = status in {Status.CLOSED, Status.MERGED}
    if final:
        with pytest.raises(IllegalTransition):
            target.absorb(b, reason="", actor=OP, at=T0 + 10 * S)
        with pytest.raises(IllegalTransition):  # nor out of a closed or merged one
            b.absorb(target, reason="", actor=OP, at=T0 + 10 * S)
        assert b.status is Status.OPEN and not b.pending_events[1:]
    else:
        target.absorb(b, reason="", actor=OP, at=T0 + 10 * S)
        assert b.status is Status.MERGED


def test_merge_into_itself_is_refused_and_records_nothing() -> None:
    a = in_status(Status.OPEN)
    version = a.version
    with pytest.raises(MergeRefused):
        a.absorb(a, reason="", actor=OP, at=T0 + 10 * S)
    assert a.version == version and a.status is Status.OPEN


def test_split_moves_chosen_evidence_into_a_new_deterministic_incident() -> None:
    a = other(dets=("d1", "d2", "d3"))
    new = a.split(detection_ids=["d3", "d2"], reason="two fires", actor=OP, at=T0 + 20 * S)
    assert a.evidence_ids == {"d1"} and a.evidence_count == 1 and a.split_into == (str(new.id),)
    assert new.evidence_ids == {"d2", "d3"} and new.status is Status.OPEN
    assert new.linked_to == str(a.id) and new.rule == f"split:{a.id}"
    assert new.agencies == a.agencies and new.kind == a.kind
    assert new.id == incident_id_for(split_key_for(a.id, ["d2", "d3"]), 0)
    again = other(dets=("d1", "d2", "d3"))
    assert again.split(detection_ids=["d2", "d3"], reason="", actor=OP,
                       at=T0 + 99 * S).id == new.id  # the same request names the same incident


@pytest.mark.parametrize("ids", [[], ["nope"], ["d1", "d2"]])
def test_split_refusals(ids: list[str]) -> None:
    a = other(dets=("d1", "d2"))
    with pytest.raises(InvalidCommand):
        a.split(detection_ids=ids, reason="", actor=OP, at=T0 + 20 * S)
    assert a.evidence_ids == {"d1", "d2"}


def test_split_refused_from_closed_and_merged() -> None:
    closed = in_status(Status.CLOSED)
    with pytest.raises(IllegalTransition):
        closed.split(detection_ids=["d1"], reason="", actor=OP, at=T0 + 20 * S)
    merged = other(dets=("d1", "d2"))
    in_status(Status.OPEN).absorb(merged, reason="", actor=OP, at=T0)
    with pytest.raises(IllegalTransition):
        merged.split(detection_ids=["d1"], reason="", actor=OP, at=T0 + 20 * S)


def test_track_redirect_only_from_the_keys_latest_incident() -> None:
    track = CorrelationTrack(key="fire:site=s1", timestamp=T0)
    first = incident_id_for("fire:site=s1", 0)
    track.start_episode(incident_id=first, at=T0)
    target = UUID(int=7)
    assert not track.redirect(merged_id=UUID(int=9), into_id=target, at=T0 + S)
    assert track.redirect(merged_id=first, into_id=target, at=T0 + S)
    assert track.latest_incident_id == target and track.next_episode == 2


def test_both_histories_replay_to_the_same_state() -> None:
    app: Application[UUID] = Application()
    a, b = in_status(Status.DISPATCHED), other(dets=("d7", "d8", "d9"))
    a.absorb(b, reason="dup", actor=OP, at=T0 + 10 * S)
    new = a.split(detection_ids=["d9"], reason="not ours", actor=OP, at=T0 + 11 * S)
    COMMANDS["resolve"](a)
    app.save(a, b, new)
    for live in (a, b, new):
        back = app.repository.get(live.id)
        assert (back.status, back.evidence_ids, back.agencies, back.merged_into,
                back.merged_from, back.split_into, back.version) == (
                    live.status, live.evidence_ids, live.agencies, live.merged_into,
                    live.merged_from, live.split_into, live.version)
