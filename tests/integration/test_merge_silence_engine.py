"""Merge, split and silences through the correlation engine on the real stores (SQLite and
PostgreSQL via `store_env`): a merged incident's key sends later detections to the target,
on a warm and on a cold engine (the redirect is an event of the track); a silence counts the
detections it covers, once each, and opens nothing (issue 14 items 4-5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.application import IncidentApp
from domain.commands import Merge, Split
from domain.errors import IllegalTransition, MergeRefused
from domain.incident import incident_id_for
from domain.kinds import Status
from domain.silences import InvalidSilence, SilenceAlreadyEnded
from streams.engine import CorrelationEngine
from tests.helpers import default_rules, det

RULES = default_rules()
S = timedelta(seconds=1)


async def _feed(engine: CorrelationEngine, dets: list, now: datetime) -> list:
    settled = await engine.process(0, [(d, d.detection_id) for d in dets], now)
    return settled + await engine.drain(now + S)


def _fires(site: str, now: datetime, n: int = 3, source: str = "cam-1") -> list:
    return [det("fire", site=site, source=source, at=now, seconds=i) for i in range(n)]


async def test_merge_redirects_later_detections_and_split_moves_evidence(store_env) -> None:
    now = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    engine = CorrelationEngine(app, RULES)
    opening_b = _fires("s-b", now, source="cam-2")
    await _feed(engine, _fires("s-a", now) + opening_b, now)
    a, b = incident_id_for("fire:site=s-a", 0), incident_id_for("fire:site=s-b", 0)
    with pytest.raises(MergeRefused):
        app.merge(a, Merge(a), by="sup", at=now + 2 * S)
    target, merged = app.merge(a, Merge(b, "one fire"), by="sup", at=now + 2 * S)
    assert merged.status is Status.MERGED and target.evidence_count == 6
    with pytest.raises(IllegalTransition):  # merged: nothing more merges out of it
        app.merge(a, Merge(b), by="sup", at=now + 3 * S)
    late = _fires("s-b", now + 5 * S, 2, source="cam-2")
    settled = await _feed(engine, late, now + 5 * S)  # the warm engine still caches B
    assert set(settled) >= {d.detection_id for d in late}
    assert app.incident(a).evidence_ids >= {d.detection_id for d in late}
    assert app.incident(b).evidence_count == 3
    cold = CorrelationEngine(IncidentApp(store_env, RULES), RULES)  # learns it from the track
    before = {i.id: i.version for i in app.incidents()}
    await _feed(cold, opening_b, now + 8 * S)  # B's opening batch redelivered: nothing new
    assert {i.id: i.version for i in app.incidents()} == before
    more = _fires("s-b", now + 9 * S, 2, source="cam-2")
    await _feed(cold, more, now + 9 * S)
    assert app.incident(a).evidence_ids >= {d.detection_id for d in more}
    state = app.key_state("fire:site=s-b")
    assert state.snapshot is not None and state.snapshot.episode.incident_id == a
    assert state.snapshot.key == "fire:site=s-b" and state.next_episode == 2
    moved = tuple(sorted(d.detection_id for d in more))
    source, new = app.split(a, Split(moved, "another fire"), by="sup", at=now + 12 * S)
    assert new.evidence_ids == set(moved) and not source.evidence_ids & set(moved)
    assert app.incident(new.id).linked_to == str(a)
    for e in (engine, cold):
        e.close()
    app.close()


async def test_a_silence_counts_what_it_covers_and_opens_nothing(store_env) -> None:
    now = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    with pytest.raises(InvalidSilence):
        app.create_silence(scope="kind", value="nonsense", starts_at=now, ends_at=now + S,
                           by="sup", reason="x", at=now)
    silence = app.create_silence(scope="camera", value="cam-9", starts_at=now - S,
                                 ends_at=now + 3600 * S, by="sup", reason="maintenance",
                                 at=now)
    again = app.create_silence(scope="camera", value="cam-9", starts_at=now - S,
                               ends_at=now + 3600 * S, by="sup", reason="maintenance", at=now)
    assert again.id == silence.id and [s.id for s in app.silences(now)] == [silence.id]
    engine = CorrelationEngine(app, RULES)
    quiet = _fires("s-q", now, 4, source="cam-9")
    loud = _fires("s-l", now, 3, source="cam-8")
    settled = await _feed(engine, quiet + loud, now)
    assert set(settled) == {d.detection_id for d in quiet + loud}
    assert [i.incident_key for i in app.incidents()] == ["fire:site=s-l"]
    await _feed(engine, quiet, now + 2 * S)  # redelivered: counted once
    counted = app.silence(silence.id)
    assert (counted.count, counted.by_kind) == (4, {"fire": 4})
    app.end_silence(silence.id, by="sup", reason="done early", at=now + 10 * S)
    with pytest.raises(SilenceAlreadyEnded):
        app.end_silence(silence.id, by="sup", reason="", at=now + 11 * S)
    assert app.silences(now + 11 * S) == [] and app.silence(silence.id).state(
        now + 11 * S) == "ended"
    engine.silences.loaded_at = None  # the next batch reloads (in production: every 5 s)
    after = _fires("s-q", now + 20 * S, 3, source="cam-9")
    await _feed(engine, after, now + 20 * S)
    assert UUID(str(incident_id_for("fire:site=s-q", 0))) in {i.id for i in app.incidents()}
    engine.close()
    app.close()


async def test_the_target_of_a_merge_is_not_auto_resolved_while_its_merged_key_feeds_it(
        store_env) -> None:
    """Camera outages auto-resolve after 150 s without a record. Two cameras on one mast went
    dark; B is merged into A and only B keeps reporting. A's own key lives in another partition
    (another cache) that never hears of B's records: its timer must not resolve A while the
    store holds evidence newer than the quiet time."""
    t = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    engine = CorrelationEngine(app, RULES, evidence_interval=timedelta(0))
    for partition, src in enumerate(("cam-a", "cam-b")):  # two partitions: two caches
        dark = det("camera_offline", source=src, site=None, at=t)
        await engine.process(partition, [(dark, dark.detection_id)], t)
    await engine.drain(t + S)
    a = incident_id_for("camera_offline:source=cam-a", 0)
    b = incident_id_for("camera_offline:source=cam-b", 0)
    app.merge(a, Merge(b), by="sup", at=t + S)
    for minute in range(1, 6):  # cam-b's outage goes on; cam-a's record came only at first
        now = t + 60 * minute * S
        seen = det("camera_offline", source="cam-b", site=None, at=now)
        await engine.process(1, [(seen, seen.detection_id)], now)
        await engine.drain(now + S)
        await engine.tick(now + S)
    assert app.incident(a).status is Status.OPEN
    await engine.tick(t + 300 * S + 151 * S)  # then quiet for longer than 150 s
    assert app.incident(a).status is Status.AUTO_RESOLVED
    engine.close()
    app.close()
