"""The correlation engine on the real stores: settling, coalescing, redelivery, restart."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta

from domain.application import IncidentApp
from domain.detection import parse_detection
from domain.topics import CORRELATION
from kuzet.scenario import EXPECTED, demo_records
from streams.consumer import CorrelateHop, OffsetTracker
from streams.engine import CorrelationEngine
from tests.helpers import default_rules, det, record
from tests.integration.hop_fakes import TP as _TP
from tests.integration.hop_fakes import Msg as _Fetched

RULES = default_rules()


def _scenario(now: datetime):
    dets = []
    for _, raw in demo_records(now):
        try:
            dets.append(parse_detection(raw))
        except Exception:
            continue
    return dets


def _evidence(app: IncidentApp) -> dict[str, frozenset[str]]:
    return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}


async def _run(engine: CorrelationEngine, dets, now: datetime) -> list:
    settled = await engine.process(0, [(d, d.detection_id) for d in dets], now)
    settled += await engine.tick(now + timedelta(seconds=1))
    settled += await engine.drain(now + timedelta(seconds=2))
    return settled


async def test_scenario_gives_the_expected_incidents_and_settles_everything(store_env) -> None:
    now = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    engine = CorrelationEngine(app, RULES)
    dets = _scenario(now)
    settled = await _run(engine, dets, now)
    rows = {i.incident_key: i for i in app.incidents()}
    assert set(rows) == set(EXPECTED)
    for key, want in EXPECTED.items():
        assert (rows[key].status.value, len(rows[key].sources)) == (want["status"], want["sources"])
    held = {d.detection_id for d in dets} - set(settled)
    # the two lone noise hits wait in their candidate windows, persisted in the ledger: their
    # tokens settle at once (issue 10 item 8), so nothing holds the committed offset
    assert held == set()
    settled += await engine.tick(now + timedelta(seconds=200))
    assert sorted(settled) == sorted(d.detection_id for d in dets)
    before = _evidence(app)
    await _run(engine, dets, now + timedelta(seconds=3))  # everything redelivered
    assert _evidence(app) == before
    engine.close()
    app.close()


async def test_evidence_is_coalesced_per_interval(store_env) -> None:
    app = IncidentApp(store_env, RULES)
    engine = CorrelationEngine(app, RULES, evidence_interval=timedelta(seconds=5))
    t = datetime.now(UTC)
    burst = [det("fire", source=f"cam-{i % 3}", at=t, seconds=i * 0.1) for i in range(200)]
    settled = []
    for i in range(0, 200, 20):  # ten batches within two seconds
        now = t + timedelta(seconds=i / 100)
        settled += await engine.process(0, [(d, d.detection_id) for d in burst[i:i + 20]], now)
    incident = next(app.incidents())
    assert incident.version == 1  # opened; evidence still buffered, tokens held
    assert len(settled) == 3
    settled += await engine.tick(t + timedelta(seconds=6))
    incident = next(app.incidents())
    assert incident.version == 2 and incident.evidence_count == 200
    assert len(settled) == 200
    engine.close()
    app.close()


async def test_a_restarted_engine_resumes_from_the_store(store_env) -> None:
    """Crash after some batches: unsettled detections are redelivered to a fresh engine."""
    now = datetime.now(UTC)
    dets = _scenario(now)
    app = IncidentApp(store_env, RULES)
    first = CorrelationEngine(app, RULES)
    half = len(dets) // 2
    settled = set(await first.process(0, [(d, d.detection_id) for d in dets[:half]], now))
    first.close()  # crash: buffers lost, nothing drained
    second = CorrelationEngine(IncidentApp(store_env, RULES), RULES)
    redelivered = [d for d in dets if d.detection_id not in settled]
    await _run(second, redelivered, now)
    reference_app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.popo"}, RULES)
    await _run(CorrelationEngine(reference_app, RULES), dets, now)
    assert _evidence(app) == _evidence(reference_app)
    second.close()
    app.close()


async def test_detections_the_store_refuses_are_recorrelated_and_stay_held(store_env) -> None:
    """An operator closed the incident behind the cache's back: the next detection is refused
    as evidence, re-correlated as a new candidate hit, which is persisted (its token settles
    once written, issue 10 item 8); the next hits open the new (linked) incident with it."""
    app = IncidentApp(store_env, RULES)
    engine = CorrelationEngine(app, RULES, evidence_interval=timedelta(seconds=5))
    t = datetime.now(UTC)
    burst = [det("fire", at=t, seconds=i) for i in range(3)]
    await engine.process(0, [(d, d.detection_id) for d in burst], t)
    first = next(app.incidents())
    for step, kwargs in (("acknowledge", {}), ("resolve", {"resolution": "out"}),
                         ("close_incident", {})):
        getattr(app, step)(first.id, by="alice", at=t + timedelta(seconds=1), **kwargs)
    later = [det("fire", at=t, seconds=4000 + i) for i in range(3)]
    settled = await engine.process(0, [(later[0], "late-0")], t + timedelta(seconds=6))
    assert settled == ["late-0"]  # refused as evidence, now a persisted candidate hit
    settled = await engine.process(0, [(d, f"late-{i}") for i, d in enumerate(later[1:], 1)],
                                   t + timedelta(seconds=7))
    assert sorted(settled) == ["late-1", "late-2"]
    second = [i for i in app.incidents() if i.id != first.id]
    assert len(second) == 1
    assert second[0].linked_to == str(first.id) and second[0].episode == 1
    assert later[0].detection_id in second[0].evidence_ids
    engine.close()
    app.close()


class _GatedApp(IncidentApp):
    """The real store whose next `key_state` waits for the test: it holds the correlate hop
    inside `engine.process` so a rebalance can land there, as aiokafka's coordinator task may
    run `on_partitions_revoked` while the hop awaits the store."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.entered, self.gate = threading.Event(), threading.Event()
        self.gated = False

    def key_state(self, key):  # type: ignore[no-untyped-def]
        if self.gated:
            self.gated = False
            self.entered.set()
            self.gate.wait(10)
        return super().key_state(key)




def _fetched(offset: int, **kw) -> _Fetched:  # type: ignore[no-untyped-def]
    return _Fetched(b"k", json.dumps(record(**kw)).encode(), offset)


async def test_records_fetched_before_a_rebalance_never_move_a_revoked_partitions_offset(
        store_env) -> None:
    """Partition 1 settled a candidate hit at offset 5 (persisted; committed up to 6). A
    rebalance revokes partitions 0 and 1 while the hop awaits the store for partition 0 of
    the same fetch. The rest of that fetch (partition 1, offset 6) belongs to the new owner,
    which reads from offset 6: the hop must not settle or commit past 6, nor keep a cache for
    a partition it no longer owns. The revoke is called as `_Committer.on_partitions_revoked`
    calls it; a real broker cannot place a rebalance at this instant on demand."""
    app = _GatedApp(store_env, RULES)
    engine = CorrelationEngine(app, RULES)
    t = datetime.now(UTC)
    hop = CorrelateHop(engine, _no_send, lambda: t, OffsetTracker())
    await hop.handle({_TP(CORRELATION, 1): [_fetched(5, site="site-b", at=t)]})
    assert hop.tracker.due() == {1: 6}  # a lone fire hit: a persisted candidate, settled
    hop.tracker.committed({1: 6})
    app.gated = True
    task = asyncio.create_task(hop.handle({
        _TP(CORRELATION, 0): [_fetched(10, site="site-a", at=t)],
        _TP(CORRELATION, 1): [_fetched(6, site="site-c", at=t, conf=0.05)]}))
    assert await asyncio.to_thread(app.entered.wait, 10)
    hop.revoke([0, 1])
    app.gate.set()
    await task
    assert hop.tracker.due() == {}
    assert engine.shards == {}
    engine.close()
    app.close()


async def _no_send(topic: str, key: bytes | None, value: bytes):  # type: ignore[no-untyped-def]
    raise AssertionError(f"nothing is dead-lettered here ({topic})")
