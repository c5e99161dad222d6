"""Order-independent facts on the aggregate: min/max seen, origin amendments, late evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.correlation import AddEvidence, Observe, Skipped, correlate
from domain.errors import IllegalTransition
from domain.incident import Origin
from domain.kinds import Status
from tests.helpers import T0, default_rules, det
from tests.unit.test_correlation import run
from tests.unit.test_incident import in_status, opened

S = timedelta(seconds=1)
RULES = default_rules()
EVIDENCE = dict(count=1, max_confidence=0.9, snapshots=[], actor="rule:fire@1")


def _older(detection_id: str, seconds: int, site: str | None = "s0") -> Origin:
    return Origin(T0 + seconds * S, detection_id, "cam-0", site, {"lat": 43.2, "lon": 76.9})


def test_older_evidence_moves_first_seen_site_and_primary_source() -> None:
    inc = opened()  # first seen T0 at s1 by cam-1 (d1)
    assert inc.add_evidence(detection_ids=["d0"], source_ids=["cam-0"], first_seen_at=T0 - 5 * S,
                            last_seen_at=T0 - 5 * S, suppressed=False, at=T0 + 9 * S,
                            origin=_older("d0", -5), **EVIDENCE)
    assert type(inc.pending_events[-1]).__name__ == "OriginAmended"
    assert inc.first_seen_at == T0 - 5 * S and inc.last_seen_at == T0 + S
    assert (inc.site_id, inc.sources[0], inc.location) == ("s0", "cam-0",
                                                            {"lat": 43.2, "lon": 76.9})


def test_later_or_tied_but_greater_evidence_leaves_the_origin() -> None:
    inc = opened()
    inc.add_evidence(detection_ids=["d9"], source_ids=["cam-9"], first_seen_at=T0,
                     last_seen_at=T0, suppressed=False, at=T0 + 9 * S,
                     origin=_older("d9", 0), **EVIDENCE)  # same instant, id d9 > d1
    assert type(inc.pending_events[-1]).__name__ == "EvidenceAdded"
    assert (inc.site_id, inc.sources[0]) == ("s1", "cam-1")
    inc.add_evidence(detection_ids=["d0"], source_ids=["cam-0"], first_seen_at=T0,
                     last_seen_at=T0, suppressed=False, at=T0 + 9 * S,
                     origin=_older("d0", 0), **EVIDENCE)  # same instant, id d0 < d1: amends
    assert (inc.site_id, inc.sources[0], inc.origin_detection_id) == ("s0", "cam-0", "d0")


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.AUTO_RESOLVED, Status.FALSE_ALARM,
                                    Status.CLOSED])
def test_late_evidence_keeps_the_status(status: Status) -> None:
    inc = in_status(status)
    assert inc.add_late_evidence(detection_ids=["d7"], source_ids=["cam-7"],
                                 first_seen_at=T0, last_seen_at=T0 + 2 * S, at=T0 + 99 * S,
                                 **EVIDENCE)
    assert not inc.add_late_evidence(detection_ids=["d7"], source_ids=["cam-7"],
                                     first_seen_at=T0, last_seen_at=T0 + 2 * S,
                                     at=T0 + 99 * S, **EVIDENCE)
    assert inc.status is status and inc.late_evidence == 1 and "d7" in inc.evidence_ids


@pytest.mark.parametrize("status", [Status.OPEN, Status.ACKNOWLEDGED, Status.DISPATCHED,
                                    Status.REOPENED])
def test_late_evidence_is_refused_while_active(status: Status) -> None:
    with pytest.raises(IllegalTransition):
        in_status(status).add_late_evidence(
            detection_ids=["d7"], source_ids=[], first_seen_at=T0, last_seen_at=T0,
            at=T0 + 9 * S, **EVIDENCE)


def test_the_correlator_sends_late_detections_within_the_horizon() -> None:
    view, _ = run([det("fight", source="cam-5", conf=0.9, seconds=i) for i in range(2)])
    key = "fight:source=cam-5"
    episode = view[key].episode
    assert episode is not None
    view[key] = replace(view[key], episode=replace(episode, status=Status.RESOLVED,
                                                   resolved_at=T0 + 30 * S))
    late = det("fight", source="cam-5", conf=0.9, seconds=10)
    inside = correlate(view, late, RULES, T0 + 30 * S + RULES.late_evidence)
    assert [type(d) for d in inside.decisions] == [AddEvidence] and not inside.changes
    outside = correlate(view, late, RULES, T0 + 31 * S + RULES.late_evidence)
    assert [type(d) for d in outside.decisions] == [Skipped]


def test_a_watch_list_match_below_the_rule_is_an_observation_not_lost() -> None:
    weak = det("face_match", source="cam-3", conf=0.45,
               attributes={"subject_id": "W-9", "similarity": 0.45})
    out = correlate({}, weak, RULES, T0)
    assert [type(d) for d in out.decisions] == [Observe] and not out.changes
    noise = correlate({}, det("fight", source="cam-3", conf=0.2), RULES, T0)
    assert [type(d) for d in noise.decisions] == [Skipped]
