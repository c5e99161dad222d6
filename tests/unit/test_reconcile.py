"""The store's answer folded into the correlator's cache: buffered evidence is not forgotten.

A worker catching up on a backlog opens an incident and, in the same batch, buffers newer
evidence for it (coalesced, flushed later). The store's answer to the opening knows only the
opening detections; if the cache took its `last_seen_at` as is, the next timer tick would
auto-resolve an incident whose detections are still arriving (seen in the camera-outage test).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.correlation import AutoResolve, IncidentSnapshot, OpenIncident, reconcile, tick
from tests.helpers import T0, default_rules, det
from tests.unit.test_correlation import run

RULES = default_rules()
S = timedelta(seconds=1)


def test_the_stores_older_last_seen_does_not_rewind_buffered_evidence() -> None:
    dets = [det("fight", source="cam-3", conf=0.9, seconds=i) for i in range(8)]
    view, decisions = run(dets)
    [opened] = [d for d in decisions if isinstance(d, OpenIncident)]
    key = opened.key
    cached = view[key].episode
    assert cached is not None and cached.last_seen_at == T0 + 7 * S  # evidence buffered
    stored = replace(cached, last_seen_at=T0 + 1 * S)  # the store saw only the opening
    view[key] = reconcile(view[key], key, opened.group, IncidentSnapshot(key, stored))
    assert view[key].episode is not None and view[key].episode.last_seen_at == T0 + 7 * S
    quiet = RULES.groups[opened.group].auto_resolve_after
    assert quiet is not None
    early = tick(view, RULES, T0 + 1 * S + quiet).decisions  # only 594 s after the newest
    assert not any(isinstance(d, AutoResolve) for d in early)
    late = tick(view, RULES, T0 + 7 * S + quiet).decisions
    assert any(isinstance(d, AutoResolve) for d in late)


def test_a_newer_episode_from_the_store_replaces_the_cache() -> None:
    view, decisions = run([det("fight", source="cam-4", conf=0.9, seconds=i) for i in range(3)])
    [opened] = [d for d in decisions if isinstance(d, OpenIncident)]
    cached = view[opened.key].episode
    assert cached is not None
    other = replace(cached, incident_id=opened.incident_id.__class__(int=1), number=1,
                    last_seen_at=T0)
    state = reconcile(view[opened.key], opened.key, opened.group,
                      IncidentSnapshot(opened.key, other))
    assert state.episode == other  # another incident's times are never mixed in
