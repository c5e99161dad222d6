"""Correlation rules as pure functions, in microseconds, with hypothesis properties."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.correlation import (
    AddEvidence,
    AutoResolve,
    Escalate,
    KeyState,
    Observe,
    OpenIncident,
    ReopenIncident,
    Skipped,
    correlate,
    correlation_key,
    shard_key,
    tick,
)
from domain.detection import Detection
from domain.kinds import Status
from tests.helpers import T0, default_rules, det

RULES = default_rules()
S = timedelta(seconds=1)


def run(dets: Sequence[Detection], view: dict[str, KeyState] | None = None
        ) -> tuple[dict[str, KeyState], list[object]]:
    view = {} if view is None else view
    decisions: list[object] = []
    for d in dets:
        out = correlate(view, d, RULES, d.observed_at)
        for key, state in out.changes.items():
            if state is None:
                view.pop(key, None)
            else:
                view[key] = state
        decisions += out.decisions
    return view, decisions


def model(decisions: Sequence[object]) -> dict[UUID, frozenset[str]]:
    """What the store would hold: incident id → evidence ids (the aggregate de-duplicates)."""
    incidents: dict[UUID, set[str]] = {}
    for d in decisions:
        if isinstance(d, OpenIncident | AddEvidence | ReopenIncident):
            incidents.setdefault(d.incident_id, set()).update(x.detection_id for x in d.detections)
    return {k: frozenset(v) for k, v in incidents.items()}


def test_a_burst_opens_one_incident_once_min_hits_are_seen() -> None:
    burst = [det("fire", source=f"cam-{i % 2}", seconds=i) for i in range(5)]
    _, decisions = run(burst[:2])
    assert decisions == []
    view, decisions = run(burst)
    opens = [d for d in decisions if isinstance(d, OpenIncident)]
    assert len(opens) == 1 and len(opens[0].detections) == 3
    assert all(isinstance(d, AddEvidence) for d in decisions[1:])
    assert view["fire:site=site-1"].episode is not None


def test_noise_below_min_score_is_skipped_and_median_gate_holds() -> None:
    _, decisions = run([det("fight", conf=0.3, seconds=i) for i in range(5)])
    assert all(isinstance(d, Skipped) for d in decisions)
    # three hits above min_score 0.5 whose median stays under threshold 0.6
    _, decisions = run([det("fire", conf=0.55, seconds=i) for i in range(3)])
    assert decisions == []


def test_redelivered_candidate_hits_do_not_count_twice() -> None:
    d1, d2 = det("fire"), det("fire", seconds=1)
    _, decisions = run([d1, d2, d1, d2, d1])
    assert decisions == []


def test_fire_alarm_and_smoke_at_one_site_join_one_incident() -> None:
    smoke = [det("smoke", conf=0.7, source="cam-5", seconds=i) for i in range(3)]
    alarm = det("fire_alarm", source="alarm-1", conf=1.0, seconds=5)
    _, decisions = run([*smoke, alarm])
    assert len(model(decisions)) == 1
    assert isinstance(decisions[-1], AddEvidence)
    assert correlation_key(alarm, RULES) == correlation_key(smoke[0], RULES) == "fire:site=site-1"


def test_open_fire_inhibits_crowd_but_keeps_the_detections_as_evidence() -> None:
    fire = [det("fire", seconds=i) for i in range(3)]
    crowd = [det("crowd", source="cam-9", conf=0.8, seconds=5 + i) for i in range(4)]
    _, decisions = run([*fire, *crowd])
    suppressed = [d for d in decisions if isinstance(d, AddEvidence) and d.suppressed]
    assert len(suppressed) == 4
    assert len(model(decisions)) == 1


def test_wanted_subject_on_three_cameras_is_one_incident_in_one_shard() -> None:
    dets = [det("face_match", source=f"cam-{i}", site=f"metro-{i}", seconds=i,
                attributes={"subject_id": "W-7", "similarity": 0.8}) for i in range(3)]
    _, decisions = run(dets)
    assert len(model(decisions)) == 1
    assert len({shard_key(d, RULES) for d in dets}) == 1


def test_plates_are_normalised() -> None:
    a = det("plate_match", attributes={"plate": "a 123 bc-02"})
    b = det("plate_match", attributes={"plate": "A123BC02"})
    assert correlation_key(a, RULES) == correlation_key(b, RULES) == "plate_match:plate=A123BC02"


def test_canteen_counts_are_observations_not_incidents() -> None:
    _, decisions = run([det("canteen_count", attributes={"count": 3, "meal": "lunch"})])
    assert isinstance(decisions[0], Observe)


def _resolve(view: dict[str, KeyState], key: str, when: object) -> None:
    state = view[key]
    assert state.episode is not None
    view[key] = replace(state, episode=replace(state.episode, status=Status.RESOLVED,
                                                resolved_at=when))


def test_reopen_within_window_then_new_linked_incident_after_it() -> None:
    view, decisions = run([det("weapon", source="cam-3")])
    first = next(d for d in decisions if isinstance(d, OpenIncident))
    _resolve(view, first.key, T0 + 10 * S)
    _, again = run([det("weapon", source="cam-3", seconds=60)], view)
    assert isinstance(again[0], ReopenIncident) and again[0].incident_id == first.incident_id
    _resolve(view, first.key, T0 + 70 * S)
    _, later = run([det("weapon", source="cam-3", seconds=70 + 3600)], view)
    assert isinstance(later[0], OpenIncident)
    assert later[0].linked_to == first.incident_id and later[0].episode == 1
    _, late = run([det("weapon", source="cam-3", seconds=5)], view)
    assert isinstance(late[0], AddEvidence)


def test_timers_escalate_then_auto_resolve_and_expire_candidates() -> None:
    view, _ = run([det("fight", source="cam-8", conf=0.8, seconds=i) for i in range(2)])
    run([det("crowd", source="cam-9", conf=0.8)], view)  # a lone candidate elsewhere
    levels = []
    for t in (30, 62, 90, 123, 184, 245):  # SLA 60 s after opening at T0+1
        out = tick(view, RULES, T0 + t * S)
        view.update({k: v for k, v in out.changes.items() if v is not None})
        levels += [d.level for d in out.decisions if isinstance(d, Escalate)]
    assert levels == [1, 2, 3]  # one level per missed SLA period, capped at 3
    out = tick(view, RULES, T0 + 602 * S)  # fight auto-resolves after 600 s of quiet
    assert [type(d) for d in out.decisions] == [AutoResolve]
    assert out.changes.get("crowd:source=cam-9", "kept") is None  # expired candidate


# --- properties -------------------------------------------------------------------------

KINDS = ["fire", "smoke", "fire_alarm", "fight", "weapon"]


@st.composite
def bursts(draw: st.DrawFn) -> list[Detection]:
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(KINDS))
        out.append(det(kind, source=f"cam-{draw(st.integers(0, 3))}",
                       site=f"site-{draw(st.integers(0, 2))}",
                       conf=draw(st.sampled_from([0.3, 0.5, 0.65, 0.8, 1.0])),
                       seconds=draw(st.integers(0, 20)), det_id=f"00000000-0000-4000-8000-{i:012d}"))
    return out


@settings(max_examples=150, deadline=None)
@given(dets=bursts(), seed=st.integers(0, 2**32 - 1))
def test_any_order_within_lateness_gives_the_same_incidents(dets: list[Detection],
                                                             seed: int) -> None:
    ordered = sorted(dets, key=lambda d: d.observed_at)
    shuffled = list(dets)
    random.Random(seed).shuffle(shuffled)
    assert model(run(shuffled)[1]) == model(run(ordered)[1])


@settings(max_examples=150, deadline=None)
@given(dets=bursts(), seed=st.integers(0, 2**32 - 1))
def test_redelivering_any_subset_changes_nothing(dets: list[Detection], seed: int) -> None:
    rng = random.Random(seed)
    again = [d for d in dets if rng.random() < 0.5]
    mixed = list(dets)
    for d in again:
        mixed.insert(rng.randrange(mixed.index(d), len(mixed)) + 1, d)
    assert model(run(mixed)[1]) == model(run(dets)[1])


def test_plain_evidence_changes_only_last_seen_and_keeps_every_other_field() -> None:
    """`correlate` builds the evidence state directly (not with `dataclasses.replace`): every
    field of `KeyState` and `Episode` must still be carried over."""
    from dataclasses import fields

    from domain.correlation import Episode, KeyState, correlate
    from domain.incident import incident_id_for
    from domain.kinds import Kind, Status

    key = "fire:site=site-1"
    episode = Episode(incident_id_for(key, 4), 4, Status.ACKNOWLEDGED, 2, 3, T0,
                      T0 + timedelta(seconds=60), T0 + timedelta(seconds=1),
                      resolved_at=None, step="call-fire-brigade",
                      step_due_at=T0 + timedelta(seconds=90))
    state = KeyState(key, Kind.FIRE, (), episode, next_episode=7)
    assert [f.name for f in fields(Episode)] == [
        "incident_id", "number", "status", "level", "severity", "opened_at", "sla_due_at",
        "last_seen_at", "resolved_at", "step", "step_due_at"], "update domain.correlation._seen"
    assert [f.name for f in fields(KeyState)] == [
        "key", "group", "hits", "episode", "next_episode"], "update domain.correlation._seen"
    later = det("fire", site="site-1", seconds=5)
    out = correlate({key: state}, later, RULES, T0 + timedelta(seconds=6))
    assert out.changes == {key: replace(state, episode=replace(
        episode, last_seen_at=later.observed_at))}
    assert out.decisions == [AddEvidence(key, episode.incident_id, (later,))]
    earlier = det("fire", site="site-1", seconds=0)  # older than last seen: no state change
    out = correlate({key: state}, earlier, RULES, T0 + timedelta(seconds=6))
    assert out.changes == {}
    assert out.decisions == [AddEvidence(key, episode.incident_id, (earlier,))]
