"""The route hop's direct lane on the real stores (SQLite and PostgreSQL), without a broker:
detections whose shard is their own source are correlated by the route hop itself
(`RouteHop.triage` → `CorrelateHop.feed`), the rest go through the correlation topic as before.
The outcome must be the pure engine's, the offsets must wait for durability in their own lane,
and the two topics' partitions must never share an engine shard."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.application import IncidentApp
from domain.detection import parse_detection
from domain.topics import CORRELATION, DETECTIONS
from streams.consumer import CorrelateHop, OffsetTracker, RouteHop, Triage, shard_id
from streams.engine import CorrelationEngine
from streams.relay import keyed_partition
from tests.helpers import default_rules, record
from tests.integration.hop_fakes import TP as _TP
from tests.integration.hop_fakes import Dlq as _Dlq
from tests.integration.hop_fakes import Msg as _Msg

RULES = default_rules()
PARTITIONS = [0, 1, 2, 3]





def _records(now: datetime) -> list[dict[str, Any]]:
    """Source-keyed fights and site-less fires (direct), fires at sites and watch-list
    matches (re-keyed), in one stream."""
    out = []
    for cam in range(4):
        out += [record("fight", source=f"patrol-{cam}", site=None, at=now, seconds=-i,
                       conf=0.8 + 0.03 * i) for i in range(3)]
        out += [record("fire", source=f"lone-{cam}", site=None, at=now, seconds=-i)
                for i in range(3 if cam else 2)]  # lone-0: a candidate, never an incident
        out += [record("fire", source=f"site-cam-{cam}", site=f"site-{cam % 2}", at=now,
                       seconds=-i) for i in range(2)]
        out.append(record("face_match", source=f"gate-{cam}", site=None, at=now,
                          attributes={"subject_id": "W-1", "similarity": 0.9}))
    out.append(record("fight", source="patrol-0", site=None, at=now, conf=0.3))  # skipped
    return out


def _fetch(records: list[dict[str, Any]]) -> dict[_TP, list[_Msg]]:
    """The detections topic as a producer keyed by source_id fills it."""
    out: dict[_TP, list[_Msg]] = defaultdict(list)
    for rec in records:
        key = rec["source_id"].encode()
        tp = _TP(DETECTIONS, keyed_partition(key, PARTITIONS, PARTITIONS))
        out[tp].append(_Msg(key, json.dumps(rec).encode(), len(out[tp])))
    return out


async def _reference(records: list[dict[str, Any]], now: datetime) -> dict[str, frozenset[str]]:
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.popo"}, RULES)
    engine: CorrelationEngine[Any] = CorrelationEngine(app, RULES)
    await engine.process(0, [(parse_detection(json.dumps(r).encode()), None) for r in records],
                         now)
    await engine.drain(now)
    engine.close()
    return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}


def _evidence(app: IncidentApp) -> dict[str, frozenset[str]]:
    return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}


async def _second_hop(hop: CorrelateHop, triage: Triage) -> dict[int, int]:
    """The correlation topic's side: the re-keyed records, fetched per partition (returns
    each partition's record count)."""
    rekeyed: dict[_TP, list[_Msg]] = defaultdict(list)
    for rec, _ in triage.produce:
        assert rec.topic == CORRELATION
        tp = _TP(CORRELATION, keyed_partition(rec.key, PARTITIONS, PARTITIONS))
        rekeyed[tp].append(_Msg(rec.key, rec.value, len(rekeyed[tp])))
    await hop.handle(dict(rekeyed))
    return {tp.partition: len(msgs) for tp, msgs in rekeyed.items()}


async def test_direct_and_re_keyed_detections_make_the_pure_engines_incidents(
        store_env) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    records = _records(now)
    expected = await _reference(records, now)
    assert any(k.startswith("fight:source=") for k in expected)
    assert any(k.startswith("fire:source=") for k in expected)
    assert any(k.startswith("fire:site=") for k in expected)
    app = IncidentApp(store_env, RULES)
    engine: CorrelationEngine[Any] = CorrelationEngine(app, RULES)
    hop = CorrelateHop(engine, _Dlq().send, lambda: now, OffsetTracker())
    fetched = _fetch(records)
    for tp, msgs in fetched.items():
        for msg in msgs:
            hop.direct.handed_out(tp.partition, msg.offset)
    triage = RouteHop(RULES, clock=lambda: now).triage(fetched)
    direct = sum(map(len, triage.local.values()))
    assert direct == 4 * 3 + 3 * 3 + 2 + 1
    assert len(triage.produce) == len(records) - direct
    await hop.feed(triage.local, hop.direct.epoch)
    # the route hop settles its re-keyed records once the broker acknowledged them
    hop.direct.settle([token for _, token in triage.produce])
    # the direct lane's evidence is still coalescing: those partitions' offsets wait for it
    due = hop.direct.due()
    assert any(due.get(tp.partition, 0) < len(msgs) for tp, msgs in fetched.items())
    counts = await _second_hop(hop, triage)
    await hop.drain()
    assert hop.direct.due() == {tp.partition: len(msgs) for tp, msgs in fetched.items()}
    assert hop.tracker.due() == counts
    assert {s for s in engine.shards if s[0] == DETECTIONS} == {
        shard_id(DETECTIONS, tp.partition) for tp in triage.local}
    assert _evidence(app) == expected
    engine.close()
    app.close()


async def test_a_tick_settles_the_direct_lane_and_revoking_it_leaves_the_other_topic(
        store_env) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    engine: CorrelationEngine[Any] = CorrelationEngine(app, RULES,
                                                       evidence_interval=timedelta(seconds=5))
    clock = [now]
    hop = CorrelateHop(engine, _Dlq().send, lambda: clock[0], OffsetTracker())
    fights = [record("fight", source="patrol-9", site=None, at=now, seconds=-i, conf=0.9)
              for i in range(4)]
    msgs = [_Msg(b"patrol-9", json.dumps(r).encode(), i) for i, r in enumerate(fights)]
    local = {_TP(DETECTIONS, 0): [(parse_detection(m.value), m) for m in msgs]}
    for m in msgs:
        hop.direct.handed_out(0, m.offset)
    await hop.feed({_TP(DETECTIONS, 0): local[_TP(DETECTIONS, 0)][:2]}, hop.direct.epoch)
    assert hop.direct.due() == {0: 2}  # the two that opened the incident are durable
    await hop.feed({_TP(DETECTIONS, 0): local[_TP(DETECTIONS, 0)][2:]}, hop.direct.epoch)
    assert hop.direct.due() == {0: 2}  # evidence coalescing: held
    # the correlation topic's partition 0 has its own shard and its own offsets
    fire = record("fire", source="c-1", site="s-9", at=now)
    await hop.handle({_TP(CORRELATION, 0): [_Msg(b"site=s-9", json.dumps(fire).encode(), 0)]})
    assert set(engine.shards) == {shard_id(DETECTIONS, 0), shard_id(CORRELATION, 0)}
    assert hop.tracker.due() == {0: 1}  # a lone fire: a candidate hit, written, settled
    clock[0] = now + timedelta(seconds=6)
    await hop.tick()  # the timer flushes the direct shard's evidence too
    assert hop.direct.due() == {0: 4}
    [incident] = app.incidents()
    assert set(incident.evidence_ids) == {r["detection_id"] for r in fights}
    hop.revoke([0], DETECTIONS)
    assert set(engine.shards) == {shard_id(CORRELATION, 0)}
    assert hop.direct.due() == {} and hop.tracker.due() == {0: 1}
    engine.close()
    app.close()


async def test_a_conflict_in_the_direct_lane_is_dead_lettered_from_the_detections_topic(
        store_env) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    dlq = _Dlq()
    hop = CorrelateHop(CorrelationEngine(app, RULES), dlq.send, lambda: now, OffsetTracker())
    same = "5b0e6a52-3c3e-4f0e-9a53-0d1f7f2a9e07"
    first = record("fight", source="patrol-1", site=None, at=now, det_id=same)
    reused = record("fight", source="patrol-1", site=None, at=now, seconds=-3, det_id=same)
    msgs = [_Msg(b"patrol-1", json.dumps(r).encode(), 5 + i)
            for i, r in enumerate([first, reused])]
    for m in msgs:
        hop.direct.handed_out(2, m.offset)
    triage = RouteHop(RULES, clock=lambda: now).triage({_TP(DETECTIONS, 2): msgs})
    assert not triage.produce
    await hop.feed(triage.local, hop.direct.epoch)
    await hop.drain()
    assert hop.direct.due() == {2: 7}
    [letter] = dlq.letters
    assert (letter["stage"], letter["error_type"]) == ("correlate", "Conflict")
    assert letter["source"] == {"topic": DETECTIONS, "partition": 2, "offset": 6}
    assert base64.b64decode(letter["original"]) == msgs[1].value
    hop.engine.close()
    app.close()
